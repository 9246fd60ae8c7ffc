// Fault and latency injection over the FileSystem seam (fs_faults.hpp).
#include "mailslot/delivery/fs_faults.hpp"

#include <cerrno>
#include <charconv>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

namespace mailslot::delivery::fs {

namespace {

constexpr std::array<std::string_view, kOpCount> kNames = {"open",  "mkdir", "write",  "read", "copy",
                                                           "fsync", "link",  "unlink", "stat", "close"};

std::size_t index(Op op) { return static_cast<std::size_t>(op); }

}  // namespace

std::string_view op_name(Op op) { return kNames[index(op)]; }

std::optional<Op> op_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Op>(i);
  }
  return std::nullopt;
}

void FaultyFileSystem::fail(Op op, int err, std::uint64_t nth, std::uint64_t times) {
  if (nth == 0) nth = 1;
  if (times == 0) return;
  const std::lock_guard lock(mutex_);
  PerOp& o = ops_[index(op)];
  const std::uint64_t first = o.calls + nth;
  const std::uint64_t last = times > kForever - first ? kForever : first + (times - 1);
  o.rules.push_back(Rule{err, first, last});
}

void FaultyFileSystem::delay(Op op, std::chrono::microseconds latency) {
  const std::lock_guard lock(mutex_);
  ops_[index(op)].latency = latency;
}

void FaultyFileSystem::hang(Op op, std::uint64_t nth) {
  if (nth == 0) nth = 1;
  const std::lock_guard lock(mutex_);
  PerOp& o = ops_[index(op)];
  o.hang_at = o.calls + nth;
  released_ = false;
}

bool FaultyFileSystem::wait_hung(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return hang_cv_.wait_for(lock, timeout, [this] { return blocked_ > 0; });
}

void FaultyFileSystem::release() {
  {
    const std::lock_guard lock(mutex_);
    released_ = true;
  }
  hang_cv_.notify_all();
}

void FaultyFileSystem::clear() {
  {
    const std::lock_guard lock(mutex_);
    for (PerOp& o : ops_) {
      o.rules.clear();
      o.latency = std::chrono::microseconds{0};
      o.hang_at = 0;
    }
    released_ = true;
  }
  hang_cv_.notify_all();
}

std::uint64_t FaultyFileSystem::calls(Op op) const {
  const std::lock_guard lock(mutex_);
  return ops_[index(op)].calls;
}

std::uint64_t FaultyFileSystem::failures(Op op) const {
  const std::lock_guard lock(mutex_);
  return ops_[index(op)].failures;
}

int FaultyFileSystem::before(Op op) {
  std::chrono::microseconds latency{0};
  int err = 0;
  {
    std::unique_lock lock(mutex_);
    PerOp& o = ops_[index(op)];
    const std::uint64_t n = ++o.calls;
    if (n == o.hang_at) {
      ++blocked_;
      hang_cv_.notify_all();
      hang_cv_.wait(lock, [this] { return released_; });
      --blocked_;
    }
    latency = o.latency;
    for (const Rule& r : o.rules) {
      if (n >= r.first && n <= r.last) {
        err = r.err;
        ++o.failures;
        break;
      }
    }
  }
  // Sleep outside the lock: a slow disk slows each caller, not the whole pool behind one mutex.
  if (latency.count() > 0) std::this_thread::sleep_for(latency);
  return err;
}

int FaultyFileSystem::open(int dir, const char* name, int flags, mode_t mode, int& fd) {
  fd = -1;
  if (const int err = before(Op::open)) return err;
  return real_.open(dir, name, flags, mode, fd);
}

int FaultyFileSystem::mkdir(int dir, const char* name, mode_t mode) {
  if (const int err = before(Op::mkdir)) return err;
  return real_.mkdir(dir, name, mode);
}

int FaultyFileSystem::write(int fd, const void* data, std::size_t size, std::size_t& written) {
  written = 0;
  if (const int err = before(Op::write)) return err;
  return real_.write(fd, data, size, written);
}

int FaultyFileSystem::pread(int fd, void* data, std::size_t size, off_t offset, std::size_t& got) {
  got = 0;
  if (const int err = before(Op::read)) return err;
  return real_.pread(fd, data, size, offset, got);
}

int FaultyFileSystem::copy_range(int in, off_t& in_offset, int out, std::size_t size, std::size_t& copied) {
  copied = 0;
  if (const int err = before(Op::copy)) return err;
  return real_.copy_range(in, in_offset, out, size, copied);
}

int FaultyFileSystem::fsync(int fd) {
  if (const int err = before(Op::fsync)) return err;
  return real_.fsync(fd);
}

int FaultyFileSystem::link(int from_dir, const char* from, int to_dir, const char* to) {
  if (const int err = before(Op::link)) return err;
  return real_.link(from_dir, from, to_dir, to);
}

int FaultyFileSystem::unlink(int dir, const char* name, int flags) {
  if (const int err = before(Op::unlink)) return err;
  return real_.unlink(dir, name, flags);
}

int FaultyFileSystem::stat(int dir, const char* name, struct stat& st, int flags) {
  if (const int err = before(Op::stat)) return err;
  return real_.stat(dir, name, st, flags);
}

int FaultyFileSystem::close(int fd) {
  if (const int err = before(Op::close)) {
    // The descriptor is released whatever close(2) reports (Linux), so an injected failure must
    // release it too: otherwise a test of "close failed" would leak descriptors.
    real_.close(fd);
    return err;
  }
  return real_.close(fd);
}

namespace {

std::optional<int> errno_from_name(std::string_view name) {
  static constexpr std::pair<std::string_view, int> kErrnos[] = {
      {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EIO", EIO},       {"EROFS", EROFS},  {"EACCES", EACCES},
      {"EPERM", EPERM},   {"EXDEV", EXDEV},   {"EMLINK", EMLINK}, {"ENOENT", ENOENT}};
  for (const auto& [n, e] : kErrnos) {
    if (n == name) return e;
  }
  return std::nullopt;
}

bool parse_number(std::string_view text, std::uint64_t& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

void configure_one(FaultyFileSystem& faulty, std::string_view item) {
  const auto bad = [&] {
    return std::invalid_argument("bad file-system fault \"" + std::string(item) + "\"");
  };
  const std::size_t colon = item.find(':');
  if (colon == std::string_view::npos) throw bad();
  const std::optional<Op> op = op_from_name(item.substr(0, colon));
  if (!op) throw bad();
  std::string_view what = item.substr(colon + 1);
  if (what.starts_with("delay=")) {
    std::uint64_t ms = 0;
    if (!parse_number(what.substr(6), ms)) throw bad();
    faulty.delay(*op, std::chrono::milliseconds(ms));
    return;
  }
  if (!what.starts_with("fail=")) throw bad();
  what.remove_prefix(5);
  std::uint64_t nth = 1;
  std::uint64_t times = 1;
  if (const std::size_t x = what.find('x'); x != std::string_view::npos) {
    const std::string_view t = what.substr(x + 1);
    if (t == "*") {
      times = FaultyFileSystem::kForever;
    } else if (!parse_number(t, times)) {
      throw bad();
    }
    what = what.substr(0, x);
  }
  if (const std::size_t at = what.find('@'); at != std::string_view::npos) {
    if (!parse_number(what.substr(at + 1), nth)) throw bad();
    what = what.substr(0, at);
  }
  const std::optional<int> err = errno_from_name(what);
  if (!err) throw bad();
  faulty.fail(*op, *err, nth, times);
}

}  // namespace

void configure_faults(FaultyFileSystem& faulty, std::string_view spec) {
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    if (!item.empty()) configure_one(faulty, item);
    if (comma == std::string_view::npos) break;
    spec.remove_prefix(comma + 1);
  }
}

}  // namespace mailslot::delivery::fs
