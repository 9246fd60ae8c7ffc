// A FileSystem (fs.hpp) that fails or slows down chosen calls, for tests of what the store does
// and tells the MTA when the disk is full, read-only, over quota, failing or slow
// (docs/reliability.md). Every call not chosen goes to the real file system underneath.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "mailslot/delivery/fs.hpp"

namespace mailslot::delivery::fs {

// The kinds of call a fault can be attached to: one per FileSystem method.
enum class Op { open, mkdir, write, read, copy, fsync, link, unlink, stat, close };
inline constexpr std::size_t kOpCount = 10;

std::string_view op_name(Op op);
std::optional<Op> op_from_name(std::string_view name);

class FaultyFileSystem final : public FileSystem {
 public:
  static constexpr std::uint64_t kForever = std::numeric_limits<std::uint64_t>::max();

  explicit FaultyFileSystem(FileSystem& real = posix()) : real_(real) {}

  // The `nth` call of `op` from now on (1: the very next one) fails with `err` without reaching the
  // real file system, and so do the `times - 1` calls of `op` after it (kForever: all of them).
  void fail(Op op, int err, std::uint64_t nth = 1, std::uint64_t times = 1);
  // Every call of `op` from now on first sleeps for `latency` (zero: no more).
  void delay(Op op, std::chrono::microseconds latency);
  // A hung disk (an NFS server gone away, an fsync that never returns): the `nth` call of `op` from
  // now on blocks until release(), then goes on to the real call.
  void hang(Op op, std::uint64_t nth = 1);
  // Waits until a call is blocked by hang(); false if none is after `timeout`.
  bool wait_hung(std::chrono::milliseconds timeout);
  // Lets every call blocked by hang() go on, and every later one that hang() would block.
  void release();
  // Forgets every fault and delay; the counts stay.
  void clear();

  std::uint64_t calls(Op op) const;     // calls of `op` so far, failed ones included
  std::uint64_t failures(Op op) const;  // calls of `op` failed on purpose so far

  int open(int dir, const char* name, int flags, mode_t mode, int& fd) override;
  int mkdir(int dir, const char* name, mode_t mode) override;
  int write(int fd, const void* data, std::size_t size, std::size_t& written) override;
  int pread(int fd, void* data, std::size_t size, off_t offset, std::size_t& got) override;
  int copy_range(int in, off_t& in_offset, int out, std::size_t size, std::size_t& copied) override;
  int fsync(int fd) override;
  int link(int from_dir, const char* from, int to_dir, const char* to) override;
  int unlink(int dir, const char* name, int flags) override;
  int stat(int dir, const char* name, struct stat& st, int flags) override;
  int close(int fd) override;

 private:
  struct Rule {
    int err;
    std::uint64_t first;  // call numbers (1-based, counted over the life of this object)
    std::uint64_t last;
  };
  struct PerOp {
    std::uint64_t calls = 0;
    std::uint64_t failures = 0;
    std::chrono::microseconds latency{0};
    std::vector<Rule> rules;
    std::uint64_t hang_at = 0;  // call number that blocks until release(); 0: none
  };

  // Counts the call, sleeps if asked, and returns the errno to inject (0: go to the real call).
  int before(Op op);

  FileSystem& real_;
  mutable std::mutex mutex_;  // the disk pool calls from many threads
  std::array<PerOp, kOpCount> ops_{};
  std::condition_variable hang_cv_;  // hung_ and released_ changed
  std::uint64_t blocked_ = 0;        // calls blocked by hang() now
  bool released_ = false;
};

// Configures `faulty` from a spec, for tests that drive the real daemon (MAILSLOT_TEST_FS_FAULTS,
// docs/reliability.md): comma-separated items, each `<op>:delay=<ms>` or
// `<op>:fail=<ERRNO>[@<nth>][x<times>|x*]`, e.g. "fsync:delay=300,link:fail=ENOSPC@2x*".
// <op> is an op_name(); <ERRNO> one of ENOSPC EDQUOT EIO EROFS EACCES EPERM EXDEV EMLINK ENOENT.
// Throws std::invalid_argument naming the bad item.
void configure_faults(FaultyFileSystem& faulty, std::string_view spec);

}  // namespace mailslot::delivery::fs
