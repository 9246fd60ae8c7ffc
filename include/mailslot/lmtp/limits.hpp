// Every limit the protocol core enforces; each has a config knob (config::Config::limits).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mailslot::lmtp {

struct Limits {
  std::size_t max_command_line = 1000;     // octets incl. CRLF (RFC 5321 §4.5.3.1.4); over → 500 5.5.2
  std::size_t max_data_line = 1000;        // octets incl. CRLF in DATA (§4.5.3.1.6); 0 = unlimited
  std::uint64_t max_message_size = 50ull << 20;  // octets of message content; over → 552 5.3.4
  std::size_t max_recipients = 1000;       // accepted RCPTs per transaction; over → 452 4.5.3
  std::size_t body_chunk = 64 * 1024;      // unstuffed body octets buffered before an AppendBody request
  // Syntax and sequence errors (500-504) per session before 421 4.7.0 and close; 0 = no limit.
  // Like Postfix's smtpd_hard_error_limit: a client sending garbage is cut off (issue #5).
  std::size_t max_errors = 20;
};

}  // namespace mailslot::lmtp
