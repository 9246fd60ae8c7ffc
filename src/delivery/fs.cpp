// POSIX helpers for the durable write: each returns 0 or an errno value (see fs.hpp).
#include "mailslot/delivery/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

int fsync_fd(int fd) {
  while (::fsync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

int fsync_dir(const std::filesystem::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno;
  const int err = fsync_fd(fd.get());
  // Some file systems cannot fsync a directory; Dovecot's fdatasync_path() ignores these too.
  if (err != 0 && err != EINVAL && err != EBADF) return err;
  return fd.close();
}

namespace {

// mkdir(2) that treats "already a directory" as success and "already something else" as ENOTDIR.
// Sets `created` when this call made the directory.
int mkdir_one(const std::filesystem::path& dir, mode_t mode, bool& created) {
  created = false;
  if (::mkdir(dir.c_str(), mode) == 0) {
    created = true;
    return 0;
  }
  const int err = errno;
  if (err != EEXIST) return err;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

}  // namespace

int make_dirs(const std::filesystem::path& dir_in, mode_t mode, bool sync) {
  std::filesystem::path dir = dir_in.lexically_normal();
  if (!dir.has_filename()) dir = dir.parent_path();  // "a/b/" → "a/b"
  if (dir.empty()) return ENOENT;

  bool created = false;
  int err = mkdir_one(dir, mode, created);
  if (err == ENOENT) {
    // A parent is missing: create it first (recursion depth = number of missing components).
    const std::filesystem::path parent = dir.parent_path();
    if (parent.empty() || parent == dir) return ENOENT;
    if ((err = make_dirs(parent, mode, sync)) != 0) return err;
    err = mkdir_one(dir, mode, created);
  }
  if (err != 0) return err;
  // The new entry lives in the parent directory: it is durable only once the parent is fsynced.
  if (created && sync) {
    const std::filesystem::path parent = dir.has_parent_path() ? dir.parent_path() : ".";
    return fsync_dir(parent);
  }
  return 0;
}

int ensure_maildir(const std::filesystem::path& maildir, bool sync) {
  bool created_any = false;
  for (const char* sub : {"tmp", "new", "cur"}) {
    const std::filesystem::path dir = maildir / sub;
    // Fast path: one mkdir that fails with EEXIST for a Maildir that already exists.
    if (::mkdir(dir.c_str(), 0700) == 0) {
      created_any = true;
      continue;
    }
    int err = errno;
    if (err == EEXIST) continue;  // a non-directory here shows up as ENOTDIR at open/link time
    if (err != ENOENT) return err;
    if ((err = make_dirs(maildir, 0700, sync)) != 0) return err;
    bool created = false;
    if ((err = mkdir_one(dir, 0700, created)) != 0) return err;
    created_any = created_any || created;
  }
  return created_any && sync ? fsync_dir(maildir) : 0;
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
