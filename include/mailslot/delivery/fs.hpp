// Small POSIX helpers for the delivery layer, over the FileSystem seam. Internal to delivery (and its tests):
// every function returns 0 or an errno value, never throws, so the durable write reads as a straight line of
// "do it; on error map errno to an Outcome" (STYLE.md: error codes on the I/O path). The overloads
// without a FileSystem use posix().
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace mailslot::delivery::fs {

// The file-system calls the Maildir store makes, behind one interface, so that a test can fail any
// one of them (the Nth write with ENOSPC, every fsync with EIO) or slow it down (fs_faults.hpp) and
// prove what the MTA is told (docs/reliability.md). Each call returns 0 or an errno value and
// retries nothing (EINTR is the helpers' business below). posix() is the default everywhere;
// implementations must be thread-safe: the disk pool calls them from many threads.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual int open(int dir, const char* name, int flags, mode_t mode, int& fd) = 0;  // openat(2)
  virtual int mkdir(int dir, const char* name, mode_t mode) = 0;                     // mkdirat(2)
  virtual int write(int fd, const void* data, std::size_t size, std::size_t& written) = 0;
  virtual int pread(int fd, void* data, std::size_t size, off_t offset, std::size_t& got) = 0;
  // copy_file_range(2) from `in` at `in_offset` (advanced) to `out` at its offset.
  virtual int copy_range(int in, off_t& in_offset, int out, std::size_t size, std::size_t& copied) = 0;
  virtual int fsync(int fd) = 0;
  virtual int link(int from_dir, const char* from, int to_dir, const char* to) = 0;  // linkat(2), no flags
  virtual int unlink(int dir, const char* name, int flags) = 0;                      // unlinkat(2)
  // fstatat(2); fstat(2) of `dir` itself with name "" and AT_EMPTY_PATH.
  virtual int stat(int dir, const char* name, struct stat& st, int flags) = 0;
  virtual int close(int fd) = 0;
};

// The real system calls. A process-wide instance: it holds no state.
FileSystem& posix();

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

// Closes `fd` (owned) through `fs` and reports the error, like Fd::close().
int close(FileSystem& fs, Fd& fd);

// Writes all of `data`, retrying on EINTR and partial writes.
int write_all(FileSystem& fs, int fd, std::string_view data);
int write_all(int fd, std::string_view data);

// fsync(2) retried on EINTR.
int fsync_fd(FileSystem& fs, int fd);
int fsync_fd(int fd);

// Operations (issue #7): called with the duration of every fsync_fd() (files and directories)
// when set, for the fsync latency histogram. Set once at start-up; `fn` must be thread-safe.
using FsyncObserver = void (*)(void* context, std::chrono::nanoseconds elapsed);
void set_fsync_observer(FsyncObserver fn, void* context);

// fsync(2) of a directory, so that names created or removed in it are durable. File systems that
// cannot fsync a directory (EINVAL, EBADF) count as success, as in Dovecot's fdatasync_path().
int fsync_dir(FileSystem& fs, int dir);
int fsync_dir(int dir);

// Opens the directory `name` inside the directory `dir` without following a symlink (O_NOFOLLOW), so
// a path walked one component at a time from a trusted directory never leaves it. A missing
// directory is created with `mode` and, when `sync`, `dir` is fsynced so the new entry survives a
// crash; `created` says whether this call made it. ELOOP: `name` is a symlink; ENOTDIR: something
// else that is not a directory. Sets `what` to the failed step ("mkdir", "open" or "fsync").
int open_subdir(FileSystem& fs, int dir, const char* name, mode_t mode, bool sync, Fd& out, bool& created,
                const char*& what);
int open_subdir(int dir, const char* name, mode_t mode, bool sync, Fd& out, bool& created, const char*& what);

// Creates a new file in `dir` with O_CREAT|O_EXCL|O_NOFOLLOW (mode 0600) under a name from
// `fresh_name`, trying up to `attempts` names while the name exists (EEXIST). `name` is set only once
// the file is ours: a name that belongs to another writer must never be unlinked as if it were ours.
int create_exclusive(FileSystem& fs, int dir, const std::function<std::string()>& fresh_name, int attempts,
                     std::string& name, Fd& out);
int create_exclusive(int dir, const std::function<std::string()>& fresh_name, int attempts, std::string& name,
                     Fd& out);

// Copies everything from `in` (read from offset 0) to `out` (at its current offset), with
// copy_file_range when the kernel can and a read/write loop otherwise.
int copy_file(FileSystem& fs, int in, int out);
int copy_file(int in, int out);

}  // namespace mailslot::delivery::fs
