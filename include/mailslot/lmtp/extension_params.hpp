// MAIL and RCPT parameters of the extensions beyond RFC 5321's core: SMTPUTF8 (RFC 6531 §3.4) and
// the DSN parameters (RFC 3461 §4). SIZE and BODY stay in session_commands.cpp.
#pragma once

#include <optional>

#include "mailslot/lmtp/params.hpp"
#include "mailslot/lmtp/reply.hpp"
#include "mailslot/lmtp/session.hpp"
#include "mailslot/lmtp/transaction.hpp"

namespace mailslot::lmtp {

// Applies one MAIL parameter to t. nullopt: applied. A reply: the refusal (555 5.5.4 for a
// parameter of an extension not offered, 501 5.5.4 for a bad or repeated value).
std::optional<Reply> apply_mail_extension_param(const Param& p, Transaction& t, const SessionOptions& opt);

// The same for one RCPT parameter; `t` is the transaction the recipient joins.
std::optional<Reply> apply_rcpt_extension_param(const Param& p, Recipient& r, const Transaction& t,
                                                const SessionOptions& opt);

}  // namespace mailslot::lmtp
