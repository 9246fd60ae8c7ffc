// Text/JSON event rendering and the queue-id parser (src/server/log_format.cpp).
#include "mailslot/server/log_format.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "mailslot/lmtp/dsn.hpp"

namespace mailslot::server {
namespace {

TEST(JsonString, EscapesQuotesControlsAndNonAscii) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\n\r\t\x01\x7f\xc3\xa9", 12));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\\u007f\\u00c3\\u00a9\"");
}

struct Capture {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  explicit Capture(bool json) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    auto logger = std::make_shared<spdlog::logger>("capture", sink);
    if (json) {
      logger->set_formatter(make_json_formatter(false));
    } else {
      logger->set_pattern("%v");
    }
    set_json_logs(json);
    spdlog::set_default_logger(logger);
  }
  ~Capture() {
    set_json_logs(false);
    spdlog::set_default_logger(previous);
  }
};

TEST(LogEvent, TextQuotesValuesThatWouldBreakTheLine) {
  Capture c(false);
  log_event(spdlog::level::info, {{"session", "abc-1.1"},
                                  {"from", "<a\"b c@x>"},
                                  {"size", "42", LogField::Kind::number},
                                  {"reason", "disk full", LogField::Kind::quoted},
                                  {"evil", "x\ny=1"}});
  EXPECT_EQ(c.out.str(), "session=abc-1.1 from=\"<a\\\"b c@x>\" size=42 reason=\"disk full\" evil=\"x\\x0ay=1\"\n");
}

TEST(LogEvent, JsonMergesFieldsAndWrapsPlainLines) {
  Capture c(true);
  log_event(spdlog::level::warn, {{"to", "<x\"y@z>"}, {"code", "451", LogField::Kind::number}});
  spdlog::info("plain \"line\"");
  EXPECT_EQ(c.out.str(),
            "{\"level\":\"warning\",\"to\":\"<x\\\"y@z>\",\"code\":451}\n"
            "{\"level\":\"info\",\"msg\":\"plain \\\"line\\\"\"}\n");
}

TEST(QueueId, PostfixFoldedReceived) {
  EXPECT_EQ(queue_id_from_head("Received: from a (a [192.0.2.1])\r\n\tby mx (Postfix) with ESMTP id 4Xb7Qm1Fz9z9rwT\r\n"
                               "\tfor <u@x>; Mon, 23 Nov 2026 14:02:11 +0000\r\nSubject: x\r\n\r\nbody"),
            "4Xb7Qm1Fz9z9rwT");
}

TEST(QueueId, EximAndOnlyTheTopReceived) {
  EXPECT_EQ(queue_id_from_head("Received: from a by b with esmtp (Exim 4.96) (envelope-from <x@y>) id 1tEa8h-0003Kc-1x "
                               "for u@x; Mon, 23 Nov 2026\nReceived: by c id OTHER; date\n\n"),
            "1tEa8h-0003Kc-1x");
  // The first Received has no id: a later one's is not taken.
  EXPECT_EQ(queue_id_from_head("Received: by c; date\r\nReceived: by d id OTHER; date\r\n\r\n"), "");
}

TEST(QueueId, NoneOutsideTheHeaderOrWhenCutShort) {
  EXPECT_EQ(queue_id_from_head("Subject: x\r\n\r\nReceived: by c id BODY; date\r\n"), "");
  EXPECT_EQ(queue_id_from_head("Received: by c with ESMTP id 4Xb7"), "");    // line not complete
  EXPECT_EQ(queue_id_from_head("Received: by c with ESMTP\r\n"), "");        // field may continue
  EXPECT_EQ(queue_id_from_head("Subject: no id here\r\n\r\n"), "");
  EXPECT_EQ(queue_id_from_head("Received: from paid (x) by y; date\r\n\r\n"), "");  // "paid" is not " id "
}

}  // namespace
}  // namespace mailslot::server

namespace mailslot::server {
namespace {

TEST(OriginalRecipient, OrcptXtextDecodedElseForwardPathAsSent) {
  lmtp::Recipient r;
  r.forward_path.mailbox.local_part = "Alice";
  r.forward_path.mailbox.domain = "example.test";
  EXPECT_EQ(original_recipient(r), "Alice@example.test");
  r.orcpt = lmtp::parse_dsn_orcpt("rfc822;first+2Blast+3Dx@example.org");
  EXPECT_EQ(original_recipient(r), "first+last=x@example.org");
  r.orcpt = lmtp::parse_dsn_orcpt("x-unknown;whatever");  // not an RFC 822 address type: ignored
  EXPECT_EQ(original_recipient(r), "Alice@example.test");
}

}  // namespace
}  // namespace mailslot::server
