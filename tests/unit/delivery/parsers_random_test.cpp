// Random input into the file parsers and the folder-name sanitiser (bounded, fixed seed): none may
// crash, and the sanitiser's guarantee (one safe path component below the Maildir) must hold for
// every input. The fuzz preset only builds the lmtp layer, so these stand in for fuzz targets.
#include <gtest/gtest.h>

#include <random>

#include "mailslot/delivery/address_parts.hpp"
#include "mailslot/delivery/aliases.hpp"
#include "mailslot/delivery/passwd_file.hpp"
#include "mailslot/delivery/quota.hpp"

namespace mailslot::delivery {
namespace {

// Bytes biased towards the ones the formats care about.
std::string random_text(std::mt19937& rng, std::size_t max_len) {
  static const std::string special = ":.,/\\@\n\r\t #|=*%~\"&";
  std::uniform_int_distribution<std::size_t> len(0, max_len);
  std::uniform_int_distribution<int> pick(0, 3);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<std::size_t> sp(0, special.size() - 1);
  std::string s(len(rng), '\0');
  for (char& c : s) c = pick(rng) == 0 ? special[sp(rng)] : static_cast<char>(byte(rng));
  return s;
}

TEST(ParsersRandom, FolderNamesAreAlwaysOneSafeComponent) {
  std::mt19937 rng(4);
  for (int i = 0; i < 20000; ++i) {
    const std::string in = random_text(rng, 300);
    const std::string f = sanitize_folder_name(in);
    ASSERT_LE(f.size(), 200u);
    ASSERT_EQ(f.find('/'), std::string::npos) << in;
    ASSERT_EQ(f.find(".."), std::string::npos) << in;
    ASSERT_EQ(f.find('\0'), std::string::npos) << in;
    if (!f.empty()) {
      ASSERT_NE(f.front(), '.');
      ASSERT_NE(f.back(), '.');
      for (const char c : f) ASSERT_TRUE(static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f);
    }
  }
}

TEST(ParsersRandom, FileParsersNeverCrash) {
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    const std::string text = random_text(rng, 400);
    std::vector<std::string> problems;
    const auto users = parse_passwd_file(text, "f", i % 2 == 0, problems);
    for (const auto& [k, e] : users) {
      ASSERT_FALSE(k.empty());
      ASSERT_TRUE(e.home.empty() || e.home.front() == '/');
    }
    problems.clear();
    const auto aliases = parse_aliases(text, "a", problems);
    for (const auto& [k, targets] : aliases) {
      ASSERT_FALSE(targets.empty()) << k;
      for (const auto& t : targets) ASSERT_EQ(t.local_part.find_first_of("\r\n"), std::string::npos);
    }
    (void)parse_maildirsize(text);
    QuotaLimits q;
    std::string err;
    (void)apply_quota_rule(text, q, err);
    const auto parts = split_address(lmtp::Mailbox{text, "x.test"}, "+-", true);
    ASSERT_FALSE(parts.has_detail && parts.user.empty());
  }
}

}  // namespace
}  // namespace mailslot::delivery
