#include "mailslot/delivery/fs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "test_util.hpp"

namespace mailslot::delivery::fs {
namespace {

using mailslot::delivery::testing::permissions_of;
using mailslot::delivery::testing::read_file;
using mailslot::delivery::testing::TempDir;

TEST(Fs, MakeDirsCreatesEveryMissingLevel) {
  TempDir t;
  const auto deep = t.path() / "a" / "b" / "c";
  EXPECT_EQ(make_dirs(deep, 0700, true), 0);
  EXPECT_EQ(permissions_of(t.path() / "a"), 0700u);
  EXPECT_EQ(permissions_of(deep), 0700u);
  EXPECT_EQ(make_dirs(deep, 0700, true), 0);  // already there
  EXPECT_EQ(make_dirs(t.path() / "a" / "b" / "", 0700, false), 0);
}

TEST(Fs, MakeDirsThroughAFileIsNotADirectory) {
  TempDir t;
  testing::write_file(t.path() / "f", "x");
  EXPECT_EQ(make_dirs(t.path() / "f", 0700, false), ENOTDIR);
  EXPECT_EQ(make_dirs(t.path() / "f" / "g", 0700, false), ENOTDIR);
}

TEST(Fs, EnsureMaildir) {
  TempDir t;
  const auto md = t.path() / "x" / "Maildir";
  EXPECT_EQ(ensure_maildir(md, true), 0);
  for (const char* sub : {"tmp", "new", "cur"}) EXPECT_EQ(permissions_of(md / sub), 0700u) << sub;
  EXPECT_EQ(ensure_maildir(md, true), 0);
}

TEST(Fs, FsyncDir) {
  TempDir t;
  EXPECT_EQ(fsync_dir(t.path()), 0);
  EXPECT_EQ(fsync_dir(t.path() / "missing"), ENOENT);
}

TEST(Fs, WriteAllAndCopyFile) {
  TempDir t;
  const std::string content(300 * 1024, 'z');
  Fd a(::open((t.path() / "a").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(a.valid());
  ASSERT_EQ(write_all(a.get(), content), 0);
  Fd b(::open((t.path() / "b").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(b.valid());
  ASSERT_EQ(copy_file(a.get(), b.get()), 0);
  EXPECT_EQ(fsync_fd(b.get()), 0);
  EXPECT_EQ(b.close(), 0);
  EXPECT_FALSE(b.valid());
  EXPECT_EQ(read_file(t.path() / "b"), content);
}

TEST(Fs, WriteAllReportsErrno) {
  Fd r(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(r.valid());
  EXPECT_EQ(write_all(r.get(), "x"), EBADF);
}

}  // namespace
}  // namespace mailslot::delivery::fs
