// Reply wire form (RFC 5321 §4.2.1, RFC 2034 §3).
#include "mailslot/lmtp/reply.hpp"

#include <gtest/gtest.h>

namespace mailslot::lmtp {
namespace {

TEST(Reply, SingleLineWithEnhancedCode) { EXPECT_EQ((Reply{250, "2.1.5", "OK"}).wire(), "250 2.1.5 OK\r\n"); }

TEST(Reply, SingleLineWithoutEnhancedCode) {
  EXPECT_EQ((Reply{220, "", "host LMTP mailslot ready"}).wire(), "220 host LMTP mailslot ready\r\n");
  EXPECT_EQ((Reply{354, "", "Start"}).wire(), "354 Start\r\n");
}

TEST(Reply, MultiLineRepeatsEnhancedCodeOnEveryLine) {
  EXPECT_EQ((Reply{452, "4.2.2", "first\nsecond\nthird"}).wire(),
            "452-4.2.2 first\r\n452-4.2.2 second\r\n452 4.2.2 third\r\n");
}

TEST(Reply, MultiLineWithoutEnhancedCode) {
  EXPECT_EQ((Reply{250, "", "host\nPIPELINING\nSIZE 10"}).wire(),
            "250-host\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
}

TEST(Reply, EmptyTextHasNoTrailingSpace) {
  EXPECT_EQ((Reply{250, "", ""}).wire(), "250\r\n");
  EXPECT_EQ((Reply{250, "2.0.0", ""}).wire(), "250 2.0.0\r\n");
}

TEST(Reply, StrayCarriageReturnCannotSplitTheReply) {
  EXPECT_EQ((Reply{550, "5.1.1", "bad\rline"}).wire(), "550 5.1.1 badline\r\n");
}

TEST(Reply, RenderAppends) {
  std::string out = "x";
  Reply{250, "2.0.0", "OK"}.render(out);
  EXPECT_EQ(out, "x250 2.0.0 OK\r\n");
}

TEST(Reply, InvalidCodeBecomesTemporaryFailure) {
  EXPECT_EQ((Reply{0, "4.3.0", "oops"}).wire(), "451 4.3.0 oops\r\n");
  EXPECT_EQ((Reply{1234, "", "x"}).wire(), "451 x\r\n");
}

TEST(Reply, Classification) {
  EXPECT_TRUE((Reply{250, "", ""}).positive());
  EXPECT_TRUE((Reply{354, "", ""}).positive());
  EXPECT_TRUE((Reply{451, "", ""}).transient());
  EXPECT_TRUE((Reply{550, "", ""}).permanent());
  EXPECT_FALSE((Reply{550, "", ""}).positive());
}

}  // namespace
}  // namespace mailslot::lmtp
