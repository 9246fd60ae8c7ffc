// The durable write (ARCHITECTURE.md "Durability contract"), in the spirit of qmail-local's
// maildir_child: unique name, O_EXCL create in tmp/, write, fsync, link() into new/, fsync new/,
// unlink the spool. Every failure becomes one Outcome per recipient through outcome_from_errno();
// nothing on this path throws, and nothing is reported delivered before its name in new/ is durable.
#include "mailslot/delivery/maildir_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <utility>

#include "mailslot/delivery/fs.hpp"
#include "mailslot/delivery/maildir_name.hpp"
#include "mailslot/delivery/trace_headers.hpp"

namespace mailslot::delivery {

namespace {

using std::filesystem::path;

// A failed system call: its errno and the step named in the reply text ("write failed: ...").
struct Failure {
  int err = 0;  // 0: no failure
  const char* what = "";
};

// Fresh names differ by Q, so EEXIST means another writer (another host with our name, a reused
// pid on a shared file system): try a few fresh names, then give up.
constexpr int kNameAttempts = 5;

// Creates `dir`/<fresh unique name> for writing: O_EXCL so an existing file is never reused,
// O_NOFOLLOW so a planted symlink is never followed (maildir.5: "create tmp/name" must be new).
Failure create_exclusive(const path& dir, const std::string& host, path& created, fs::Fd& fd) {
  for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
    created = dir / next_unique_name(host).base();
    fd = fs::Fd(::open(created.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.valid()) return {};
    if (errno != EEXIST) return {errno, "open"};
  }
  return {EEXIST, "open"};
}

// One spelling per directory, so "/m", "/m/" and "/m/." count as the same Maildir.
path normal(const path& p) {
  path n = p.lexically_normal();
  if (!n.has_filename() && n.has_relative_path()) n = n.parent_path();  // "a/b/" → "a/b"
  return n;
}

Outcome temporary(std::string text) {
  Outcome o;  // defaults: temporary, 451 4.3.0
  o.text = std::move(text);
  return o;
}

class MaildirWriter final : public MessageWriter {
 public:
  MaildirWriter(const MaildirStoreOptions& opt, std::vector<std::shared_ptr<const Mailbox>> recipients)
      : host_(opt.hostname), fsync_(opt.fsync), recipients_(std::move(recipients)) {}

  // The destructor may unlink (blocking): by the MailStore contract, writers are used and destroyed
  // on the disk pool, never on the event loop.
  ~MaildirWriter() override { discard(); }

  MaildirWriter(const MaildirWriter&) = delete;
  MaildirWriter& operator=(const MaildirWriter&) = delete;

  // ARCHITECTURE.md step 1: the spool lives in tmp/ of a recipient's Maildir, so that link() into
  // that recipient's new/ never crosses a file system.
  Failure open_spool(const path& maildir, std::string_view headers) {
    if (const int err = fs::ensure_maildir(maildir, fsync_)) return {err, "mkdir"};
    if (const Failure f = create_exclusive(maildir / "tmp", host_, spool_, fd_); f.err) return f;
    if (const int err = write_counted(headers)) {
      discard_spool();
      return {err, "write"};
    }
    return {};
  }

  std::optional<Outcome> append(std::string_view data) override {
    if (failure_) return failure_;
    if (!fd_.valid()) return temporary("Message is no longer open");
    if (const int err = write_counted(data)) {
      failure_ = outcome_from_errno(err, "write");
      return failure_;
    }
    content_size_ += data.size();
    return std::nullopt;
  }

  std::vector<Outcome> commit() override {
    const std::size_t n = recipients_.size();
    if (failure_) return all(*failure_);
    if (!fd_.valid()) return all(temporary("Message is no longer open"));
    // ARCHITECTURE.md step 2: the content is on disk before any name points at it.
    if (const Failure f = close_spool(); f.err) return all(outcome_from_errno(f.err, f.what));

    // RFC 2033 wants one reply per RCPT, but one copy per distinct Maildir is enough: a later
    // recipient with the same Maildir shares the earlier one's outcome.
    std::vector<Outcome> out(n);
    const std::vector<std::size_t> first = first_with_same_maildir();
    for (std::size_t i = 0; i < n; ++i) {
      if (first[i] == i) out[i] = recipients_[i] ? deliver(recipients_[i]->maildir) : temporary("No mailbox");
    }
    // Links first, then one fsync per new/: the first fsync commits the journal holding every
    // link, so the others cost little. A link that cannot be made durable is removed again:
    // never 250 without the directory fsync (ARCHITECTURE.md step 3).
    for (std::size_t i = 0; i < n && fsync_; ++i) {
      if (first[i] != i || !out[i].delivered()) continue;
      if (const int err = fs::fsync_dir(recipients_[i]->maildir / "new")) {
        ::unlink(out[i].location.c_str());
        out[i] = outcome_from_errno(err, "fsync");
      }
    }
    for (std::size_t i = 0; i < n; ++i) out[i] = out[first[i]];
    discard_spool();  // step 4; its name in tmp/ needs no fsync: a crash leaves a stray for the sweep
    return out;
  }

  void discard() override { discard_spool(); }

  std::uint64_t content_size() const override { return content_size_; }

 private:
  std::vector<Outcome> all(Outcome o) {  // by value: discard() may touch the source
    discard();
    return std::vector<Outcome>(recipients_.size(), o);
  }

  // Writes and counts: S= is the bytes on disk, W= the size with every bare LF counted as CRLF
  // (Dovecot's virtual size, PEERS.md §5.3). A CR ending one chunk pairs with an LF starting the next.
  int write_counted(std::string_view data) {
    if (const int err = fs::write_all(fd_.get(), data)) return err;
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
    if (fsync_) {
      if (const int err = fs::fsync_fd(fd_.get())) return {err, "fsync"};
    }
    if (const int err = fd_.close()) return {err, "close"};
    return {};
  }

  void discard_spool() {
    fd_.close();
    if (!spool_.empty()) ::unlink(spool_.c_str());
    spool_.clear();
  }

  // For each recipient, the index of the first recipient with the same Maildir (itself if none).
  std::vector<std::size_t> first_with_same_maildir() const {
    std::vector<std::size_t> first(recipients_.size());
    std::unordered_map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < recipients_.size(); ++i) {
      first[i] = i;
      if (recipients_[i])
        first[i] = seen.try_emplace(normal(recipients_[i]->maildir).string(), i).first->second;
    }
    return first;
  }

  // One recipient: link() the spool into new/ under a fresh name ("at that instant the message has
  // been successfully delivered", maildir.5), or copy when link() cannot work.
  Outcome deliver(const path& maildir) {
    if (const int err = fs::ensure_maildir(maildir, fsync_)) return outcome_from_errno(err, "mkdir");
    std::string target;
    Failure f = link_into_new(spool_, maildir, target);
    // EXDEV: another file system; EMLINK: too many links; EPERM: a file system without hard links.
    if (f.err == EXDEV || f.err == EMLINK || f.err == EPERM) f = copy_into(maildir, target);
    if (f.err) return outcome_from_errno(f.err, f.what);
    return Outcome::ok(std::move(target));
  }

  // link(), not rename(): link() fails on an existing name, so no other message is ever replaced.
  Failure link_into_new(const path& from, const path& maildir, std::string& target) const {
    for (int attempt = 0; attempt < kNameAttempts; ++attempt) {
      const path to = maildir / "new" / next_unique_name(host_).with_sizes(size_, vsize_);
      if (::link(from.c_str(), to.c_str()) == 0) {
        target = to.string();
        return {};
      }
      if (errno != EEXIST) return {errno, "link"};
    }
    return {EEXIST, "link"};
  }

  // Across file systems: the same tmp/ → fsync → link dance, in the recipient's own Maildir.
  Failure copy_into(const path& maildir, std::string& target) const {
    fs::Fd in(::open(spool_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!in.valid()) return {errno, "open"};
    path copy;
    fs::Fd out;
    if (const Failure f = create_exclusive(maildir / "tmp", host_, copy, out); f.err) return f;
    Failure f;
    if (const int err = fs::copy_file(in.get(), out.get())) f = {err, "copy"};
    if (!f.err && fsync_) {
      if (const int err = fs::fsync_fd(out.get())) f = {err, "fsync"};
    }
    if (const int err = out.close(); !f.err && err) f = {err, "close"};
    if (!f.err) f = link_into_new(copy, maildir, target);
    ::unlink(copy.c_str());  // new/ holds its own name for it now, or it failed: either way, done
    return f;
  }

  const std::string host_;
  const bool fsync_;
  const std::vector<std::shared_ptr<const Mailbox>> recipients_;
  fs::Fd fd_;
  path spool_;  // tmp/<name> while it exists
  std::uint64_t size_ = 0;
  std::uint64_t vsize_ = 0;
  std::uint64_t content_size_ = 0;
  bool last_was_cr_ = false;
  std::optional<Outcome> failure_;  // the first append failure, answered to every later call
};

std::string local_hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

MaildirStore::MaildirStore(MaildirStoreOptions options) : opt_(std::move(options)) {
  // cr.yp.to/proto/maildir.html: the host part tells apart writers sharing one Maildir.
  opt_.hostname = sanitize_maildir_host(opt_.hostname.empty() ? local_hostname() : opt_.hostname);
}

std::unique_ptr<MessageWriter> MaildirStore::begin(const Envelope& envelope, Outcome& failure) {
  if (envelope.recipients.empty()) {
    failure = temporary("No recipients");
    return nullptr;
  }
  auto writer = std::make_unique<MaildirWriter>(opt_, envelope.recipients);
  const std::string headers = trace_headers(envelope);
  // The first recipient's Maildir holds the spool; if it is unusable, the next one's may be, and
  // that recipient alone gets the error at commit time.
  Failure last{ENOENT, "open"};
  std::vector<path> tried;
  for (const auto& rcpt : envelope.recipients) {
    if (!rcpt) continue;
    const path maildir = normal(rcpt->maildir);
    if (std::find(tried.begin(), tried.end(), maildir) != tried.end()) continue;
    tried.push_back(maildir);
    last = writer->open_spool(maildir, headers);
    if (!last.err) return writer;
  }
  failure = outcome_from_errno(last.err, last.what);
  return nullptr;
}

}  // namespace mailslot::delivery
