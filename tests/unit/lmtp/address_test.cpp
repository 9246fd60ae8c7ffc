// RFC 5321 §4.1.2 paths, §4.1.3 address literals, §4.5.3.1 lengths.
#include "mailslot/lmtp/address.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mailslot::lmtp {
namespace {

struct Parsed {
  std::optional<Path> path;
  std::size_t consumed = 0;
  PathError error = PathError::none;
};

Parsed parse(std::string_view text) {
  Parsed p;
  p.path = parse_path(text, p.consumed, p.error);
  return p;
}

TEST(ParsePath, SimpleMailbox) {
  const Parsed p = parse("<bob@example.test>");
  ASSERT_TRUE(p.path);
  EXPECT_FALSE(p.path->null);
  EXPECT_EQ(p.path->mailbox.local_part, "bob");
  EXPECT_EQ(p.path->mailbox.domain, "example.test");
  EXPECT_EQ(p.consumed, 18u);
  EXPECT_EQ(p.error, PathError::none);
  EXPECT_EQ(p.path->to_string(), "<bob@example.test>");
}

TEST(ParsePath, ConsumedStopsAtClosingBracket) {
  const Parsed p = parse("<a@b.c> SIZE=10");
  ASSERT_TRUE(p.path);
  EXPECT_EQ(p.consumed, 7u);
}

TEST(ParsePath, NullPath) {
  const Parsed p = parse("<>");
  ASSERT_TRUE(p.path);
  EXPECT_TRUE(p.path->null);
  EXPECT_EQ(p.consumed, 2u);
  EXPECT_EQ(p.path->to_string(), "<>");
}

TEST(ParsePath, DotStringWithAllAtextCharacters) {
  const Parsed p = parse("<a.b!#$%&'*+-/=?^_`{|}~.c@x.test>");
  ASSERT_TRUE(p.path);
  EXPECT_EQ(p.path->mailbox.local_part, "a.b!#$%&'*+-/=?^_`{|}~.c");
}

TEST(ParsePath, QuotedLocalPartIsDecodedAndRequoted) {
  const Parsed p = parse(R"(<"john \"jd\" doe\\x"@example.test>)");
  ASSERT_TRUE(p.path);
  EXPECT_EQ(p.path->mailbox.local_part, R"(john "jd" doe\x)");
  EXPECT_EQ(p.path->mailbox.to_string(), R"("john \"jd\" doe\\x"@example.test)");
}

TEST(ParsePath, QuotedDotStringNeedsNoQuotesInCanonicalForm) {
  const Parsed p = parse(R"(<"bob"@example.test>)");
  ASSERT_TRUE(p.path);
  EXPECT_EQ(p.path->mailbox.local_part, "bob");
  EXPECT_EQ(p.path->mailbox.to_string(), "bob@example.test");
}

TEST(ParsePath, QuotedPairOfOrdinaryCharacter) {
  const Parsed p = parse(R"(<"a\b"@x.test>)");
  ASSERT_TRUE(p.path);
  EXPECT_EQ(p.path->mailbox.local_part, "ab");
}

TEST(ParsePath, EmptyQuotedLocalPart) {
  const Parsed p = parse(R"(<""@x.test>)");
  ASSERT_TRUE(p.path);
  EXPECT_EQ(p.path->mailbox.local_part, "");
  EXPECT_EQ(p.path->mailbox.to_string(), R"(""@x.test)");
}

TEST(ParsePath, SourceRouteIsDropped) {
  const Parsed p = parse("<@relay1.test,@relay2.test:bob@example.test>");
  ASSERT_TRUE(p.path);
  EXPECT_EQ(p.path->mailbox.local_part, "bob");
  EXPECT_EQ(p.path->mailbox.domain, "example.test");
  EXPECT_EQ(p.path->to_string(), "<bob@example.test>");
}

TEST(ParsePath, BadSourceRoutes) {
  EXPECT_EQ(parse("<@relay1.test bob@example.test>").error, PathError::bad_domain);
  EXPECT_EQ(parse("<@-bad.test:bob@example.test>").error, PathError::bad_domain);
  EXPECT_EQ(parse("<@a.test,b.test:bob@example.test>").error, PathError::bad_domain);
  EXPECT_EQ(parse("<@:bob@example.test>").error, PathError::bad_domain);
  EXPECT_EQ(parse("<@a.test>").error, PathError::bad_domain);
}

TEST(ParsePath, Postmaster) {
  for (const char* text : {"<postmaster>", "<Postmaster>", "<POSTMASTER>"}) {
    const Parsed p = parse(text);
    ASSERT_TRUE(p.path) << text;
    EXPECT_TRUE(p.path->mailbox.domain.empty());
    EXPECT_EQ(p.path->to_string(), text);
  }
  EXPECT_EQ(parse("<bob>").error, PathError::bad_domain);
  EXPECT_EQ(parse(R"(<"postmaster">)").error, PathError::bad_domain);
}

TEST(ParsePath, AddressLiterals) {
  for (const char* text :
       {"<a@[192.0.2.1]>", "<a@[IPv6:2001:db8::1]>", "<a@[IPv6:::1]>", "<a@[IPv6:1:2:3:4:5:6:7:8]>",
        "<a@[IPv6:::ffff:192.0.2.1]>", "<a@[ipv6:1:2:3:4:5:6:192.0.2.1]>", "<a@[x-tag:anything]>"}) {
    const Parsed p = parse(text);
    ASSERT_TRUE(p.path) << text;
    EXPECT_EQ(p.path->to_string(), text);
  }
  for (const char* text : {"<a@[256.0.0.1]>", "<a@[1.2.3]>", "<a@[1.2.3.4.5]>", "<a@[IPv6:1:2:3:4:5:6:7]>",
                           "<a@[IPv6:1::2::3]>", "<a@[IPv6:1:2:3:4:5:6:7::]>", "<a@[IPv6:12345::]>",
                           "<a@[IPv6:g::1]>", "<a@[]>", "<a@[x-:y]>", "<a@[1.2.3.4]x>"}) {
    EXPECT_EQ(parse(text).error, PathError::bad_domain) << text;
  }
}

TEST(ParsePath, BadLocalParts) {
  for (const char* text :
       {"<.bob@x.test>", "<bob.@x.test>", "<b..ob@x.test>", "<b ob@x.test>", "<b(ob@x.test>", "<@x.test>",
        "<\"a\x01\"@x.test>", "<\"a\"b@x.test>", "<b\xff@x.test>", "<b\xc0\xaf@x.test>",
        "<\"b\xc3\"@x.test>"}) {
    const Parsed p = parse(text);
    EXPECT_FALSE(p.path) << text;
    EXPECT_NE(p.error, PathError::none) << text;
  }
  EXPECT_EQ(parse("<.bob@x.test>").error, PathError::bad_local_part);
  EXPECT_EQ(parse("<b ob@x.test>").error, PathError::bad_local_part);
  EXPECT_EQ(parse("<b\xc3@x.test>").error, PathError::bad_local_part);  // truncated UTF-8
}

TEST(ParsePath, BadDomains) {
  for (const char* text : {"<a@>", "<a@-x.test>", "<a@x-.test>", "<a@x..test>", "<a@x.test.>", "<a@.x.test>",
                           "<a@x_y.test>", "<a@x.t\xed\xa0\x80st>", "<a@x.t\xc3st>", "<a@x test>"}) {
    EXPECT_EQ(parse(text).error, PathError::bad_domain) << text;
  }
}

TEST(ParsePath, MissingBrackets) {
  for (const char* text :
       {"", "bob@x.test", "<bob@x.test", "<", "<\"unterminated", "<bob@[1.2.3.4", "<@a.test,"}) {
    const Parsed p = parse(text);
    EXPECT_FALSE(p.path) << text;
    EXPECT_EQ(p.error, PathError::missing_brackets) << text;
  }
}

TEST(ParsePath, LengthLimits) {
  const std::string l64(64, 'a');
  const std::string l65(65, 'a');
  EXPECT_TRUE(parse("<" + l64 + "@x.test>").path);
  EXPECT_EQ(parse("<" + l65 + "@x.test>").error, PathError::too_long);
  // Local part counts as sent, quotes and escapes included.
  EXPECT_EQ(parse("<\"" + std::string(63, 'a') + "\"@x.test>").error, PathError::too_long);

  // Domain limit 255 octets: a 256-octet domain is too long even though each label is fine.
  const std::string d256 = std::string(63, 'x') + "." + std::string(63, 'x') + "." + std::string(63, 'x') +
                           "." + std::string(62, 'x') + ".x";
  ASSERT_EQ(d256.size(), 256u);
  EXPECT_EQ(parse("<a@" + d256 + ">").error, PathError::too_long);
  // Path limit 256 octets with the brackets: "<" + 64 + "@" + domain + ">" fits with a 189-octet domain.
  const std::string d189 = std::string(63, 'x') + "." + std::string(63, 'x') + "." + std::string(61, 'x');
  ASSERT_EQ(d189.size(), 189u);
  const Parsed fits = parse("<" + l64 + "@" + d189 + ">");
  ASSERT_TRUE(fits.path);
  EXPECT_EQ(fits.consumed, 256u);
  EXPECT_EQ(parse("<" + l64 + "@" + d189 + "x>").error, PathError::too_long);
  // Source routes count towards the path length too.
  EXPECT_EQ(parse("<@" + d189 + ":" + l64 + "@x.test>").error, PathError::too_long);
}

TEST(IsValidDomain, Grammar) {
  EXPECT_TRUE(is_valid_domain("example.test"));
  EXPECT_TRUE(is_valid_domain("a"));
  EXPECT_TRUE(is_valid_domain("1.2.3.4"));
  EXPECT_TRUE(is_valid_domain("x-y.z9"));
  EXPECT_TRUE(is_valid_domain("[192.0.2.1]"));
  EXPECT_TRUE(is_valid_domain("[IPv6:2001:db8::1]"));
  EXPECT_FALSE(is_valid_domain(""));
  EXPECT_FALSE(is_valid_domain("-a.test"));
  EXPECT_FALSE(is_valid_domain("a-.test"));
  EXPECT_FALSE(is_valid_domain("a..test"));
  EXPECT_FALSE(is_valid_domain("a.test."));
  EXPECT_FALSE(is_valid_domain("a_b.test"));
  EXPECT_FALSE(is_valid_domain("[192.0.2.1"));
  EXPECT_FALSE(is_valid_domain(std::string(256, 'a')));
}

TEST(Mailbox, ToStringRequotesWhenNeeded) {
  EXPECT_EQ((Mailbox{"bob", "x.test"}).to_string(), "bob@x.test");
  EXPECT_EQ((Mailbox{"john doe", "x.test"}).to_string(), "\"john doe\"@x.test");
  EXPECT_EQ((Mailbox{"a..b", "x.test"}).to_string(), "\"a..b\"@x.test");
  EXPECT_EQ((Mailbox{"q\"b\\", "x.test"}).to_string(), "\"q\\\"b\\\\\"@x.test");
  EXPECT_EQ((Mailbox{"postmaster", ""}).to_string(), "postmaster");
}

}  // namespace
}  // namespace mailslot::lmtp
