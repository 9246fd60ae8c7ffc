// The result of one delivery attempt for one recipient: code, enhanced code and text together
// (like Postfix's DSN objects), so the 4xx/5xx decision is made once, where the failure happens.
#pragma once

#include <string>
#include <string_view>

namespace mailslot::delivery {

struct Outcome {
  enum class Kind { delivered, temporary, permanent };
  Kind kind = Kind::temporary;
  int code = 451;
  std::string enhanced = "4.3.0";
  std::string text;      // e.g. "Saved" or "Mailbox full"
  std::string location;  // when delivered: path of the file in new/ (for logs and tests)
  // Delivered earlier: a retry of a copy already durable (duplicates.hpp); nothing was written.
  bool duplicate = false;

  bool delivered() const { return kind == Kind::delivered; }
  static Outcome ok(std::string location);
  // 250 2.0.0 "duplicate suppressed": the copy is in the mailbox already (duplicates.hpp).
  static Outcome duplicate_suppressed();
  // A failure the MTA should retry; RFC 3463 X.3.0 "Other or undefined mail system status" unless
  // the caller knows better.
  static Outcome temporary(std::string text, int code = 451, std::string enhanced = "4.3.0");
  // The commit did not finish within limits.delivery_timeout (commit_claim.hpp): 451 4.3.0, and no
  // copy stays in new/. RFC 3463 X.3.0: a fault on our side; X.4.7 is the MTA's own queue lifetime.
  static Outcome timed_out();
};

// The one place that maps an errno from a file-system call to a temporary or permanent outcome:
// EDQUOT → 452 4.2.2, ENOSPC → 452 4.3.1, everything else → 451 4.3.0 (RFC 3463).
// `what` names the failed step for the reply text ("write", "fsync", "link", ...).
Outcome outcome_from_errno(int err, std::string_view what);

}  // namespace mailslot::delivery
