// fsync-ceiling: how many durable Maildir deliveries per second this disk allows, whatever the
// server. Each thread repeats mailslot's durable write (ARCHITECTURE.md, durability contract):
// create tmp/<name> O_EXCL, write, fsync, link into new/, fsync new/, unlink tmp/<name>.
// An LMTP server cannot deliver durably faster than this; bench/compare sets its figures beside it.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "machine_cpu.hpp"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: fsync-ceiling --dir DIR --threads T --seconds S [--size 4096] [--shared-dir] [--pause-us 0]\n"
    "                     [--json]\n"
    "  each thread loops: create tmp/NAME O_EXCL, write SIZE bytes, fsync, link into new/NAME,\n"
    "  fsync new/, unlink tmp/NAME; in DIR/t<i>/ (or one DIR/shared/ with --shared-dir).\n"
    "  --pause-us N: each thread sleeps N microseconds between two deliveries, as an LMTP session\n"
    "  spends time between two commits on its round trips (a diagnostic, not the ceiling).\n"
    "  Everything it creates is removed at the end.\n";

struct Options {
  fs::path dir;
  std::size_t threads = 1;
  double seconds = 5;
  std::size_t size = 4096;
  bool shared_dir = false;
  bool json = false;
  std::size_t pause_us = 0;
};

std::size_t parse_count(std::string_view flag, std::string_view text) {
  std::size_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument(std::string(flag) + ": not a whole number: " + std::string(text));
  }
  return v;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--json") {
      o.json = true;
    } else if (flag == "--shared-dir") {
      o.shared_dir = true;
    } else if (i + 1 >= argc) {
      throw std::invalid_argument(std::string(flag) + ": missing value (or unknown flag)");
    } else if (flag == "--dir") {
      o.dir = argv[++i];
    } else if (flag == "--threads") {
      o.threads = parse_count(flag, argv[++i]);
    } else if (flag == "--pause-us") {
      o.pause_us = parse_count(flag, argv[++i]);
      if (o.pause_us > 1'000'000) throw std::invalid_argument("--pause-us: at most 1000000");
    } else if (flag == "--size") {
      o.size = parse_count(flag, argv[++i]);
    } else if (flag == "--seconds") {
      char* end = nullptr;
      o.seconds = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(o.seconds > 0) || o.seconds > 3600) {
        throw std::invalid_argument("--seconds: 0 < S <= 3600");
      }
    } else {
      throw std::invalid_argument("unknown option " + std::string(flag));
    }
  }
  if (o.dir.empty()) throw std::invalid_argument("--dir is required");
  if (o.threads == 0 || o.threads > 4096) throw std::invalid_argument("--threads: 1 to 4096");
  return o;
}

// A file descriptor that closes itself.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// One thread's share: its own tmp/ and new/ (or the shared ones), opened once as directory fds so
// that every step of the loop is a *at() call without path lookups from the root.
struct Worker {
  std::size_t index = 0;
  fs::path base;
  std::uint64_t ops = 0;
  std::vector<std::uint32_t> latency_us;
  std::string error;

  void run(const std::string& content, Clock::time_point until, std::size_t pause_us) {
    // The default timer slack (50 us) would lengthen every pause by as much.
    if (pause_us > 0) ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    Fd tmp(::open((base / "tmp").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    Fd fresh(::open((base / "new").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (tmp.get() < 0 || fresh.get() < 0) {
      error = errno_text("open tmp/ or new/");
      return;
    }
    // Built by appending: g++ 12 gives a false -Wrestrict for "literal" + std::string (GCC PR 105329).
    const std::string prefix = std::string("t").append(std::to_string(index)).append(".");
    std::string name;
    for (auto now = Clock::now(); now < until; ++ops) {
      name.assign(prefix).append(std::to_string(ops));
      if (!deliver_once(tmp.get(), fresh.get(), name, content)) return;
      auto done = Clock::now();
      latency_us.push_back(static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(done - now).count()));
      if (pause_us > 0 && done < until) {  // a pause ends with the window: time after it is not measured
        std::this_thread::sleep_until(
            std::min<Clock::time_point>(done + std::chrono::microseconds(pause_us), until));
        done = Clock::now();
      }
      now = done;
    }
  }

  // The durable-delivery pattern, step by step as an MDA must do it.
  bool deliver_once(int tmp, int fresh, const std::string& name, const std::string& content) {
    Fd file(::openat(tmp, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (file.get() < 0) return fail("create tmp/" + name);
    for (std::size_t written = 0; written < content.size();) {
      ssize_t n = ::write(file.get(), content.data() + written, content.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("write");
      written += static_cast<std::size_t>(n);
    }
    if (::fsync(file.get()) != 0) return fail("fsync file");
    if (::linkat(tmp, name.c_str(), fresh, name.c_str(), 0) != 0) return fail("link into new/");
    if (::fsync(fresh) != 0) return fail("fsync new/");
    if (::unlinkat(tmp, name.c_str(), 0) != 0) return fail("unlink tmp/" + name);
    return true;
  }

  bool fail(const std::string& what) {
    error = errno_text(what.c_str());
    return false;
  }
};

double percentile_ms(std::vector<std::uint32_t>& sorted_us, double p) {
  if (sorted_us.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted_us.size())));
  return static_cast<double>(sorted_us[std::clamp<std::size_t>(rank, 1, sorted_us.size()) - 1]) / 1000.0;
}

int run(const Options& o) {
  const bool created_dir = !fs::exists(o.dir);
  fs::create_directories(o.dir);
  std::vector<Worker> workers(o.threads);
  std::vector<fs::path> trees;
  for (std::size_t i = 0; i < o.threads; ++i) {
    workers[i].index = i;
    workers[i].base =
        o.dir / (o.shared_dir ? std::string("shared") : std::string("t").append(std::to_string(i)));
    if (i == 0 || !o.shared_dir) {
      if (fs::exists(workers[i].base)) throw std::runtime_error(workers[i].base.string() + " exists already");
      fs::create_directories(workers[i].base / "tmp");
      fs::create_directories(workers[i].base / "new");
      trees.push_back(workers[i].base);
    }
  }

  const std::string content(o.size, 'x');
  const bench::MachineCpu cpu0 = bench::machine_cpu();
  const auto start = Clock::now();
  const auto until =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  {
    std::vector<std::jthread> threads;
    const std::size_t pause_us = o.pause_us;
    for (auto& w : workers)
      threads.emplace_back([&w, &content, until, pause_us] { w.run(content, until, pause_us); });
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const bench::MachineCpu cpu1 = bench::machine_cpu();  // before the clean-up below, which is not the ceiling's work

  std::error_code ignored;
  for (const auto& t : trees) fs::remove_all(t, ignored);
  if (created_dir) fs::remove(o.dir, ignored);

  std::uint64_t ops = 0;
  std::vector<std::uint32_t> latency;
  int status = 0;
  for (auto& w : workers) {
    ops += w.ops;
    latency.insert(latency.end(), w.latency_us.begin(), w.latency_us.end());
    if (!w.error.empty()) {
      std::fprintf(stderr, "fsync-ceiling: thread %zu: %s\n", w.index, w.error.c_str());
      status = 1;
    }
  }
  std::sort(latency.begin(), latency.end());
  const double ops_per_s = static_cast<double>(ops) / elapsed;
  const double p50 = percentile_ms(latency, 50), p99 = percentile_ms(latency, 99);
  std::printf("threads=%zu ops=%llu seconds=%.3f ops_per_s=%.1f pause_us=%zu\n", o.threads,
              static_cast<unsigned long long>(ops), elapsed, ops_per_s, o.pause_us);
  std::printf("latency_ms p50=%.2f p99=%.2f\n", p50, p99);
  const bench::MachineCpuReport machine = bench::machine_cpu_report(cpu0, cpu1, ops);
  std::fputs(machine.line.c_str(), stdout);
  if (o.json) {
    std::printf(
        "{\"threads\":%zu,\"ops\":%llu,\"seconds\":%.3f,\"ops_per_s\":%.1f,\"size\":%zu,\"shared_dir\":%s,"
        "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"pause_us\":%zu%s}\n",
        o.threads, static_cast<unsigned long long>(ops), elapsed, ops_per_s, o.size,
        o.shared_dir ? "true" : "false", p50, p99, o.pause_us, machine.json.c_str());
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_options(argc, argv));
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "fsync-ceiling: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fsync-ceiling: %s\n", e.what());
    return 2;
  }
}
