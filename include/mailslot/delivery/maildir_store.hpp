// Maildir delivery following the durability contract (docs/reliability.md, ARCHITECTURE.md):
// spool in tmp/ of the first recipient's Maildir → fsync → link() (copy across file systems)
// into each recipient's new/ under a fresh unique name → fsync each new/ → one outcome each.
// With Envelope::per_recipient_headers and several RCPTs, the spool holds the body alone and each
// recipient gets a file of its own (its header block + the body, copy_file_range) instead of a link.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "mailslot/delivery/fs.hpp"
#include "mailslot/delivery/mail_store.hpp"

namespace mailslot::delivery {

class DuplicateDb;  // duplicates.hpp

struct MaildirStoreOptions {
  std::string hostname;  // for unique names; sanitised by maildir_name; empty → gethostname()
  bool fsync = true;     // false only for benchmarks of the protocol path; never in production
  // mail.root: every Maildir must lie below it, and no symlink below it is ever followed (the root
  // itself may be reached through symlinks above it). Empty means "/" (tests only).
  std::filesystem::path root = {};  // "= {}": aggregate init without it stays warning-free (-Wextra)
  // Every file-system call of the store goes through this seam (fs.hpp); null means fs::posix().
  // Tests put an fs::FaultyFileSystem (fs_faults.hpp) here to fail or slow down chosen calls.
  std::shared_ptr<fs::FileSystem> file_system = {};
  // Over quota at commit: 452 4.2.2 instead of 552 5.2.2 (mail.quota_full_tempfail).
  bool quota_full_tempfail = false;
  // The wall clock of the 36-hour tmp/ sweep (maildir_sweep.hpp); null means system_clock::now.
  // Tests set a clock days ahead instead of waiting.
  std::function<std::chrono::system_clock::time_point()> clock = {};
  // How many Maildirs the process remembers as first-touched (fsynced and swept), and for how
  // long; see DurableMaildirs (maildir_dirs.hpp).
  std::size_t known_maildirs = 65536;
  std::chrono::seconds known_maildir_age = std::chrono::hours(24);
  // Duplicate suppression (duplicates.hpp, config [duplicates]); null: off. A copy whose
  // (Message-ID, Maildir) was recorded within the window is answered 250 and not written again.
  std::shared_ptr<DuplicateDb> duplicates = {};
  // Recently walked Maildirs whose tmp/ and new/ stay open (OpenMaildirs, maildir_dirs.hpp): how
  // many, and for how long after their walk. 0 (the default here, so that tests see every walk):
  // each transaction walks from the root. The daemon turns it on (app/resources.cpp).
  std::size_t open_maildirs = 0;
  std::chrono::milliseconds open_maildir_ttl = std::chrono::milliseconds(0);
};

class DurableMaildirs;
class OpenMaildirs;

// begin() spools in tmp/ of the first recipient whose Maildir is usable (creating Maildirs as
// needed, mode 0700). A recipient whose Maildir path holds a symlink below the root, or lies outside
// the root, gets 451 4.3.0 and nothing is written for it. A writer destroyed without commit() or discard()
// unlinks its spool, which blocks: destroy writers on the disk pool, like every other call here.
class MaildirStore final : public MailStore {
 public:
  explicit MaildirStore(MaildirStoreOptions options);
  std::unique_ptr<MessageWriter> begin(const Envelope& envelope, Outcome& failure) override;

  // Stray files removed from tmp/ by the 36-hour sweep so far (tests, and a log line one day).
  std::uint64_t tmp_swept() const { return swept_->load(); }

 private:
  MaildirStoreOptions opt_;
  std::shared_ptr<DurableMaildirs> durable_;  // shared with the writers, which may outlive the store
  std::shared_ptr<OpenMaildirs> open_;        // likewise
  std::shared_ptr<std::atomic<std::uint64_t>> swept_ = std::make_shared<std::atomic<std::uint64_t>>(0);
};

// Accepts and discards: for protocol benchmarks and tests that must not depend on the disk.
class NullStore final : public MailStore {
 public:
  std::unique_ptr<MessageWriter> begin(const Envelope& envelope, Outcome& failure) override;
};

}  // namespace mailslot::delivery
