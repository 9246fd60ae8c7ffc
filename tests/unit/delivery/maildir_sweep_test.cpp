// The 36-hour tmp/ sweep (maildir_sweep.hpp) and the bounded set of first-touched Maildirs that
// triggers it (DurableMaildirs).
#include "mailslot/delivery/maildir_sweep.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <string>

#include "mailslot/delivery/fs_faults.hpp"
#include "mailslot/delivery/maildir_dirs.hpp"
#include "mailslot/delivery/maildir_store.hpp"
#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using testing::list_dir;
using testing::TempDir;
using testing::write_file;
namespace stdfs = std::filesystem;
using std::chrono::hours;
using std::chrono::system_clock;

// Sets a file's access and modification times `age` into the past (a stray from a crash long ago).
void age(const stdfs::path& p, std::chrono::seconds atime_age, std::chrono::seconds mtime_age) {
  const auto now = system_clock::to_time_t(system_clock::now());
  timespec times[2] = {{now - atime_age.count(), 0}, {now - mtime_age.count(), 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << p;
}

fs::Fd open_dir(const stdfs::path& p) {
  return fs::Fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

TEST(SweepTmp, RemovesOnlyRegularFilesUntouchedFor36Hours) {
  TempDir t;
  const auto h37 = std::chrono::duration_cast<std::chrono::seconds>(hours(37));
  const auto h35 = std::chrono::duration_cast<std::chrono::seconds>(hours(35));
  for (const char* n : {"old", "fresh", "read-recently", "written-recently", "almost"})
    write_file(t.path() / n, "x");
  age(t.path() / "old", h37, h37);
  age(t.path() / "read-recently", std::chrono::seconds(0), h37);     // maildir.5: "not accessed"
  age(t.path() / "written-recently", h37, std::chrono::seconds(0));  // still being written
  age(t.path() / "almost", h35, h35);
  stdfs::create_directory(t.path() / "olddir");
  age(t.path() / "olddir", h37, h37);
  stdfs::create_symlink("/nonexistent", t.path() / "oldlink");
  age(t.path() / "oldlink", h37, h37);

  const fs::Fd dir = open_dir(t.path());
  const SweepResult r = sweep_tmp(fs::posix(), dir.get(), system_clock::now());
  EXPECT_EQ(r.removed, 1u);
  EXPECT_EQ(r.examined, 7u);
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(list_dir(t.path()), (std::vector<std::string>{"almost", "fresh", "olddir", "oldlink",
                                                          "read-recently", "written-recently"}));
}

TEST(SweepTmp, LooksAtABoundedNumberOfEntriesPerSweep) {
  TempDir t;
  for (int i = 0; i < 5; ++i) write_file(t.path() / ("f" + std::to_string(i)), "x");
  const fs::Fd dir = open_dir(t.path());
  const auto later = system_clock::now() + hours(37);  // every file is a stray to this clock
  SweepResult r = sweep_tmp(fs::posix(), dir.get(), later, 3);
  EXPECT_EQ(r.examined, 3u);
  EXPECT_EQ(r.removed, 3u);
  r = sweep_tmp(fs::posix(), dir.get(), later, 3);
  EXPECT_EQ(r.removed, 2u);
  EXPECT_TRUE(list_dir(t.path()).empty());
}

TEST(DurableMaildirs, ForgetsTheLeastRecentlyUsedBeyondItsCapacity) {
  DurableMaildirs known(2, hours(1));
  known.insert("a");
  known.insert("b");
  EXPECT_TRUE(known.contains("a"));  // a is now more recent than b
  known.insert("c");
  EXPECT_EQ(known.size(), 2u);
  EXPECT_TRUE(known.contains("a"));
  EXPECT_FALSE(known.contains("b"));
  EXPECT_TRUE(known.contains("c"));
}

TEST(DurableMaildirs, ForgetsAfterItsMaxAge) {
  DurableMaildirs known(10, std::chrono::seconds(0));
  known.insert("a");
  EXPECT_FALSE(known.contains("a"));  // first-touched again: fsynced and swept again
  EXPECT_EQ(known.size(), 0u);
}

std::shared_ptr<const Mailbox> mailbox(const stdfs::path& maildir) {
  auto m = std::make_shared<Mailbox>();
  m->address = "bob@example.test";
  m->maildir = maildir;
  return m;
}

std::vector<Outcome> deliver_one(MailStore& store, const stdfs::path& maildir) {
  Envelope e;
  e.reverse_path = "alice@example.org";
  e.recipients = {mailbox(maildir)};
  e.hostname = "mail.example.test";
  e.received_at = system_clock::now();
  Outcome failure;
  auto w = store.begin(e, failure);
  if (!w) return {failure};
  if (auto f = w->append("Subject: x\r\n\r\nx\r\n")) return {*f};
  return w->commit();
}

class MaildirStoreSweepTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  stdfs::path md_ = tmp_.path() / "example.test" / "bob" / "Maildir";
  system_clock::duration offset_{0};  // the fake clock: real time plus this

  MaildirStore make_store(std::shared_ptr<fs::FileSystem> files = nullptr) {
    MaildirStoreOptions o{"mail.example.test", true, tmp_.path(), std::move(files)};
    o.clock = [this] { return system_clock::now() + offset_; };
    return MaildirStore(o);
  }
  void leave_stray(const std::string& name) {
    for (const char* sub : {"tmp", "new", "cur"}) stdfs::create_directories(md_ / sub);
    write_file(md_ / "tmp" / name, "half a message from before the crash");
  }
};

// A crash left a spool in tmp/; 37 hours later (by the fake clock) the restarted process's first
// delivery to that Maildir removes it.
TEST_F(MaildirStoreSweepTest, FirstTouchAfterRestartSweepsStraysOlderThan36Hours) {
  leave_stray("stray");
  offset_ = hours(37);
  MaildirStore store = make_store();
  const auto out = deliver_one(store, md_);
  ASSERT_TRUE(out.at(0).delivered()) << out[0].text;
  EXPECT_TRUE(list_dir(md_ / "tmp").empty());
  EXPECT_EQ(list_dir(md_ / "new").size(), 1u);
  EXPECT_EQ(store.tmp_swept(), 1u);
}

TEST_F(MaildirStoreSweepTest, AStrayYoungerThan36HoursStays) {
  leave_stray("stray");
  offset_ = hours(35);
  MaildirStore store = make_store();
  ASSERT_TRUE(deliver_one(store, md_).at(0).delivered());
  EXPECT_EQ(list_dir(md_ / "tmp"), std::vector<std::string>{"stray"});
  EXPECT_EQ(store.tmp_swept(), 0u);
}

// Only the first touch sweeps (no directory scan per delivery); a new process sweeps again.
TEST_F(MaildirStoreSweepTest, OnlyTheFirstTouchInAProcessSweeps) {
  offset_ = hours(37);
  MaildirStore store = make_store();
  ASSERT_TRUE(deliver_one(store, md_).at(0).delivered());
  leave_stray("later-stray");
  ASSERT_TRUE(deliver_one(store, md_).at(0).delivered());
  EXPECT_EQ(list_dir(md_ / "tmp"), std::vector<std::string>{"later-stray"});
  MaildirStore restarted = make_store();
  ASSERT_TRUE(deliver_one(restarted, md_).at(0).delivered());
  EXPECT_TRUE(list_dir(md_ / "tmp").empty());
}

TEST_F(MaildirStoreSweepTest, ASweepFailureNeverFailsTheDelivery) {
  leave_stray("stray");
  offset_ = hours(37);
  auto faulty = std::make_shared<fs::FaultyFileSystem>();
  faulty->fail(fs::Op::unlink, EACCES, 1);  // the first unlink is the sweep's
  MaildirStore store = make_store(faulty);
  const auto out = deliver_one(store, md_);
  ASSERT_TRUE(out.at(0).delivered()) << out[0].text;
  EXPECT_EQ(faulty->failures(fs::Op::unlink), 1u);
  EXPECT_EQ(list_dir(md_ / "tmp"), std::vector<std::string>{"stray"});
}

}  // namespace
}  // namespace mailslot::delivery
