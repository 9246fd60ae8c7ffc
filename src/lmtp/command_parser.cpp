// Command line grammar (RFC 5321 §4.1.1 and §4.1.2, RFC 2033 §4.1). Pure syntax: whether a
// command is allowed now, and what a parameter means, is the session's business.
#include <array>
#include <cstdint>
#include <cstddef>
#include <string_view>
#include <utility>

#include "mailslot/lmtp/command.hpp"
#include "mailslot/lmtp/ascii.hpp"
#include "mailslot/lmtp/utf8.hpp"

namespace mailslot::lmtp {

namespace {

using ascii::to_upper;

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (to_upper(s[i]) != prefix[i]) return false;
  }
  return true;
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

struct VerbName {
  std::string_view name;  // upper case
  Verb verb;
};

// RFC 5321 §4.1.1 verbs and the extensions a client may try; those mailslot does not offer get
// 502 5.5.1 (RFC 5321 §4.2.4) rather than 500, which would claim we never heard of them.
constexpr std::array kVerbs{
    VerbName{"LHLO", Verb::lhlo},
    VerbName{"MAIL", Verb::mail},
    VerbName{"RCPT", Verb::rcpt},
    VerbName{"DATA", Verb::data},
    VerbName{"RSET", Verb::rset},
    VerbName{"NOOP", Verb::noop},
    VerbName{"QUIT", Verb::quit},
    VerbName{"VRFY", Verb::vrfy},
    VerbName{"HELP", Verb::help},
    VerbName{"HELO", Verb::helo},
    VerbName{"EHLO", Verb::ehlo},
    VerbName{"EXPN", Verb::not_implemented},
    VerbName{"TURN", Verb::not_implemented},
    VerbName{"ATRN", Verb::not_implemented},
    VerbName{"ETRN", Verb::not_implemented},
    VerbName{"BDAT", Verb::bdat},
    VerbName{"STARTTLS", Verb::starttls},
    VerbName{"AUTH", Verb::auth},
    VerbName{"XCLIENT", Verb::xclient},
    VerbName{"XFORWARD", Verb::xforward},
    VerbName{"SEND", Verb::not_implemented},
    VerbName{"SOML", Verb::not_implemented},
    VerbName{"SAML", Verb::not_implemented},
    VerbName{"VERB", Verb::not_implemented},
    VerbName{"ONEX", Verb::not_implemented},
};

Verb lookup_verb(std::string_view text) {
  for (const auto& v : kVerbs) {
    if (text.size() == v.name.size() && istarts_with(text, v.name)) return v.verb;
  }
  return Verb::unknown;
}

// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool is_esmtp_keyword(std::string_view s) {
  auto let_dig = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  if (s.empty() || !let_dig(s.front())) return false;
  for (char c : s) {
    if (!let_dig(c) && c != '-') return false;
  }
  return true;
}

// esmtp-value = 1*(%d33-60 / %d62-126): printable, no "=" and no space; RFC 6531 §3.3 adds
// UTF8-non-ascii, which must be well-formed.
bool is_esmtp_value(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) continue;
    if (c < 33 || c > 126 || c == '=') return false;
  }
  return utf8::is_valid(s);
}

// Mail-parameters / Rcpt-parameters = esmtp-param *(SP esmtp-param). Several spaces are
// tolerated between parameters and at the end.
bool parse_params(std::string_view s, Params& out) {
  for (;;) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty()) return true;
    const std::size_t sp = s.find(' ');
    const std::string_view token = s.substr(0, sp);
    s.remove_prefix(sp == std::string_view::npos ? s.size() : sp);
    const std::size_t eq = token.find('=');
    const std::string_view key = token.substr(0, eq);
    if (!is_esmtp_keyword(key)) return false;
    Param p;
    p.keyword.reserve(key.size());
    for (char c : key) p.keyword.push_back(to_upper(c));
    if (eq != std::string_view::npos) {
      const std::string_view value = token.substr(eq + 1);
      if (!is_esmtp_value(value)) return false;
      p.value.emplace(value);
    }
    out.push_back(std::move(p));
  }
}

// "MAIL FROM:<path> [params]" / "RCPT TO:<path> [params]"; `rest` follows the verb.
void parse_path_command(std::string_view rest, std::string_view keyword, bool forward, Command& cmd) {
  const SyntaxError bad_path = forward ? SyntaxError::bad_forward_path : SyntaxError::bad_reverse_path;
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (!istarts_with(rest, keyword)) {
    cmd.error = SyntaxError::bad_arguments;
    return;
  }
  rest.remove_prefix(keyword.size());
  // Dovecot's "whitespace-before-path" workaround: "MAIL FROM: <a@b>" is common in the wild.
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  std::size_t consumed = 0;
  PathError perr = PathError::none;
  auto path = parse_path(rest, consumed, perr);
  if (!path) {
    cmd.error = bad_path;
    return;
  }
  // RFC 5321 §4.1.1.3: the null path is only a reverse-path; "<postmaster>" only a forward-path.
  if ((forward && path->null) || (!forward && !path->null && path->mailbox.domain.empty())) {
    cmd.error = bad_path;
    return;
  }
  cmd.path = std::move(*path);
  rest.remove_prefix(consumed);
  if (rest.empty()) return;
  if (rest.front() != ' ') {  // "<a@b>junk": the path did not end where the client thought
    cmd.error = bad_path;
    return;
  }
  if (!parse_params(rest, cmd.params)) {
    cmd.params.clear();
    cmd.error = SyntaxError::bad_parameters;
  }
}

// RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ] CR LF, chunk-size = 1*DIGIT,
// end-marker = "LAST". A size beyond 64 bits saturates: it can only be refused as too big.
void parse_bdat(std::string_view rest, Command& cmd) {
  const std::size_t sp = rest.find(' ');
  const std::string_view size = rest.substr(0, sp);
  const std::string_view marker = sp == std::string_view::npos ? std::string_view{} : rest.substr(sp + 1);
  if (size.empty() || (sp != std::string_view::npos && !(marker.size() == 4 && istarts_with(marker, "LAST")))) {
    cmd.error = SyntaxError::bad_arguments;
    return;
  }
  constexpr std::uint64_t kMax = ~std::uint64_t{0};
  std::uint64_t n = 0;
  for (char c : size) {
    if (c < '0' || c > '9') {
      cmd.error = SyntaxError::bad_arguments;
      return;
    }
    const auto d = static_cast<std::uint64_t>(c - '0');
    n = n > (kMax - d) / 10 ? kMax : n * 10 + d;
  }
  cmd.chunk_size = n;
  cmd.last = sp != std::string_view::npos;
}

}  // namespace

Command parse_command(std::string_view line) {
  Command cmd;
  const std::size_t sp = line.find(' ');
  const std::string_view verb = line.substr(0, sp);
  const std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  cmd.verb_text.assign(verb);
  cmd.verb = lookup_verb(verb);

  switch (cmd.verb) {
    case Verb::mail:
      parse_path_command(rest, "FROM:", false, cmd);
      break;
    case Verb::rcpt:
      parse_path_command(rest, "TO:", true, cmd);
      break;
    case Verb::lhlo:
    case Verb::helo:
    case Verb::ehlo:
    case Verb::vrfy:
      // RFC 2033 §4.1 "LHLO" SP Domain; RFC 5321 §4.1.1.6 "VRFY" SP String: both required.
      cmd.argument.assign(trim(rest));
      if (cmd.argument.empty()) cmd.error = SyntaxError::bad_arguments;
      break;
    case Verb::data:
    case Verb::rset:
      // RFC 5321 §4.1.1.4, §4.1.1.5: no arguments.
      if (!trim(rest).empty()) cmd.error = SyntaxError::bad_arguments;
      break;
    case Verb::noop:
    case Verb::help:
    case Verb::quit:
      // NOOP and HELP take an optional string (§4.1.1.9, §4.1.1.8); an argument to QUIT is
      // ignored so that a client can always leave.
      cmd.argument.assign(trim(rest));
      break;
    case Verb::bdat:
      parse_bdat(rest, cmd);
      break;
    case Verb::xforward:
    case Verb::xclient:  // "attribute=value ..." (xtext), checked by the handler
      cmd.argument.assign(trim(rest));
      if (cmd.argument.empty()) cmd.error = SyntaxError::bad_arguments;
      break;
    case Verb::not_implemented:
    case Verb::unknown:
    case Verb::starttls:  // RFC 3207 §4: no arguments; the session answers 501 for any
    case Verb::auth:      // RFC 4954 §4: the session splits mechanism and initial response
      cmd.argument.assign(trim(rest));
      break;
  }
  return cmd;
}

}  // namespace mailslot::lmtp
