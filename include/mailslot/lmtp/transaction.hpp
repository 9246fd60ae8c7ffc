// The mail transaction (RFC 5321 §3.3): reverse-path, accepted forward-paths, parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mailslot/lmtp/address.hpp"
#include "mailslot/lmtp/params.hpp"

namespace mailslot::lmtp {

enum class Body { unspecified, seven_bit, eight_bit_mime };

struct Recipient {
  Path forward_path;
  Params params;
  // What the recipient check resolved this address to (a delivery::Mailbox). Opaque here:
  // the protocol core carries it from the RCPT check to the commit without knowing its type.
  std::shared_ptr<const void> resolved;
};

struct Transaction {
  Path reverse_path;
  Params mail_params;
  std::optional<std::uint64_t> declared_size;  // MAIL SIZE= (RFC 1870)
  Body body = Body::unspecified;
  std::vector<Recipient> recipients;            // accepted RCPTs, in RCPT order (duplicates kept)
  std::uint64_t message_size = 0;               // unstuffed content octets received so far
};

}  // namespace mailslot::lmtp
