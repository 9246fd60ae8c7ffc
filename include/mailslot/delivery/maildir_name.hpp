// Maildir unique names (cr.yp.to/proto/maildir.html, Dovecot's extensions):
//   <sec>.M<usec>P<pid>Q<n>R<random>.<host>,S=<size>,W=<vsize>
// <random> is 16 hex digits drawn once per process from getrandom(2): with Q (a per-process counter)
// it keeps names distinct across processes on one host, restarts that reuse a pid, and clock steps
// backwards, which <sec>.M<usec>P<pid> alone does not (docs/maildir.md "Unique names").
// <host> has '/' → "\057" and ':' → "\072"; S= is the exact file size, W= the size with every
// line ending as CRLF (what Dovecot reports as RFC822.SIZE).
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

namespace mailslot::delivery {

std::string sanitize_maildir_host(std::string_view host);

struct UniqueName {
  std::int64_t sec = 0;
  std::int64_t usec = 0;
  std::int64_t pid = 0;
  std::uint64_t seq = 0;     // per-process delivery counter (Q)
  std::uint64_t random = 0;  // per-process random number (R, 16 hex digits)
  std::string host;          // already sanitised
  std::string base() const;  // "<sec>.M<usec>P<pid>Q<n>R<random>.<host>"
  std::string with_sizes(std::uint64_t size, std::uint64_t vsize) const;  // base + ",S=..,W=.."
};

// A fresh name for this process: wall clock, getpid(), an atomic counter and the process's random.
UniqueName next_unique_name(std::string_view sanitized_host);

// This process's random R, drawn once (getrandom(2); time, pid and an address if that fails).
std::uint64_t process_random();

}  // namespace mailslot::delivery
