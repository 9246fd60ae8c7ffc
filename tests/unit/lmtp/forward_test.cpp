// XFORWARD / XCLIENT (issue #8; Postfix's XFORWARD_README and XCLIENT_README): what the session keeps
// for the owner (Session::forwarded()), and for how long. The replies are in transcripts/xforward*.lmtp.
#include <gtest/gtest.h>

#include <string>

#include "mailslot/lmtp/session.hpp"
#include "session_driver.hpp"

namespace mailslot::lmtp {
namespace {

using test::Driver;

SessionOptions trusted() {
  SessionOptions o = test::test_options();
  o.xforward = true;
  return o;
}

TEST(Forward, XforwardLastsOneTransaction) {
  Driver d(trusted());
  d.send("LHLO postfix.test\r\n");
  d.send("XFORWARD NAME=mail.example.org ADDR=192.0.2.1 PROTO=ESMTP\r\n");
  d.send("XFORWARD HELO=helo+2Eexample IDENT=4Xb7Qm1Fz9z9rwT SOURCE=[UNAVAILABLE]\r\n");
  d.send("MAIL FROM:<s@example.test>\r\nRCPT TO:<a@example.test>\r\n");
  ForwardedClient f = d.s.forwarded();
  EXPECT_EQ(f.name, "mail.example.org");
  EXPECT_EQ(f.addr, "192.0.2.1");
  EXPECT_EQ(f.proto, "ESMTP");
  EXPECT_EQ(f.helo, "helo.example");  // xtext +2E
  EXPECT_EQ(f.ident, "4Xb7Qm1Fz9z9rwT");
  EXPECT_EQ(f.source, "");            // [UNAVAILABLE]
  d.send("DATA\r\nhello\r\n.\r\n");
  EXPECT_NE(d.take().find("250 2.0.0"), std::string::npos);
  EXPECT_FALSE(d.s.forwarded().any());  // the next transaction starts without them
}

TEST(Forward, XclientLastsTheSessionAndXforwardOverridesIt) {
  Driver d(trusted());
  d.send("LHLO proxy.test\r\n");
  d.send("XCLIENT NAME=client.example.org ADDR=IPV6:2001:db8::7 LOGIN=bob\r\n");
  d.send("LHLO proxy.test\r\n");
  d.send("MAIL FROM:<s@example.test>\r\nRCPT TO:<a@example.test>\r\nDATA\r\nx\r\n.\r\n");
  ForwardedClient f = d.s.forwarded();
  EXPECT_EQ(f.addr, "2001:db8::7");  // Postfix's IPV6: prefix removed
  EXPECT_EQ(f.login, "bob");
  d.send("XFORWARD ADDR=192.0.2.9\r\n");
  EXPECT_EQ(d.s.forwarded().addr, "192.0.2.9");
  EXPECT_EQ(d.s.forwarded().name, "client.example.org");
  d.send("RSET\r\n");
  EXPECT_EQ(d.s.forwarded().addr, "2001:db8::7");
}

TEST(Forward, UntrustedKeepsNothing) {
  Driver d;  // xforward off
  d.send("LHLO client.test\r\nXFORWARD NAME=spoof ADDR=192.0.2.66\r\nXCLIENT ADDR=192.0.2.66\r\n");
  EXPECT_FALSE(d.s.forwarded().any());
  EXPECT_EQ(d.take().find("XFORWARD"), std::string::npos);  // not announced
}

TEST(Forward, RefusedAttributesChangeNothing) {
  Driver d(trusted());
  d.send("LHLO postfix.test\r\nXFORWARD NAME=good.example ADDR=192.0.2.1\r\n");
  d.send("XFORWARD NAME=changed.example BOGUS=1\r\n");    // whole command refused
  d.send("XFORWARD NAME=ctl+0A\r\n");                       // a control byte is not accepted
  d.send("XFORWARD NAME=" + std::string(300, 'a') + "\r\n");  // too long
  EXPECT_EQ(d.s.forwarded().name, "good.example");
}

}  // namespace
}  // namespace mailslot::lmtp
