// Address verification probes (issue #11; Postfix reject_unverified_recipient): RCPT then RSET
// (or QUIT) costs exactly one recipient lookup and never opens a message.
#include <gtest/gtest.h>

#include "mailslot/lmtp/session.hpp"
#include "session_driver.hpp"

namespace mailslot::lmtp {
namespace {

using test::Driver;

TEST(Probe, RcptThenRsetIsOneLookupAndNoMessage) {
  Driver d;
  d.send("LHLO mta.test\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\nRSET\r\nQUIT\r\n");
  const std::string out = d.take();
  EXPECT_NE(out.find("250 2.1.5"), std::string::npos) << out;
  EXPECT_NE(out.find("250 2.0.0"), std::string::npos) << out;  // RSET
  ASSERT_EQ(d.events.size(), 1u) << testing::PrintToString(d.events);
  EXPECT_EQ(d.events[0].rfind("check ", 0), 0u) << d.events[0];
  EXPECT_TRUE(d.delivered.empty());
  EXPECT_FALSE(d.spool_open);
}

TEST(Probe, UnknownRecipientProbeIsOneLookupToo) {
  Driver d;
  d.send("LHLO mta.test\r\nMAIL FROM:<>\r\nRCPT TO:<unknown@example.test>\r\nRSET\r\n");
  EXPECT_NE(d.take().find("550 5.1.1"), std::string::npos);
  ASSERT_EQ(d.events.size(), 1u) << testing::PrintToString(d.events);
  EXPECT_EQ(d.events[0].rfind("check ", 0), 0u);
}

}  // namespace
}  // namespace mailslot::lmtp
