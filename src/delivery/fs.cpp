// POSIX helpers for the durable write: each returns 0 or an errno value (see fs.hpp).
#include "mailslot/delivery/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <vector>

namespace mailslot::delivery::fs {

namespace {

class Posix final : public FileSystem {
 public:
  int open(int dir, const char* name, int flags, mode_t mode, int& fd) override {
    fd = ::openat(dir, name, flags, mode);
    return fd >= 0 ? 0 : errno;
  }
  int mkdir(int dir, const char* name, mode_t mode) override {
    return ::mkdirat(dir, name, mode) == 0 ? 0 : errno;
  }
  int write(int fd, const void* data, std::size_t size, std::size_t& written) override {
    const ssize_t n = ::write(fd, data, size);
    written = n > 0 ? static_cast<std::size_t>(n) : 0;
    return n >= 0 ? 0 : errno;
  }
  int pread(int fd, void* data, std::size_t size, off_t offset, std::size_t& got) override {
    const ssize_t n = ::pread(fd, data, size, offset);
    got = n > 0 ? static_cast<std::size_t>(n) : 0;
    return n >= 0 ? 0 : errno;
  }
  int copy_range(int in, off_t& in_offset, int out, std::size_t size, std::size_t& copied) override {
    const ssize_t n = ::copy_file_range(in, &in_offset, out, nullptr, size, 0);
    copied = n > 0 ? static_cast<std::size_t>(n) : 0;
    return n >= 0 ? 0 : errno;
  }
  int fsync(int fd) override { return ::fsync(fd) == 0 ? 0 : errno; }
  int link(int from_dir, const char* from, int to_dir, const char* to) override {
    return ::linkat(from_dir, from, to_dir, to, 0) == 0 ? 0 : errno;
  }
  int unlink(int dir, const char* name, int flags) override {
    return ::unlinkat(dir, name, flags) == 0 ? 0 : errno;
  }
  int stat(int dir, const char* name, struct stat& st, int flags) override {
    return ::fstatat(dir, name, &st, flags) == 0 ? 0 : errno;
  }
  int close(int fd) override {
    // Linux always releases the descriptor, even on EINTR; retrying could close someone else's fd.
    if (::close(fd) != 0 && errno != EINTR) return errno;
    return 0;
  }
};

}  // namespace

FileSystem& posix() {
  static Posix instance;
  return instance;
}

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

int Fd::close() { return fs::close(posix(), *this); }

int close(FileSystem& fs, Fd& fd) {
  if (!fd.valid()) return 0;
  return fs.close(fd.release());
}

int write_all(FileSystem& fs, int fd, std::string_view data) {
  while (!data.empty()) {
    std::size_t n = 0;
    if (const int err = fs.write(fd, data.data(), data.size(), n)) {
      if (err == EINTR) continue;
      return err;
    }
    if (n == 0) return EIO;  // a regular file never accepts zero bytes of a non-empty write
    data.remove_prefix(n);
  }
  return 0;
}

int write_all(int fd, std::string_view data) { return write_all(posix(), fd, data); }

namespace {
std::atomic<FsyncObserver> g_fsync_observer{nullptr};
std::atomic<void*> g_fsync_context{nullptr};
}  // namespace

void set_fsync_observer(FsyncObserver fn, void* context) {
  if (fn == nullptr) g_fsync_observer = nullptr;  // never a new context with the old function
  g_fsync_context = context;
  g_fsync_observer = fn;
}

int fsync_fd(FileSystem& fs, int fd) {
  const FsyncObserver observer = g_fsync_observer.load(std::memory_order_acquire);
  const auto start = observer != nullptr ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  int err = 0;
  for (;;) {
    err = fs.fsync(fd);
    if (err != EINTR) break;
  }
  if (observer != nullptr) observer(g_fsync_context.load(std::memory_order_acquire), std::chrono::steady_clock::now() - start);
  return err;
}

int fsync_fd(int fd) { return fsync_fd(posix(), fd); }

int fsync_dir(FileSystem& fs, int dir) {
  const int err = fsync_fd(fs, dir);
  // Some file systems cannot fsync a directory; Dovecot's fdatasync_path() ignores these too.
  return err == EINVAL || err == EBADF ? 0 : err;
}

int fsync_dir(int dir) { return fsync_dir(posix(), dir); }

namespace {

// ENOTDIR (or ELOOP) from an O_DIRECTORY|O_NOFOLLOW open: tell a symlink from another non-directory,
// so the caller can say which it was.
int not_a_directory(FileSystem& fs, int dir, const char* name) {
  struct stat st {};
  if (const int err = fs.stat(dir, name, st, AT_SYMLINK_NOFOLLOW)) return err;
  if (S_ISLNK(st.st_mode)) return ELOOP;
  return S_ISDIR(st.st_mode) ? EAGAIN : ENOTDIR;  // EAGAIN: replaced under us, open again
}

int open_dir_nofollow(FileSystem& fs, int dir, const char* name, Fd& out) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  // Linux reports a symlink opened with O_DIRECTORY|O_NOFOLLOW as ENOTDIR, other systems as ELOOP.
  for (int attempt = 0; attempt < 3; ++attempt) {
    int fd = -1;
    int err = fs.open(dir, name, kFlags, 0, fd);
    out = Fd(fd);
    if (err == 0) return 0;
    if (err == EINTR) continue;
    if (err == ENOTDIR || err == ELOOP) err = not_a_directory(fs, dir, name);
    if (err != EAGAIN) return err;
  }
  return EAGAIN;
}

}  // namespace

int open_subdir(FileSystem& fs, int dir, const char* name, mode_t mode, bool sync, Fd& out, bool& created,
                const char*& what) {
  created = false;
  what = "open";
  int err = open_dir_nofollow(fs, dir, name, out);
  if (err != ENOENT) return err;
  what = "mkdir";
  if ((err = fs.mkdir(dir, name, mode)) == 0) {
    created = true;
  } else if (err != EEXIST) {  // EEXIST: another writer made it between our open and mkdir
    return err;
  }
  what = "open";
  if ((err = open_dir_nofollow(fs, dir, name, out)) != 0) return err;
  // The new entry lives in `dir`: it is durable only once `dir` is fsynced (the Maildir rule that
  // nothing is acknowledged before it survives a crash, ARCHITECTURE.md "Durability contract").
  if (created && sync) {
    what = "fsync";
    return fsync_dir(fs, dir);
  }
  return 0;
}

int open_subdir(int dir, const char* name, mode_t mode, bool sync, Fd& out, bool& created,
                const char*& what) {
  return open_subdir(posix(), dir, name, mode, sync, out, created, what);
}

int create_exclusive(FileSystem& fs, int dir, const std::function<std::string()>& fresh_name, int attempts,
                     std::string& name, Fd& out) {
  name.clear();
  for (int attempt = 0; attempt < attempts; ++attempt) {
    std::string candidate = fresh_name();
    // O_EXCL: an existing file is never reused (maildir.5: tmp/<name> must be new); O_NOFOLLOW: a
    // planted symlink is never followed.
    int fd = -1;
    const int err =
        fs.open(dir, candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600, fd);
    out = Fd(fd);
    if (err == 0) {
      name = std::move(candidate);
      return 0;
    }
    if (err == EINTR) continue;
    if (err != EEXIST) return err;
  }
  return EEXIST;
}

int create_exclusive(int dir, const std::function<std::string()>& fresh_name, int attempts, std::string& name,
                     Fd& out) {
  return create_exclusive(posix(), dir, fresh_name, attempts, name, out);
}

int copy_file(FileSystem& fs, int in, int out) {
  off_t offset = 0;
  for (;;) {
    std::size_t n = 0;
    const int err = fs.copy_range(in, offset, out, std::size_t{1} << 30, n);
    if (err == 0 && n > 0) continue;
    if (err == 0) return 0;
    if (err == EINTR) continue;
    // Kernels or file systems that cannot do it (older kernels refuse across file systems with
    // EXDEV): fall back to read/write from where it stopped.
    if (err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP) break;
    return err;
  }
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    std::size_t n = 0;
    if (const int err = fs.pread(in, buffer.data(), buffer.size(), offset, n)) {
      if (err == EINTR) continue;
      return err;
    }
    if (n == 0) return 0;
    if (const int err = write_all(fs, out, std::string_view(buffer.data(), n))) return err;
    offset += static_cast<off_t>(n);
  }
}

int copy_file(int in, int out) { return copy_file(posix(), in, out); }

}  // namespace mailslot::delivery::fs
