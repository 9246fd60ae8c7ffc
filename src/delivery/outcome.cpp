// errno → Outcome: the one place where a file-system failure becomes a reply (RFC 3463 codes),
// as Postfix's mbox_dsn() does for its local delivery agents.
#include "mailslot/delivery/outcome.hpp"

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

namespace mailslot::delivery {

Outcome Outcome::ok(std::string location) {
  Outcome o;
  o.kind = Kind::delivered;
  o.code = 250;
  o.enhanced = "2.0.0";
  o.text = "Saved";
  o.location = std::move(location);
  return o;
}

Outcome Outcome::duplicate_suppressed() {
  Outcome o = ok({});
  o.text = "duplicate suppressed";
  o.duplicate = true;
  return o;
}

Outcome Outcome::temporary(std::string text, int code, std::string enhanced) {
  Outcome o;
  o.kind = Kind::temporary;
  o.code = code;
  o.enhanced = std::move(enhanced);
  o.text = std::move(text);
  return o;
}

Outcome Outcome::timed_out() { return temporary("Delivery timed out"); }

Outcome outcome_from_errno(int err, std::string_view what) {
  switch (err) {
    // RFC 3463 §3.3 X.2.2 "Mailbox full": the user's quota; it may free up, so 4xx and the MTA retries.
    case EDQUOT:
      return Outcome::temporary("Mailbox full", 452, "4.2.2");
    // RFC 3463 §3.4 X.3.1 "Mail system full": the disk itself.
    case ENOSPC:
      return Outcome::temporary("Mail system full", 452, "4.3.1");
    // Everything else (EIO, EROFS, EACCES, ENOENT, ...) is a fault on our side that an operator can
    // fix: RFC 3463 X.3.0 "Other or undefined mail system status", temporary so no mail is bounced
    // for a misconfiguration. generic_category().message() is thread-safe, unlike strerror().
    default:
      return Outcome::temporary(std::string(what) + " failed: " + std::generic_category().message(err));
  }
}

}  // namespace mailslot::delivery
