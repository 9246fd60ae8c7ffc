// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a load balancer
// sends before the first LMTP byte to name the real client (issue #11). Not LMTP itself: it lives
// in the I/O-free core so that the fuzzers (clang, lmtp layer only) can drive it. Pure code: no
// sockets; the server reads bytes and asks this parser what they are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mailslot::lmtp {

// v1 "PROXY TCP4|TCP6|UNKNOWN ...\r\n" is at most 107 bytes with its CRLF (proxy-protocol.txt §2.1);
// v2 is a 16-byte fixed part and at most 65535 bytes more (§2.2: a 16-bit length).
constexpr std::size_t kProxyV1Max = 107;
constexpr std::size_t kProxyV2Fixed = 16;
constexpr std::size_t kProxyMax = kProxyV2Fixed + 65535;

struct ProxyHeader {
  int version = 0;  // 1 or 2
  // false: v1 UNKNOWN, v2 LOCAL (health checks from the proxy itself), or a v2 family that is not
  // TCP over IPv4/IPv6 (AF_UNIX, UDP, UNSPEC): the connection keeps its own addresses (§2.1, §2.2).
  bool proxied = false;
  std::string source;  // the real client: "192.0.2.1" or "2001:db8::1" (inet_ntop form)
  std::string destination;
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
};

struct ProxyParse {
  enum class Status {
    incomplete,  // every byte so far belongs to the header: read more (never past `need` bytes)
    done,        // `consumed` bytes are the header; whatever follows is the client's
    invalid,     // not a PROXY header: close without a greeting
  };
  Status status = Status::incomplete;
  std::size_t consumed = 0;  // done: length of the header
  ProxyHeader header;        // done
  std::string error;         // invalid: why, for the log
};

// Parses the start of a connection's input. Callers keep the bytes read so far and call it again
// with more while it says `incomplete`; an incomplete answer guarantees that all of `input` is
// header, so a reader that takes only what it is told never consumes the client's own bytes.
// Versions are told apart by their first bytes (v2's 12-byte signature, v1's "PROXY ").
ProxyParse parse_proxy_header(std::string_view input);

}  // namespace mailslot::lmtp
