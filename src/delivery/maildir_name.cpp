// Maildir unique names (cr.yp.to/proto/maildir.html; Dovecot's ,S= and ,W= extensions).
#include "mailslot/delivery/maildir_name.hpp"

#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>

namespace mailslot::delivery {

std::string sanitize_maildir_host(std::string_view host) {
  std::string out;
  out.reserve(host.size());
  for (const char c : host) {
    switch (c) {
      // cr.yp.to/proto/maildir.html: '/' and ':' in the host name become \057 and \072.
      case '/':
        out += "\\057";
        break;
      case ':':
        out += "\\072";
        break;
      // ',' starts Dovecot's extra fields (",S=", ",W="): a comma in the host would be read as one.
      case ',':
        out += "\\054";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string UniqueName::base() const {
  char r[17];
  std::snprintf(r, sizeof r, "%016llx", static_cast<unsigned long long>(random));
  return std::to_string(sec) + ".M" + std::to_string(usec) + "P" + std::to_string(pid) + "Q" +
         std::to_string(seq) + "R" + r + "." + host;
}

std::string UniqueName::with_sizes(std::uint64_t size, std::uint64_t vsize) const {
  return base() + ",S=" + std::to_string(size) + ",W=" + std::to_string(vsize);
}

std::uint64_t process_random() {
  static const std::uint64_t value = [] {
    std::uint64_t v = 0;
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (::getrandom(&v, sizeof v, 0) == static_cast<ssize_t>(sizeof v)) return v;
      if (errno != EINTR) break;
    }
    // No entropy source (very old kernel, seccomp): still different per start and per process.
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count() ^
                     std::chrono::system_clock::now().time_since_epoch().count();
    v = static_cast<std::uint64_t>(now) * 0x9E3779B97F4A7C15ULL;
    v ^= static_cast<std::uint64_t>(::getpid()) << 32;
    v ^= reinterpret_cast<std::uintptr_t>(&v);  // ASLR
    return v;
  }();
  return value;
}

namespace {

// getpid() is a system call (glibc no longer caches it) and every delivery names two files: read
// once, and again in a child after fork(), so that a forked process never uses its parent's pid.
std::int64_t process_id() {
  static std::atomic<std::int64_t> pid{0};
  static const bool reset_after_fork = [] {
    return ::pthread_atfork(nullptr, nullptr, [] { pid.store(0, std::memory_order_relaxed); }) == 0;
  }();
  (void)reset_after_fork;
  std::int64_t p = pid.load(std::memory_order_relaxed);
  if (p == 0) {
    p = static_cast<std::int64_t>(::getpid());
    pid.store(p, std::memory_order_relaxed);
  }
  return p;
}

}  // namespace

UniqueName next_unique_name(std::string_view sanitized_host) {
  // Q is the per-process delivery counter of the Maildir spec: with P it makes names from one
  // process distinct even within one microsecond, whatever thread asks.
  static std::atomic<std::uint64_t> deliveries{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto usec = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  UniqueName n;
  n.sec = usec / 1'000'000;
  n.usec = usec % 1'000'000;
  n.pid = process_id();
  n.seq = deliveries.fetch_add(1, std::memory_order_relaxed) + 1;
  n.random = process_random();
  n.host = std::string(sanitized_host);
  return n;
}

}  // namespace mailslot::delivery
