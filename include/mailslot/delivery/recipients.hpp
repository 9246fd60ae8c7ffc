// Who is this address? Resolution of a forward-path to a mailbox (RCPT time).
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mailslot/delivery/address_parts.hpp"
#include "mailslot/delivery/envelope.hpp"
#include "mailslot/lmtp/address.hpp"

namespace mailslot::delivery {

struct Resolution {
  enum class Status {
    ok,              // 250 2.1.5
    unknown_user,    // 550 5.1.1
    unknown_domain,  // 550 5.1.2 (domain not served here)
    bad_mailbox,     // 550 5.1.3 (local part cannot be a safe path component)
    temporary,       // 451 4.3.0 (lookup failed)
    over_quota,      // 552 5.2.2 (mailbox full, checked at RCPT)
    over_quota_tempfail,  // 452 4.2.2 (the same with quota_full_tempfail)
  };
  Status status = Status::temporary;
  std::shared_ptr<const Mailbox> mailbox;  // set when ok
  std::string reason;                      // for the reply text and the log
};

class Recipients {
 public:
  virtual ~Recipients() = default;
  // May be called on the event loop: must not block on disk or network, unless blocking() says so
  // (then the server calls it on the worker pool).
  virtual Resolution resolve(const lmtp::Mailbox& address) const = 0;
  virtual bool blocking() const { return false; }
  // Cheap, for the event loop: true when the sources (passwd-file, aliases) are due for a change
  // check; true for one caller at a time, at most about once a second.
  virtual bool refresh_due() const { return false; }
  // Blocking (disk pool): re-reads every source whose file changed, or all of them when `force`
  // (SIGHUP). A source with a syntax error keeps its old table; the problems are returned, each
  // "file:line: message", for the log.
  virtual std::vector<std::string> refresh(bool /*force*/) const { return {}; }
  // The SIGHUP entry point: every source re-read now (blocking; any thread). Returns the problems.
  std::vector<std::string> reload() const { return refresh(true); }
};

// One domain's user database: given a split address, where does the user's mail go?
class UserDb {
 public:
  virtual ~UserDb() = default;
  virtual Resolution lookup(const AddressParts& address) const = 0;
  virtual bool blocking() const { return false; }
  virtual std::vector<std::string> refresh(bool /*force*/) const { return {}; }
};

// A table of served domains and a path template below one root:
//   root = "/var/mail", mailbox = "{domain}/{user}/Maildir"
// {user} ({local}) is the local part before the delimiter (lowercased when fold_case), {domain} the
// lowercased domain, {detail} the detail. Every substituted value must be a safe path component: no
// '/', NUL, control bytes (< 0x20, 0x7f), no leading '.', not empty (a {detail} may be empty); the
// result always lies below root.
struct StaticRecipientsOptions {
  std::filesystem::path root;
  std::string mailbox_template = "{domain}/{user}/Maildir";
  std::vector<std::string> domains;  // compared case-insensitively
  std::vector<std::string> users;    // when non-empty, only these local parts exist (after folding)
  bool fold_case = true;
  std::string delimiters;            // recipient_delimiter; empty: no +detail
};

class StaticRecipients final : public Recipients, public UserDb {
 public:
  explicit StaticRecipients(StaticRecipientsOptions options);
  Resolution resolve(const lmtp::Mailbox& address) const override;
  Resolution lookup(const AddressParts& address) const override;

 private:
  StaticRecipientsOptions opt_;
};

// True when `s` may be used as one path component under the safety rules above.
bool is_safe_path_component(std::string_view s);

// The Maildir path for a relative path below root, or nullopt when it does not lie strictly below.
std::optional<std::filesystem::path> maildir_below(const std::filesystem::path& root, const std::string& rel);

Resolution refuse(Resolution::Status status, std::string reason);

}  // namespace mailslot::delivery
