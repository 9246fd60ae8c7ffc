#include "mailslot/delivery/maildir_dirs.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using testing::list_dir;
using testing::TempDir;
namespace stdfs = std::filesystem;

class MaildirDirsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(open_mail_root(root(), root_fd_), std::nullopt); }
  const stdfs::path& root() const { return tmp_.path(); }

  std::optional<Outcome> open(const stdfs::path& maildir, MaildirDirs& dirs, bool sync = true) {
    return open_maildir(root_fd_.get(), root(), maildir, sync, durable_, dirs);
  }

  TempDir tmp_;
  TempDir outside_;
  fs::Fd root_fd_;
  DurableMaildirs durable_;
};

TEST_F(MaildirDirsTest, CreatesTheChainAndOpensTmpAndNew) {
  const stdfs::path md = root() / "example.test" / "bob" / "Maildir";
  MaildirDirs d;
  ASSERT_EQ(open(md, d), std::nullopt);
  EXPECT_TRUE(d.tmp.valid());
  EXPECT_TRUE(d.new_dir.valid());
  for (const char* sub : {"tmp", "new", "cur"}) EXPECT_EQ(testing::permissions_of(md / sub), 0700u) << sub;
  EXPECT_EQ(testing::permissions_of(root() / "example.test"), 0700u);
}

// Review finding 2: a Maildir that exists already may have been made a moment ago by another
// session that has not fsynced its parent yet. Its first use in this process fsyncs every directory
// of the chain (root, example.test, bob, Maildir, tmp, new, cur); later uses trust that.
TEST_F(MaildirDirsTest, ExistingMaildirIsSyncedOnFirstUseOnly) {
  const stdfs::path md = root() / "example.test" / "bob" / "Maildir";
  for (const char* sub : {"tmp", "new", "cur"}) stdfs::create_directories(md / sub);  // "another session"
  MaildirDirs d;
  ASSERT_EQ(open(md, d), std::nullopt);
  EXPECT_EQ(d.dirs_synced, 7);
  ASSERT_EQ(open(md, d), std::nullopt);
  EXPECT_EQ(d.dirs_synced, 0);
  ASSERT_EQ(open(root() / "example.test" / "bob" / "Maildir" / ".", d), std::nullopt);  // same Maildir
  EXPECT_EQ(d.dirs_synced, 0);

  DurableMaildirs another_process;
  ASSERT_EQ(open_maildir(root_fd_.get(), root(), md, true, another_process, d), std::nullopt);
  EXPECT_EQ(d.dirs_synced, 7);

  DurableMaildirs no_sync;
  ASSERT_EQ(open_maildir(root_fd_.get(), root(), md, false, no_sync, d), std::nullopt);
  EXPECT_EQ(d.dirs_synced, 0);
}

TEST_F(MaildirDirsTest, MaildirMadeAgainIsSyncedAgain) {
  const stdfs::path md = root() / "u" / "Maildir";
  MaildirDirs d;
  ASSERT_EQ(open(md, d), std::nullopt);
  EXPECT_GT(d.dirs_synced, 0);
  ASSERT_EQ(open(md, d), std::nullopt);
  EXPECT_EQ(d.dirs_synced, 0);
  // Replaced by someone else (the old one still exists, so the new one cannot reuse its inode).
  stdfs::rename(md, root() / "u" / "Maildir.old");
  for (const char* sub : {"tmp", "new", "cur"}) stdfs::create_directories(md / sub);
  ASSERT_EQ(open(md, d), std::nullopt);
  EXPECT_EQ(d.dirs_synced, 6);  // root, u, Maildir, tmp, new, cur
}

// Removed, then made again by the walk itself: ext4 hands the new directory the inode number of
// the one just removed, so the (path, device, inode) key alone would call it known. A walk that
// creates the Maildir treats it as new: cur/ is made and the chain synced.
TEST_F(MaildirDirsTest, MaildirRemovedAndMadeByTheWalkIsNew) {
  const stdfs::path md = root() / "u" / "Maildir";
  MaildirDirs d;
  ASSERT_EQ(open(md, d), std::nullopt);
  d = MaildirDirs{};
  stdfs::remove_all(md);
  ASSERT_EQ(open(md, d), std::nullopt);
  EXPECT_TRUE(d.first_use);
  EXPECT_TRUE(stdfs::is_directory(md / "cur"));
  EXPECT_GE(d.dirs_synced, 6);
}

TEST_F(MaildirDirsTest, ConcurrentFirstUseAllSucceed) {
  const stdfs::path md = root() / "example.test" / "carol" / "Maildir";
  std::vector<std::thread> threads;
  std::vector<int> failed(8, 0);
  for (std::size_t i = 0; i < failed.size(); ++i) {
    threads.emplace_back([&, i] {
      MaildirDirs d;
      failed[i] = open(md, d).has_value() || !d.new_dir.valid() ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  for (const int f : failed) EXPECT_EQ(f, 0);
  MaildirDirs d;
  ASSERT_EQ(open(md, d), std::nullopt);
  EXPECT_EQ(d.dirs_synced, 0);
}

// Review finding 1: no symlink below the root is followed, wherever it is in the chain.
TEST_F(MaildirDirsTest, SymlinkAnywhereBelowRootIsRefused) {
  const stdfs::path rel = stdfs::path("example.test") / "bob" / "Maildir";
  for (const stdfs::path& link_at : {stdfs::path("example.test"), stdfs::path("example.test/bob"), rel,
                                     rel / "tmp", rel / "new", rel / "cur"}) {
    SCOPED_TRACE(link_at.string());
    stdfs::remove_all(root() / "example.test");
    stdfs::create_directories((root() / link_at).parent_path());
    stdfs::create_directories(outside_.path() / "target");
    stdfs::create_directory_symlink(outside_.path() / "target", root() / link_at);
    MaildirDirs d;
    const auto failure = open(root() / rel, d);
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->code, 451);
    EXPECT_EQ(failure->enhanced, "4.3.0");
    EXPECT_EQ(failure->text, "Mailbox path contains a symlink: " + link_at.string());
    EXPECT_FALSE(d.tmp.valid());
    EXPECT_FALSE(d.new_dir.valid());
    EXPECT_TRUE(list_dir(outside_.path() / "target").empty());
  }
}

TEST_F(MaildirDirsTest, RootReachedThroughASymlinkIsTheOperatorsChoice) {
  const stdfs::path link = outside_.path() / "root-link";
  stdfs::create_directory_symlink(root(), link);
  fs::Fd via_link;
  ASSERT_EQ(open_mail_root(link, via_link), std::nullopt);
  MaildirDirs d;
  ASSERT_EQ(open_maildir(via_link.get(), link, link / "u" / "Maildir", true, durable_, d), std::nullopt);
  EXPECT_TRUE(stdfs::is_directory(root() / "u" / "Maildir" / "new"));
}

TEST_F(MaildirDirsTest, MaildirNotBelowRootIsRefused) {
  for (const stdfs::path& md : {outside_.path() / "Maildir", root() / ".." / "escape" / "Maildir", root(),
                                root() / ".", stdfs::path("relative/Maildir")}) {
    SCOPED_TRACE(md.string());
    MaildirDirs d;
    const auto failure = open(md, d);
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->code, 451);
    EXPECT_EQ(failure->enhanced, "4.3.0");
    EXPECT_EQ(failure->text, "Mailbox path is outside mail.root");
  }
  EXPECT_TRUE(list_dir(outside_.path()).empty());
  EXPECT_FALSE(stdfs::exists(root().parent_path() / "escape"));
}

TEST(PathBelowRoot, Cases) {
  EXPECT_EQ(path_below_root("/var/mail", "/var/mail/a/b"), stdfs::path("a/b"));
  EXPECT_EQ(path_below_root("/var/mail/", "/var/mail/./a//b/"), stdfs::path("a/b"));
  EXPECT_EQ(path_below_root("/var/mail", "/var/mail/a/../b"), stdfs::path("b"));
  EXPECT_EQ(path_below_root("", "/var/mail/a"), stdfs::path("var/mail/a"));  // empty root is "/"
  EXPECT_EQ(path_below_root("mail", "mail/a"), stdfs::path("a"));
  EXPECT_EQ(path_below_root("/var/mail", "/var/mail"), std::nullopt);
  EXPECT_EQ(path_below_root("/var/mail", "/var/mailx/a"), std::nullopt);
  EXPECT_EQ(path_below_root("/var/mail", "/var/mail/../x"), std::nullopt);
  EXPECT_EQ(path_below_root("/var/mail", "/etc"), std::nullopt);
  EXPECT_EQ(path_below_root("/var/mail", "var/mail/a"), std::nullopt);
}

// The fast path must say "normal" only where lexically_normal() (without a trailing "/") would
// return the path unchanged: every case is checked against it.
TEST(NormalPath, AgreesWithLexicallyNormal) {
  const char* cases[] = {"/",          "/var/mail",  "/var/mail/", "/var/mail/.", "/var//mail", "/var/./mail",
                         "/var/../x",  "mail/a",     "mail/a/..",  "./mail",      "../mail",    ".",
                         "..",         "a",          "//a",        "/a/.b",       "/a/..b",     "/a/b./c",
                         "/a/.../b",   "a//",        "/a/b/c/Maildir"};
  for (const char* c : cases) {
    const stdfs::path slow = [&] {
      stdfs::path n = stdfs::path(c).lexically_normal();
      if (!n.has_filename() && n.has_relative_path()) n = n.parent_path();
      return n;
    }();
    EXPECT_EQ(normal_path(c), slow) << c;
    if (is_normal_path(c)) {
      EXPECT_EQ(slow.native(), c) << c;
    }
  }
  EXPECT_TRUE(is_normal_path("/var/mail/example.test/u/Maildir"));
  EXPECT_TRUE(is_normal_path("/a/.b/..c/..."));  // names that only start with dots
  EXPECT_FALSE(is_normal_path(""));
  EXPECT_FALSE(is_normal_path("/var/mail/"));
  EXPECT_FALSE(is_normal_path("/var//mail"));
  EXPECT_FALSE(is_normal_path("/var/mail/."));
  EXPECT_FALSE(is_normal_path("/var/mail/../x"));
}

TEST_F(MaildirDirsTest, OpenMailRootFailureIsAnOutcome) {
  fs::Fd fd;
  const auto failure = open_mail_root(root() / "missing", fd);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, 451);
  EXPECT_EQ(failure->text.rfind("open mail.root failed: ", 0), 0u) << failure->text;
}

}  // namespace
}  // namespace mailslot::delivery
