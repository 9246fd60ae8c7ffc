// Opening a Maildir below the mail root without ever following a symlink there, and making its
// directories durable once per process. Internal to delivery (and its tests).
//
// Why: a symlink planted anywhere below mail.root (a user's own home, a restored backup) would
// otherwise make the daemon write mail wherever it points. The root itself may be reached through
// symlinks above it: that is the operator's choice. Below it, the path is walked one component at a
// time with openat(O_DIRECTORY|O_NOFOLLOW), and the writer keeps the resulting directory fds, so
// nothing is resolved by path again between the steps of one delivery.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mailslot/delivery/fs.hpp"
#include "mailslot/delivery/outcome.hpp"

namespace mailslot::delivery {

// The Maildirs this process has first touched: their whole chain (root → … → Maildir, and tmp/ new/
// cur/) fsynced, and their tmp/ swept by the 36-hour rule (maildir_sweep.hpp).
// A Maildir that already exists may have been created a moment ago by another session or process
// that has not fsynced its parent yet; until this process has fsynced the chain itself, a 250 for a
// message in it could be lost with the directory in a crash. Thread-safe: the disk pool shares it.
// Bounded: at most `capacity` Maildirs are remembered (the least recently used is forgotten first),
// and each for at most `max_age`. A forgotten Maildir is simply first-touched again: its chain
// fsynced once more (cheap: nothing is dirty) and its tmp/ swept again, which is also how a
// long-running process keeps sweeping tmp/ periodically.
class DurableMaildirs {
 public:
  static constexpr std::size_t kDefaultCapacity = 65536;
  static constexpr std::chrono::seconds kDefaultMaxAge = std::chrono::hours(24);

  explicit DurableMaildirs(std::size_t capacity = kDefaultCapacity,
                           std::chrono::seconds max_age = kDefaultMaxAge);
  bool contains(const std::string& key) const;  // known and not older than max_age
  void insert(std::string key);
  std::size_t size() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Clock::time_point added;
    std::list<std::string>::iterator lru;
  };

  const std::size_t capacity_;
  const std::chrono::seconds max_age_;
  mutable std::mutex mutex_;
  mutable std::list<std::string> lru_;  // most recently used first
  mutable std::unordered_map<std::string, Entry> keys_;
};

// A Maildir's tmp/ and new/, open; cur/ exists too (readers expect it) but is not needed to deliver.
struct MaildirDirs {
  fs::Fd tmp;
  fs::Fd new_dir;
  int dirs_synced = 0;     // directories fsynced by this open (tests: the chain is synced once per process)
  bool first_use = false;  // DurableMaildirs did not know it: the caller sweeps tmp/ (maildir_sweep.hpp)
};

// A Maildir's tmp/ and new/ held open after a walk, shared by every writer that delivers into it
// while OpenMaildirs keeps it (the descriptors close with the last holder).
struct HeldMaildir {
  fs::Fd tmp;
  fs::Fd new_dir;
};

// Recently walked Maildirs, their tmp/ and new/ kept open for at most `ttl` after the walk
// (issue #3: a walk from the root costs about a dozen system calls per delivery, a third of them
// path lookups). The time counts from the walk, not from the last use, so whatever happens to a
// Maildir's path is seen within `ttl` however busy the mailbox is: a Maildir moved away goes on
// receiving mail in its new place for at most that long (as a delivery already under way does
// today), a component replaced by a symlink is refused by the next walk, and a Maildir removed is
// walked (and created) again at once, because the writer forgets an entry whose directory has gone
// (ENOENT) and walks again. Only successful walks are kept: a refused Maildir is walked every time.
// Bounded: at most `capacity` Maildirs (two descriptors each), the least recently used evicted
// first. `capacity` 0 or `ttl` 0: nothing is kept. Thread-safe (the disk pool shares it). The clock
// is the caller's (steady time), so tests need not wait.
class OpenMaildirs {
 public:
  using Clock = std::chrono::steady_clock;
  OpenMaildirs(std::size_t capacity, std::chrono::milliseconds ttl);

  bool enabled() const { return capacity_ > 0 && ttl_.count() > 0; }
  // The entry for `key` if it was walked less than `ttl` before `now`; an older one is dropped.
  std::shared_ptr<const HeldMaildir> find(const std::string& key, Clock::time_point now);
  void insert(const std::string& key, std::shared_ptr<const HeldMaildir> dirs, Clock::time_point now);
  // Drops `key`, but only while it still holds `stale` (another writer may have walked it anew).
  void forget(const std::string& key, const HeldMaildir* stale);
  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const HeldMaildir> dirs;
    Clock::time_point walked;
    std::list<std::string>::iterator lru;
  };
  void erase(std::unordered_map<std::string, Entry>::iterator it);

  const std::size_t capacity_;
  const std::chrono::milliseconds ttl_;
  mutable std::mutex mutex_;
  std::list<std::string> lru_;  // most recently used first
  std::unordered_map<std::string, Entry> entries_;
};

// Opens `root` (following symlinks: they are above the root). An empty root is "/".
std::optional<Outcome> open_mail_root(fs::FileSystem& files, const std::filesystem::path& root, fs::Fd& out);
std::optional<Outcome> open_mail_root(const std::filesystem::path& root, fs::Fd& out);

// True when `p` is already what normal_path() makes of it: no empty, "." or ".." component and no
// trailing "/" ("/" itself is normal). Such a path is its own normal form, so the delivery path
// skips lexically_normal() (and the allocation per component it costs) for the usual Maildir.
bool is_normal_path(std::string_view p);
// One spelling per directory: lexically_normal() without a trailing "/", so "/m", "/m/" and "/m/."
// name the same Maildir.
std::filesystem::path normal_path(const std::filesystem::path& p);

// `maildir` relative to `root`, both normalised, or nullopt when it does not lie strictly below
// root (a relative Maildir with an absolute root, "..", the root itself).
std::optional<std::filesystem::path> path_below_root(const std::filesystem::path& root,
                                                     const std::filesystem::path& maildir);

// Walks `maildir` from `root_fd` (the open `root`), creating what is missing (mode 0700, the parent
// fsynced after each create when `sync`), and opens its tmp/ and new/. On its first use in this
// process (`durable` does not know it) and when `sync`, fsyncs every directory of the chain; then
// `durable` knows it and `out.first_use` is set (also without `sync`).
// Failures are outcomes: a symlink anywhere below the root → 451 4.3.0 "Mailbox path contains a
// symlink"; a Maildir not below the root → 451 4.3.0 "Mailbox path is outside mail.root"; and
// `out` then holds no open directory. Every call goes through `fs` (posix() without it).
std::optional<Outcome> open_maildir(fs::FileSystem& files, int root_fd, const std::filesystem::path& root,
                                    const std::filesystem::path& maildir, bool sync, DurableMaildirs& durable,
                                    MaildirDirs& out);
std::optional<Outcome> open_maildir(int root_fd, const std::filesystem::path& root,
                                    const std::filesystem::path& maildir, bool sync, DurableMaildirs& durable,
                                    MaildirDirs& out);

}  // namespace mailslot::delivery
