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

int Fd::close() {
  if (fd_ < 0) return 0;
  const int fd = release();
  // Linux always releases the descriptor, even on EINTR; retrying could close someone else's fd.
  if (::close(fd) != 0 && errno != EINTR) return errno;
  return 0;
}

int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // a regular file never accepts zero bytes of a non-empty write
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

namespace {
std::atomic<FsyncObserver> g_fsync_observer{nullptr};
std::atomic<void*> g_fsync_context{nullptr};
}  // namespace

void set_fsync_observer(FsyncObserver fn, void* context) {
  if (fn == nullptr) g_fsync_observer = nullptr;  // never a new context with the old function
  g_fsync_context = context;
  g_fsync_observer = fn;
}

int fsync_fd(int fd) {
  const FsyncObserver observer = g_fsync_observer.load(std::memory_order_acquire);
  const auto start = observer != nullptr ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  int err = 0;
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      err = errno;
      break;
    }
  }
  if (observer != nullptr) observer(g_fsync_context.load(std::memory_order_acquire), std::chrono::steady_clock::now() - start);
  return err;
}

int fsync_dir(int dir) {
  const int err = fsync_fd(dir);
  // Some file systems cannot fsync a directory; Dovecot's fdatasync_path() ignores these too.
  return err == EINVAL || err == EBADF ? 0 : err;
}

namespace {

// ENOTDIR (or ELOOP) from an O_DIRECTORY|O_NOFOLLOW open: tell a symlink from another non-directory,
// so the caller can say which it was.
int not_a_directory(int dir, const char* name) {
  struct stat st {};
  if (::fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  if (S_ISLNK(st.st_mode)) return ELOOP;
  return S_ISDIR(st.st_mode) ? EAGAIN : ENOTDIR;  // EAGAIN: replaced under us, open again
}

int open_dir_nofollow(int dir, const char* name, Fd& out) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  // Linux reports a symlink opened with O_DIRECTORY|O_NOFOLLOW as ENOTDIR, other systems as ELOOP.
  for (int attempt = 0; attempt < 3; ++attempt) {
    out = Fd(::openat(dir, name, kFlags));
    if (out.valid()) return 0;
    int err = errno;
    if (err == EINTR) continue;
    if (err == ENOTDIR || err == ELOOP) err = not_a_directory(dir, name);
    if (err != EAGAIN) return err;
  }
  return EAGAIN;
}

}  // namespace

int open_subdir(int dir, const char* name, mode_t mode, bool sync, Fd& out, bool& created,
                const char*& what) {
  created = false;
  what = "open";
  int err = open_dir_nofollow(dir, name, out);
  if (err != ENOENT) return err;
  what = "mkdir";
  if (::mkdirat(dir, name, mode) == 0) {
    created = true;
  } else if (errno != EEXIST) {  // EEXIST: another writer made it between our open and mkdir
    return errno;
  }
  what = "open";
  if ((err = open_dir_nofollow(dir, name, out)) != 0) return err;
  // The new entry lives in `dir`: it is durable only once `dir` is fsynced (the Maildir rule that
  // nothing is acknowledged before it survives a crash, ARCHITECTURE.md "Durability contract").
  if (created && sync) {
    what = "fsync";
    return fsync_dir(dir);
  }
  return 0;
}

int create_exclusive(int dir, const std::function<std::string()>& fresh_name, int attempts, std::string& name,
                     Fd& out) {
  name.clear();
  for (int attempt = 0; attempt < attempts; ++attempt) {
    std::string candidate = fresh_name();
    // O_EXCL: an existing file is never reused (maildir.5: tmp/<name> must be new); O_NOFOLLOW: a
    // planted symlink is never followed.
    out = Fd(::openat(dir, candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (out.valid()) {
      name = std::move(candidate);
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno != EEXIST) return errno;
  }
  return EEXIST;
}

int copy_file(int in, int out) {
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::copy_file_range(in, &offset, out, nullptr, std::size_t{1} << 30, 0);
    if (n > 0) continue;
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    // Kernels or file systems that cannot do it (older kernels refuse across file systems with
    // EXDEV): fall back to read/write from where it stopped.
    if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) break;
    return errno;
  }
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    const ssize_t n = ::pread(in, buffer.data(), buffer.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    if (const int err = write_all(out, std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        err != 0)
      return err;
    offset += n;
  }
}

}  // namespace mailslot::delivery::fs
