#include "mailslot/delivery/fs.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "test_util.hpp"

namespace mailslot::delivery::fs {
namespace {

using mailslot::delivery::testing::permissions_of;
using mailslot::delivery::testing::read_file;
using mailslot::delivery::testing::TempDir;

Fd open_dir(const std::filesystem::path& p) {
  return Fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

TEST(Fs, OpenSubdirCreatesOnceThenOpens) {
  TempDir t;
  const Fd dir = open_dir(t.path());
  ASSERT_TRUE(dir.valid());
  Fd sub;
  bool created = false;
  const char* what = "";
  EXPECT_EQ(open_subdir(dir.get(), "a", 0700, true, sub, created, what), 0);
  EXPECT_TRUE(created);
  EXPECT_TRUE(sub.valid());
  EXPECT_EQ(permissions_of(t.path() / "a"), 0700u);
  EXPECT_EQ(open_subdir(dir.get(), "a", 0700, true, sub, created, what), 0);  // already there
  EXPECT_FALSE(created);
  // The descriptor is the directory itself: names made through it appear in it.
  Fd inner;
  EXPECT_EQ(open_subdir(sub.get(), "b", 0700, false, inner, created, what), 0);
  EXPECT_TRUE(std::filesystem::is_directory(t.path() / "a" / "b"));
}

TEST(Fs, OpenSubdirNeverFollowsASymlink) {
  TempDir t;
  TempDir outside;
  std::filesystem::create_directory_symlink(outside.path(), t.path() / "link");
  std::filesystem::create_directory_symlink(outside.path() / "missing", t.path() / "dangling");
  const Fd dir = open_dir(t.path());
  Fd sub;
  bool created = true;
  const char* what = "";
  EXPECT_EQ(open_subdir(dir.get(), "link", 0700, true, sub, created, what), ELOOP);
  EXPECT_FALSE(sub.valid());
  EXPECT_FALSE(created);
  // A dangling link is not "missing": mkdir must not go through it either.
  EXPECT_EQ(open_subdir(dir.get(), "dangling", 0700, true, sub, created, what), ELOOP);
  EXPECT_FALSE(std::filesystem::exists(outside.path() / "missing"));
  EXPECT_TRUE(testing::list_dir(outside.path()).empty());
}

TEST(Fs, OpenSubdirThroughAFileIsNotADirectory) {
  TempDir t;
  testing::write_file(t.path() / "f", "x");
  const Fd dir = open_dir(t.path());
  Fd sub;
  bool created = false;
  const char* what = "";
  EXPECT_EQ(open_subdir(dir.get(), "f", 0700, false, sub, created, what), ENOTDIR);
}

// Review finding 3: after EEXIST on every attempt, the name must not be left pointing at the
// other writer's file, or the writer's discard/destructor unlinks that file.
TEST(Fs, CreateExclusiveNamesOnlyAFileItCreated) {
  TempDir t;
  testing::write_file(t.path() / "taken", "another writer's spool");
  const Fd dir = open_dir(t.path());
  std::string name = "stale";
  Fd out;
  EXPECT_EQ(create_exclusive(
                dir.get(), [] { return std::string("taken"); }, 3, name, out),
            EEXIST);
  EXPECT_EQ(name, "");
  EXPECT_FALSE(out.valid());
  EXPECT_EQ(read_file(t.path() / "taken"), "another writer's spool");

  int calls = 0;
  const auto fresh = [&calls] { return std::string(++calls == 1 ? "taken" : "mine"); };
  EXPECT_EQ(create_exclusive(dir.get(), fresh, 3, name, out), 0);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(name, "mine");
  EXPECT_TRUE(out.valid());
  EXPECT_EQ(permissions_of(t.path() / "mine"), 0600u);
}

TEST(Fs, CreateExclusiveNeverFollowsASymlink) {
  TempDir t;
  TempDir outside;
  std::filesystem::create_symlink(outside.path() / "target", t.path() / "planted");
  const Fd dir = open_dir(t.path());
  std::string name;
  Fd out;
  EXPECT_EQ(create_exclusive(
                dir.get(), [] { return std::string("planted"); }, 2, name, out),
            EEXIST);
  EXPECT_FALSE(std::filesystem::exists(outside.path() / "target"));
}

TEST(Fs, FsyncDir) {
  TempDir t;
  const Fd dir = open_dir(t.path());
  EXPECT_EQ(fsync_dir(dir.get()), 0);
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
