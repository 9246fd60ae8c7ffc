// The durable write (ARCHITECTURE.md "Durability contract"), in the spirit of qmail-local's
// maildir_child: unique name, O_EXCL create in tmp/, write, fsync, link() into new/, fsync new/,
// unlink the spool. Every failure becomes one Outcome per recipient through outcome_from_errno();
// nothing on this path throws, and nothing is reported delivered before its name in new/ is durable.
// Every Maildir is reached from mail.root without following a symlink (maildir_dirs.hpp), and every
// step after that works on held directory fds (openat, linkat, unlinkat, fsync): no path below the
// root is resolved twice. Those fds may come from a walk made shortly before by another transaction
// (OpenMaildirs, maildir_dirs.hpp says for how long and what that means for a moved Maildir).
#include "mailslot/delivery/maildir_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "mailslot/delivery/delivery_plan.hpp"
#include "mailslot/delivery/duplicates.hpp"
#include "mailslot/delivery/fs.hpp"
#include "mailslot/delivery/identity.hpp"
#include "mailslot/delivery/maildir_dirs.hpp"
#include "mailslot/delivery/maildir_name.hpp"
#include "mailslot/delivery/maildir_sweep.hpp"
#include "mailslot/delivery/quota.hpp"
#include "mailslot/delivery/trace_headers.hpp"

namespace mailslot::delivery {

namespace {

using std::filesystem::path;

// A failed system call: its errno and the step named in the reply text ("fsync failed: ...").
struct Failure {
  int err = 0;  // 0: no failure
  const char* what = "";
};

// Fresh names differ by Q, so EEXIST means another writer (another host with our name, a reused
// pid on a shared file system): try a few fresh names, then give up.
constexpr int kNameAttempts = 5;

// new/ directories held open between link and fsync: enough to batch the fsyncs of a typical
// transaction (the first fsync commits the journal holding every link, so the rest cost little),
// few enough that a 1000-recipient message does not exhaust the process's descriptors.
constexpr std::size_t kMaxPendingDirs = 64;

// A Maildir's key (normal_path's spelling), without building a path when it is normal already.
std::string maildir_key_of(const path& maildir) {
  return is_normal_path(maildir.native()) ? maildir.native() : normal_path(maildir).string();
}

// The size of `text` with every bare LF counted as CRLF (W=, see write_counted).
std::uint64_t crlf_size(std::string_view text) {
  std::uint64_t n = text.size();
  for (std::size_t lf = text.find('\n'); lf != std::string_view::npos; lf = text.find('\n', lf + 1)) {
    if (lf == 0 || text[lf - 1] != '\r') ++n;
  }
  return n;
}

class MaildirWriter final : public MessageWriter {
 public:
  MaildirWriter(const MaildirStoreOptions& opt, std::shared_ptr<DurableMaildirs> durable,
                std::shared_ptr<OpenMaildirs> open, std::shared_ptr<std::atomic<std::uint64_t>> swept,
                std::vector<std::shared_ptr<const Mailbox>> recipients,
                std::vector<std::string> own_headers = {})
      : files_(opt.file_system),
        clock_(opt.clock),
        swept_(std::move(swept)),
        host_(opt.hostname),
        fsync_(opt.fsync),
        root_path_(opt.root),
        duplicates_(opt.duplicates),
        durable_(std::move(durable)),
        open_(std::move(open)),
        recipients_(std::move(recipients)),
        own_headers_(std::move(own_headers)) {
    // Each destination's Maildir, normalised once here (when it is not normal already:
    // lexically_normal() allocates per path component): the commit compares these several times per
    // recipient.
    maildirs_.reserve(recipients_.size());
    for (const auto& r : recipients_) maildirs_.push_back(r ? maildir_key_of(r->maildir) : std::string());
  }

  // The normalised Maildir of destination `i` ("" for one without a mailbox): one spelling per
  // directory, so "/m", "/m/" and "/m/." are the same Maildir.
  const std::string& maildir_key(std::size_t i) const { return maildirs_[i]; }

  // The destructor may unlink (blocking): by the MailStore contract, writers are used and destroyed
  // on the disk pool, never on the event loop.
  ~MaildirWriter() override { discard(); }

  MaildirWriter(const MaildirWriter&) = delete;
  MaildirWriter& operator=(const MaildirWriter&) = delete;

  // ARCHITECTURE.md step 1: the spool lives in tmp/ of a recipient's Maildir, so that link() into
  // that recipient's new/ never crosses a file system. The writer keeps that tmp/ and new/ open.
  // The spool is created as its recipient (identity.hpp; the walk to it is the daemon's, which can
  // search directories a user cannot read). With other destinations (`copies_possible`) a read
  // descriptor is kept, so that copies for recipients with another uid can be made.
  std::optional<Outcome> open_spool(std::size_t index, std::string_view headers, bool copies_possible) {
    const Mailbox& mailbox = *recipients_[index];
    std::shared_ptr<const HeldMaildir> dirs;
    std::string name;
    fs::Fd fd;
    int err = 0;
    if (auto failure = in_maildir(index, dirs, [&](const HeldMaildir& d) {
          const Identity as_user(mailbox.uid, mailbox.gid);  // the file is the recipient's
          err = fs::create_exclusive(*files_, d.tmp.get(), fresh_base(), kNameAttempts, name, fd);
          if (!err) spool_owner_ = as_user.owner();
          return err;
        }))
      return failure;
    if (err) return outcome_from_errno(err, "open");
    if (copies_possible) {
      int read_fd = -1;
      files_->open(dirs->tmp.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0, read_fd);
      spool_read_ = fs::Fd(read_fd);
    }
    spool_dirs_ = std::move(dirs);
    spool_maildir_ = maildirs_[index];
    spool_name_ = std::move(name);
    fd_ = std::move(fd);
    if (const int write_err = write_counted(headers)) {
      discard_spool();
      return outcome_from_errno(write_err, "write");
    }
    return std::nullopt;
  }

  std::optional<Outcome> append(std::string_view data) override {
    if (failure_) return failure_;
    if (!fd_.valid()) return Outcome::temporary("Message is no longer open");
    if (duplicates_) message_id_.feed(data);
    if (const int err = write_counted(data)) {
      failure_ = outcome_from_errno(err, "write");
      return failure_;
    }
    return std::nullopt;
  }

  // Per-recipient hooks of the delivery plan (quota): `admit` may refuse a recipient before its
  // link, `record` hears of each durable copy.
  std::function<std::optional<Outcome>(std::size_t index, std::uint64_t size)> admit;
  std::function<void(std::size_t index, std::uint64_t size)> record;

  using MessageWriter::commit;
  std::vector<Outcome> commit(CommitClaim& claim) override {
    const std::size_t n = recipients_.size();
    if (failure_) return all(*failure_);
    if (!fd_.valid()) return all(Outcome::temporary("Message is no longer open"));
    // ARCHITECTURE.md step 2: the content is on disk before any name points at it.
    if (const Failure f = close_spool(); f.err) return all(outcome_from_errno(f.err, f.what));

    // RFC 2033 wants one reply per RCPT, but one copy per distinct Maildir is enough: a later
    // recipient with the same Maildir shares the earlier one's outcome.
    std::vector<Outcome> out(n);
    const std::vector<std::size_t> first = first_with_same_maildir();
    std::vector<Pending> pending;
    std::vector<Linked> linked;  // every name put into new/, for the undo of a timed-out commit
    // Duplicate suppression: checked before anything is written for a recipient, recorded only
    // once its copy is durable (below, after sync_new_dirs). No Message-ID: never suppressed.
    const std::optional<std::string> message_id = duplicates_ ? message_id_.message_id() : std::nullopt;
    const auto now = clock_();
    for (std::size_t i = 0; i < n; ++i) {
      if (first[i] != i) continue;
      if (claim.cancelled()) break;  // the connection has answered 451: nothing more goes into new/
      if (message_id && recipients_[i] &&
          duplicates_->seen(*message_id, maildirs_[i], now)) {
        out[i] = Outcome::duplicate_suppressed();
        continue;
      }
      if (auto refused = recipients_[i] && admit ? admit(i, copy_size(i)) : std::nullopt) {
        out[i] = std::move(*refused);
        continue;
      }
      out[i] = recipients_[i] ? deliver(i, recipients_[i]->maildir, pending, claim)
                              : Outcome::temporary("No mailbox");
      if (!pending.empty() && pending.back().index == i) linked.push_back(Linked{i, pending.back().name});
      if (pending.size() >= kMaxPendingDirs) sync_new_dirs(pending, out);
    }
    sync_new_dirs(pending, out);
    std::erase_if(linked, [&](const Linked& l) { return !out[l.index].delivered(); });  // already removed
    // commit_claim.hpp: every copy is durable (or failed); the delivery stands only if the deadline
    // has not been claimed first. Nothing is recorded before this point.
    if (!claim.finish()) {
      undo(linked, claim.undo);
      return all(Outcome::timed_out());
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (first[i] != i || !out[i].delivered() || out[i].duplicate) continue;
      if (record) record(i, copy_size(i));  // maildirsize: each copy's own size
      if (message_id) duplicates_->record(*message_id, maildirs_[i], now);
    }
    for (std::size_t i = 0; i < n; ++i) out[i] = out[first[i]];
    discard_spool();  // step 4; its name in tmp/ needs no fsync: a crash leaves a stray for the sweep
    return out;
  }

  void discard() override { discard_spool(); }

 private:
  // A name linked into new/ whose directory is not fsynced yet: not delivered until it is.
  struct Pending {
    std::size_t index;
    std::shared_ptr<const HeldMaildir> dirs;
    std::string name;
  };
  // A name linked into new/ for recipient `index` (durable or not).
  struct Linked {
    std::size_t index;
    std::string name;
  };

  // A timed-out commit (commit_claim.hpp): every name this message put into new/ goes again, and
  // each new/ is fsynced so the removal survives a crash as the link did. The Maildirs are walked
  // again (safely, from the root): the directories held during the commit were closed in batches.
  // ENOENT: a reader (an IMAP server) already moved the file to cur/ while it was visible.
  void undo(const std::vector<Linked>& linked, CommitClaim::Undo& report) const {
    for (const Linked& l : linked) {
      MaildirDirs dirs;
      int err = 0;
      if (auto failure = open_dirs(*recipients_[l.index], dirs)) {
        err = EIO;
      } else {
        err = files_->unlink(dirs.new_dir.get(), l.name.c_str(), 0);
        if (!err && fsync_) fs::fsync_dir(*files_, dirs.new_dir.get());
      }
      if (err == 0) {
        ++report.removed;
      } else if (err == ENOENT) {
        ++report.missing;
      } else {
        ++report.failed;
      }
    }
  }

  // Strays a crash left in tmp/ go when this process first touches the Maildir (maildir_sweep.hpp).
  // Before this transaction's own files exist there; a sweep failure never fails the delivery.
  void sweep_on_first_use(const MaildirDirs& dirs) const {
    if (!dirs.first_use || !dirs.tmp.valid()) return;
    const SweepResult r = sweep_tmp(*files_, dirs.tmp.get(), clock_());
    if (r.removed > 0) swept_->fetch_add(r.removed);
  }

  std::function<std::string()> fresh_base() const {
    return [this] { return next_unique_name(host_).base(); };
  }

  std::vector<Outcome> all(Outcome o) {  // by value: discard() may touch the source
    discard();
    return std::vector<Outcome>(recipients_.size(), o);
  }

  // Writes and counts: S= is the bytes on disk, W= the size with every bare LF counted as CRLF
  // (Dovecot's virtual size, PEERS.md §5.3). A CR ending one chunk pairs with an LF starting the next.
  int write_counted(std::string_view data) {
    if (const int err = fs::write_all(*files_, fd_.get(), data)) return err;
    size_ += data.size();
    vsize_ += data.size();
    for (std::size_t lf = data.find('\n'); lf != std::string_view::npos; lf = data.find('\n', lf + 1)) {
      const bool after_cr = lf > 0 ? data[lf - 1] == '\r' : last_was_cr_;
      if (!after_cr) ++vsize_;
    }
    if (!data.empty()) last_was_cr_ = data.back() == '\r';
    return 0;
  }

  Failure close_spool() {
    // Per-recipient copies: the spool itself is never linked anywhere, so no name ever points at it
    // and it needs no fsync; each copy made from it is fsynced before its link (copy_into).
    if (fsync_ && own_headers_.empty()) {
      if (const int err = fs::fsync_fd(*files_, fd_.get())) return {err, "fsync"};
    }
    if (const int err = fs::close(*files_, fd_)) return {err, "close"};
    return {};
  }

  void discard_spool() {
    fs::close(*files_, fd_);
    spool_read_.close();
    if (!spool_name_.empty()) files_->unlink(spool_dirs_->tmp.get(), spool_name_.c_str(), 0);
    spool_name_.clear();
  }

  // For each recipient, the index of the first recipient with the same Maildir (itself if none).
  std::vector<std::size_t> first_with_same_maildir() const {
    std::vector<std::size_t> first(recipients_.size());
    if (first.size() == 1) return first;  // first[0] == 0; no map to build for the usual one
    std::unordered_map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < recipients_.size(); ++i) {
      first[i] = i;
      if (recipients_[i])
        first[i] = seen.try_emplace(maildirs_[i], i).first->second;
    }
    return first;
  }

  // One recipient: link() the spool into new/ under a fresh name ("at that instant the message has
  // been successfully delivered", maildir.5), or copy when link() cannot work. The name becomes a
  // delivery only once sync_new_dirs() has fsynced new/.
  Outcome deliver(std::size_t index, const path& maildir, std::vector<Pending>& pending, const CommitClaim& claim) {
    std::shared_ptr<const HeldMaildir> dirs = spool_dirs_;
    std::string target;
    Failure f;
    const auto put = [&](const HeldMaildir& d) {
      f = put_into_new(index, d, target, claim);
      return f.err;
    };
    if (maildirs_[index] == spool_maildir_) {
      put(*dirs);  // the spool's own Maildir: its directories, not walked again
    } else if (auto failure = in_maildir(index, dirs, put)) {
      return *failure;
    }
    if (f.err) return outcome_from_errno(f.err, f.what);
    std::string file = maildir.native();  // maildir / "new" / target, built in one string
    if (!file.empty() && file.back() != '/') file += '/';
    file.append("new/").append(target);
    Outcome ok = Outcome::ok(std::move(file));
    pending.push_back(Pending{index, std::move(dirs), std::move(target)});
    return ok;
  }

  // The spool linked into `dirs`' new/, or a copy made there (another owner, another file system, a
  // file system without hard links, per-recipient headers).
  Failure put_into_new(std::size_t index, const HeldMaildir& dirs, std::string& target, const CommitClaim& claim) {
    const Mailbox& mailbox = *recipients_[index];
    if (!own_headers_.empty()) {
      // mail.per_recipient_headers: a file of its own, this recipient's header block then the body.
      const Identity as_user(mailbox.uid, mailbox.gid);  // the copy is the recipient's
      return copy_into(dirs, own_headers_[index], target, claim);
    }
    // Another owner gets a copy of its own: a hard link would leave the file the spool owner's.
    const int err = effective_owner(mailbox.uid) == spool_owner_
                        ? link_into_new(spool_dirs_->tmp.get(), spool_name_, dirs.new_dir.get(), target, size_,
                                        vsize_, claim)
                        : EPERM;
    // EXDEV: another file system; EMLINK: too many links; EPERM: a file system without hard links.
    if (err == EXDEV || err == EMLINK || err == EPERM) {
      const Identity as_user(mailbox.uid, mailbox.gid);  // the copy is the recipient's
      return copy_into(dirs, {}, target, claim);
    }
    if (err) return {err, "link"};
    return {};
  }

  // Links first, then one fsync per new/ (see kMaxPendingDirs). A link that cannot be made durable
  // is removed again: never 250 without the directory fsync (ARCHITECTURE.md step 3).
  void sync_new_dirs(std::vector<Pending>& pending, std::vector<Outcome>& out) const {
    for (const Pending& p : pending) {
      if (!fsync_) break;
      if (const int err = fs::fsync_dir(*files_, p.dirs->new_dir.get())) {
        files_->unlink(p.dirs->new_dir.get(), p.name.c_str(), 0);
        out[p.index] = outcome_from_errno(err, "fsync");
      }
    }
    pending.clear();
  }

  // link(), not rename(): link() fails on an existing name, so no other message is ever replaced.
  // (rename(RENAME_NOREPLACE) would too, and saves the spool's unlink, but measured slower at 8
  // sessions: docs/performance.md.)
  // linkat() between held directory fds: neither side is looked up by path again.
  // ECANCELED once the commit has timed out: no name appears in new/ after that.
  int link_into_new(int from_dir, const std::string& from, int new_dir, std::string& target,
                    std::uint64_t size, std::uint64_t vsize, const CommitClaim& claim) const {
    for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
      if (claim.cancelled()) return ECANCELED;
      std::string to = next_unique_name(host_).with_sizes(size, vsize);
      const int err = files_->link(from_dir, from.c_str(), new_dir, to.c_str());
      if (err == 0) {
        target = std::move(to);
        return 0;
      }
      if (err != EEXIST) return err;
    }
    return EEXIST;
  }

  // The bytes of the copy for destination `i`: its own header block and the spool (S=, quota).
  std::uint64_t copy_size(std::size_t i) const {
    return own_headers_.empty() ? size_ : own_headers_[i].size() + size_;
  }

  // Across file systems, and every copy with per-recipient headers: the same tmp/ → fsync → link
  // dance, in the recipient's own Maildir. The file is `prefix` (its header block, or nothing)
  // followed by the spool, copied in the kernel (copy_file_range; read/write where it cannot). A
  // reflink (FICLONERANGE) cannot be used: it needs block-aligned offsets, and the prefix is not.
  Failure copy_into(const HeldMaildir& dirs, std::string_view prefix, std::string& target,
                    const CommitClaim& claim) const {
    int in_fd = -1;
    const int open_err = spool_read_.valid() ? 0
                                             : files_->open(spool_dirs_->tmp.get(), spool_name_.c_str(),
                                                            O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0, in_fd);
    const fs::Fd owned(in_fd);
    const fs::Fd& in = spool_read_.valid() ? spool_read_ : owned;
    if (open_err) return {open_err, "open"};
    std::string copy;
    fs::Fd out;
    if (const int err = fs::create_exclusive(*files_, dirs.tmp.get(), fresh_base(), kNameAttempts, copy, out))
      return {err, "open"};
    Failure f;
    if (const int err = fs::write_all(*files_, out.get(), prefix)) f = {err, "write"};
    if (!f.err) {
      if (const int err = fs::copy_file(*files_, in.get(), out.get())) f = {err, "copy"};
    }
    if (!f.err && fsync_) {
      if (const int err = fs::fsync_fd(*files_, out.get())) f = {err, "fsync"};
    }
    if (const int err = fs::close(*files_, out); !f.err && err) f = {err, "close"};
    if (!f.err) {
      // S= and W= are this copy's own: its header block is not the spool's.
      const std::uint64_t size = prefix.size() + size_;
      const std::uint64_t vsize = crlf_size(prefix) + vsize_;
      if (const int err = link_into_new(dirs.tmp.get(), copy, dirs.new_dir.get(), target, size, vsize, claim))
        f = {err, "link"};
    }
    files_->unlink(dirs.tmp.get(), copy.c_str(), 0);  // new/ holds its own name for it now, or it failed
    return f;
  }

  // Runs `step` (returning an errno) on the Maildir's tmp/ and new/, which end up in `dirs`. When
  // they were held from an earlier walk and `step` finds a directory gone since (ENOENT), the
  // Maildir is forgotten, walked (and made) again, and `step` runs once more. A failed walk is the
  // returned outcome; the step's own failure is the step's to report.
  template <typename Step>
  std::optional<Outcome> in_maildir(std::size_t index, std::shared_ptr<const HeldMaildir>& dirs, Step&& step) const {
    bool cached = false;
    if (auto failure = held_dirs(index, dirs, cached)) return failure;
    if (step(*dirs) != ENOENT || !cached) return std::nullopt;
    forget(index, dirs.get());
    if (auto failure = held_dirs(index, dirs, cached)) return failure;
    step(*dirs);
    return std::nullopt;
  }

  // A Maildir's tmp/ and new/: held open from a recent walk (OpenMaildirs), or walked now and kept
  // for the next transactions. `cached`: they come from an earlier walk.
  std::optional<Outcome> held_dirs(std::size_t index, std::shared_ptr<const HeldMaildir>& out,
                                   bool& cached) const {
    const Mailbox& mailbox = *recipients_[index];
    const auto now = OpenMaildirs::Clock::now();
    const std::string key = open_->enabled() ? held_key(index) : std::string();
    cached = false;
    if (open_->enabled() && (out = open_->find(key, now))) {
      cached = true;
      return std::nullopt;
    }
    MaildirDirs dirs;
    if (auto failure = open_dirs(mailbox, dirs)) return failure;
    sweep_on_first_use(dirs);
    auto held = std::make_shared<HeldMaildir>(HeldMaildir{std::move(dirs.tmp), std::move(dirs.new_dir)});
    if (open_->enabled()) open_->insert(key, held, now);
    out = std::move(held);
    return std::nullopt;
  }

  void forget(std::size_t index, const HeldMaildir* stale) const { open_->forget(held_key(index), stale); }

  // One Maildir, one key: the tree it is walked from and its normalised path.
  std::string held_key(std::size_t index) const {
    std::string key = recipients_[index]->base.string();
    key += '\0';
    key += maildirs_[index];
    return key;
  }

  // A Maildir walked from its mailbox's base (passwd-file and system users outside mail.root) or
  // from mail.root, which is opened once per transaction, when a walk first needs it (so an operator
  // who re-points a symlink above it is followed by the next walk).
  std::optional<Outcome> open_dirs(const Mailbox& mailbox, MaildirDirs& dirs) const {
    if (mailbox.base.empty()) {
      if (!root_.valid()) {
        if (auto f = open_mail_root(*files_, root_path_, root_)) return f;
      }
      return open_maildir(*files_, root_.get(), root_path_, mailbox.maildir, fsync_, *durable_, dirs);
    }
    fs::Fd base;
    if (auto f = open_mail_root(*files_, mailbox.base, base)) return f;
    return open_maildir(*files_, base.get(), mailbox.base, mailbox.maildir, fsync_, *durable_, dirs);
  }

  const std::shared_ptr<fs::FileSystem> files_;  // the seam (fs.hpp); shared: tests keep theirs
  const std::function<std::chrono::system_clock::time_point()> clock_;
  const std::shared_ptr<std::atomic<std::uint64_t>> swept_;
  const std::string host_;
  const bool fsync_;
  const path root_path_;
  const std::shared_ptr<DuplicateDb> duplicates_;  // null: duplicate suppression off
  MessageIdScanner message_id_;                    // fed only when duplicates_ is set
  const std::shared_ptr<DurableMaildirs> durable_;
  const std::shared_ptr<OpenMaildirs> open_;
  mutable fs::Fd root_;  // mail.root, opened at most once per transaction: every walk starts here
  const std::vector<std::shared_ptr<const Mailbox>> recipients_;
  // Per destination, its own trace header block (mail.per_recipient_headers with several RCPTs);
  // empty: the spool holds the shared headers and is hard-linked (single instance).
  const std::vector<std::string> own_headers_;
  std::shared_ptr<const HeldMaildir> spool_dirs_;  // tmp/ and new/ of the spool's Maildir
  std::vector<std::string> maildirs_;  // maildir_key() of each destination
  std::string spool_maildir_;          // maildir_key() of the spool's destination
  std::string spool_name_;  // the spool's name in its tmp/, set only once the file is ours
  fs::Fd fd_;               // the spool, open for writing until commit
  fs::Fd spool_read_;       // the spool, open for reading (copies for other owners), when there are others
  std::int64_t spool_owner_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t vsize_ = 0;
  bool last_was_cr_ = false;
  std::optional<Outcome> failure_;  // the first append failure, answered to every later call
};

std::string local_hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

MaildirStore::MaildirStore(MaildirStoreOptions options)
    : opt_(std::move(options)),
      durable_(std::make_shared<DurableMaildirs>(opt_.known_maildirs, opt_.known_maildir_age)),
      open_(std::make_shared<OpenMaildirs>(opt_.open_maildirs, opt_.open_maildir_ttl)) {
  // cr.yp.to/proto/maildir.html: the host part tells apart writers sharing one Maildir.
  opt_.hostname = sanitize_maildir_host(opt_.hostname.empty() ? local_hostname() : opt_.hostname);
  // fs::posix() lives as long as the process: a non-owning shared_ptr to it.
  if (!opt_.clock) opt_.clock = [] { return std::chrono::system_clock::now(); };
  if (!opt_.file_system)
    opt_.file_system = std::shared_ptr<fs::FileSystem>(&fs::posix(), [](fs::FileSystem*) {});
}

std::unique_ptr<MessageWriter> MaildirStore::begin(const Envelope& envelope, Outcome& failure) {
  if (envelope.recipients.empty()) {
    failure = Outcome::temporary("No recipients");
    return nullptr;
  }
  // Alias targets, +detail folders and ownership (delivery_plan.hpp): one destination per Maildir
  // copy, folded back into one outcome per RCPT by the PlannedWriter.
  auto plan = std::make_shared<const std::vector<Destination>>(plan_destinations(envelope.recipients, opt_.root));
  std::vector<std::shared_ptr<const Mailbox>> destinations;
  for (const Destination& d : *plan) destinations.push_back(d.failure ? nullptr : d.mailbox);
  // mail.per_recipient_headers with several RCPTs: the spool holds the body alone, and each copy
  // gets the header block of the RCPT it came from (an alias's targets share their RCPT's). One RCPT:
  // its headers are already its own, and the single-instance path below serves it unchanged.
  std::vector<std::string> own_headers;
  if (envelope.per_recipient_headers && envelope.recipients.size() > 1) {
    for (const Destination& d : *plan) own_headers.push_back(trace_headers(envelope, d.rcpt));
  }
  const std::string headers = own_headers.empty() ? trace_headers(envelope) : std::string();
  auto writer = std::make_unique<MaildirWriter>(opt_, durable_, open_, swept_, destinations, std::move(own_headers));
  const bool tempfail = opt_.quota_full_tempfail;
  // IGNOREQUOTA: the Maildirs (normalised) of the RCPTs that carry it. One copy serves every RCPT
  // with the same Maildir (first_with_same_maildir), so that copy is admitted when any of them does.
  std::unordered_set<std::string> unlimited;
  for (const Destination& d : *plan) {
    if (!d.failure && d.rcpt < envelope.ignore_quota.size() && envelope.ignore_quota[d.rcpt])
      unlimited.insert(maildir_key_of(d.mailbox->maildir));
  }
  writer->admit = [plan, tempfail, unlimited = std::move(unlimited)](std::size_t i,
                                                                     std::uint64_t size) -> std::optional<Outcome> {
    const Destination& d = (*plan)[i];
    // No check; record() below still adds the copy to maildirsize, so the usage stays right.
    if (!unlimited.empty() && unlimited.count(maildir_key_of(d.mailbox->maildir)) != 0) return std::nullopt;
    return quota_admit(d.base, d.user_maildir, d.mailbox->quota, d.mailbox->uid, d.mailbox->gid, size, tempfail);
  };
  writer->record = [plan](std::size_t i, std::uint64_t size) {
    const Destination& d = (*plan)[i];
    if (d.mailbox->quota.any()) quota_record(d.base, d.user_maildir, d.mailbox->uid, d.mailbox->gid, size);
  };
  // The first recipient's Maildir holds the spool; if it is unusable, the next one's may be, and
  // that recipient alone gets the error at commit time.
  std::optional<Outcome> last;
  std::vector<std::string> tried;
  for (std::size_t i = 0; i < destinations.size(); ++i) {
    if (!destinations[i]) continue;
    const std::string& maildir = writer->maildir_key(i);
    if (std::find(tried.begin(), tried.end(), maildir) != tried.end()) continue;
    tried.push_back(maildir);
    last = writer->open_spool(i, headers, destinations.size() > 1);
    if (!last) return std::make_unique<PlannedWriter>(std::move(writer), plan, envelope.recipients.size());
  }
  if (!last && !plan->empty() && plan->front().failure) last = plan->front().failure;
  failure = last ? std::move(*last) : Outcome::temporary("No mailbox");
  return nullptr;
}

}  // namespace mailslot::delivery
