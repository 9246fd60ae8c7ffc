// PROXY protocol v1/v2 headers (issue #11; HAProxy's proxy-protocol.txt): lmtp::parse_proxy_header.
#include "mailslot/lmtp/proxy_header.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mailslot::lmtp {
namespace {

using Status = ProxyParse::Status;

// Feeds `wire` one byte more at a time, as a reader that takes only what it is told would: every
// prefix shorter than the header must be `incomplete`, and the full header `done` (or `invalid`).
ProxyParse byte_by_byte(const std::string& wire) {
  ProxyParse p;
  for (std::size_t n = 1; n <= wire.size(); ++n) {
    p = parse_proxy_header(std::string_view(wire).substr(0, n));
    if (p.status != Status::incomplete) return p;
  }
  return p;
}

std::string v2(unsigned char ver_cmd, unsigned char family, const std::string& body) {
  std::string h("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(family);
  h += static_cast<char>(body.size() >> 8);
  h += static_cast<char>(body.size() & 0xff);
  return h + body;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s += static_cast<char>(c);
  return s;
}

TEST(ProxyHeader, V1Tcp4) {
  const std::string wire = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 24\r\n";
  ProxyParse p = byte_by_byte(wire + "LHLO x\r\n");
  ASSERT_EQ(p.status, Status::done) << p.error;
  EXPECT_EQ(p.consumed, wire.size());  // the bytes after the header are the client's
  EXPECT_EQ(p.header.version, 1);
  EXPECT_TRUE(p.header.proxied);
  EXPECT_EQ(p.header.source, "192.0.2.7");
  EXPECT_EQ(p.header.destination, "198.51.100.1");
  EXPECT_EQ(p.header.source_port, 56324);
  EXPECT_EQ(p.header.destination_port, 24);
}

TEST(ProxyHeader, V1Tcp6IsCanonicalised) {
  const std::string wire = "PROXY TCP6 2001:DB8:0:0::1 ::1 65535 0\r\n";
  ProxyParse p = byte_by_byte(wire);
  ASSERT_EQ(p.status, Status::done) << p.error;
  EXPECT_EQ(p.consumed, wire.size());
  EXPECT_EQ(p.header.source, "2001:db8::1");
  EXPECT_EQ(p.header.destination, "::1");
  EXPECT_EQ(p.header.source_port, 65535);
  EXPECT_EQ(p.header.destination_port, 0);
}

TEST(ProxyHeader, V1UnknownKeepsTheConnectionsAddress) {
  for (const std::string wire : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"}) {
    ProxyParse p = byte_by_byte(wire);
    ASSERT_EQ(p.status, Status::done) << wire;
    EXPECT_EQ(p.consumed, wire.size());
    EXPECT_FALSE(p.header.proxied);
    EXPECT_EQ(p.header.source, "");
  }
}

TEST(ProxyHeader, V1LongestHeaderFitsAndOneByteMoreDoesNot) {
  // §2.1's worst case: UNKNOWN followed by the longest TCP6 fields.
  const std::string fields =
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  const std::string longest = "PROXY UNKNOWN " + fields;
  ASSERT_EQ(longest.size(), kProxyV1Max);
  EXPECT_EQ(byte_by_byte(longest).status, Status::done);
  ProxyParse tcp6 = byte_by_byte("PROXY TCP6 " + fields);
  ASSERT_EQ(tcp6.status, Status::done);
  EXPECT_EQ(tcp6.header.source, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  // 107 bytes without a line end: refused without waiting for more.
  const std::string overlong = "PROXY UNKNOWN " + std::string(kProxyV1Max, 'x');
  ProxyParse p = byte_by_byte(overlong);
  EXPECT_EQ(p.status, Status::invalid);
  EXPECT_NE(p.error.find("107"), std::string::npos);
}

TEST(ProxyHeader, V1RefusesBadLines) {
  for (const std::string wire : {
           "PROXY TCP4 192.0.2.300 198.51.100.1 1 2\r\n",    // bad address
           "PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",    // IPv6 address under TCP4
           "PROXY TCP6 192.0.2.1 ::1 1 2\r\n",               // IPv4 address under TCP6
           "PROXY TCP4 192.0.2.1 198.51.100.1 65536 2\r\n",  // port out of range
           "PROXY TCP4 192.0.2.1 198.51.100.1 -1 2\r\n",     // sign
           "PROXY TCP4 192.0.2.1 198.51.100.1 01 2\r\n",     // leading zero
           "PROXY TCP4 192.0.2.1 198.51.100.1 1 x\r\n",      // not a number
           "PROXY TCP4 192.0.2.1 198.51.100.1 1\r\n",        // missing field
           "PROXY TCP4 192.0.2.1 198.51.100.1 1 2 3\r\n",    // extra field
           "PROXY TCP4  192.0.2.1 198.51.100.1 1 2\r\n",     // two spaces
           "PROXY TCP4 192.0.2.1 198.51.100.1 1 2\n",        // LF alone
           "PROXY UDP4 192.0.2.1 198.51.100.1 1 2\r\n",      // not TCP
           "PROXY \r\n",
           "proxy TCP4 192.0.2.1 198.51.100.1 1 2\r\n",  // the keyword is case-sensitive
           "LHLO client.example\r\n",                    // a client that does not speak PROXY
       }) {
    EXPECT_EQ(byte_by_byte(wire).status, Status::invalid) << wire;
  }
}

TEST(ProxyHeader, V1WrongFirstByteIsRefusedAtOnce) {
  EXPECT_EQ(parse_proxy_header("L").status, Status::invalid);
  EXPECT_EQ(parse_proxy_header("PROXX").status, Status::invalid);
  EXPECT_EQ(parse_proxy_header("PROXY").status, Status::incomplete);
  EXPECT_EQ(parse_proxy_header("").status, Status::incomplete);
}

TEST(ProxyHeader, V2Ipv4WithTlvs) {
  // 192.0.2.7:56324 -> 198.51.100.1:24, then a PP2_TYPE_ALPN TLV and a PP2_TYPE_NOOP padding TLV.
  std::string body = bytes({192, 0, 2, 7, 198, 51, 100, 1, 0xdc, 0x04, 0, 24});
  body += bytes({0x01, 0x00, 0x04}) + "lmtp" + bytes({0x04, 0x00, 0x02, 0, 0});
  const std::string wire = v2(0x21, 0x11, body);
  ProxyParse p = byte_by_byte(wire + "\r\nmore");
  ASSERT_EQ(p.status, Status::done) << p.error;
  EXPECT_EQ(p.consumed, wire.size());
  EXPECT_EQ(p.header.version, 2);
  EXPECT_TRUE(p.header.proxied);
  EXPECT_EQ(p.header.source, "192.0.2.7");
  EXPECT_EQ(p.header.destination, "198.51.100.1");
  EXPECT_EQ(p.header.source_port, 56324);
  EXPECT_EQ(p.header.destination_port, 24);
}

TEST(ProxyHeader, V2Ipv6) {
  std::string body = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7});
  body += bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0x00, 0x00, 0x18});
  const std::string wire = v2(0x21, 0x21, body);
  ProxyParse p = byte_by_byte(wire);
  ASSERT_EQ(p.status, Status::done) << p.error;
  EXPECT_EQ(p.header.source, "2001:db8::7");
  EXPECT_EQ(p.header.destination, "::1");
  EXPECT_EQ(p.header.source_port, 256);
  EXPECT_EQ(p.header.destination_port, 24);
}

TEST(ProxyHeader, V2LocalAndOtherFamiliesKeepTheConnectionsAddress) {
  // LOCAL (a health check from the proxy): the address block, whatever it holds, is ignored.
  ProxyParse local = byte_by_byte(v2(0x20, 0x11, bytes({1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2})));
  ASSERT_EQ(local.status, Status::done);
  EXPECT_FALSE(local.header.proxied);
  EXPECT_EQ(local.consumed, 28u);
  ProxyParse empty_local = byte_by_byte(v2(0x20, 0x00, ""));
  ASSERT_EQ(empty_local.status, Status::done);
  EXPECT_EQ(empty_local.consumed, 16u);
  // AF_UNIX and UNSPEC under PROXY: treated as unknown.
  ProxyParse unix_peer = byte_by_byte(v2(0x21, 0x31, std::string(216, 'a')));
  ASSERT_EQ(unix_peer.status, Status::done);
  EXPECT_FALSE(unix_peer.header.proxied);
  EXPECT_EQ(unix_peer.consumed, 232u);
  EXPECT_FALSE(byte_by_byte(v2(0x21, 0x00, "")).header.proxied);
}

TEST(ProxyHeader, V2LongestHeaderIsTakenWhole) {
  std::string body = bytes({192, 0, 2, 7, 198, 51, 100, 1, 0, 1, 0, 2});
  body += bytes({0x04, 0xff, 0xf0}) + std::string(0xfff0, '\0');  // one huge NOOP TLV
  ASSERT_EQ(body.size(), 65535u);
  const std::string wire = v2(0x21, 0x11, body);
  EXPECT_EQ(parse_proxy_header(std::string_view(wire).substr(0, wire.size() - 1)).status, Status::incomplete);
  ProxyParse p = parse_proxy_header(wire + "x");
  ASSERT_EQ(p.status, Status::done);
  EXPECT_EQ(p.consumed, kProxyMax);
  EXPECT_EQ(p.header.source, "192.0.2.7");
}

TEST(ProxyHeader, V2Refusals) {
  const std::string addr4 = bytes({192, 0, 2, 7, 198, 51, 100, 1, 0, 1, 0, 2});
  EXPECT_EQ(byte_by_byte(v2(0x11, 0x11, addr4)).status, Status::invalid);  // version 1 in a v2 header
  EXPECT_EQ(byte_by_byte(v2(0x31, 0x11, addr4)).status, Status::invalid);  // version 3
  EXPECT_EQ(byte_by_byte(v2(0x22, 0x11, addr4)).status, Status::invalid);  // command 2
  EXPECT_EQ(byte_by_byte(v2(0x21, 0x13, addr4)).status, Status::invalid);  // transport 3
  EXPECT_EQ(byte_by_byte(v2(0x21, 0x41, addr4)).status, Status::invalid);  // family 4
  // An address block shorter than the family needs (IPv6 addresses in 12 bytes).
  ProxyParse p = byte_by_byte(v2(0x21, 0x21, addr4));
  EXPECT_EQ(p.status, Status::invalid);
  EXPECT_NE(p.error.find("shorter"), std::string::npos);
  // A broken signature is refused as soon as it differs.
  std::string bad = v2(0x21, 0x11, addr4);
  bad[6] = 'X';
  EXPECT_EQ(parse_proxy_header(bad.substr(0, 7)).status, Status::invalid);
}

TEST(ProxyHeader, V2TruncatedIsIncomplete) {
  const std::string wire = v2(0x21, 0x11, bytes({192, 0, 2, 7, 198, 51, 100, 1, 0, 1, 0, 2}));
  for (std::size_t n = 0; n < wire.size(); ++n) {
    EXPECT_EQ(parse_proxy_header(std::string_view(wire).substr(0, n)).status, Status::incomplete) << n;
  }
}

}  // namespace
}  // namespace mailslot::lmtp
