// The on-disk spool of success DSNs waiting to be submitted ([dsn] spool). One file per report:
// the first line is the address it goes to, the rest is the report (RFC 5322, CRLF line ends).
// Written durably (tmp name, fsync, rename, fsync of the directory) before anyone is told, so a
// report is never lost: the sender (server/dsn_sender.hpp) retries it until it is submitted or
// too old. Blocking: called on the disk pool.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mailslot/delivery/envelope.hpp"
#include "mailslot/delivery/outcome.hpp"

namespace mailslot::delivery {

// Report files end in this; temporary ones start with '.' and are skipped.
inline constexpr const char* kDsnSuffix = ".dsn";

// Creates the spool directory (mode 0700) when missing. Throws std::runtime_error naming it.
void prepare_dsn_spool(const std::filesystem::path& spool);

// After a commit: when success_dsn_recipients() finds any, writes one report covering all of them
// into `spool` and returns its path (nullopt when none is due). The returned content (RET) is read
// from the first copy just delivered; when no copy can be read the report goes without it. On a
// write failure returns nullopt and sets `error` (the caller logs it: the deliveries stand).
std::optional<std::filesystem::path> spool_success_dsn(const std::filesystem::path& spool,
                                                       const Envelope& envelope,
                                                       const std::vector<Outcome>& outcomes,
                                                       std::string& error);

// A report read back for submission: the recipient from the first line and the offset where the
// report begins.
struct SpooledDsn {
  std::string recipient;
  std::size_t offset = 0;
};
std::optional<SpooledDsn> read_spooled_dsn_header(const std::filesystem::path& file);

}  // namespace mailslot::delivery
