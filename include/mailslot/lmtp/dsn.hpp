// RFC 3461 Delivery Status Notification parameters: RET and ENVID on MAIL, NOTIFY and ORCPT on
// RCPT, and the xtext encoding they are sent in (§4). Pure syntax; what the session does with
// them is in session_commands.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailslot::lmtp {

// RFC 3461 §4.3: RET=FULL / RET=HDRS.
enum class DsnRet { unspecified, full, hdrs };

// RFC 3461 §4.1: NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY. A bit set.
namespace dsn_notify {
inline constexpr unsigned never = 1u;
inline constexpr unsigned success = 2u;
inline constexpr unsigned failure = 4u;
inline constexpr unsigned delay = 8u;
}  // namespace dsn_notify

// RFC 3461 §4.2: ORCPT=addr-type ";" xtext, decoded.
struct OriginalRecipient {
  std::string addr_type;  // as sent, e.g. "rfc822"
  std::string address;    // xtext-decoded
  bool is_rfc822() const;
};

// RFC 3461 §4: xtext = *( xchar / hexchar ), xchar = "!".."~" except "+" and "=",
// hexchar = "+" two upper-case hex digits. nullopt when malformed. The decoded text may hold
// any octet; callers check what they accept.
std::optional<std::string> decode_xtext(std::string_view xtext);

std::optional<DsnRet> parse_dsn_ret(std::string_view value);
// nullopt for an empty list, an unknown keyword, a repeated keyword or NEVER with another one.
std::optional<unsigned> parse_dsn_notify(std::string_view value);
// RFC 3461 §4.4: ENVID is xtext, at most 100 characters, decoding to printable US-ASCII.
std::optional<std::string> parse_dsn_envid(std::string_view value);
// RFC 3461 §4.2: addr-type is an atom; the decoded address is at most 500 characters of
// printable US-ASCII (RFC 3461 §4.2 and §5.2.1: no CR, LF or other control characters).
std::optional<OriginalRecipient> parse_dsn_orcpt(std::string_view value);

// Text of a NOTIFY set for logs: "SUCCESS,FAILURE", "NEVER", "" when unset.
std::string dsn_notify_text(unsigned notify);

}  // namespace mailslot::lmtp
