// XFORWARD and XCLIENT: a trusted client (Postfix's lmtp(8) with lmtp_send_xforward_command = yes,
// a proxy) tells who the original SMTP client was, for the log and the Received: header.
// Postfix's XFORWARD_README: "XFORWARD attribute-name=attribute-value ...", values xtext-encoded
// (RFC 3461 §4), "[UNAVAILABLE]" / "[TEMPUNAVAIL]" for unknown values, only outside a mail
// transaction, the attributes last until the end of the next transaction; 250 on success,
// 550 5.7.0 for an untrusted client, 501 5.5.4 for a bad attribute. XCLIENT_README: the same
// syntax; the values last for the session and the server answers with a fresh 220 greeting,
// after which the client starts over with LHLO.
#include <arpa/inet.h>

#include <optional>
#include <string>
#include <string_view>

#include "mailslot/lmtp/ascii.hpp"
#include "mailslot/lmtp/command.hpp"
#include "mailslot/lmtp/session.hpp"

namespace mailslot::lmtp {

namespace {

constexpr std::size_t kMaxValue = 255;  // Postfix's own limits are of this order (hostnames, ids)

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // RFC 3461 §4: xtext uses upper-case hex
}

// RFC 3461 §4 xtext: "+" followed by two upper-case hex digits; printable ASCII otherwise.
bool xtext_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      const char d = static_cast<char>(hi * 16 + lo);
      if (static_cast<unsigned char>(d) < 0x20 || d == 0x7f) return false;  // no control bytes in logs
      out += d;
      i += 2;
    } else if (c < 0x21 || c > 0x7e || c == '=') {
      return false;
    } else {
      out += c;
    }
  }
  return true;
}

bool valid_address(std::string& addr) {
  if (ascii::iequals(addr.substr(0, 5), "IPV6:")) addr.erase(0, 5);  // Postfix's IPv6 form
  unsigned char buf[16];
  return ::inet_pton(AF_INET, addr.c_str(), buf) == 1 || ::inet_pton(AF_INET6, addr.c_str(), buf) == 1;
}

// Parses "NAME=x ADDR=y ..." into `into`; `allowed` names the attributes of the command. On error
// returns the reply.
std::optional<Reply> parse_attributes(std::string_view args, bool xclient, ForwardedClient& into) {
  ForwardedClient f = into;
  std::size_t pos = 0;
  while (pos < args.size()) {
    while (pos < args.size() && args[pos] == ' ') ++pos;
    if (pos >= args.size()) break;
    std::size_t end = args.find(' ', pos);
    if (end == std::string_view::npos) end = args.size();
    const std::string_view item = args.substr(pos, end - pos);
    pos = end;
    const std::size_t eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    std::string value;
    if (eq == std::string_view::npos || !xtext_decode(item.substr(eq + 1), value) || value.size() > kMaxValue) {
      return Reply{501, "5.5.4", "Bad " + std::string(xclient ? "XCLIENT" : "XFORWARD") + " attribute syntax"};
    }
    if (value == "[UNAVAILABLE]" || value == "[TEMPUNAVAIL]") value.clear();
    std::string* slot = nullptr;
    if (ascii::iequals(name, "NAME")) slot = &f.name;
    else if (ascii::iequals(name, "ADDR")) slot = &f.addr;
    else if (ascii::iequals(name, "PORT")) slot = &f.port;
    else if (ascii::iequals(name, "PROTO")) slot = &f.proto;
    else if (ascii::iequals(name, "HELO")) slot = &f.helo;
    else if (!xclient && ascii::iequals(name, "IDENT")) slot = &f.ident;
    else if (!xclient && ascii::iequals(name, "SOURCE")) slot = &f.source;
    else if (xclient && ascii::iequals(name, "LOGIN")) slot = &f.login;
    else if (xclient && (ascii::iequals(name, "DESTADDR") || ascii::iequals(name, "DESTPORT"))) continue;
    if (slot == nullptr) {
      return Reply{501, "5.5.4", "Bad " + std::string(xclient ? "XCLIENT" : "XFORWARD") + " attribute name: " +
                                     std::string(name.substr(0, 32))};
    }
    if (slot == &f.addr && !value.empty() && !valid_address(value)) {
      return Reply{501, "5.5.4", "Bad ADDR attribute value"};
    }
    *slot = std::move(value);
  }
  into = std::move(f);
  return std::nullopt;
}

}  // namespace

void Session::on_xforward(const Command& c) {
  if (!opt_.xforward) {
    reply({550, "5.7.0", "Error: insufficient authorization"});
    return;
  }
  if (auto refusal = parse_attributes(c.argument, false, xforward_)) {
    reply(*refusal);
    return;
  }
  reply({250, "2.0.0", "Ok"});
}

void Session::on_xclient(const Command& c) {
  if (!opt_.xforward) {
    reply({550, "5.7.0", "Error: insufficient authorization"});
    return;
  }
  if (auto refusal = parse_attributes(c.argument, true, xclient_)) {
    reply(*refusal);
    return;
  }
  // XCLIENT_README: the session starts over as if the original client had connected.
  reset_with_discard();
  lhlo_name_.clear();
  state_ = State::greeted;
  reply({220, "", opt_.hostname + " LMTP mailslot ready"});
}

ForwardedClient Session::forwarded() const {
  ForwardedClient f = xclient_;
  auto take = [](std::string& to, const std::string& from) {
    if (!from.empty()) to = from;
  };
  take(f.name, xforward_.name);
  take(f.addr, xforward_.addr);
  take(f.port, xforward_.port);
  take(f.proto, xforward_.proto);
  take(f.helo, xforward_.helo);
  take(f.ident, xforward_.ident);
  take(f.source, xforward_.source);
  return f;
}

}  // namespace mailslot::lmtp
