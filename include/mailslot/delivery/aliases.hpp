// An aliases file, expanded at RCPT time (one RCPT still gets one reply):
//   # comment
//   sales: alice, bob@example.org
//   postmaster@example.org: root-mail
//       , carol                        (a line starting with white space continues the one before)
// Keys are "local" (every served domain) or "local@domain", case-insensitive. Targets are addresses
// delivered here: a target without a domain is in the alias's domain. Pipes ("|cmd"), files
// ("/path") and ":include:" are refused at load time: mailslot only writes Maildirs.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mailslot/delivery/watched_file.hpp"
#include "mailslot/lmtp/address.hpp"

namespace mailslot::delivery {

using AliasTable = std::unordered_map<std::string, std::vector<lmtp::Mailbox>>;

// Problems are appended as "<name>:<line>: <message>".
AliasTable parse_aliases(std::string_view text, const std::string& name, std::vector<std::string>& problems);

class AliasFile {
 public:
  // Start-up: throws std::runtime_error listing every problem.
  explicit AliasFile(std::filesystem::path file);
  // The targets of `key` (lowercase "local" or "local@domain"), or nullopt.
  std::optional<std::vector<lmtp::Mailbox>> lookup(const std::string& key) const;
  // Blocking: re-reads when the file changed (or when `force`); on problems the old table stays.
  std::vector<std::string> refresh(bool force) const;

 private:
  std::vector<std::string> load(const FileStamp& stamp) const;

  std::filesystem::path file_;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const AliasTable> table_;
  mutable std::optional<FileStamp> seen_;
};

}  // namespace mailslot::delivery
