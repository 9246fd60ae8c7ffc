// Stat identity, whole-file reads and the once-a-second gate for files re-read on change.
#include "mailslot/delivery/watched_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "mailslot/delivery/fs.hpp"

namespace mailslot::delivery {

std::optional<FileStamp> stamp_of(const std::filesystem::path& path, int& err) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    err = errno;
    return std::nullopt;
  }
  FileStamp s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.size = st.st_size;
  return s;
}

std::optional<std::string> read_text(const std::filesystem::path& path, int& err) {
  fs::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    err = errno;
    return std::nullopt;
  }
  std::string text;
  char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

bool CheckGate::due() const {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t next = next_.load(std::memory_order_relaxed);
  if (now < next) return false;
  return next_.compare_exchange_strong(next, now + interval_.count(), std::memory_order_relaxed);
}

}  // namespace mailslot::delivery
