// What lmtp::Session asks its owner to do. The session stops consuming input while a request is
// pending; the owner performs it (off the event loop where it touches the disk) and answers with
// the matching Session method.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "mailslot/lmtp/address.hpp"
#include "mailslot/lmtp/params.hpp"

namespace mailslot::lmtp {

// RCPT TO parsed and allowed by the state machine: is this address deliverable?
// Answer: Session::recipient_checked().
struct CheckRecipient {
  Path forward_path;
  Params params;
  bool ignore_quota = false;  // RCPT ... IGNOREQUOTA from a client allowed it: no quota check
};

// DATA (or the first BDAT of a transaction) accepted by the state machine: create the spool for
// session.transaction(). Answer: Session::message_opened(); for DATA, 354 is sent only after a
// successful open; for BDAT the chunk's octets are read either way (a failure fails the chunk).
struct OpenMessage {};

// Decoded content to append to the spool. `data` stays valid until Session::body_appended().
struct AppendBody {
  std::string_view data;
};

// The terminating "." (or the end of BDAT ... LAST) arrived and all content was appended: make the
// message durable for every accepted recipient. Answer: Session::message_committed() with one
// reply per recipient.
struct CommitMessage {};

// The message will not be delivered (too big, a line too long, an append failed, client gone,
// RSET or LHLO between BDAT chunks): remove the spool. Answer: Session::message_discarded().
struct DiscardMessage {};

// STARTTLS accepted (RFC 3207 §4): "220 2.0.0" is in the output and every byte received after the
// command was discarded. The owner writes the output, then runs the TLS handshake on the
// connection. Answer: Session::tls_started() (a new session begins, LHLO needed) or
// Session::tls_failed() (the session closes without a reply: nothing can be said in clear).
struct StartTls {};

// One step of a SASL exchange (RFC 4954 §4). `start`: the AUTH command itself, with the optional
// initial response (nullopt: none sent; "" for "="); else the client's response line to a 334
// challenge, still base64 as sent. Answer: Session::auth_stepped().
struct Authenticate {
  std::string mechanism;
  std::optional<std::string> response;
  bool start = true;
};

using Request = std::variant<std::monostate, CheckRecipient, OpenMessage, AppendBody, CommitMessage, DiscardMessage,
                             StartTls, Authenticate>;

}  // namespace mailslot::lmtp
