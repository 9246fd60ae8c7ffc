// Maildir delivery following the durability contract (docs/reliability.md, ARCHITECTURE.md):
// spool in tmp/ of the first recipient's Maildir → fsync → link() (copy across file systems)
// into each recipient's new/ under a fresh unique name → fsync each new/ → one outcome each.
#pragma once

#include <string>

#include "mailslot/delivery/mail_store.hpp"

namespace mailslot::delivery {

struct MaildirStoreOptions {
  std::string hostname;  // for unique names; sanitised by maildir_name; empty → gethostname()
  bool fsync = true;     // false only for benchmarks of the protocol path; never in production
};

// begin() spools in tmp/ of the first recipient whose Maildir is usable (creating Maildirs as
// needed, mode 0700). A writer destroyed without commit() or discard() unlinks its spool, which
// blocks: destroy writers on the disk pool, like every other call here.
class MaildirStore final : public MailStore {
 public:
  explicit MaildirStore(MaildirStoreOptions options);
  std::unique_ptr<MessageWriter> begin(const Envelope& envelope, Outcome& failure) override;

 private:
  MaildirStoreOptions opt_;
};

// Accepts and discards: for protocol benchmarks and tests that must not depend on the disk.
class NullStore final : public MailStore {
 public:
  std::unique_ptr<MessageWriter> begin(const Envelope& envelope, Outcome& failure) override;
};

}  // namespace mailslot::delivery
