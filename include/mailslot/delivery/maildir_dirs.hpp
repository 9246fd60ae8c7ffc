// Opening a Maildir below the mail root without ever following a symlink there, and making its
// directories durable once per process. Internal to delivery (and its tests).
//
// Why: a symlink planted anywhere below mail.root (a user's own home, a restored backup) would
// otherwise make the daemon write mail wherever it points. The root itself may be reached through
// symlinks above it: that is the operator's choice. Below it, the path is walked one component at a
// time with openat(O_DIRECTORY|O_NOFOLLOW), and the writer keeps the resulting directory fds, so
// nothing is resolved by path again between the steps of one delivery.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>

#include "mailslot/delivery/fs.hpp"
#include "mailslot/delivery/outcome.hpp"

namespace mailslot::delivery {

// The Maildirs whose whole chain (root → … → Maildir, and tmp/ new/ cur/) this process has fsynced.
// A Maildir that already exists may have been created a moment ago by another session or process
// that has not fsynced its parent yet; until this process has fsynced the chain itself, a 250 for a
// message in it could be lost with the directory in a crash. Thread-safe: the disk pool shares it.
class DurableMaildirs {
 public:
  bool contains(const std::string& key) const;
  void insert(std::string key);

 private:
  mutable std::mutex mutex_;
  std::unordered_set<std::string> keys_;  // one per Maildir used: bounded by the number of mailboxes
};

// A Maildir's tmp/ and new/, open; cur/ exists too (readers expect it) but is not needed to deliver.
struct MaildirDirs {
  fs::Fd tmp;
  fs::Fd new_dir;
  int dirs_synced = 0;  // directories fsynced by this open (tests: the chain is synced once per process)
};

// Opens `root` (following symlinks: they are above the root). An empty root is "/".
std::optional<Outcome> open_mail_root(fs::FileSystem& files, const std::filesystem::path& root, fs::Fd& out);
std::optional<Outcome> open_mail_root(const std::filesystem::path& root, fs::Fd& out);

// `maildir` relative to `root`, both normalised, or nullopt when it does not lie strictly below
// root (a relative Maildir with an absolute root, "..", the root itself).
std::optional<std::filesystem::path> path_below_root(const std::filesystem::path& root,
                                                     const std::filesystem::path& maildir);

// Walks `maildir` from `root_fd` (the open `root`), creating what is missing (mode 0700, the parent
// fsynced after each create when `sync`), and opens its tmp/ and new/. On its first use in this
// process (`durable` does not know it) and when `sync`, fsyncs every directory of the chain.
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
