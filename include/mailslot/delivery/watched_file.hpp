// A text file that is re-read when it changes (passwd-file, aliases): the stat identity of the
// version loaded, and a cheap "is a check due?" gate for the event loop.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace mailslot::delivery {

// What identifies one version of a file: replaced (new inode), rewritten (mtime, size).
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  std::int64_t mtime_ns = 0;
  off_t size = 0;
  bool operator==(const FileStamp&) const = default;
};

// stat(2) of `path`; nullopt with `err` set when it fails.
std::optional<FileStamp> stamp_of(const std::filesystem::path& path, int& err);

// Reads the whole file; nullopt with `err` set when it fails.
std::optional<std::string> read_text(const std::filesystem::path& path, int& err);

// True for one caller at most once per `interval`: the event loop asks it per RCPT and only the
// winner pays for a trip to the disk pool.
class CheckGate {
 public:
  explicit CheckGate(std::chrono::milliseconds interval = std::chrono::seconds(1)) : interval_(interval) {}
  bool due() const;

 private:
  std::chrono::milliseconds interval_;
  mutable std::atomic<std::int64_t> next_{0};
};

}  // namespace mailslot::delivery
