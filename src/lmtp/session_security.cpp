// lmtp::Session: STARTTLS (RFC 3207) and AUTH (RFC 4954). The session only decides what is
// allowed and what is said; the TLS handshake and the SASL exchange are requests its owner
// carries out (server::Connection with OpenSSL and Cyrus SASL).
#include <algorithm>
#include <string>
#include <string_view>

#include "mailslot/lmtp/ascii.hpp"
#include "mailslot/lmtp/command.hpp"
#include "mailslot/lmtp/session.hpp"

namespace mailslot::lmtp {

namespace {

using TlsPolicy = SessionOptions::TlsPolicy;
using AuthPolicy = SessionOptions::AuthPolicy;

Reply must_starttls() { return {530, "5.7.0", "Must issue a STARTTLS command first"}; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

}  // namespace

std::string Session::security_capabilities() const {
  std::string caps;
  // RFC 3207 §4.2: STARTTLS is not offered once TLS is active.
  if (opt_.starttls != TlsPolicy::off && !opt_.tls_active) caps += "\nSTARTTLS";
  // RFC 4954 §4: AUTH is not offered once authenticated; before a required STARTTLS the
  // mechanisms would only invite a 530, so none are listed.
  const bool tls_pending = opt_.starttls == TlsPolicy::required && !opt_.tls_active;
  if (opt_.auth != AuthPolicy::off && !authenticated_ && !tls_pending && !opt_.auth_mechanisms.empty()) {
    caps += "\nAUTH";
    for (const auto& m : opt_.auth_mechanisms) caps += " " + m;
  }
  return caps;
}

std::optional<Reply> Session::security_refusal() const {
  if (opt_.starttls == TlsPolicy::required && !opt_.tls_active) return must_starttls();
  // RFC 4954 §6: 530 5.7.0 when the server requires authentication for this command.
  if (opt_.auth == AuthPolicy::required && !authenticated_) return Reply{530, "5.7.0", "Authentication required"};
  return std::nullopt;
}

// IGNOREQUOTA lets a client write past a user's quota, so only a client the owner trusts may use
// it: one from lmtp.ignorequota_from, or (lmtp.ignorequota_authenticated) one that has passed
// AUTH. It is announced before AUTH too, because clients (Exim's smtp transport) decide from the
// one LHLO reply whether to send it; RCPT ... IGNOREQUOTA before AUTH then gets 530 5.7.0.
bool Session::ignorequota_offered() const {
  return opt_.ignorequota || (opt_.ignorequota_authenticated && opt_.auth != AuthPolicy::off);
}

bool Session::ignorequota_allowed() const {
  return opt_.ignorequota || (opt_.ignorequota_authenticated && authenticated_);
}

void Session::on_starttls(const Command& c) {
  if (opt_.starttls == TlsPolicy::off) {
    on_not_implemented(c);
    return;
  }
  if (state_ == State::mail) {  // RFC 3207 §4: not inside a mail transaction
    reply({503, "5.5.1", "STARTTLS not allowed during a mail transaction"});
    return;
  }
  if (opt_.tls_active) {
    reply({503, "5.5.1", "TLS already active"});
    return;
  }
  if (!c.argument.empty()) {  // RFC 3207 §4: "STARTTLS" with no parameters; 501 otherwise
    reply({501, "5.5.4", "Syntax: STARTTLS"});
    return;
  }
  reply({220, "2.0.0", "Ready to start TLS"});
  // CVE-2011-0411: whatever the client sent after STARTTLS before the handshake was sent in
  // clear and could have been injected by a man in the middle; it must not be taken as
  // commands of the encrypted session.
  in_pos_ = in_.size();
  discarding_line_ = false;
  request_ = StartTls{};
}

void Session::tls_started(std::vector<std::string> auth_mechanisms) {
  if (!std::holds_alternative<StartTls>(request_)) return;
  request_ = std::monostate{};
  opt_.tls_active = true;
  opt_.auth_mechanisms = std::move(auth_mechanisms);
  if (state_ == State::closed) return;
  // RFC 3207 §4.2: discard any knowledge obtained from the client before TLS; the client
  // must send LHLO again.
  reset_transaction();
  lhlo_name_.clear();
  authenticated_ = false;
  auth_user_.clear();
  auth_exchange_ = false;
  state_ = State::greeted;
  process();
}

void Session::tls_failed() {
  if (!std::holds_alternative<StartTls>(request_)) return;
  request_ = std::monostate{};
  state_ = State::closed;  // no reply: the peer expects TLS records, not text
  in_.clear();
  in_pos_ = 0;
}

void Session::on_auth(const Command& c) {
  if (opt_.auth == AuthPolicy::off) {
    on_not_implemented(c);
    return;
  }
  if (state_ != State::ready) {  // RFC 4954 §4: after LHLO, not inside a mail transaction
    reply({503, "5.5.1", state_ == State::mail ? "AUTH not allowed during a mail transaction" : "Send LHLO first"});
    return;
  }
  if (authenticated_) {  // RFC 4954 §4: AUTH once per session
    reply({503, "5.5.1", "Already authenticated"});
    return;
  }
  if (opt_.starttls == TlsPolicy::required && !opt_.tls_active) {
    reply(must_starttls());
    return;
  }
  const std::string_view arg = c.argument;
  const std::size_t sp = arg.find(' ');
  const std::string mechanism = upper(arg.substr(0, sp));
  if (mechanism.empty()) {
    reply({501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"});
    return;
  }
  if (std::find(opt_.auth_mechanisms.begin(), opt_.auth_mechanisms.end(), mechanism) == opt_.auth_mechanisms.end()) {
    reply({504, "5.5.4", "Unrecognized authentication type"});  // RFC 4954 §4
    return;
  }
  std::optional<std::string> initial;
  if (sp != std::string_view::npos) {
    std::string_view ir = arg.substr(sp + 1);
    while (!ir.empty() && ir.front() == ' ') ir.remove_prefix(1);
    initial = ir == "=" ? std::string() : std::string(ir);  // RFC 4954 §4: "=" is an empty response
  }
  auth_mechanism_ = mechanism;
  request_ = Authenticate{mechanism, std::move(initial), true};
}

void Session::process_auth_response(std::string_view line) {
  auth_exchange_ = false;
  if (line == "*") {  // RFC 4954 §4: the client cancels the exchange
    reply({501, "5.0.0", "Authentication cancelled"});
    return;
  }
  request_ = Authenticate{auth_mechanism_, std::string(line), false};
}

void Session::auth_stepped(AuthStep step) {
  if (!std::holds_alternative<Authenticate>(request_)) return;
  request_ = std::monostate{};
  if (closed_after_answer()) return;
  switch (step.kind) {
    case AuthStep::Kind::challenge:
      reply({334, "", step.challenge});  // RFC 4954 §4: no enhanced code on 334
      auth_exchange_ = true;
      break;
    case AuthStep::Kind::success:
      authenticated_ = true;
      auth_user_ = std::move(step.user);
      reply(step.reply);
      break;
    case AuthStep::Kind::failure:
      ++auth_failures_;
      reply(step.reply);
      // Password guessing: after max_auth_failures the connection ends (the owner also slows
      // each failure down).
      if (opt_.max_auth_failures > 0 && auth_failures_ >= opt_.max_auth_failures) {
        close_with({421, "4.7.0", opt_.hostname + " Too many authentication failures, closing connection"});
        return;
      }
      break;
  }
  process();
}

}  // namespace mailslot::lmtp
