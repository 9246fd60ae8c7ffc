// IGNOREQUOTA on RCPT (Cyrus lmtpd; Exim's lmtp transport `ignore_quota`, issue #11): announced
// and honoured only for a trusted client (SessionOptions::ignorequota) or, with
// ignorequota_authenticated, one that passed AUTH; everywhere else the parameter is refused like
// any parameter not offered.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "session_driver.hpp"

namespace mailslot::lmtp {
namespace {

using test::Driver;
using test::lines;
using Auth = SessionOptions::AuthPolicy;

SessionOptions trusted() {
  SessionOptions o = test::test_options();
  o.ignorequota = true;
  return o;
}

SessionOptions auth_only() {
  SessionOptions o = test::test_options();
  o.ignorequota_authenticated = true;
  o.auth = Auth::optional;
  o.auth_mechanisms = {"PLAIN"};
  return o;
}

bool lhlo_lists_ignorequota(Driver& d) {
  d.take();
  d.send("LHLO c.test\r\n");
  const std::string out = d.take();  // "250-IGNOREQUOTA" or, as the last line, "250 IGNOREQUOTA"
  return out.find("\r\n250-IGNOREQUOTA\r\n") != std::string::npos ||
         out.find("\r\n250 IGNOREQUOTA\r\n") != std::string::npos;
}

TEST(IgnoreQuota, NotOfferedByDefaultAndRefusedLikeAnyUnofferedParameter) {
  Driver d;
  EXPECT_FALSE(lhlo_lists_ignorequota(d));
  d.send("MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test> IGNOREQUOTA\r\nRCPT TO:<a@x.test> BOGUS\r\n");
  EXPECT_EQ(d.take(), lines("250 2.1.0 Sender <s@x.test> OK", "555 5.5.4 Unsupported parameter IGNOREQUOTA",
                            "555 5.5.4 Unsupported parameter BOGUS"));
  EXPECT_TRUE(d.s.transaction().recipients.empty());
  // ignorequota_authenticated without AUTH on the listener: nobody can use it, so not offered.
  SessionOptions o = test::test_options();
  o.ignorequota_authenticated = true;
  Driver d2(o);
  EXPECT_FALSE(lhlo_lists_ignorequota(d2));
}

TEST(IgnoreQuota, TrustedClientSeesItAndTheRecipientCarriesTheFlag) {
  Driver d(trusted());
  EXPECT_TRUE(lhlo_lists_ignorequota(d));
  d.auto_answer = false;
  d.send("MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test> ignorequota\r\n");
  // The owner is told, so that it skips the RCPT-time quota check.
  const auto* check = std::get_if<CheckRecipient>(&d.s.request());
  ASSERT_NE(check, nullptr);
  EXPECT_TRUE(check->ignore_quota);
  d.answer();
  d.auto_answer = true;
  d.send("RCPT TO:<b@x.test>\r\n");
  EXPECT_EQ(d.take(), lines("250 2.1.0 Sender <s@x.test> OK", "250 2.1.5 OK", "250 2.1.5 OK"));
  ASSERT_EQ(d.s.transaction().recipients.size(), 2u);
  EXPECT_TRUE(d.s.transaction().recipients[0].ignore_quota);
  EXPECT_FALSE(d.s.transaction().recipients[1].ignore_quota);  // per recipient, not per message
}

TEST(IgnoreQuota, TakesNoValueAndIsNotRepeated) {
  Driver d(trusted());
  lhlo_lists_ignorequota(d);
  d.send("MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test> IGNOREQUOTA=yes\r\n"
         "RCPT TO:<a@x.test> IGNOREQUOTA IGNOREQUOTA\r\n");
  EXPECT_EQ(d.take(), lines("250 2.1.0 Sender <s@x.test> OK", "501 5.5.4 Bad IGNOREQUOTA parameter",
                            "501 5.5.4 Bad IGNOREQUOTA parameter"));
  EXPECT_TRUE(d.s.transaction().recipients.empty());
}

TEST(IgnoreQuota, AuthenticatedClientOnlyAfterAuth) {
  Driver d(auth_only());
  d.sasl = [](const Authenticate& a) {
    if (a.response && *a.response == "AHVzZXIAc2VjcmV0")  // "\0user\0secret"
      return AuthStep{AuthStep::Kind::success, "", Reply{235, "2.7.0", "Authentication successful"}, "user"};
    return AuthStep{AuthStep::Kind::failure, "", Reply{535, "5.7.8", "Authentication credentials invalid"}, ""};
  };
  // Announced before AUTH: clients read the one LHLO reply (RFC 4954 §4 has no second one).
  EXPECT_TRUE(lhlo_lists_ignorequota(d));
  d.send("MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test> IGNOREQUOTA\r\nRSET\r\n");
  EXPECT_EQ(d.take(), lines("250 2.1.0 Sender <s@x.test> OK", "530 5.7.0 Authentication required", "250 2.0.0 OK"));
  d.send("AUTH PLAIN AHVzZXIAc2VjcmV0\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test> IGNOREQUOTA\r\n");
  EXPECT_EQ(d.take(), lines("235 2.7.0 Authentication successful", "250 2.1.0 Sender <s@x.test> OK", "250 2.1.5 OK"));
  ASSERT_EQ(d.s.transaction().recipients.size(), 1u);
  EXPECT_TRUE(d.s.transaction().recipients[0].ignore_quota);
}

}  // namespace
}  // namespace mailslot::lmtp
