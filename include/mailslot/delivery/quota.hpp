// Maildir++ quota (Courier's maildirquota(7), also Dovecot's "maildir" quota backend): the file
// "maildirsize" in the user's Maildir holds a header with the limits, "<bytes>S,<count>C", and then
// one line "<bytes> <count>" per change (negative when mail is removed). The usage is the sum of
// the lines. Writers append a line with one write(2) on an O_APPEND descriptor; a file that is
// missing, unreadable, larger than 5120 bytes, has other limits, or is over quota and older than 15
// minutes is recalculated from the ",S=" sizes of every message and replaced atomically (written in
// tmp/, then rename(2)).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "mailslot/delivery/envelope.hpp"
#include "mailslot/delivery/fs.hpp"
#include "mailslot/delivery/outcome.hpp"

namespace mailslot::delivery {

struct QuotaUsage {
  std::int64_t bytes = 0;
  std::int64_t messages = 0;
};

struct MaildirSize {
  QuotaLimits limits;
  QuotaUsage usage;
  std::size_t lines = 0;  // after the header
};

// nullopt when the text is not a maildirsize file (no header, a malformed line).
std::optional<MaildirSize> parse_maildirsize(std::string_view text);
// The header line for `limits` ("1000S,10C"; a kind without a limit is left out).
std::string maildirsize_header(const QuotaLimits& limits);

// Would adding a message of `bytes` go over a limit?
bool over_quota(const QuotaLimits& limits, const QuotaUsage& usage, std::uint64_t bytes, std::uint64_t messages = 1);

// 552 5.2.2 "Mailbox full" (RFC 3463: permanent), or 452 4.2.2 with quota_full_tempfail.
Outcome quota_exceeded(bool tempfail);

// Sums every message in cur/ and new/ of the Maildir and of its Maildir++ folders (".<name>"), from
// ",S=" in the name when present, else from fstatat.
int recalculate_usage(int maildir_fd, QuotaUsage& usage);

// The usage of the Maildir open as `maildir_fd` (blocking), recalculating maildirsize when it is
// missing or stale (see above). Returns 0 or an errno value.
int read_quota(int maildir_fd, const QuotaLimits& limits, QuotaUsage& usage);

// Appends "<bytes> <messages>" to maildirsize (one write on O_APPEND) when the file exists; a
// missing file is left to the next read_quota to build. Returns 0 or an errno value.
int add_to_quota(int maildir_fd, std::int64_t bytes, std::int64_t messages);

// Opens the existing directory `maildir` below `base` without following symlinks (invalid Fd when
// it or a parent does not exist or cannot be opened).
fs::Fd open_existing_below(const std::filesystem::path& base, const std::filesystem::path& maildir);

// Is there room for a message of `size` in the Maildir `maildir` (the user's, holding
// maildirsize)? Reads (and when needed rebuilds) maildirsize as the user. nullopt: yes, or the
// figures cannot be read (delivery goes ahead; a write that really fails still fails).
std::optional<Outcome> quota_admit(const std::filesystem::path& base, const std::filesystem::path& maildir,
                                   const QuotaLimits& limits, std::int64_t uid, std::int64_t gid, std::uint64_t size,
                                   bool tempfail);
// After a durable delivery: one line "<size> 1" appended to its maildirsize, as the user.
void quota_record(const std::filesystem::path& base, const std::filesystem::path& maildir, std::int64_t uid,
                  std::int64_t gid, std::uint64_t size);

// RCPT time: is this mailbox already too full for a message of `size` (0 when MAIL gave no SIZE=)?
// Opens the existing Maildir from `root` (the mailbox's base, or mail.root) without following
// symlinks; a Maildir that does not exist yet is empty. Any error reading it lets the RCPT through
// (the commit checks again). Blocking: the disk pool.
std::optional<Outcome> check_quota_at_rcpt(const Mailbox& mailbox, const std::filesystem::path& mail_root,
                                           std::uint64_t size, bool tempfail);

}  // namespace mailslot::delivery
