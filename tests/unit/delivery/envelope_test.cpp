// The RFC 3461 fields of the delivery log line.
#include "mailslot/delivery/envelope.hpp"

#include <gtest/gtest.h>

namespace mailslot::delivery {
namespace {

TEST(DsnLogFields, EmptyWithoutDsnParameters) {
  Envelope e;
  e.recipients.resize(2);
  EXPECT_EQ(dsn_log_fields(e, 0), "");
  e.original_recipients = {"", ""};
  e.dsn_notify = {0, 0};
  EXPECT_EQ(dsn_log_fields(e, 1), "");
}

TEST(DsnLogFields, PerRecipientAndPerMessage) {
  Envelope e;
  e.recipients.resize(2);
  e.original_recipients = {"alias@example.test", ""};
  e.dsn_notify = {lmtp::dsn_notify::success | lmtp::dsn_notify::failure, lmtp::dsn_notify::never};
  e.dsn_envid = "QQ\"31\\4";
  e.dsn_ret = lmtp::DsnRet::hdrs;
  EXPECT_EQ(dsn_log_fields(e, 0), " orig_to=<alias@example.test> notify=SUCCESS,FAILURE envid=\"QQ\\\"31\\\\4\" ret=HDRS");
  EXPECT_EQ(dsn_log_fields(e, 1), " notify=NEVER envid=\"QQ\\\"31\\\\4\" ret=HDRS");
  EXPECT_EQ(dsn_log_fields(e, 7), " envid=\"QQ\\\"31\\\\4\" ret=HDRS");  // out of range: message fields only
}

}  // namespace
}  // namespace mailslot::delivery
