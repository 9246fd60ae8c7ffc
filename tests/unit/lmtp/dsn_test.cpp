// RFC 3461 §4 parameters and xtext.
#include "mailslot/lmtp/dsn.hpp"

#include <gtest/gtest.h>

namespace mailslot::lmtp {
namespace {

TEST(Xtext, DecodesHexcharsAndKeepsXchars) {
  EXPECT_EQ(decode_xtext("bob@example.test"), "bob@example.test");
  EXPECT_EQ(decode_xtext("a+2Bb+3Dc"), "a+b=c");
  EXPECT_EQ(decode_xtext("+20+7E"), " ~");
  EXPECT_EQ(decode_xtext(""), "");
  EXPECT_EQ(decode_xtext("+00"), std::string("\0", 1));  // decodes; callers refuse what they must
}

TEST(Xtext, RefusesMalformed) {
  for (const char* x : {"+", "+2", "+2b", "+g0", "a=b", "a b", "a\x7f", "\xc3\xa9", "+ 20"}) {
    EXPECT_FALSE(decode_xtext(x)) << x;
  }
}

TEST(DsnParams, Ret) {
  EXPECT_EQ(parse_dsn_ret("FULL"), DsnRet::full);
  EXPECT_EQ(parse_dsn_ret("hdrs"), DsnRet::hdrs);
  EXPECT_FALSE(parse_dsn_ret("BODY"));
  EXPECT_FALSE(parse_dsn_ret(""));
}

TEST(DsnParams, Notify) {
  EXPECT_EQ(parse_dsn_notify("NEVER"), dsn_notify::never);
  EXPECT_EQ(parse_dsn_notify("success,Failure,DELAY"),
            dsn_notify::success | dsn_notify::failure | dsn_notify::delay);
  EXPECT_EQ(dsn_notify_text(*parse_dsn_notify("DELAY,SUCCESS")), "SUCCESS,DELAY");
  for (const char* v : {"", "NEVER,SUCCESS", "SUCCESS,SUCCESS", "SUCCESS,", ",FAILURE", "ALWAYS", "SUCCESS FAILURE"}) {
    EXPECT_FALSE(parse_dsn_notify(v)) << v;
  }
}

TEST(DsnParams, Envid) {
  EXPECT_EQ(parse_dsn_envid("QQ314159+2Bx"), "QQ314159+x");
  EXPECT_TRUE(parse_dsn_envid(std::string(100, 'e')));
  EXPECT_FALSE(parse_dsn_envid(std::string(101, 'e')));  // RFC 3461 §4.4: at most 100 characters
  EXPECT_FALSE(parse_dsn_envid(""));
  EXPECT_FALSE(parse_dsn_envid("a+0Db"));  // decodes to a control character
}

TEST(DsnParams, Orcpt) {
  const auto o = parse_dsn_orcpt("rfc822;alias+2Btag@example.test");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->addr_type, "rfc822");
  EXPECT_EQ(o->address, "alias+tag@example.test");
  EXPECT_TRUE(o->is_rfc822());
  EXPECT_TRUE(parse_dsn_orcpt("RFC822;a@b")->is_rfc822());
  EXPECT_FALSE(parse_dsn_orcpt("x400;c+3Dus")->is_rfc822());
  EXPECT_FALSE(parse_dsn_orcpt("x400;c=us"));  // "=" is not an xchar
  EXPECT_TRUE(parse_dsn_orcpt("rfc822;" + std::string(500, 'a')));
  for (const std::string& v : {std::string("rfc822"), std::string(";a@b"), std::string("rfc 822;a@b"),
                               std::string("rfc822;"), std::string("rfc822;a+0Ab"), std::string("rfc822;a+2"),
                               std::string("rfc822;" + std::string(501, 'a'))}) {
    EXPECT_FALSE(parse_dsn_orcpt(v)) << v;
  }
}

}  // namespace
}  // namespace mailslot::lmtp
