// Destinations: alias targets flattened, +detail folders chosen or created, ownership checked.
#include "mailslot/delivery/delivery_plan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "mailslot/delivery/identity.hpp"
#include "mailslot/delivery/maildir_dirs.hpp"
#include "mailslot/delivery/quota.hpp"
#include "mailslot/lmtp/ascii.hpp"

namespace mailslot::delivery {

namespace {

using std::filesystem::path;

// Directories above a Maildir that mailslot creates for a mailbox with its own uid: owned by the
// daemon, searchable by the user (0711) but not listable, so one user cannot see the others.
constexpr mode_t kParentMode = 0711;

int mkdir_open(int dir, const char* name, mode_t mode, fs::Fd& out) {
  if (::mkdirat(dir, name, mode) != 0 && errno != EEXIST) return errno;
  out = fs::Fd(::openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  return out.valid() ? 0 : errno;
}

// Walks base → parent of `maildir` without following symlinks, creating what is missing (as the
// daemon, kParentMode), and opens the Maildir's parent. Failures are left to the store's own walk,
// which reports them in its words.
fs::Fd open_parent(const path& base, const path& maildir, bool create, mode_t mode) {
  const auto rel = path_below_root(base, maildir);
  if (!rel) return {};
  fs::Fd dir(::open(base.empty() ? "/" : base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const path parent = rel->parent_path();
  for (const path& c : parent) {
    if (!dir.valid()) return {};
    fs::Fd next;
    if (create) {
      if (mkdir_open(dir.get(), c.c_str(), mode, next) != 0) return {};
    } else {
      next = fs::Fd(::openat(dir.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    dir = std::move(next);
  }
  return dir;
}

// ".<name>" in the Maildir, or one whose name differs only in ASCII case ("+Lists" finds ".lists").
std::optional<std::string> existing_folder(int maildir_fd, const std::string& name) {
  struct stat st {};
  const std::string dot = "." + name;
  if (::fstatat(maildir_fd, dot.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISDIR(st.st_mode)) return name;
    return std::nullopt;
  }
  const int fd = ::openat(maildir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return std::nullopt;
  }
  std::optional<std::string> found;
  while (const dirent* e = ::readdir(d)) {
    if (lmtp::ascii::iequals(e->d_name, dot) &&
        ::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      found = std::string(e->d_name + 1);
      break;
    }
  }
  ::closedir(d);
  return found;
}

Outcome not_owned(const path& maildir, uid_t has, std::int64_t wants) {
  return Outcome::temporary("Mailbox directory " + maildir.string() + " is owned by uid " + std::to_string(has) +
                            ", not " + std::to_string(wants) + "; not delivered");
}

Destination plan_one(const std::shared_ptr<const Mailbox>& m, std::size_t rcpt, const path& mail_root) {
  Destination d;
  d.rcpt = rcpt;
  d.mailbox = m;
  d.user_maildir = m->maildir;
  d.base = m->base.empty() ? mail_root : m->base;
  const std::int64_t euid = ::geteuid();
  const std::int64_t owner = effective_owner(m->uid, euid);
  const bool own_identity = owner != euid;
  const bool create_folder_now = !m->folder.empty() && m->folder_policy == DetailFolders::create;
  const bool any_folder = !m->folder.empty() && m->folder_policy != DetailFolders::off;
  if (!own_identity && !any_folder) {
    // The common case (one identity for every mailbox, no folder): one stat for the ownership
    // check; the store's symlink-free walk does the rest.
    struct stat st {};
    if (::fstatat(AT_FDCWD, m->maildir.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
        st.st_uid != owner)
      d.failure = not_owned(m->maildir, st.st_uid, owner);
    return d;
  }
  // Parents a user could not create are the daemon's; without an identity of its own the store's
  // walk would create them anyway (0700), only a folder to create needs them now.
  const fs::Fd parent =
      open_parent(d.base, m->maildir, own_identity || create_folder_now, own_identity ? kParentMode : 0700);
  if (!parent.valid()) return d;  // the store's walk reports why
  const path leaf = m->maildir.lexically_normal().filename();
  struct stat st {};
  if (own_identity && ::mkdirat(parent.get(), leaf.c_str(), 0700) == 0) {
    // The Maildir itself is the user's: made here, in a directory the user cannot write, and given away.
    if (::fchownat(parent.get(), leaf.c_str(), static_cast<uid_t>(owner),
                   static_cast<gid_t>(m->gid >= 0 ? m->gid : ::getegid()), AT_SYMLINK_NOFOLLOW) != 0) {
      d.failure = Outcome::temporary(std::string("chown failed: ") + std::strerror(errno));
      return d;
    }
  }
  if (::fstatat(parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    // A Maildir that belongs to someone else is never written (it could be another user's, or a
    // directory an attacker prepared): 451 and the operator reads why in the log.
    if (S_ISDIR(st.st_mode) && st.st_uid != owner) {
      d.failure = not_owned(m->maildir, st.st_uid, owner);
      return d;
    }
  } else if (errno != ENOENT) {
    return d;
  }
  if (own_identity) {
    // tmp/ new/ cur/ are the user's too; the store's walk (as the daemon) then finds them.
    const Identity as_user(m->uid, m->gid);
    fs::Fd maildir(::openat(parent.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    for (const char* sub : {"tmp", "new", "cur"}) {
      if (maildir.valid() && ::mkdirat(maildir.get(), sub, 0700) != 0 && errno != EEXIST) {
        d.failure = Outcome::temporary("Cannot create " + (m->maildir / sub).string() + ": " + std::strerror(errno));
        return d;
      }
    }
  }
  if (m->folder.empty() || m->folder_policy == DetailFolders::off) return d;

  const Identity as_user(m->uid, m->gid);
  fs::Fd maildir;
  if (m->folder_policy == DetailFolders::create) {
    if (mkdir_open(parent.get(), leaf.c_str(), 0700, maildir) != 0) return d;
    for (const char* sub : {"cur", "new", "tmp"}) ::mkdirat(maildir.get(), sub, 0700);
  } else {
    maildir = fs::Fd(::openat(parent.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!maildir.valid()) return d;
  }
  std::optional<std::string> folder = existing_folder(maildir.get(), m->folder);
  if (!folder && m->folder_policy == DetailFolders::create && create_folder(maildir.get(), m->folder) == 0)
    folder = m->folder;
  if (!folder) return d;  // no such folder: INBOX
  auto copy = std::make_shared<Mailbox>(*m);
  copy->maildir = m->maildir / ("." + *folder);
  d.mailbox = std::move(copy);
  return d;
}

bool has_line(const std::string& text, const std::string& line) {
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (text.compare(at, end - at, line) == 0) return true;
    at = end + 1;
  }
  return false;
}

// "subscriptions": one folder name per line (Maildir++). A file Dovecot has written in its
// version 2 format starts with "V\t2\n\n" and separates hierarchy levels with a tab. Updated the
// way Dovecot does it (subscription-file.c): an exclusive "subscriptions.lock" holds the new
// content and is renamed over the file, so neither writer loses the other's line. When the lock
// stays taken the folder is still used, only not subscribed.
int subscribe(int maildir_fd, const std::string& name) {
  constexpr int kLockAttempts = 50;  // 10 ms apart: Dovecot holds it for one small rewrite
  fs::Fd lock;
  for (int i = 0; i < kLockAttempts && !lock.valid(); ++i) {
    lock = fs::Fd(::openat(maildir_fd, "subscriptions.lock", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                           0600));
    if (!lock.valid() && errno != EEXIST) return errno;
    if (!lock.valid()) ::usleep(10'000);
  }
  if (!lock.valid()) return EAGAIN;
  std::string text;
  if (fs::Fd in(::openat(maildir_fd, "subscriptions", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)); in.valid()) {
    char buf[4096];
    for (ssize_t n; (n = ::read(in.get(), buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  }
  std::string entry = name;
  if (text.rfind("V\t2\n\n", 0) == 0) std::replace(entry.begin(), entry.end(), '.', '\t');
  int err = 0;
  if (!has_line(text, entry)) {
    if (!text.empty() && text.back() != '\n') text += '\n';
    text += entry + "\n";
    err = fs::write_all(lock.get(), text);
    if (!err) err = fs::fsync_fd(lock.get());
    if (!err) err = lock.close();
    if (!err && ::renameat(maildir_fd, "subscriptions.lock", maildir_fd, "subscriptions") != 0) err = errno;
    if (!err) return 0;
  }
  ::unlinkat(maildir_fd, "subscriptions.lock", 0);
  return err;
}

}  // namespace

int create_folder(int maildir_fd, const std::string& name) {
  const std::string dot = "." + name;
  fs::Fd folder;
  if (const int err = mkdir_open(maildir_fd, dot.c_str(), 0700, folder)) return err;
  for (const char* sub : {"cur", "new", "tmp"}) {
    if (::mkdirat(folder.get(), sub, 0700) != 0 && errno != EEXIST) return errno;
  }
  // Maildir++: the marker that says this directory is a folder, not a Maildir of its own.
  fs::Fd marker(::openat(folder.get(), "maildirfolder", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!marker.valid()) return errno;
  // A folder that could not be subscribed still receives its mail (clients can subscribe it).
  subscribe(maildir_fd, name);
  return 0;
}

std::vector<Destination> plan_destinations(const std::vector<std::shared_ptr<const Mailbox>>& rcpts,
                                           const path& mail_root) {
  std::vector<Destination> plan;
  for (std::size_t i = 0; i < rcpts.size(); ++i) {
    const auto& m = rcpts[i];
    if (!m) {
      Destination d;
      d.rcpt = i;
      d.failure = Outcome::temporary("No mailbox");
      plan.push_back(std::move(d));
    } else if (m->targets.empty()) {
      plan.push_back(plan_one(m, i, mail_root));
    } else {
      for (const auto& t : m->targets) plan.push_back(plan_one(t, i, mail_root));
    }
  }
  return plan;
}

std::vector<Outcome> combine_outcomes(const std::vector<Destination>& plan, const std::vector<Outcome>& per_destination,
                                      std::size_t rcpts) {
  std::vector<std::optional<Outcome>> delivered(rcpts), temporary(rcpts), permanent(rcpts);
  std::vector<std::string> notes(rcpts);
  for (std::size_t i = 0; i < plan.size() && i < per_destination.size(); ++i) {
    const std::size_t r = plan[i].rcpt;
    const Outcome& o = per_destination[i];
    if (o.delivered()) {
      if (!delivered[r]) {
        delivered[r] = o;
      } else {
        delivered[r]->location += " " + o.location;
        if (!o.duplicate) delivered[r]->duplicate = false;  // "suppressed" only when every copy was
      }
    } else {
      const std::string who = plan[i].mailbox ? plan[i].mailbox->maildir.string() : std::string("?");
      notes[r] += "; not delivered to " + who + ": " + std::to_string(o.code) + " " + o.enhanced + " " + o.text;
      auto& slot = o.kind == Outcome::Kind::temporary ? temporary[r] : permanent[r];
      if (!slot) slot = o;
    }
  }
  std::vector<Outcome> out(rcpts, Outcome::temporary("Internal error: no delivery result"));
  for (std::size_t r = 0; r < rcpts; ++r) {
    if (temporary[r]) {
      out[r] = *temporary[r];
    } else if (delivered[r]) {
      out[r] = *delivered[r];
      out[r].location += notes[r];
    } else if (permanent[r]) {
      out[r] = *permanent[r];
    }
  }
  return out;
}

std::vector<Outcome> PlannedWriter::commit(CommitClaim& claim) {
  std::vector<Outcome> per_destination = inner_->commit(claim);
  if (claim.state() == CommitClaim::State::timed_out) return std::vector<Outcome>(rcpts_, Outcome::timed_out());
  bool one_to_one = plan_->size() == rcpts_ && per_destination.size() == rcpts_;
  for (std::size_t i = 0; i < plan_->size() && i < per_destination.size(); ++i) {
    if ((*plan_)[i].failure) per_destination[i] = *(*plan_)[i].failure;
    one_to_one = one_to_one && (*plan_)[i].rcpt == i;
  }
  // No alias expanded: destination i is RCPT i, and combining would copy each outcome unchanged.
  if (one_to_one) return per_destination;
  return combine_outcomes(*plan_, per_destination, rcpts_);
}

}  // namespace mailslot::delivery
