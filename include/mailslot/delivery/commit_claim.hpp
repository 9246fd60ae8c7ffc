// The commit/cancel protocol between a commit running on the disk pool and the connection that
// waits for it no longer than limits.delivery_timeout (docs/reliability.md "Delivery timeout").
// One atomic decides who owns the outcome of the message:
//   the job, once every copy is durable:      running → finished   (finish())
//   the connection, when the deadline passes:  running → timed_out  (time_out())
// Exactly one of them wins. If the job wins, its replies go out as usual. If the connection wins,
// it answers 451 4.3.0 for every recipient without waiting for the job (a hung NFS server or
// fsync may never return), and the job, whenever it gets there, links nothing more into new/,
// removes every name it already linked there, records no duplicate or quota entry and removes its
// spool: "451 means not delivered" stays true.
#pragma once

#include <atomic>
#include <cstddef>

namespace mailslot::delivery {

class CommitClaim {
 public:
  enum class State { running, finished, timed_out };

  // The job, before each link into new/ (and before any work at all): a timed-out commit links
  // nothing more. Only a hint: the result is decided by finish(), so a link racing the deadline is
  // undone like any other.
  bool cancelled() const { return state_.load(std::memory_order_acquire) == State::timed_out; }

  // The job, when its copies are durable and before it records them anywhere: true means the
  // delivery stands; false means the connection has answered 451 and the job must undo its copies.
  bool finish() { return claim(State::finished); }

  // The connection, when the deadline passes: true means it answers 451 now and the job undoes its
  // copies; false means the job finished first and its result is on its way.
  bool time_out() { return claim(State::timed_out); }

  State state() const { return state_.load(std::memory_order_acquire); }

  // What the undo of a timed-out commit did (set by the job before it returns; read by the
  // connection once the job has returned, for its log line).
  struct Undo {
    std::size_t removed = 0;  // names removed from new/
    std::size_t missing = 0;  // names already gone from new/ (a reader moved them to cur/ meanwhile)
    std::size_t failed = 0;   // names that could not be removed (an error other than ENOENT)
  };
  Undo undo;

 private:
  bool claim(State to) {
    State expected = State::running;
    return state_.compare_exchange_strong(expected, to, std::memory_order_acq_rel, std::memory_order_acquire);
  }

  std::atomic<State> state_{State::running};
};

}  // namespace mailslot::delivery
