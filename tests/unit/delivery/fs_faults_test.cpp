#include "mailslot/delivery/fs_faults.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>

#include "test_util.hpp"

namespace mailslot::delivery::fs {
namespace {

using mailslot::delivery::testing::read_file;
using mailslot::delivery::testing::TempDir;

Fd open_dir(const std::filesystem::path& p) {
  return Fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

TEST(FaultyFileSystem, FailsTheNthCallOfOneKindOnly) {
  TempDir t;
  const Fd dir = open_dir(t.path());
  FaultyFileSystem faulty;
  faulty.fail(Op::write, ENOSPC, 2);
  int raw = -1;
  ASSERT_EQ(faulty.open(dir.get(), "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600, raw), 0);
  Fd f(raw);
  EXPECT_EQ(write_all(faulty, f.get(), "one"), 0);
  EXPECT_EQ(write_all(faulty, f.get(), "two"), ENOSPC);  // never reached the disk
  EXPECT_EQ(write_all(faulty, f.get(), "three"), 0);
  EXPECT_EQ(fsync_fd(faulty, f.get()), 0);  // another kind of call: untouched
  EXPECT_EQ(read_file(t.path() / "f"), "onethree");
  EXPECT_EQ(faulty.calls(Op::write), 3u);
  EXPECT_EQ(faulty.failures(Op::write), 1u);
  EXPECT_EQ(faulty.calls(Op::fsync), 1u);
}

TEST(FaultyFileSystem, FailsARunOfCallsOrForeverUntilCleared) {
  TempDir t;
  const Fd dir = open_dir(t.path());
  FaultyFileSystem faulty;
  faulty.fail(Op::mkdir, EROFS, 1, 2);
  EXPECT_EQ(faulty.mkdir(dir.get(), "a", 0700), EROFS);
  EXPECT_EQ(faulty.mkdir(dir.get(), "a", 0700), EROFS);
  EXPECT_EQ(faulty.mkdir(dir.get(), "a", 0700), 0);
  faulty.fail(Op::fsync, EIO, 1, FaultyFileSystem::kForever);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(fsync_dir(faulty, dir.get()), EIO);
  faulty.clear();
  EXPECT_EQ(fsync_dir(faulty, dir.get()), 0);
  EXPECT_EQ(faulty.failures(Op::fsync), 5u);
}

TEST(FaultyFileSystem, AnInjectedCloseFailureStillReleasesTheDescriptor) {
  TempDir t;
  const Fd dir = open_dir(t.path());
  FaultyFileSystem faulty;
  int raw = -1;
  ASSERT_EQ(faulty.open(dir.get(), "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600, raw), 0);
  Fd f(raw);
  faulty.fail(Op::close, EIO);
  EXPECT_EQ(close(faulty, f), EIO);
  EXPECT_FALSE(f.valid());
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed
}

TEST(FaultyFileSystem, DelaysEveryCallOfOneKind) {
  TempDir t;
  const Fd dir = open_dir(t.path());
  FaultyFileSystem faulty;
  faulty.delay(Op::fsync, std::chrono::milliseconds(30));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(fsync_dir(faulty, dir.get()), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
  const auto again = std::chrono::steady_clock::now();
  EXPECT_EQ(faulty.mkdir(dir.get(), "x", 0700), 0);  // other kinds: no delay
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::milliseconds(30));
}

TEST(FaultyFileSystem, NamesEveryKind) {
  for (std::size_t i = 0; i < kOpCount; ++i) {
    const Op op = static_cast<Op>(i);
    EXPECT_EQ(op_from_name(op_name(op)), op);
  }
  EXPECT_EQ(op_from_name("rename"), std::nullopt);
}

TEST(ConfigureFaults, ParsesDelaysAndFailures) {
  TempDir t;
  const Fd dir = open_dir(t.path());
  FaultyFileSystem faulty;
  configure_faults(faulty, "mkdir:fail=EDQUOT@2x3,fsync:fail=EIO,unlink:fail=ENOSPC@1x*,stat:delay=1");
  EXPECT_EQ(faulty.mkdir(dir.get(), "a", 0700), 0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(faulty.mkdir(dir.get(), "b", 0700), EDQUOT);
  EXPECT_EQ(faulty.mkdir(dir.get(), "b", 0700), 0);
  EXPECT_EQ(faulty.fsync(dir.get()), EIO);
  EXPECT_EQ(faulty.fsync(dir.get()), 0);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(faulty.unlink(dir.get(), "x", 0), ENOSPC);
}

TEST(ConfigureFaults, RefusesWhatItCannotRead) {
  FaultyFileSystem faulty;
  for (const char* bad : {"fsync", "rename:delay=1", "fsync:delay=", "fsync:delay=x", "link:fail=EWHAT",
                          "link:fail=EIO@", "link:fail=EIOx", "write:slow"}) {
    EXPECT_THROW(configure_faults(faulty, bad), std::invalid_argument) << bad;
  }
  EXPECT_NO_THROW(configure_faults(faulty, ""));
}

}  // namespace
}  // namespace mailslot::delivery::fs
