// An RCPT address taken apart the way a mail host looks it up: the user, the "+detail", the
// domain (RFC 5321 §2.4: domains are case-insensitive; local parts only when the operator says so).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailslot/lmtp/address.hpp"

namespace mailslot::delivery {

struct AddressParts {
  std::string user;    // the local part before the first delimiter (folded when fold_case)
  std::string detail;  // what follows the delimiter, as sent ("" when none)
  bool has_detail = false;
  std::string domain;          // lower-case A-label form (RFC 6531 §3.2): compared, and {domain} in paths
  std::string display_domain;  // as written when ASCII (lowercased), else NFC U-labels: for addresses
  bool domain_valid = true;    // false: not valid IDNA2008 (domain then holds it lowercased)
  bool local_valid = true;     // false: malformed UTF-8 in the local part
  bool postmaster = false;  // RFC 5321 §4.5.1: "postmaster", any case, no detail
  char delimiter = 0;       // the delimiter found, when has_detail

  // "user+detail@domain" (folded as above): the address replies and Delivered-To name.
  std::string address() const;
};

// `delimiters`: each character is a delimiter (Postfix and Dovecot semantics for several, e.g. "+-");
// empty: no detail. The local part is split at the first delimiter that is not its first character
// ("+tag" and "-x" are users, not details). A UTF-8 local part is put in NFC (RFC 6532 §3.1) and the
// domain goes through IDNA2008 (normalize_domain), so every spelling of one address is one user. lmtp::Mailbox holds the decoded local part, so a quoted
// local part ("\"bob\"@x") is the same user as its dot-string spelling.
AddressParts split_address(const lmtp::Mailbox& address, std::string_view delimiters, bool fold_case);

// A Maildir++ folder name for a detail: "" when none can be made (empty, only dots, "INBOX").
// Bytes outside printable ASCII, '/', '\\', '&' (the modified UTF-7 shift) and '~' become '_';
// '.' stays the hierarchy separator, but empty levels ("a..b", leading or trailing dots) are dropped,
// so the result never names "." or ".." and is at most 200 octets: the folder ".<name>" is always a
// direct child of the user's Maildir.
std::string sanitize_folder_name(std::string_view detail);

// Mailbox path templates: {domain} {user} {local} {detail} {home}. {user} and {local} are both the
// part before the delimiter ({user} is kept for existing configurations). Returns nullopt for an
// unknown placeholder, an unbalanced brace, or a placeholder missing from `values`.
std::optional<std::string> expand_template(std::string_view tmpl, const std::map<std::string, std::string>& values);

// The placeholder names a template uses, or nullopt when it is malformed.
std::optional<std::vector<std::string>> template_placeholders(std::string_view tmpl);

}  // namespace mailslot::delivery
