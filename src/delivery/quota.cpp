// Maildir++ quota: maildirsize parse, recalculation and update (quota.hpp describes the rules).
#include "mailslot/delivery/quota.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>

#include "mailslot/delivery/identity.hpp"
#include "mailslot/delivery/maildir_dirs.hpp"

namespace mailslot::delivery {

namespace {

// Courier's limits (maildirquota(7)): a file this large has too many lines to be worth reading.
constexpr off_t kMaxMaildirsize = 5120;
constexpr auto kStaleWhenOver = std::chrono::minutes(15);

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

template <typename Int>
bool number(std::string_view s, Int& out) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

// ",S=<size>" in a Maildir file name.
std::optional<std::uint64_t> size_from_name(std::string_view name) {
  const std::size_t at = name.find(",S=");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view v = name.substr(at + 3);
  v = v.substr(0, v.find_first_of(",:"));
  std::uint64_t n = 0;
  if (!number(v, n)) return std::nullopt;
  return n;
}

int sum_dir(int parent, const char* name, QuotaUsage& usage) {
  const int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : errno;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::uint64_t size = 0;
    if (auto s = size_from_name(e->d_name)) {
      size = *s;
    } else {
      struct stat st {};
      if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
      size = static_cast<std::uint64_t>(st.st_size);
    }
    usage.bytes += static_cast<std::int64_t>(size);
    ++usage.messages;
  }
  ::closedir(dir);
  return 0;
}

int read_all(int fd, std::string& out) {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return 0;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// Writes a fresh maildirsize in tmp/ and renames it over the old one: readers see the old file or
// the new one, never half of one.
int replace_maildirsize(int maildir_fd, const QuotaLimits& limits, const QuotaUsage& usage) {
  static std::atomic<unsigned> seq{0};
  const int tmp = ::openat(maildir_fd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (tmp < 0) return errno;
  const fs::Fd tmp_dir(tmp);
  const std::string name = std::to_string(::time(nullptr)) + "." + std::to_string(::getpid()) + "_" +
                           std::to_string(++seq) + ".maildirsize";
  fs::Fd fd(::openat(tmp, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.valid()) return errno;
  const std::string text = maildirsize_header(limits) + "\n" + std::to_string(usage.bytes) + " " +
                           std::to_string(usage.messages) + "\n";
  int err = fs::write_all(fd.get(), text);
  if (!err) err = fd.close();
  if (!err && ::renameat(tmp, name.c_str(), maildir_fd, "maildirsize") != 0) err = errno;
  if (err) ::unlinkat(tmp, name.c_str(), 0);
  return err;
}

}  // namespace

std::optional<MaildirSize> parse_maildirsize(std::string_view text) {
  MaildirSize m;
  const std::size_t nl = text.find('\n');
  if (nl == std::string_view::npos) return std::nullopt;
  // Header: comma-separated "<n>S" and "<n>C" (either may be missing).
  std::string_view header = trim(text.substr(0, nl));
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view item = trim(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    if (item.empty()) continue;
    const char kind = item.back();
    item.remove_suffix(1);
    if (kind == 'S') {
      if (!number(item, m.limits.bytes)) return std::nullopt;
    } else if (kind == 'C') {
      if (!number(item, m.limits.messages)) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  text.remove_prefix(nl + 1);
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;  // a line still being written
    std::string_view line = trim(text.substr(0, end));
    text.remove_prefix(end + 1);
    if (line.empty()) continue;
    const std::size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) return std::nullopt;
    std::int64_t bytes = 0;
    std::int64_t count = 0;
    if (!number(trim(line.substr(0, sp)), bytes) || !number(trim(line.substr(sp)), count)) return std::nullopt;
    m.usage.bytes += bytes;
    m.usage.messages += count;
    ++m.lines;
  }
  return m;
}

std::string maildirsize_header(const QuotaLimits& limits) {
  std::string h;
  if (limits.bytes != 0) h = std::to_string(limits.bytes) + "S";
  if (limits.messages != 0) h += (h.empty() ? "" : ",") + std::to_string(limits.messages) + "C";
  return h;
}

bool over_quota(const QuotaLimits& limits, const QuotaUsage& usage, std::uint64_t bytes, std::uint64_t messages) {
  const auto used_bytes = static_cast<std::uint64_t>(usage.bytes < 0 ? 0 : usage.bytes);
  const auto used_messages = static_cast<std::uint64_t>(usage.messages < 0 ? 0 : usage.messages);
  if (limits.bytes != 0 && used_bytes + bytes > limits.bytes) return true;
  if (limits.messages != 0 && used_messages + messages > limits.messages) return true;
  return false;
}

Outcome quota_exceeded(bool tempfail) {
  // RFC 3463 X.2.2 "Mailbox full"; Dovecot's and Cyrus's wording and codes (PEERS.md §1.4).
  if (tempfail) return Outcome::temporary("Mailbox is over quota", 452, "4.2.2");
  Outcome o;
  o.kind = Outcome::Kind::permanent;
  o.code = 552;
  o.enhanced = "5.2.2";
  o.text = "Mailbox is over quota";
  return o;
}

int recalculate_usage(int maildir_fd, QuotaUsage& usage) {
  usage = {};
  for (const char* sub : {"cur", "new"}) {
    if (const int err = sum_dir(maildir_fd, sub, usage)) return err;
  }
  const int fd = ::openat(maildir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  int err = 0;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view n = e->d_name;
    if (n.size() < 2 || n[0] != '.' || n == "..") continue;
    const int folder = ::openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (folder < 0) continue;  // a file, a symlink: not a folder
    for (const char* sub : {"cur", "new"}) {
      if (!err) err = sum_dir(folder, sub, usage);
    }
    ::close(folder);
  }
  ::closedir(dir);
  return err;
}

int read_quota(int maildir_fd, const QuotaLimits& limits, QuotaUsage& usage) {
  fs::Fd fd(::openat(maildir_fd, "maildirsize", O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  std::optional<MaildirSize> current;
  bool stale = true;
  if (fd.valid()) {
    struct stat st {};
    std::string text;
    if (::fstat(fd.get(), &st) == 0 && st.st_size < kMaxMaildirsize && read_all(fd.get(), text) == 0)
      current = parse_maildirsize(text);
    if (current && current->limits.bytes == limits.bytes && current->limits.messages == limits.messages) {
      stale = false;
      const auto age = std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime);
      if (over_quota(limits, current->usage, 0, 0) && age > kStaleWhenOver) stale = true;
    }
  } else if (errno != ENOENT) {
    return errno;
  }
  if (!stale) {
    usage = current->usage;
    return 0;
  }
  if (const int err = recalculate_usage(maildir_fd, usage)) return err;
  return replace_maildirsize(maildir_fd, limits, usage);
}

int add_to_quota(int maildir_fd, std::int64_t bytes, std::int64_t messages) {
  fs::Fd fd(::openat(maildir_fd, "maildirsize", O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return errno == ENOENT ? 0 : errno;
  return fs::write_all(fd.get(), std::to_string(bytes) + " " + std::to_string(messages) + "\n");
}

fs::Fd open_existing_below(const std::filesystem::path& base, const std::filesystem::path& maildir) {
  const auto rel = path_below_root(base, maildir);
  if (!rel) return {};
  fs::Fd dir(::open(base.empty() ? "/" : base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (const auto& c : *rel) {
    if (!dir.valid()) return {};
    dir = fs::Fd(::openat(dir.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  return dir;
}

std::optional<Outcome> quota_admit(const std::filesystem::path& base, const std::filesystem::path& maildir,
                                   const QuotaLimits& limits, std::int64_t uid, std::int64_t gid, std::uint64_t size,
                                   bool tempfail) {
  if (!limits.any()) return std::nullopt;
  const fs::Fd dir = open_existing_below(base, maildir);  // as the daemon: parents may be 0711
  if (!dir.valid()) {  // not there yet: empty, but this message alone may be too big
    if (over_quota(limits, {}, size)) return quota_exceeded(tempfail);
    return std::nullopt;
  }
  const Identity as_user(uid, gid);                       // a rebuilt maildirsize is the user's file
  QuotaUsage usage;
  if (read_quota(dir.get(), limits, usage) != 0) return std::nullopt;
  if (over_quota(limits, usage, size)) return quota_exceeded(tempfail);
  return std::nullopt;
}

void quota_record(const std::filesystem::path& base, const std::filesystem::path& maildir, std::int64_t uid,
                  std::int64_t gid, std::uint64_t size) {
  const fs::Fd dir = open_existing_below(base, maildir);
  const Identity as_user(uid, gid);
  if (dir.valid()) add_to_quota(dir.get(), static_cast<std::int64_t>(size), 1);
}

std::optional<Outcome> check_quota_at_rcpt(const Mailbox& mailbox, const std::filesystem::path& mail_root,
                                           std::uint64_t size, bool tempfail) {
  return quota_admit(mailbox.base.empty() ? mail_root : mailbox.base, mailbox.maildir, mailbox.quota, mailbox.uid,
                     mailbox.gid, size, tempfail);
}

}  // namespace mailslot::delivery
