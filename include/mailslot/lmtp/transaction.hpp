// The mail transaction (RFC 5321 §3.3): reverse-path, accepted forward-paths, parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mailslot/lmtp/address.hpp"
#include "mailslot/lmtp/dsn.hpp"
#include "mailslot/lmtp/params.hpp"

namespace mailslot::lmtp {

enum class Body { unspecified, seven_bit, eight_bit_mime, binary_mime };  // RFC 6152, RFC 3030 §3

struct Recipient {
  Path forward_path;
  Params params;
  // What the recipient check resolved this address to (a delivery::Mailbox). Opaque here:
  // the protocol core carries it from the RCPT check to the commit without knowing its type.
  std::shared_ptr<const void> resolved;
  // RFC 3461 §4.1, §4.2 (only when the session offers DSN).
  unsigned notify = 0;  // dsn_notify bits; 0 when NOTIFY was not given
  std::optional<OriginalRecipient> orcpt;
  // IGNOREQUOTA (Cyrus lmtpd): this recipient's quota is not enforced (usage is still counted).
  bool ignore_quota = false;
};

struct Transaction {
  Path reverse_path;
  Params mail_params;
  std::optional<std::uint64_t> declared_size;  // MAIL SIZE= (RFC 1870)
  Body body = Body::unspecified;
  std::vector<Recipient> recipients;            // accepted RCPTs, in RCPT order (duplicates kept)
  std::uint64_t message_size = 0;               // unstuffed content octets received so far
  bool smtputf8 = false;                        // MAIL SMTPUTF8 (RFC 6531 §3.4)
  DsnRet dsn_ret = DsnRet::unspecified;         // MAIL RET= (RFC 3461 §4.3)
  std::optional<std::string> dsn_envid;         // MAIL ENVID=, xtext-decoded (RFC 3461 §4.4)
};

}  // namespace mailslot::lmtp
