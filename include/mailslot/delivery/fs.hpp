// Small POSIX helpers for the delivery layer. Internal to delivery (and its tests): every function
// returns 0 or an errno value, never throws, so the durable write reads as a straight line of
// "do it; on error map errno to an Outcome" (STYLE.md: error codes on the I/O path).
#pragma once

#include <sys/types.h>

#include <filesystem>
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

// Opens a directory and fsyncs it, so that names created or removed in it are durable.
// File systems that cannot fsync a directory (EINVAL, EBADF) count as success, as in Dovecot's
// fdatasync_path().
int fsync_dir(const std::filesystem::path& dir);

// mkdir -p: creates every missing directory of `dir` with `mode`; when `sync`, fsyncs the parent of
// each directory it creates so the new entry survives a crash. An existing non-directory → ENOTDIR.
int make_dirs(const std::filesystem::path& dir, mode_t mode, bool sync);

// Makes sure `maildir` and its tmp/, new/ and cur/ exist (mode 0700), creating what is missing.
int ensure_maildir(const std::filesystem::path& maildir, bool sync);

// Copies everything from `in` (read from offset 0) to `out` (at its current offset), with
// copy_file_range when the kernel can and a read/write loop otherwise.
int copy_file(int in, int out);

}  // namespace mailslot::delivery::fs
