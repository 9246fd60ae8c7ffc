// From the accepted RCPTs to the Maildirs written, before anything is written (on the disk pool):
// alias targets become one destination each, "+detail" picks or creates its Maildir++ folder, a
// mailbox directory owned by someone else is refused, and the per-destination results are folded
// back into one outcome per RCPT (RFC 2033 §4.2: one reply per RCPT, whatever an alias expands to).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "mailslot/delivery/envelope.hpp"
#include "mailslot/delivery/mail_store.hpp"
#include "mailslot/delivery/outcome.hpp"

namespace mailslot::delivery {

struct Destination {
  std::shared_ptr<const Mailbox> mailbox;  // maildir: where the file goes (the folder, or the user's Maildir)
  std::size_t rcpt = 0;                    // index of the RCPT (envelope recipient) it came from
  std::filesystem::path user_maildir;      // the user's Maildir: holds maildirsize and subscriptions
  std::filesystem::path base;              // where walks to it start (mailbox base or mail.root)
  std::optional<Outcome> failure;          // refused before any write
};

// Blocking. `mail_root` is the store's root (the base of mailboxes that name none).
std::vector<Destination> plan_destinations(const std::vector<std::shared_ptr<const Mailbox>>& rcpts,
                                           const std::filesystem::path& mail_root);

// Creates the Maildir++ folder `name` in the open Maildir `maildir_fd` as it stands (the caller holds
// the user's identity): ".<name>" with cur/ new/ tmp/ and the "maildirfolder" marker, and adds
// the name to "subscriptions" so IMAP clients show it (Dovecot's dotlock and version 2 format are
// respected; a subscription that fails does not fail the folder). 0 or an errno value.
int create_folder(int maildir_fd, const std::string& name);

// One outcome per RCPT: every destination delivered → delivered; any temporary failure → that
// failure (the MTA retries the RCPT); otherwise delivered when at least one copy was, else the first
// permanent failure.
std::vector<Outcome> combine_outcomes(const std::vector<Destination>& plan, const std::vector<Outcome>& per_destination,
                                      std::size_t rcpts);

// The writer the MaildirStore hands out: forwards to the writer for the flattened destinations and
// folds its outcomes back per RCPT.
class PlannedWriter final : public MessageWriter {
 public:
  PlannedWriter(std::unique_ptr<MessageWriter> inner, std::shared_ptr<const std::vector<Destination>> plan,
                std::size_t rcpts)
      : inner_(std::move(inner)), plan_(std::move(plan)), rcpts_(rcpts) {}
  std::optional<Outcome> append(std::string_view data) override { return inner_->append(data); }
  using MessageWriter::commit;
  std::vector<Outcome> commit(CommitClaim& claim) override;
  void discard() override { inner_->discard(); }

 private:
  std::unique_ptr<MessageWriter> inner_;
  std::shared_ptr<const std::vector<Destination>> plan_;
  std::size_t rcpts_;
};

}  // namespace mailslot::delivery
