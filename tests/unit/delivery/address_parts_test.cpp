#include <gtest/gtest.h>

#include "mailslot/delivery/address_parts.hpp"

namespace mailslot::delivery {
namespace {

lmtp::Mailbox addr(std::string local, std::string domain) { return lmtp::Mailbox{std::move(local), std::move(domain)}; }

TEST(SplitAddress, DetailAtFirstDelimiterOfSeveral) {
  const auto p = split_address(addr("Bob-lists+x", "Example.TEST"), "+-", true);
  EXPECT_EQ(p.user, "bob");
  EXPECT_TRUE(p.has_detail);
  EXPECT_EQ(p.detail, "lists+x");
  EXPECT_EQ(p.delimiter, '-');
  EXPECT_EQ(p.domain, "example.test");
  EXPECT_EQ(p.address(), "bob-lists+x@example.test");
}

TEST(SplitAddress, NoDelimiterConfiguredKeepsWholeLocalPart) {
  const auto p = split_address(addr("bob+x", "a.test"), "", true);
  EXPECT_EQ(p.user, "bob+x");
  EXPECT_FALSE(p.has_detail);
}

TEST(SplitAddress, LeadingDelimiterIsPartOfTheUser) {
  const auto p = split_address(addr("+tag", "a.test"), "+", true);
  EXPECT_EQ(p.user, "+tag");
  EXPECT_FALSE(p.has_detail);
  const auto q = split_address(addr("bob+", "a.test"), "+", true);
  EXPECT_EQ(q.user, "bob");
  EXPECT_TRUE(q.has_detail);
  EXPECT_EQ(q.detail, "");
}

TEST(SplitAddress, FoldCaseOffKeepsUserCaseButDomainIsLowered) {
  const auto p = split_address(addr("Bob+Lists", "A.Test"), "+", false);
  EXPECT_EQ(p.user, "Bob");
  EXPECT_EQ(p.detail, "Lists");
  EXPECT_EQ(p.domain, "a.test");
}

TEST(SplitAddress, PostmasterAnyCaseWithoutDetail) {
  EXPECT_TRUE(split_address(addr("PostMaster", "a.test"), "+", false).postmaster);
  EXPECT_EQ(split_address(addr("PostMaster", "a.test"), "+", false).user, "postmaster");
  EXPECT_FALSE(split_address(addr("postmaster+x", "a.test"), "+", true).postmaster);
  EXPECT_FALSE(split_address(addr("postmasters", "a.test"), "+", true).postmaster);
}

TEST(SplitAddress, QuotedLocalPartIsDecodedAlready) {
  // lmtp::parse_path decodes "\"bob\"" to bob: the same user as the dot-string spelling.
  std::size_t used = 0;
  lmtp::PathError err{};
  const auto path = lmtp::parse_path("<\"Bob+x\"@a.test>", used, err);
  ASSERT_TRUE(path);
  const auto p = split_address(path->mailbox, "+", true);
  EXPECT_EQ(p.user, "bob");
  EXPECT_EQ(p.detail, "x");
}

TEST(SanitizeFolderName, KeepsOrdinaryNamesAndHierarchy) {
  EXPECT_EQ(sanitize_folder_name("lists"), "lists");
  EXPECT_EQ(sanitize_folder_name("Lists.Debian"), "Lists.Debian");
  EXPECT_EQ(sanitize_folder_name("a b"), "a b");
}

TEST(SanitizeFolderName, NeverEscapesTheMaildir) {
  EXPECT_EQ(sanitize_folder_name(".."), "");
  EXPECT_EQ(sanitize_folder_name("../../etc"), "_._etc");
  for (const std::string d : {"../x", "a/../../b", "/etc/passwd", "..\\..", "a\0b", "x/..", "....", "."}) {
    const std::string f = sanitize_folder_name(d);
    EXPECT_EQ(f.find('/'), std::string::npos) << d;
    EXPECT_EQ(f.find(".."), std::string::npos) << d;
    EXPECT_TRUE(f.empty() || (f.front() != '.' && f.back() != '.')) << d;
  }
  EXPECT_EQ(sanitize_folder_name("../x"), "_x");
  EXPECT_EQ(sanitize_folder_name("a\x01\xff&~"), "a____");
  EXPECT_EQ(sanitize_folder_name("INBOX"), "");
  EXPECT_EQ(sanitize_folder_name("inbox"), "");
  EXPECT_EQ(sanitize_folder_name(std::string(300, 'x')).size(), 200u);
}

TEST(ExpandTemplate, AllPlaceholders) {
  const auto s = expand_template("{home}/{domain}/{user}/{local}/{detail}",
                                 {{"home", "/h"}, {"domain", "d"}, {"user", "u"}, {"local", "u"}, {"detail", "x"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(*s, "/h/d/u/u/x");
  EXPECT_FALSE(expand_template("{home}/x", {{"user", "u"}}));  // not available
  EXPECT_FALSE(template_placeholders("{nope}"));
  EXPECT_FALSE(template_placeholders("{user"));
  EXPECT_FALSE(template_placeholders("user}"));
}

}  // namespace
}  // namespace mailslot::delivery
