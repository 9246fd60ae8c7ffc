// Maildir unique names (cr.yp.to/proto/maildir.html, Dovecot's extensions):
//   <sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>
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
  std::uint64_t seq = 0;  // per-process delivery counter (Q)
  std::string host;       // already sanitised
  std::string base() const;  // "<sec>.M<usec>P<pid>Q<n>.<host>"
  std::string with_sizes(std::uint64_t size, std::uint64_t vsize) const;  // base + ",S=..,W=.."
};

// A fresh name for this process: wall clock, getpid(), and an atomic counter.
UniqueName next_unique_name(std::string_view sanitized_host);

}  // namespace mailslot::delivery
