// One parsed command line (RFC 5321 §4.1.1, RFC 2033 §4.1).
#pragma once

#include <cstdint>
#include <string>

#include "mailslot/lmtp/address.hpp"
#include "mailslot/lmtp/params.hpp"

namespace mailslot::lmtp {

enum class Verb {
  lhlo, helo, ehlo, mail, rcpt, data, rset, noop, quit, vrfy, help,
  bdat,             // RFC 3030 CHUNKING
  xforward,         // Postfix XFORWARD (trusted clients only)
  xclient,          // Postfix XCLIENT (trusted clients only)
  not_implemented,  // recognised SMTP verbs mailslot does not offer (EXPN, TURN, ETRN...)
  starttls,         // RFC 3207; answered 502 unless the listener offers it
  auth,             // RFC 4954; argument "mechanism [initial-response]"; 502 unless offered
  unknown,
};

enum class SyntaxError {
  none,
  bad_arguments,      // 501 5.5.4: e.g. "DATA x", "LHLO" without a domain
  bad_reverse_path,   // 501 5.1.7
  bad_forward_path,   // 501 5.1.3
  bad_parameters,     // 501 5.5.4: malformed "KEY=VALUE" list
};

struct Command {
  Verb verb = Verb::unknown;
  std::string verb_text;  // the verb exactly as sent (case kept), for logs and diagnostics
  std::string argument;   // LHLO domain, VRFY/HELP/NOOP argument (trimmed)
  Path path;              // MAIL reverse-path / RCPT forward-path
  Params params;          // MAIL / RCPT parameters
  SyntaxError error = SyntaxError::none;
  // BDAT (RFC 3030 §2): chunk-size, saturated at the largest uint64_t, and the LAST marker.
  std::uint64_t chunk_size = 0;
  bool last = false;
};

// Parses one command line without its line ending. Verbs are case-insensitive; "MAIL FROM:" and
// "RCPT TO:" accept spaces after the colon (Dovecot's "whitespace-before-path" workaround).
Command parse_command(std::string_view line);

}  // namespace mailslot::lmtp
