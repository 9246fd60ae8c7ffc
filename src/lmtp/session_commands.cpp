// lmtp::Session commands: one table says which verb is allowed in which state, one handler per
// verb says what it does (RFC 2033 §4, RFC 5321 §4.1.1).
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "mailslot/lmtp/command.hpp"
#include "mailslot/lmtp/ascii.hpp"
#include "mailslot/lmtp/extension_params.hpp"
#include "mailslot/lmtp/session.hpp"

namespace mailslot::lmtp {

namespace {

using State = Session::State;

constexpr unsigned bit(State s) { return 1u << static_cast<unsigned>(s); }
// Commands are read in every state but data (content) and closed (input ignored).
constexpr unsigned kAnyState = bit(State::greeted) | bit(State::ready) | bit(State::mail);

struct CommandRule {
  Verb verb;
  void (Session::*handle)(const Command&);
  unsigned allowed;    // states in which the command is in sequence
  bool checks_syntax;  // a SyntaxError from the parser is answered before the handler runs
};

using ascii::iequals;

// RFC 5321 §4.2.4 / RFC 3463 5.5.1: a command out of sequence.
Reply out_of_sequence(Verb verb, State state) {
  switch (verb) {
    case Verb::mail:
      return {503, "5.5.1", state == State::mail ? "Nested MAIL command" : "Send LHLO first"};
    case Verb::rcpt:
      return {503, "5.5.1", "Need MAIL before RCPT"};
    case Verb::data:
      return {503, "5.5.1", "Need MAIL before DATA"};
    default:
      return {503, "5.5.1", "Bad sequence of commands"};
  }
}

Reply syntax_reply(const Command& c) {
  switch (c.error) {
    case SyntaxError::bad_reverse_path:
      return {501, "5.1.7", "Bad sender address syntax"};  // RFC 3463 X.1.7
    case SyntaxError::bad_forward_path:
      return {501, "5.1.3", "Bad recipient address syntax"};  // RFC 3463 X.1.3
    case SyntaxError::bad_parameters:
      return {501, "5.5.4", "Bad parameter syntax"};
    case SyntaxError::bad_arguments:
    case SyntaxError::none:
      break;
  }
  switch (c.verb) {
    case Verb::lhlo:
      return {501, "5.5.4", "Syntax: LHLO hostname"};
    case Verb::mail:
      return {501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]"};
    case Verb::rcpt:
      return {501, "5.5.4", "Syntax: RCPT TO:<address>"};
    case Verb::vrfy:
      return {501, "5.5.4", "Syntax: VRFY address"};
    case Verb::xforward:
      return {501, "5.5.4", "Syntax: XFORWARD attribute=value ..."};
    case Verb::xclient:
      return {501, "5.5.4", "Syntax: XCLIENT attribute=value ..."};
    default:
      return {501, "5.5.4", "Syntax error, no arguments allowed"};
  }
}

// SIZE=<digits> (RFC 1870 §3); a value too large for 64 bits is simply "too big".
bool parse_size(std::string_view v, std::uint64_t& out) {
  if (v.empty() || v.size() > 40) return false;
  std::uint64_t n = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    n = n > (kMax - d) / 10 ? kMax : n * 10 + d;
  }
  out = n;
  return true;
}

}  // namespace

void Session::process_command_line(std::string_view line) {
  // RFC 5321 §2.3.8: CR and LF appear only together as the line ending; NUL is not text.
  if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos) {
    reply({500, "5.5.2", "Syntax error: NUL or bare CR in command line"});
    return;
  }
  const Command cmd = parse_command(line);

  static constexpr CommandRule kRules[] = {
      {Verb::lhlo, &Session::on_lhlo, kAnyState, true},
      {Verb::helo, &Session::on_helo, kAnyState, false},
      {Verb::ehlo, &Session::on_helo, kAnyState, false},
      {Verb::mail, &Session::on_mail, bit(State::ready), true},
      {Verb::rcpt, &Session::on_rcpt, bit(State::mail), true},
      {Verb::data, &Session::on_data, bit(State::mail), true},
      {Verb::rset, &Session::on_rset, kAnyState, true},
      {Verb::noop, &Session::on_noop, kAnyState, true},
      {Verb::quit, &Session::on_quit, kAnyState, true},
      {Verb::vrfy, &Session::on_vrfy, kAnyState, true},
      {Verb::help, &Session::on_help, kAnyState, true},
      // In every state: a refused chunk's octets must still be read (RFC 3030 §2); on_bdat decides.
      {Verb::bdat, &Session::on_bdat, kAnyState, false},
      // XFORWARD_README / XCLIENT_README: outside a mail transaction only.
      {Verb::xforward, &Session::on_xforward, bit(State::ready), true},
      {Verb::xclient, &Session::on_xclient, bit(State::greeted) | bit(State::ready), true},
      {Verb::not_implemented, &Session::on_not_implemented, kAnyState, false},
      // Issue #5 (session_security.cpp): 502 when not offered, so the handlers check the state.
      {Verb::starttls, &Session::on_starttls, kAnyState, false},
      {Verb::auth, &Session::on_auth, kAnyState, false},
      {Verb::unknown, &Session::on_unknown, kAnyState, false},
  };
  for (const CommandRule& rule : kRules) {
    if (rule.verb != cmd.verb) continue;
    if ((rule.allowed & bit(state_)) == 0) {
      reply(out_of_sequence(cmd.verb, state_));
    } else if (rule.checks_syntax && cmd.error != SyntaxError::none) {
      reply(syntax_reply(cmd));
    } else {
      (this->*rule.handle)(cmd);
    }
    return;
  }
  on_unknown(cmd);
}

void Session::on_lhlo(const Command& c) {
  // RFC 2033 §4.1: LHLO may be repeated and, like EHLO (RFC 5321 §4.1.4), resets the transaction.
  reset_with_discard();
  lhlo_name_ = c.argument;
  state_ = State::ready;
  // RFC 2033 §5: PIPELINING and ENHANCEDSTATUSCODES are required; RFC 2034 §3 keeps enhanced
  // codes off the LHLO reply; RFC 1870 §4 announces the fixed maximum size.
  std::string capabilities = opt_.hostname + "\nPIPELINING\nENHANCEDSTATUSCODES\n8BITMIME\nSIZE " +
                             std::to_string(opt_.limits.max_message_size);
  if (opt_.chunking) capabilities += "\nCHUNKING\nBINARYMIME";  // RFC 3030 §2, §3
  if (opt_.smtputf8) capabilities += "\nSMTPUTF8";               // RFC 6531 §3.2
  if (opt_.dsn) capabilities += "\nDSN";                         // RFC 3461 §4
  if (opt_.xforward) capabilities += "\nXFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE\nXCLIENT NAME ADDR PORT PROTO HELO LOGIN";
  if (ignorequota_offered()) capabilities += "\nIGNOREQUOTA";  // Cyrus lmtpd (session_security.cpp)
  capabilities += security_capabilities();                       // STARTTLS, AUTH (issue #5)
  reply({250, "", capabilities});
}

void Session::on_helo(const Command&) {
  // RFC 2033 §4.1: HELO and EHLO must not get a 2xx from an LMTP server.
  reply({500, "5.5.1", "Use LHLO"});
}

void Session::on_mail(const Command& c) {
  if (mail_refusal_) {  // the owner's load shedding: RFC 5321 §4.2.5 lets a server refuse MAIL with 4xx
    reply(*mail_refusal_);
    return;
  }
  if (auto refusal = security_refusal()) {  // RFC 3207 §4 / RFC 4954 §6: 530 5.7.0
    reply(*refusal);
    return;
  }
  Transaction t;
  t.reverse_path = c.path;
  t.mail_params = c.params;
  for (const Param& p : c.params) {
    if (p.keyword == "SIZE") {  // RFC 1870 §6
      std::uint64_t size = 0;
      if (t.declared_size || !p.value || !parse_size(*p.value, size)) {
        reply({501, "5.5.4", "Bad SIZE parameter"});
        return;
      }
      if (size > opt_.limits.max_message_size) {
        reply({552, "5.3.4", "Message size exceeds fixed maximum message size"});
        return;
      }
      t.declared_size = size;
    } else if (p.keyword == "BODY") {  // RFC 6152 §2
      if (t.body != Body::unspecified || !p.value) {
        reply({501, "5.5.4", "Bad BODY parameter"});
        return;
      }
      if (iequals(*p.value, "7BIT")) {
        t.body = Body::seven_bit;
      } else if (iequals(*p.value, "8BITMIME")) {
        t.body = Body::eight_bit_mime;
      } else if (opt_.chunking && iequals(*p.value, "BINARYMIME")) {  // RFC 3030 §3
        t.body = Body::binary_mime;
      } else {
        reply({501, "5.5.4", "Unsupported BODY type"});
        return;
      }
    } else if (p.keyword == "AUTH" && opt_.auth != SessionOptions::AuthPolicy::off) {
      // RFC 4954 §5: AUTH=<mailbox> is accepted where AUTH is offered; mailslot does not relay,
      // so the claimed submitter is not used (treated as AUTH=<>).
    } else if (auto refusal = apply_mail_extension_param(p, t, opt_)) {
      // SMTPUTF8 and DSN; RFC 5321 §4.1.1.11: a parameter the server does not offer gets 555.
      reply(*refusal);
      return;
    }
  }
  // RFC 6531 §3.4 / RFC 6533 §5.6.7 (X.6.7): a UTF-8 address needs SMTPUTF8 on this MAIL.
  if (c.path.mailbox.is_utf8() && !t.smtputf8) {
    reply({553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8"});
    return;
  }
  txn_ = std::move(t);
  state_ = State::mail;
  reply({250, "2.1.0", "Sender " + txn_.reverse_path.to_string() + " OK"});
}

void Session::on_rcpt(const Command& c) {
  // The message's envelope went to the store with the first BDAT: no recipient can join now.
  if (chunking_) {
    reply({503, "5.5.1", "RCPT not allowed after BDAT"});
    return;
  }
  Recipient extras;  // NOTIFY and ORCPT (RFC 3461 §4.1, §4.2), IGNOREQUOTA
  for (const Param& p : c.params) {
    // IGNOREQUOTA (draft-murchison-lmtp-ignorequota §2, Cyrus lmtpd): a bare keyword, no value.
    // Where it is not announced it falls through to the 555 of any parameter not offered.
    if (p.keyword == "IGNOREQUOTA" && ignorequota_offered()) {
      if (p.value || extras.ignore_quota) {
        reply({501, "5.5.4", "Bad IGNOREQUOTA parameter"});
        return;
      }
      if (!ignorequota_allowed()) {  // RFC 4954 §6: the action needs authentication
        reply({530, "5.7.0", "Authentication required"});
        return;
      }
      extras.ignore_quota = true;
      continue;
    }
    if (auto refusal = apply_rcpt_extension_param(p, extras, txn_, opt_)) {
      reply(*refusal);
      return;
    }
  }
  // RFC 6531 §3.4 / RFC 6533 X.6.7: a UTF-8 recipient only in an SMTPUTF8 transaction.
  if (c.path.mailbox.is_utf8() && !txn_.smtputf8) {
    reply({553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8"});
    return;
  }
  // RFC 5321 §4.5.3.1.10: too many recipients is a temporary 452, the client retries the rest.
  if (txn_.recipients.size() >= opt_.limits.max_recipients) {
    reply({452, "4.5.3", "Too many recipients"});
    return;
  }
  // The answer (and the reply) waits for the owner's verdict; later pipelined commands wait too.
  pending_notify_ = extras.notify;
  pending_orcpt_ = std::move(extras.orcpt);
  request_ = CheckRecipient{c.path, c.params, extras.ignore_quota};
}

void Session::on_data(const Command&) {
  // RFC 3030 §2: DATA after BDAT in one transaction, and §3: DATA with BODY=BINARYMIME, get 503.
  if (chunking_) {
    reply({503, "5.5.1", "DATA not allowed after BDAT; send RSET"});
    return;
  }
  if (txn_.body == Body::binary_mime) {
    reply({503, "5.5.1", "BODY=BINARYMIME requires BDAT"});
    return;
  }
  // RFC 2033 §4.2: DATA without a successful RCPT gets 503.
  if (txn_.recipients.empty()) {
    reply({503, "5.5.1", "No valid recipients"});
    return;
  }
  request_ = OpenMessage{};  // 354 only once the spool is open
}

void Session::on_rset(const Command&) {
  reset_with_discard();  // RFC 5321 §4.1.1.5: the LHLO stays
  reply({250, "2.0.0", "OK"});
}

void Session::on_noop(const Command&) { reply({250, "2.0.0", "OK"}); }

void Session::on_quit(const Command&) {
  quit_answered_ = state_ != State::closed;
  close_with({221, "2.0.0", opt_.hostname + " closing connection"});  // RFC 5321 §4.1.1.10
}

void Session::on_vrfy(const Command&) {
  // RFC 5321 §3.5.3: 252 when the server will not verify but will try to deliver.
  reply({252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery"});
}

void Session::on_help(const Command&) {
  reply({214, "2.0.0", "Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"});
}

void Session::on_not_implemented(const Command&) {
  reply({502, "5.5.1", "Command not implemented"});  // RFC 5321 §4.2.4
}

void Session::on_unknown(const Command&) {
  reply({500, "5.5.2", "Command unrecognized"});  // RFC 5321 §4.2.4
}

}  // namespace mailslot::lmtp
