// lmtp::Session: STARTTLS (RFC 3207) and AUTH (RFC 4954) rules; the handshake and SASL are the
// driver's (session_driver.hpp).
#include <gtest/gtest.h>

#include <string>

#include "mailslot/lmtp/session.hpp"
#include "session_driver.hpp"

namespace mailslot::lmtp {
namespace {

using test::Driver;
using test::lines;
using State = Session::State;
using Tls = SessionOptions::TlsPolicy;
using Auth = SessionOptions::AuthPolicy;

SessionOptions opts(Tls tls, Auth auth = Auth::off, std::vector<std::string> mechs = {}) {
  SessionOptions o = test::test_options();
  o.chunking = false;
  o.smtputf8 = false;
  o.starttls = tls;
  o.auth = auth;
  o.auth_mechanisms = std::move(mechs);
  return o;
}

const std::string kBase = lines("250-mx.test", "250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250-8BITMIME");

TEST(SessionStartTls, OfferedInLhloAndNotAfterTls) {
  Driver d(opts(Tls::offered));
  d.take();
  d.send("LHLO c.test\r\n");
  EXPECT_EQ(d.take(), kBase + lines("250-SIZE 52428800", "250 STARTTLS"));
  d.send("STARTTLS\r\n");
  EXPECT_EQ(d.take(), lines("220 2.0.0 Ready to start TLS"));
  EXPECT_TRUE(d.s.tls_active());
  // RFC 3207 §4.2: the session starts over; LHLO is needed again and no longer lists STARTTLS.
  EXPECT_EQ(d.s.state(), State::greeted);
  d.send("MAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(d.take(), lines("503 5.5.1 Send LHLO first"));
  d.send("LHLO c.test\r\n");
  EXPECT_EQ(d.take(), kBase + lines("250 SIZE 52428800"));
  d.send("STARTTLS\r\n");
  EXPECT_EQ(d.take(), lines("503 5.5.1 TLS already active"));
}

TEST(SessionStartTls, PipelinedCommandsAfterStartTlsAreDiscarded) {
  Driver d(opts(Tls::offered));
  d.take();
  // CVE-2011-0411: the RSET and MAIL were sent in clear behind STARTTLS; they are never answered.
  d.send("LHLO c.test\r\nSTARTTLS\r\nRSET\r\nMAIL FROM:<evil@x.test>\r\n");
  const std::string out = d.take();
  EXPECT_NE(out.find("220 2.0.0 Ready to start TLS\r\n"), std::string::npos);
  EXPECT_EQ(out.find("2.0.0 OK"), std::string::npos) << out;
  EXPECT_EQ(out.find("2.1.0"), std::string::npos) << out;
  EXPECT_EQ(d.s.state(), State::greeted);
  EXPECT_TRUE(d.s.transaction().recipients.empty());
}

TEST(SessionStartTls, RequiredRefusesMailUntilTls) {
  Driver d(opts(Tls::required));
  d.take();
  d.send("LHLO c.test\r\nMAIL FROM:<a@b.test>\r\n");
  const std::string out = d.take();
  EXPECT_NE(out.find("530 5.7.0 Must issue a STARTTLS command first\r\n"), std::string::npos) << out;
  d.send("STARTTLS\r\n");
  d.send("LHLO c.test\r\nMAIL FROM:<a@b.test>\r\n");
  EXPECT_NE(d.take().find("250 2.1.0"), std::string::npos);
}

TEST(SessionStartTls, OffMeansNotImplementedInEveryState) {
  Driver d(opts(Tls::off));
  d.take();
  d.send("STARTTLS\r\nLHLO c.test\r\nMAIL FROM:<a@b.test>\r\nSTARTTLS\r\n");
  const std::string out = d.take();
  EXPECT_EQ(out.find("STARTTLS"), std::string::npos);  // not in the LHLO reply
  EXPECT_EQ(out.rfind("502 5.5.1 Command not implemented\r\n"), out.size() - 35);
}

TEST(SessionStartTls, SyntaxAndTransactionState) {
  Driver d(opts(Tls::offered));
  d.take();
  d.send("LHLO c.test\r\nSTARTTLS now\r\nMAIL FROM:<a@b.test>\r\nSTARTTLS\r\n");
  const std::string out = d.take();
  EXPECT_NE(out.find("501 5.5.4 Syntax: STARTTLS\r\n"), std::string::npos);
  EXPECT_NE(out.find("503 5.5.1 STARTTLS not allowed during a mail transaction\r\n"), std::string::npos);
  EXPECT_FALSE(d.s.tls_active());
}

TEST(SessionStartTls, FailedHandshakeClosesSilently) {
  Driver d(opts(Tls::offered));
  d.tls_ok = false;
  d.take();
  d.send("LHLO c.test\r\nSTARTTLS\r\n");
  d.take();
  EXPECT_TRUE(d.s.closed());
  d.send("NOOP\r\n");
  EXPECT_EQ(d.take(), "");
}

AuthStep plain_sasl(const Authenticate& a) {
  // "\0user\0secret" in base64
  if (a.response && *a.response == "AHVzZXIAc2VjcmV0") {
    return {AuthStep::Kind::success, "", Reply{235, "2.7.0", "Authentication successful"}, "user"};
  }
  if (!a.response) return {AuthStep::Kind::challenge, "", {}, ""};
  return {AuthStep::Kind::failure, "", Reply{535, "5.7.8", "Authentication credentials invalid"}, ""};
}

TEST(SessionAuth, OfferedMechanismsAndSuccessWithInitialResponse) {
  Driver d(opts(Tls::off, Auth::optional, {"PLAIN", "SCRAM-SHA-256"}));
  d.sasl = plain_sasl;
  d.take();
  d.send("LHLO c.test\r\n");
  EXPECT_EQ(d.take(), kBase + lines("250-SIZE 52428800", "250 AUTH PLAIN SCRAM-SHA-256"));
  d.send("AUTH plain AHVzZXIAc2VjcmV0\r\n");
  EXPECT_EQ(d.take(), lines("235 2.7.0 Authentication successful"));
  EXPECT_TRUE(d.s.authenticated());
  EXPECT_EQ(d.s.auth_user(), "user");
  d.send("AUTH PLAIN AHVzZXIAc2VjcmV0\r\nLHLO c.test\r\n");
  const std::string out = d.take();
  EXPECT_NE(out.find("503 5.5.1 Already authenticated\r\n"), std::string::npos);
  EXPECT_EQ(out.find("AUTH PLAIN"), std::string::npos);  // RFC 4954 §4: not offered again
}

TEST(SessionAuth, ChallengeResponseAndCancel) {
  Driver d(opts(Tls::off, Auth::optional, {"PLAIN"}));
  d.sasl = plain_sasl;
  d.take();
  d.send("LHLO c.test\r\nAUTH PLAIN\r\n");
  EXPECT_NE(d.take().find("334\r\n"), std::string::npos);
  d.send("*\r\n");
  EXPECT_EQ(d.take(), lines("501 5.0.0 Authentication cancelled"));
  d.send("AUTH PLAIN\r\nAHVzZXIAc2VjcmV0\r\n");  // the response line is not a command
  EXPECT_EQ(d.take(), lines("334", "235 2.7.0 Authentication successful"));
}

TEST(SessionAuth, RequiredRefusesMailAndUnknownMechanism) {
  Driver d(opts(Tls::off, Auth::required, {"PLAIN"}));
  d.sasl = plain_sasl;
  d.take();
  d.send("LHLO c.test\r\nMAIL FROM:<a@b.test>\r\nAUTH CRAM-MD5\r\nAUTH\r\n");
  const std::string out = d.take();
  EXPECT_NE(out.find("530 5.7.0 Authentication required\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("504 5.5.4 Unrecognized authentication type\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"), std::string::npos) << out;
  d.send("AUTH PLAIN AHVzZXIAc2VjcmV0\r\nMAIL FROM:<a@b.test> AUTH=<>\r\n");
  EXPECT_EQ(d.take(), lines("235 2.7.0 Authentication successful", "250 2.1.0 Sender <a@b.test> OK"));
}

TEST(SessionAuth, ClosesAfterTooManyFailures) {
  SessionOptions o = opts(Tls::off, Auth::optional, {"PLAIN"});
  o.max_auth_failures = 2;
  Driver d(o);
  d.sasl = plain_sasl;
  d.take();
  d.send("LHLO c.test\r\nAUTH PLAIN eA==\r\nAUTH PLAIN eA==\r\nNOOP\r\n");
  const std::string out = d.take();
  EXPECT_NE(out.find("535 5.7.8 Authentication credentials invalid\r\n535 5.7.8"), std::string::npos) << out;
  EXPECT_NE(out.find("421 4.7.0 mx.test Too many authentication failures"), std::string::npos) << out;
  EXPECT_EQ(out.find("250 2.0.0 OK"), std::string::npos);
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.s.auth_failures(), 2u);
}

TEST(SessionAuth, RequiredTlsHidesAuthUntilStartTls) {
  Driver d(opts(Tls::required, Auth::required, {"SCRAM-SHA-256"}));
  d.mechanisms_after_tls = {"PLAIN", "SCRAM-SHA-256"};
  d.sasl = plain_sasl;
  d.take();
  d.send("LHLO c.test\r\nAUTH SCRAM-SHA-256\r\n");
  std::string out = d.take();
  EXPECT_EQ(out.find("AUTH SCRAM"), std::string::npos) << out;
  EXPECT_NE(out.find("530 5.7.0 Must issue a STARTTLS command first"), std::string::npos) << out;
  d.send("STARTTLS\r\n");
  d.send("LHLO c.test\r\n");
  out = d.take();
  EXPECT_NE(out.find("250 AUTH PLAIN SCRAM-SHA-256\r\n"), std::string::npos) << out;
}

TEST(SessionAuth, OffMeansNotImplementedAndAuthParamRefused) {
  Driver d(opts(Tls::off));
  d.take();
  d.send("LHLO c.test\r\nAUTH PLAIN\r\n");
  EXPECT_NE(d.take().find("502 5.5.1 Command not implemented\r\n"), std::string::npos);
}

}  // namespace
}  // namespace mailslot::lmtp
