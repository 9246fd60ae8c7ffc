// The symlink-free walk from mail.root to a Maildir, and the once-per-process fsync of its chain
// (maildir_dirs.hpp says why).
#include "mailslot/delivery/maildir_dirs.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <utility>
#include <vector>

namespace mailslot::delivery {

namespace {

using std::filesystem::path;

// A failed step on `at` (relative to the root): a symlink gets its own words so the operator sees at
// once why the mailbox is refused (the server logs every outcome); anything else goes through the
// one errno → Outcome mapping.
Outcome walk_failure(int err, const char* what, const path& at) {
  if (err == ELOOP) return Outcome::temporary("Mailbox path contains a symlink: " + at.string());
  return outcome_from_errno(err, what);
}

// Opening or creating a directory of the Maildir is one step for the reply text: "mkdir".
const char* step(std::string_view what) { return what == "fsync" ? "fsync" : "mkdir"; }

}  // namespace

DurableMaildirs::DurableMaildirs(std::size_t capacity, std::chrono::seconds max_age)
    : capacity_(capacity == 0 ? 1 : capacity), max_age_(max_age) {}

bool DurableMaildirs::contains(const std::string& key) const {
  const std::lock_guard lock(mutex_);
  const auto it = keys_.find(key);
  if (it == keys_.end()) return false;
  if (Clock::now() - it->second.added >= max_age_) {
    lru_.erase(it->second.lru);
    keys_.erase(it);
    return false;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);  // most recently used
  return true;
}

void DurableMaildirs::insert(std::string key) {
  const std::lock_guard lock(mutex_);
  if (const auto it = keys_.find(key); it != keys_.end()) {
    it->second.added = Clock::now();
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  while (keys_.size() >= capacity_) {
    keys_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  keys_.emplace(std::move(key), Entry{Clock::now(), lru_.begin()});
}

std::size_t DurableMaildirs::size() const {
  const std::lock_guard lock(mutex_);
  return keys_.size();
}

OpenMaildirs::OpenMaildirs(std::size_t capacity, std::chrono::milliseconds ttl) : capacity_(capacity), ttl_(ttl) {}

std::shared_ptr<const HeldMaildir> OpenMaildirs::find(const std::string& key, Clock::time_point now) {
  const std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (now - it->second.walked >= ttl_) {
    erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.dirs;
}

void OpenMaildirs::insert(const std::string& key, std::shared_ptr<const HeldMaildir> dirs, Clock::time_point now) {
  if (!enabled()) return;
  const std::lock_guard lock(mutex_);
  if (const auto it = entries_.find(key); it != entries_.end()) {
    it->second.dirs = std::move(dirs);
    it->second.walked = now;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  while (entries_.size() >= capacity_) erase(entries_.find(lru_.back()));
  lru_.push_front(key);
  entries_.emplace(key, Entry{std::move(dirs), now, lru_.begin()});
}

void OpenMaildirs::forget(const std::string& key, const HeldMaildir* stale) {
  const std::lock_guard lock(mutex_);
  if (const auto it = entries_.find(key); it != entries_.end() && it->second.dirs.get() == stale) erase(it);
}

std::size_t OpenMaildirs::size() const {
  const std::lock_guard lock(mutex_);
  return entries_.size();
}

void OpenMaildirs::erase(std::unordered_map<std::string, Entry>::iterator it) {
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

std::optional<Outcome> open_mail_root(fs::FileSystem& files, const path& root, fs::Fd& out) {
  const path r = root.empty() ? path("/") : root;
  int fd = -1;
  const int err = files.open(AT_FDCWD, r.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, fd);
  out = fs::Fd(fd);
  if (err) return outcome_from_errno(err, "open mail.root");
  return std::nullopt;
}

std::optional<Outcome> open_mail_root(const path& root, fs::Fd& out) {
  return open_mail_root(fs::posix(), root, out);
}

bool is_normal_path(std::string_view p) {
  if (p.empty() || p.back() == '/') return p == "/";
  for (std::size_t start = p.front() == '/' ? 1 : 0; start <= p.size();) {
    const std::size_t end = std::min(p.find('/', start), p.size());
    const std::string_view component = p.substr(start, end - start);
    if (component.empty() || component == "." || component == "..") return false;
    start = end + 1;
  }
  return true;
}

path normal_path(const path& p) {
  if (is_normal_path(p.native())) return p;
  path n = p.lexically_normal();
  if (!n.has_filename() && n.has_relative_path()) n = n.parent_path();  // "a/b/" → "a/b"
  return n;
}

std::optional<path> path_below_root(const path& root, const path& maildir) {
  const path r = normal_path(root.empty() ? path("/") : root);
  const path m = normal_path(maildir);
  if (r.is_absolute() != m.is_absolute()) return std::nullopt;
  path rel = m.lexically_relative(r);
  if (rel.empty() || rel == ".") return std::nullopt;
  for (const path& c : rel) {
    if (c == ".." || c == "." || c.empty()) return std::nullopt;
  }
  return rel;
}

std::optional<Outcome> open_maildir(int root_fd, const path& root, const path& maildir, bool sync,
                                    DurableMaildirs& durable, MaildirDirs& result) {
  return open_maildir(fs::posix(), root_fd, root, maildir, sync, durable, result);
}

std::optional<Outcome> open_maildir(fs::FileSystem& files, int root_fd, const path& root, const path& maildir,
                                    bool sync, DurableMaildirs& durable, MaildirDirs& result) {
  result = MaildirDirs{};
  MaildirDirs out;  // moved to `result` only on success: a failure leaves the caller nothing open
  const std::optional<path> rel = path_below_root(root, maildir);
  if (!rel) return Outcome::temporary("Mailbox path is outside mail.root");

  // root → … → Maildir, one openat(O_NOFOLLOW) per component: no symlink below the root is followed.
  std::vector<fs::Fd> chain;
  path at;
  int dir = root_fd;
  bool made = false;  // this walk created a directory of the chain: the Maildir is new
  for (const path& component : *rel) {
    at /= component;
    fs::Fd next;
    bool created = false;
    const char* what = "";
    if (const int err = fs::open_subdir(files, dir, component.c_str(), 0700, sync, next, created, what))
      return walk_failure(err, step(what), at);
    if (created && sync) ++out.dirs_synced;
    made = made || created;
    dir = next.get();
    chain.push_back(std::move(next));
  }
  const int maildir_fd = dir;

  // The key names this very directory (device and inode), so a Maildir removed and made again by
  // someone else is synced again.
  struct stat st {};
  if (const int err = files.stat(maildir_fd, "", st, AT_EMPTY_PATH)) return outcome_from_errno(err, "stat");
  std::string key = rel->string();
  key += '\0';
  key += std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  // A Maildir this walk made is new whatever `durable` says: a file system may give a new directory
  // the inode number of one just removed (ext4 does), and the new one needs its cur/ and a sweep.
  out.first_use = made || !durable.contains(key);
  const bool sync_chain = sync && out.first_use;

  // cur/ is only made sure of (created if missing) on first use; after that a delivery needs just
  // tmp/ and new/, two system calls fewer per message.
  fs::Fd cur;
  fs::Fd* subdirs[] = {&out.tmp, &out.new_dir, &cur};
  const char* names[] = {"tmp", "new", "cur"};
  const int needed = out.first_use ? 3 : 2;
  for (int i = 0; i < needed; ++i) {
    bool created = false;
    const char* what = "";
    if (const int err = fs::open_subdir(files, maildir_fd, names[i], 0700, sync, *subdirs[i], created, what))
      return walk_failure(err, step(what), at / names[i]);
    if (created && sync) ++out.dirs_synced;
  }

  if (sync_chain) {
    // First use in this process: whoever created these directories (another session, another
    // process, an operator's script) may not have fsynced them yet. Each fsync makes the names in
    // that directory durable: root holds the first component, the Maildir holds tmp/ new/ cur/.
    std::vector<int> fds{root_fd};
    for (const fs::Fd& fd : chain) fds.push_back(fd.get());
    for (const fs::Fd* fd : subdirs) fds.push_back(fd->get());  // all three: needed == 3 here
    for (const int fd : fds) {
      if (const int err = fs::fsync_dir(files, fd)) return outcome_from_errno(err, "fsync");
      ++out.dirs_synced;
    }
  }
  // Only after every fsync succeeded: another thread that finds the key may skip them.
  if (out.first_use) durable.insert(std::move(key));
  result = std::move(out);
  return std::nullopt;
}

}  // namespace mailslot::delivery
