#include "mailslot/delivery/maildir_name.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <set>
#include <thread>
#include <vector>

namespace mailslot::delivery {
namespace {

TEST(MaildirName, SanitizeHost) {
  EXPECT_EQ(sanitize_maildir_host("mail.example.test"), "mail.example.test");
  EXPECT_EQ(sanitize_maildir_host("a/b"), "a\\057b");
  EXPECT_EQ(sanitize_maildir_host("a:b"), "a\\072b");
  EXPECT_EQ(sanitize_maildir_host("a,b"), "a\\054b");
  EXPECT_EQ(sanitize_maildir_host("/:,"), "\\057\\072\\054");
}

TEST(MaildirName, BaseAndSizesFormat) {
  UniqueName n;
  n.sec = 1795440358;
  n.usec = 42;
  n.pid = 777;
  n.seq = 9;
  n.random = 0xabc;
  n.host = "mx";
  EXPECT_EQ(n.base(), "1795440358.M42P777Q9R0000000000000abc.mx");
  EXPECT_EQ(n.with_sizes(100, 104), "1795440358.M42P777Q9R0000000000000abc.mx,S=100,W=104");
}

TEST(MaildirName, NextMatchesTheConvention) {
  const auto before = std::chrono::system_clock::now();
  const UniqueName n = next_unique_name(sanitize_maildir_host("host/x:y"));
  const std::regex re(R"(^(\d+)\.M(\d{1,6})P(\d+)Q(\d+)R([0-9a-f]{16})\.host\\057x\\072y,S=12,W=13$)");
  std::smatch m;
  const std::string s = n.with_sizes(12, 13);
  ASSERT_TRUE(std::regex_match(s, m, re)) << s;
  EXPECT_EQ(std::stoll(m[3]), ::getpid());
  EXPECT_LT(n.usec, 1'000'000);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count();
  EXPECT_GE(n.sec, secs);
  EXPECT_LE(n.sec, secs + 5);
}

TEST(MaildirName, ConsecutiveNamesDiffer) {
  const UniqueName a = next_unique_name("h");
  const UniqueName b = next_unique_name("h");
  EXPECT_NE(a.base(), b.base());
  EXPECT_GT(b.seq, a.seq);
}

TEST(MaildirName, RandomIsFixedPerProcessAndInEveryName) {
  const UniqueName a = next_unique_name("h");
  const UniqueName b = next_unique_name("h");
  EXPECT_EQ(a.random, process_random());
  EXPECT_EQ(b.random, a.random);
}

// A restart that reuses the pid after the clock stepped back to the same microsecond, with the
// counter starting again: only R tells the two names apart (two processes were simulated by hand,
// since one process has one R).
TEST(MaildirName, SameClockPidAndCounterDifferOnlyByRandom) {
  UniqueName a;
  a.sec = 1795440358;
  a.usec = 1;
  a.pid = 100;
  a.seq = 1;
  a.host = "mx";
  UniqueName b = a;
  a.random = 0x1;
  b.random = 0x2;
  EXPECT_NE(a.base(), b.base());
}

TEST(MaildirName, UniqueAcrossThreads) {
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::vector<std::string>> names(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&names, t] {
      for (int i = 0; i < kEach; ++i) names[t].push_back(next_unique_name("h").base());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  for (const auto& v : names) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace mailslot::delivery
