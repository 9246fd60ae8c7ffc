// The 36-hour tmp/ sweep (maildir_sweep.hpp).
#include "mailslot/delivery/maildir_sweep.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace mailslot::delivery {

namespace {

std::chrono::system_clock::time_point as_time(const timespec& ts) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::seconds(ts.tv_sec) +
                                                                      std::chrono::nanoseconds(ts.tv_nsec)));
}

// Up to `max` names in `dir` (not "." or ".."), read through a second descriptor so that `dir`
// stays open and positioned for the caller.
int list_names(int dir, std::size_t max, std::vector<std::string>& names) {
  const int fd = ::fcntl(dir, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return errno;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  ::rewinddir(d);  // the duplicate shares the offset with `dir`
  int err = 0;
  while (names.size() < max) {
    errno = 0;
    const dirent* e = ::readdir(d);
    if (e == nullptr) {
      err = errno;
      break;
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);  // closes fd
  return err;
}

}  // namespace

SweepResult sweep_tmp(fs::FileSystem& files, int tmp, std::chrono::system_clock::time_point now,
                      std::size_t max_entries) {
  SweepResult r;
  std::vector<std::string> names;
  r.error = list_names(tmp, max_entries, names);
  const auto cutoff = now - kTmpMaxAge;
  for (const std::string& name : names) {
    ++r.examined;
    struct stat st {};
    if (const int err = files.stat(tmp, name.c_str(), st, AT_SYMLINK_NOFOLLOW)) {
      if (err != ENOENT && r.error == 0) r.error = err;  // ENOENT: its writer linked and removed it
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;
    if (as_time(st.st_atim) >= cutoff || as_time(st.st_mtim) >= cutoff) continue;
    const int err = files.unlink(tmp, name.c_str(), 0);
    if (err == 0) {
      ++r.removed;
    } else if (err != ENOENT && r.error == 0) {
      r.error = err;
    }
  }
  return r;
}

}  // namespace mailslot::delivery
