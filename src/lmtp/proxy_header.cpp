// PROXY protocol v1 and v2 (HAProxy's proxy-protocol.txt), parsed strictly: a header that is not
// exactly what the document describes closes the connection, since what it says decides which
// client the logs, the Received: header and the access checks see.
#include "mailslot/lmtp/proxy_header.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <vector>

namespace mailslot::lmtp {
namespace {

using Status = ProxyParse::Status;

// §2.2: "\r\n\r\n\0\r\nQUIT\n", chosen so that no v1 header or text protocol starts with it.
constexpr std::string_view kV2Signature("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);
constexpr std::string_view kV1Prefix = "PROXY ";

ProxyParse invalid(std::string why) {
  ProxyParse p;
  p.status = Status::invalid;
  p.error = std::move(why);
  return p;
}

// Whether `input` (possibly cut short) can still be the start of `prefix`.
bool starts_as(std::string_view input, std::string_view prefix) {
  const std::size_t n = std::min(input.size(), prefix.size());
  return input.substr(0, n) == prefix.substr(0, n);
}

// §2.1: ports are decimal 0..65535; as HAProxy writes them (no sign, no leading zero).
bool parse_port(std::string_view s, std::uint16_t& port) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > 65535) return false;
  port = static_cast<std::uint16_t>(v);
  return true;
}

// An address of the family the header names, returned in inet_ntop's canonical form.
bool parse_address(std::string_view s, int family, std::string& out) {
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return false;
  const std::string text(s);
  std::array<unsigned char, 16> bytes{};
  if (::inet_pton(family, text.c_str(), bytes.data()) != 1) return false;
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(family, bytes.data(), buf, sizeof buf) == nullptr) return false;
  out = buf;
  return true;
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t sp = line.find(' ', start);
    parts.push_back(line.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
    if (sp == std::string_view::npos) return parts;
    start = sp + 1;
  }
}

// §2.1: "PROXY" SP ("TCP4" | "TCP6" | "UNKNOWN") [SP src SP dst SP sport SP dport] CRLF, one
// space between fields, at most 107 bytes.
ProxyParse parse_v1(std::string_view input) {
  const std::size_t window = std::min(input.size(), kProxyV1Max);
  const std::size_t lf = input.substr(0, window).find('\n');
  if (lf == std::string_view::npos) {
    if (input.size() >= kProxyV1Max) return invalid("v1 line longer than 107 bytes");
    return {};  // incomplete: no line end yet, so every byte is header
  }
  if (lf == 0 || input[lf - 1] != '\r') return invalid("v1 line not ended by CRLF");
  const std::string_view line = input.substr(0, lf - 1);
  const auto f = split_spaces(line);
  ProxyParse p;
  p.header.version = 1;
  p.consumed = lf + 1;
  if (f.size() >= 2 && f[1] == "UNKNOWN") {
    // §2.1: with UNKNOWN the receiver ignores the rest of the line and keeps the real addresses.
    p.status = Status::done;
    return p;
  }
  if (f.size() < 2 || (f[1] != "TCP4" && f[1] != "TCP6"))
    return invalid("v1 protocol not TCP4, TCP6 or UNKNOWN");
  if (f.size() != 6) return invalid("v1 line needs source, destination and two ports");
  const int family = f[1] == "TCP4" ? AF_INET : AF_INET6;
  ProxyHeader& h = p.header;
  if (!parse_address(f[2], family, h.source)) return invalid("v1 bad source address");
  if (!parse_address(f[3], family, h.destination)) return invalid("v1 bad destination address");
  if (!parse_port(f[4], h.source_port)) return invalid("v1 bad source port");
  if (!parse_port(f[5], h.destination_port)) return invalid("v1 bad destination port");
  h.proxied = true;
  p.status = Status::done;
  return p;
}

std::uint16_t be16(const unsigned char* b) { return static_cast<std::uint16_t>((b[0] << 8) | b[1]); }

// §2.2: signature, version/command, family/transport, length, then the address block and TLVs.
ProxyParse parse_v2(std::string_view input) {
  if (input.size() < kProxyV2Fixed) return {};
  const auto* b = reinterpret_cast<const unsigned char*>(input.data());
  if ((b[12] >> 4) != 2) return invalid("v2 unsupported version");
  const unsigned command = b[12] & 0x0f;  // 0 LOCAL, 1 PROXY; others are invalid
  if (command > 1) return invalid("v2 unknown command");
  const unsigned family = b[13];
  std::size_t address_size = 0;
  switch (family) {
    case 0x00:  // UNSPEC
      break;
    case 0x11:  // TCP over IPv4
    case 0x12:  // UDP over IPv4
      address_size = 12;
      break;
    case 0x21:  // TCP over IPv6
    case 0x22:  // UDP over IPv6
      address_size = 36;
      break;
    case 0x31:  // AF_UNIX stream
    case 0x32:  // AF_UNIX datagram
      address_size = 216;
      break;
    default:
      return invalid("v2 unknown address family or transport");
  }
  const std::size_t length = be16(b + 14);
  // §2.2: LOCAL's address block is ignored; PROXY's must hold the family's addresses (any rest is TLVs).
  if (command == 1 && length < address_size) return invalid("v2 address block shorter than its family needs");
  if (input.size() < kProxyV2Fixed + length) return {};  // incomplete: all of it is header
  ProxyParse p;
  p.status = Status::done;
  p.consumed = kProxyV2Fixed + length;
  ProxyHeader& h = p.header;
  h.version = 2;
  if (command != 1 || (family != 0x11 && family != 0x21)) return p;  // keep the connection's addresses
  const unsigned char* a = b + kProxyV2Fixed;
  const int af = family == 0x11 ? AF_INET : AF_INET6;
  const std::size_t n = family == 0x11 ? 4 : 16;
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(af, a, buf, sizeof buf) == nullptr) return invalid("v2 bad source address");
  h.source = buf;
  if (::inet_ntop(af, a + n, buf, sizeof buf) == nullptr) return invalid("v2 bad destination address");
  h.destination = buf;
  h.source_port = be16(a + 2 * n);
  h.destination_port = be16(a + 2 * n + 2);
  h.proxied = true;
  return p;  // TLVs (§2.2.1) after the addresses are skipped: nothing in them is needed here
}

}  // namespace

ProxyParse parse_proxy_header(std::string_view input) {
  if (input.empty()) return {};
  if (input[0] == kV2Signature[0]) {
    if (!starts_as(input, kV2Signature)) return invalid("not a PROXY header");
    return parse_v2(input);
  }
  if (!starts_as(input, kV1Prefix)) return invalid("not a PROXY header");
  if (input.size() <= kV1Prefix.size()) return {};
  return parse_v1(input);
}

}  // namespace mailslot::lmtp
