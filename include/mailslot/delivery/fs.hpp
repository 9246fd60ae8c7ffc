// Small POSIX helpers for the delivery layer. Internal to delivery (and its tests): every function
// returns 0 or an errno value, never throws, so the durable write reads as a straight line of
// "do it; on error map errno to an Outcome" (STYLE.md: error codes on the I/O path).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace mailslot::delivery::fs {

// An owned file descriptor: closed on destruction (errors there are ignored; call close() to see them).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  ~Fd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes and reports the error: on NFS a failed write may only show up here (qmail-local: "NFS dorks").
  int close();

 private:
  int fd_ = -1;
};

// Writes all of `data`, retrying on EINTR and partial writes.
int write_all(int fd, std::string_view data);

// fsync(2) retried on EINTR.
int fsync_fd(int fd);

// Operations (issue #7): called with the duration of every fsync_fd() (files and directories)
// when set, for the fsync latency histogram. Set once at start-up; `fn` must be thread-safe.
using FsyncObserver = void (*)(void* context, std::chrono::nanoseconds elapsed);
void set_fsync_observer(FsyncObserver fn, void* context);

// fsync(2) of a directory, so that names created or removed in it are durable. File systems that
// cannot fsync a directory (EINVAL, EBADF) count as success, as in Dovecot's fdatasync_path().
int fsync_dir(int dir);

// Opens the directory `name` inside the directory `dir` without following a symlink (O_NOFOLLOW), so
// a path walked one component at a time from a trusted directory never leaves it. A missing
// directory is created with `mode` and, when `sync`, `dir` is fsynced so the new entry survives a
// crash; `created` says whether this call made it. ELOOP: `name` is a symlink; ENOTDIR: something
// else that is not a directory. Sets `what` to the failed step ("mkdir", "open" or "fsync").
int open_subdir(int dir, const char* name, mode_t mode, bool sync, Fd& out, bool& created, const char*& what);

// Creates a new file in `dir` with O_CREAT|O_EXCL|O_NOFOLLOW (mode 0600) under a name from
// `fresh_name`, trying up to `attempts` names while the name exists (EEXIST). `name` is set only once
// the file is ours: a name that belongs to another writer must never be unlinked as if it were ours.
int create_exclusive(int dir, const std::function<std::string()>& fresh_name, int attempts, std::string& name,
                     Fd& out);

// Copies everything from `in` (read from offset 0) to `out` (at its current offset), with
// copy_file_range when the kernel can and a read/write loop otherwise.
int copy_file(int in, int out);

}  // namespace mailslot::delivery::fs
