// Where messages go. Every method here blocks on the disk: the server calls them on its worker
// pool, never on the event loop.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "mailslot/delivery/commit_claim.hpp"
#include "mailslot/delivery/envelope.hpp"
#include "mailslot/delivery/outcome.hpp"

namespace mailslot::delivery {

// One message being received: a spool that content is appended to, then committed to every
// recipient or discarded. Not thread-safe; used by one session at a time.
class MessageWriter {
 public:
  virtual ~MessageWriter() = default;
  // Appends decoded message content. On error nothing more should be appended; the caller
  // discards. The returned outcome says how recipients are answered.
  virtual std::optional<Outcome> append(std::string_view data) = 0;
  // Makes the message durable for every recipient of the envelope and removes the spool.
  // Returns exactly one outcome per envelope recipient, in order. `claim` (commit_claim.hpp): the
  // writer links nothing into new/ once it is cancelled, and calls claim.finish() when its copies
  // are durable, before recording them; when that fails it removes every copy it made.
  virtual std::vector<Outcome> commit(CommitClaim& claim) = 0;
  // Without a deadline (tests, `mailslotd deliver`): a claim nobody times out.
  std::vector<Outcome> commit() {
    CommitClaim claim;
    return commit(claim);
  }
  // Removes the spool; nothing is delivered. Safe to call after a failed append or commit.
  virtual void discard() = 0;
};

class MailStore {
 public:
  virtual ~MailStore() = default;
  // Creates the spool for this envelope (trace headers written first). On failure returns
  // nullptr and sets `failure` to the outcome for every recipient.
  virtual std::unique_ptr<MessageWriter> begin(const Envelope& envelope, Outcome& failure) = 0;
};

}  // namespace mailslot::delivery
