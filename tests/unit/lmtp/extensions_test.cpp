// SMTPUTF8 (RFC 6531) and DSN parameters (RFC 3461) in lmtp::Session, with each switch on and off.
#include <gtest/gtest.h>

#include <string>

#include "session_driver.hpp"

namespace mailslot::lmtp {
namespace {

using test::Driver;
using test::lines;

Driver ready(SessionOptions o = test::test_options()) {
  Driver d(std::move(o));
  d.send("LHLO client.test\r\n");
  d.take();
  return d;
}

SessionOptions with_dsn() {
  SessionOptions o = test::test_options();
  o.dsn = true;
  return o;
}

// ---- SMTPUTF8 ------------------------------------------------------------------------------

TEST(Smtputf8, Utf8AddressesNeedSmtputf8OnMail) {
  Driver d = ready();
  d.send("MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.test>\r\n"
         "MAIL FROM:<s@x.test>\r\nRCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@x.test>\r\nRCPT TO:<a@x.test>\r\nRSET\r\n"
         "MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.test> SMTPUTF8 BODY=8BITMIME\r\n"
         "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test>\r\n");
  EXPECT_EQ(d.take(), lines("553 5.6.7 Non-ASCII sender address requires SMTPUTF8", "250 2.1.0 Sender <s@x.test> OK",
                            "553 5.6.7 Non-ASCII recipient address requires SMTPUTF8", "250 2.1.5 OK",
                            "250 2.0.0 OK",
                            "250 2.1.0 Sender <j\xc3\xb6rg@b\xc3\xbc" "cher.test> OK", "250 2.1.5 OK"));
  EXPECT_TRUE(d.s.transaction().smtputf8);
  EXPECT_TRUE(d.s.transaction().reverse_path.mailbox.is_utf8());
  EXPECT_EQ(d.s.transaction().recipients.at(0).forward_path.mailbox.local_part, "\xe7\x94\xa8\xe6\x88\xb7");
  // An ASCII transaction may still say SMTPUTF8; the flag resets with the transaction.
  d.send("RSET\r\nMAIL FROM:<s@x.test>\r\n");
  d.take();
  EXPECT_FALSE(d.s.transaction().smtputf8);
}

TEST(Smtputf8, MalformedUtf8IsASyntaxError) {
  Driver d = ready();
  d.send("MAIL FROM:<j\xc3@x.test> SMTPUTF8\r\nMAIL FROM:<s@x.test> SMTPUTF8\r\n"
         "RCPT TO:<a@x\xed\xa0\x80.test>\r\nRCPT TO:<\"\xc0\xaf\"@x.test>\r\nRCPT TO:<a@x.test> X=\xff\r\n");
  EXPECT_EQ(d.take(), lines("501 5.1.7 Bad sender address syntax", "250 2.1.0 Sender <s@x.test> OK",
                            "501 5.1.3 Bad recipient address syntax", "501 5.1.3 Bad recipient address syntax",
                            "501 5.5.4 Bad parameter syntax"));
}

TEST(Smtputf8, UnicodeInQuotedLocalPartStaysQuotedOnlyWhenNeeded) {
  Driver d = ready();
  d.send("MAIL FROM:<\"j \xc3\xb6rg\"@x.test> SMTPUTF8\r\n");
  EXPECT_EQ(d.take(), "250 2.1.0 Sender <\"j \xc3\xb6rg\"@x.test> OK\r\n");
}

TEST(Smtputf8, SwitchedOff) {
  SessionOptions o = test::test_options();
  o.smtputf8 = false;
  Driver d(o);
  d.send("LHLO c\r\n");
  EXPECT_EQ(d.take().find("SMTPUTF8"), std::string::npos);
  d.send("MAIL FROM:<s@x.test> SMTPUTF8\r\nMAIL FROM:<j\xc3\xb6rg@x.test>\r\n");
  EXPECT_EQ(d.take(), lines("555 5.5.4 Unsupported parameter SMTPUTF8",
                            "553 5.6.7 Non-ASCII sender address requires SMTPUTF8"));
}

// ---- DSN -----------------------------------------------------------------------------------

TEST(Dsn, OffByDefaultParametersRefusedLikeAnyUnoffered) {
  Driver d(test::test_options());
  d.send("LHLO c\r\n");
  EXPECT_EQ(d.take().find("DSN"), std::string::npos);
  d.send("MAIL FROM:<s@x.test> RET=HDRS\r\nMAIL FROM:<s@x.test> ENVID=x\r\nMAIL FROM:<s@x.test>\r\n"
         "RCPT TO:<a@x.test> NOTIFY=SUCCESS\r\nRCPT TO:<a@x.test> ORCPT=rfc822;a@x.test\r\n");
  EXPECT_EQ(d.take(), lines("555 5.5.4 Unsupported parameter RET", "555 5.5.4 Unsupported parameter ENVID",
                            "250 2.1.0 Sender <s@x.test> OK", "555 5.5.4 Unsupported parameter NOTIFY",
                            "555 5.5.4 Unsupported parameter ORCPT"));
  EXPECT_TRUE(d.s.transaction().recipients.empty());
}

TEST(Dsn, OnAdvertisedParsedAndCarried) {
  Driver d(with_dsn());
  d.send("LHLO c\r\n");
  EXPECT_NE(d.take().find("250 DSN\r\n"), std::string::npos);
  d.send("MAIL FROM:<s@x.test> RET=hdrs ENVID=QQ+2B1\r\n"
         "RCPT TO:<a@x.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alias+2Bx@x.test\r\n"
         "RCPT TO:<b@x.test> NOTIFY=NEVER\r\nRCPT TO:<c@x.test>\r\n");
  EXPECT_EQ(d.take(), lines("250 2.1.0 Sender <s@x.test> OK", "250 2.1.5 OK", "250 2.1.5 OK", "250 2.1.5 OK"));
  const Transaction& t = d.s.transaction();
  EXPECT_EQ(t.dsn_ret, DsnRet::hdrs);
  EXPECT_EQ(t.dsn_envid, "QQ+1");
  ASSERT_EQ(t.recipients.size(), 3u);
  EXPECT_EQ(t.recipients[0].notify, dsn_notify::success | dsn_notify::failure);
  ASSERT_TRUE(t.recipients[0].orcpt);
  EXPECT_EQ(t.recipients[0].orcpt->address, "alias+x@x.test");
  EXPECT_EQ(t.recipients[1].notify, dsn_notify::never);
  EXPECT_FALSE(t.recipients[1].orcpt);
  EXPECT_EQ(t.recipients[2].notify, 0u);
  EXPECT_FALSE(t.recipients[2].orcpt);
}

TEST(Dsn, RefusedRecipientLeavesNothingForTheNext) {
  Driver d(with_dsn());
  d.send("LHLO c\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<unknown@x.test> NOTIFY=DELAY ORCPT=rfc822;u@x.test\r\n"
         "RCPT TO:<a@x.test>\r\n");
  const Transaction& t = d.s.transaction();
  ASSERT_EQ(t.recipients.size(), 1u);
  EXPECT_EQ(t.recipients[0].notify, 0u);
  EXPECT_FALSE(t.recipients[0].orcpt);
}

TEST(Dsn, BadOrRepeatedValues) {
  Driver d = ready(with_dsn());
  d.send("MAIL FROM:<s@x.test> RET=BODY\r\nMAIL FROM:<s@x.test> RET=FULL RET=FULL\r\n"
         "MAIL FROM:<s@x.test> RET\r\nMAIL FROM:<s@x.test> ENVID=a+2\r\n"
         "MAIL FROM:<s@x.test> ENVID=" + std::string(101, 'e') + "\r\n"
         "MAIL FROM:<s@x.test> ENVID=a ENVID=b\r\nMAIL FROM:<s@x.test>\r\n"
         "RCPT TO:<a@x.test> NOTIFY=NEVER,SUCCESS\r\nRCPT TO:<a@x.test> NOTIFY=SUCCESS NOTIFY=DELAY\r\n"
         "RCPT TO:<a@x.test> NOTIFY\r\nRCPT TO:<a@x.test> ORCPT=a@x.test\r\n"
         "RCPT TO:<a@x.test> ORCPT=rfc822;a+0Ax\r\nRCPT TO:<a@x.test> ORCPT=rfc822;a ORCPT=rfc822;b\r\n");
  EXPECT_EQ(d.take(),
            lines("501 5.5.4 Bad RET parameter", "501 5.5.4 Bad RET parameter", "501 5.5.4 Bad RET parameter",
                  "501 5.5.4 Bad ENVID parameter", "501 5.5.4 Bad ENVID parameter", "501 5.5.4 Bad ENVID parameter",
                  "250 2.1.0 Sender <s@x.test> OK", "501 5.5.4 Bad NOTIFY parameter",
                  "501 5.5.4 Bad NOTIFY parameter", "501 5.5.4 Bad NOTIFY parameter",
                  "501 5.5.4 Bad ORCPT parameter", "501 5.5.4 Bad ORCPT parameter",
                  "501 5.5.4 Bad ORCPT parameter"));
  EXPECT_TRUE(d.s.transaction().recipients.empty());
}

}  // namespace
}  // namespace mailslot::lmtp
