// Dovecot's passwd-file format as a user database (doc.dovecot.org "Passwd-file"):
//   user[@domain]:password:uid:gid:gecos:home:shell:extra fields
// Trailing fields may be omitted; '#' starts a comment line; blank lines are skipped. The extra
// fields are space-separated key=value pairs; those mailslot uses are the userdb ones:
//   userdb_mail=maildir:~/Maildir        (also mail=; %u %n %d %h and a leading ~ expand)
//   userdb_quota_rule=*:storage=1G       (also quota_rule=, quota_rule2=...; storage in KiB unless
//   userdb_quota_rule2=*:messages=1000    suffixed b/k/M/G/T, bytes=, messages=; 0 = no limit)
//   userdb_uid= userdb_gid= userdb_home=  (override the colon fields)
// A key with '@' matches that address only; a key without one matches the user in every domain
// served by the file.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mailslot/delivery/recipients.hpp"
#include "mailslot/delivery/watched_file.hpp"

namespace mailslot::delivery {

struct PasswdEntry {
  std::int64_t uid = -1;  // -1: empty field (the daemon's own identity)
  std::int64_t gid = -1;
  std::string home;
  std::string mail;       // the Maildir path template (format prefix and ":OPTIONS" removed), or ""
  std::optional<QuotaLimits> quota;
  int line = 0;
};

using PasswdTable = std::unordered_map<std::string, PasswdEntry>;

// Parses a whole file. Every problem is appended as "<name>:<line>: <message>"; the table is only
// meant to be used when there are none.
PasswdTable parse_passwd_file(std::string_view text, const std::string& name, bool fold_case,
                              std::vector<std::string>& problems);

// One Dovecot quota rule ("*:storage=1G", "*:messages=100", "*:bytes=5000"), applied to `into`.
// Rules for other mailboxes than "*" are accepted and ignored. False with `error` for a malformed one.
bool apply_quota_rule(std::string_view rule, QuotaLimits& into, std::string& error);

// Expands %u (user@domain) %n (user) %d (domain) %h (home) %% and a leading "~/" (home).
// nullopt when it uses home and there is none.
std::optional<std::string> expand_mail_location(std::string_view mail, const AddressParts& a, const std::string& home);

struct PasswdFileOptions {
  std::filesystem::path file;
  std::filesystem::path root;                        // mail.root: relative Maildir paths go below it
  std::string mailbox_template = "{home}/Maildir";   // when an entry has no userdb_mail
  bool fold_case = true;
};

// A passwd-file, re-read on refresh() when it changed. A file that fails to parse keeps the table
// that was in use, and the problems are reported once per change.
class PasswdFileUserDb final : public UserDb {
 public:
  // Start-up: throws std::runtime_error listing every problem (file:line) when the file is unusable.
  explicit PasswdFileUserDb(PasswdFileOptions options);
  Resolution lookup(const AddressParts& address) const override;
  std::vector<std::string> refresh(bool force) const override;

 private:
  // Reads and parses; on success swaps the table in. Returns the problems.
  std::vector<std::string> load(const FileStamp& stamp) const;

  PasswdFileOptions opt_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const PasswdTable> table_;
  mutable std::optional<FileStamp> seen_;  // the version last read (loaded or refused)
};

}  // namespace mailslot::delivery
