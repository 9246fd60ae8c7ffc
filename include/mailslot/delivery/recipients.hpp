// Who is this address? Resolution of a forward-path to a mailbox (RCPT time).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

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
  };
  Status status = Status::temporary;
  std::shared_ptr<const Mailbox> mailbox;  // set when ok
  std::string reason;                      // for the reply text and the log
};

class Recipients {
 public:
  virtual ~Recipients() = default;
  // May be called on the event loop: must not block on disk or network (implementations that
  // need to do so say it and the server runs them on the worker pool).
  virtual Resolution resolve(const lmtp::Mailbox& address) const = 0;
};

// A table of served domains and a path template below one root:
//   root = "/var/mail", mailbox = "{domain}/{user}/Maildir"
// {user} is the local part (lowercased when fold_case), {domain} the lowercased domain.
// Every substituted value must be a safe path component: no '/', NUL, control bytes (< 0x20,
// 0x7f), no leading '.', not empty; the result always lies below root.
struct StaticRecipientsOptions {
  std::filesystem::path root;
  std::string mailbox_template = "{domain}/{user}/Maildir";
  std::vector<std::string> domains;  // compared case-insensitively
  std::vector<std::string> users;    // when non-empty, only these local parts exist (after folding)
  bool fold_case = true;
};

class StaticRecipients final : public Recipients {
 public:
  explicit StaticRecipients(StaticRecipientsOptions options);
  Resolution resolve(const lmtp::Mailbox& address) const override;

 private:
  StaticRecipientsOptions opt_;
};

// True when `s` may be used as one path component under the safety rules above.
bool is_safe_path_component(std::string_view s);

}  // namespace mailslot::delivery
