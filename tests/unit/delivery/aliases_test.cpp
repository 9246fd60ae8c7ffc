#include <gtest/gtest.h>

#include "mailslot/delivery/aliases.hpp"

namespace mailslot::delivery {
namespace {

TEST(ParseAliases, TargetsCommentsContinuations) {
  std::vector<std::string> problems;
  const auto t = parse_aliases(
      "# aliases\n"
      "Sales: alice, bob@example.org\n"
      "\n"
      "team@example.test: carol,\n"
      "    dave, \"e f\"@example.test\n",
      "aliases", problems);
  ASSERT_TRUE(problems.empty()) << problems.front();
  ASSERT_EQ(t.size(), 2u);
  const auto& sales = t.at("sales");
  ASSERT_EQ(sales.size(), 2u);
  EXPECT_EQ(sales[0].local_part, "alice");
  EXPECT_EQ(sales[0].domain, "");  // the alias's own domain
  EXPECT_EQ(sales[1].domain, "example.org");
  const auto& team = t.at("team@example.test");
  ASSERT_EQ(team.size(), 3u);
  EXPECT_EQ(team[2].local_part, "e f");
}

TEST(ParseAliases, RefusesPipesFilesIncludesAndNamesLine) {
  std::vector<std::string> problems;
  parse_aliases(
      "a: |/bin/sh -c x\n"
      "b: /etc/passwd\n"
      "c: :include:/etc/x\n"
      "d\n"
      "e:\n"
      "f: <broken\n"
      "g: x\n"
      "g: y\n",
      "/etc/mailslot/aliases", problems);
  ASSERT_EQ(problems.size(), 7u);
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(problems[i].rfind("/etc/mailslot/aliases:" + std::to_string(i + 1) + ": ", 0), 0u) << problems[i];
  EXPECT_NE(problems[0].find("pipes, files and :include: are not supported"), std::string::npos);
  EXPECT_NE(problems[6].find(":8: alias 'g' already defined on line 7"), std::string::npos) << problems[6];
}

}  // namespace
}  // namespace mailslot::delivery
