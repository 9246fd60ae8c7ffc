#include "mailslot/delivery/quota.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using testing::read_file;
using testing::TempDir;
using testing::write_file;
namespace stdfs = std::filesystem;

TEST(ParseMaildirsize, HeaderAndDeltas) {
  const auto m = parse_maildirsize("1000000S,100C\n  2000     2\n-500 -1\n300 1\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->limits.bytes, 1000000u);
  EXPECT_EQ(m->limits.messages, 100u);
  EXPECT_EQ(m->usage.bytes, 1800);
  EXPECT_EQ(m->usage.messages, 2);
  EXPECT_EQ(m->lines, 3u);
  EXPECT_EQ(parse_maildirsize("5000S\n1 1\n")->limits.messages, 0u);
  EXPECT_EQ(parse_maildirsize("10C\n")->limits.bytes, 0u);
}

TEST(ParseMaildirsize, RefusesGarbageAndHalfWrittenLines) {
  EXPECT_FALSE(parse_maildirsize(""));
  EXPECT_FALSE(parse_maildirsize("100X\n"));
  EXPECT_FALSE(parse_maildirsize("100S\nabc 1\n"));
  EXPECT_FALSE(parse_maildirsize("100S\n12 1\n13"));  // no newline: still being appended
}

TEST(MaildirsizeHeader, OnlyTheLimitsThatExist) {
  EXPECT_EQ(maildirsize_header({1000, 10}), "1000S,10C");
  EXPECT_EQ(maildirsize_header({1000, 0}), "1000S");
  EXPECT_EQ(maildirsize_header({0, 7}), "7C");
}

TEST(OverQuota, BytesAndMessages) {
  EXPECT_FALSE(over_quota({1000, 0}, {900, 5}, 100));
  EXPECT_TRUE(over_quota({1000, 0}, {900, 5}, 101));
  EXPECT_TRUE(over_quota({0, 5}, {0, 5}, 0));
  EXPECT_FALSE(over_quota({0, 0}, {1 << 30, 1 << 20}, 1 << 30));
  EXPECT_EQ(quota_exceeded(false).code, 552);
  EXPECT_EQ(quota_exceeded(false).enhanced, "5.2.2");
  EXPECT_EQ(quota_exceeded(true).code, 452);
  EXPECT_EQ(quota_exceeded(true).enhanced, "4.2.2");
}

class QuotaFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"cur", "new", "tmp", ".Lists/cur", ".Lists/new", ".Lists/tmp"})
      stdfs::create_directories(md() / d);
    write_file(md() / "cur/1.M1P1.h,S=100,W=104:2,S", std::string(100, 'x'));
    write_file(md() / "new/2.M2P2.h,S=50", std::string(50, 'x'));
    write_file(md() / "new/3.M3P3.h", std::string(30, 'x'));  // no S=: stat
    write_file(md() / ".Lists/new/4.M4P4.h,S=20", std::string(20, 'x'));
    write_file(md() / "tmp/5.M5P5.h,S=1000", "");  // tmp/ is not mail yet
  }
  stdfs::path md() const { return dir.path() / "Maildir"; }
  int open_md() const { return ::open(md().c_str(), O_RDONLY | O_DIRECTORY); }
  TempDir dir;
};

TEST_F(QuotaFiles, RecalculatesFromNamesAndFolders) {
  fs::Fd fd(open_md());
  QuotaUsage u;
  ASSERT_EQ(recalculate_usage(fd.get(), u), 0);
  EXPECT_EQ(u.bytes, 200);
  EXPECT_EQ(u.messages, 4);
}

TEST_F(QuotaFiles, MissingFileIsBuiltThenAppended) {
  fs::Fd fd(open_md());
  QuotaUsage u;
  ASSERT_EQ(read_quota(fd.get(), {1000, 10}, u), 0);
  EXPECT_EQ(u.bytes, 200);
  EXPECT_EQ(read_file(md() / "maildirsize"), "1000S,10C\n200 4\n");
  ASSERT_EQ(add_to_quota(fd.get(), 77, 1), 0);
  EXPECT_EQ(read_file(md() / "maildirsize"), "1000S,10C\n200 4\n77 1\n");
  ASSERT_EQ(read_quota(fd.get(), {1000, 10}, u), 0);
  EXPECT_EQ(u.bytes, 277);  // read, not recalculated (the 77 is only in the file)
  EXPECT_EQ(u.messages, 5);
}

TEST_F(QuotaFiles, StaleFileIsRecalculated) {
  fs::Fd fd(open_md());
  QuotaUsage u;
  write_file(md() / "maildirsize", "999S\n5 1\n");  // other limits
  ASSERT_EQ(read_quota(fd.get(), {1000, 0}, u), 0);
  EXPECT_EQ(u.bytes, 200);
  EXPECT_EQ(read_file(md() / "maildirsize"), "1000S\n200 4\n");
  write_file(md() / "maildirsize", "1000S\n" + std::string(6000, ' ') + "\n1 1\n");  // too large
  ASSERT_EQ(read_quota(fd.get(), {1000, 0}, u), 0);
  EXPECT_EQ(u.bytes, 200);
  write_file(md() / "maildirsize", "1000S\ngarbage\n");
  ASSERT_EQ(read_quota(fd.get(), {1000, 0}, u), 0);
  EXPECT_EQ(u.messages, 4);
}

TEST_F(QuotaFiles, RcptCheckWithDeclaredSize) {
  Mailbox m;
  m.maildir = md();
  m.quota = {300, 0};
  EXPECT_FALSE(check_quota_at_rcpt(m, dir.path(), 100, false));
  const auto full = check_quota_at_rcpt(m, dir.path(), 101, false);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->code, 552);
  EXPECT_EQ(check_quota_at_rcpt(m, dir.path(), 101, true)->code, 452);
  m.maildir = dir.path() / "nobody-yet/Maildir";  // not created yet: empty
  EXPECT_FALSE(check_quota_at_rcpt(m, dir.path(), 299, false));
  EXPECT_TRUE(check_quota_at_rcpt(m, dir.path(), 301, false));  // this message alone is too big
  m.quota = {};
  m.maildir = md();
  EXPECT_FALSE(check_quota_at_rcpt(m, dir.path(), 1 << 30, false));  // no limits
}

}  // namespace
}  // namespace mailslot::delivery
