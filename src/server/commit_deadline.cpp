// The final-dot commit under limits.delivery_timeout (issue #11, docs/reliability.md "Delivery
// timeout"): the commit runs as one disk job; when it has not finished by the deadline, every
// recipient gets 451 4.3.0 without waiting for it (a hung NFS server or fsync may never return),
// and the job removes whatever it put into new/ whenever it does return (commit_claim.hpp).
#include <spdlog/spdlog.h>

#include <exception>
#include <optional>

#include "mailslot/delivery/commit_claim.hpp"
#include "mailslot/delivery/dsn_spool.hpp"
#include "mailslot/server/connection.hpp"
#include "mailslot/server/disk_pool.hpp"
#include "mailslot/server/dsn_sender.hpp"

namespace mailslot::server {
namespace {

using Clock = std::chrono::steady_clock;

// Everything the disk job touches, and nothing of the connection: past the deadline the
// connection goes on (its next message reuses writer_ and envelope_) while the job may still be
// inside the kernel.
struct CommitWork {
  delivery::CommitClaim claim;
  std::shared_ptr<delivery::MailStore> store;
  std::unique_ptr<delivery::MessageWriter> writer;  // null: the message is still in memory
  delivery::Envelope envelope;                      // for begin() when writer is null
  std::string content;                              // the message held in memory
  std::size_t recipients = 0;
  // Issue #11: the DSN spool (null: no [dsn]) and what the job wrote there.
  std::optional<std::filesystem::path> dsn_spool;  // a copy: the job may outlive the connection
  std::optional<std::filesystem::path> dsn_file;
  std::string dsn_error;

  // On the pool. The writer is destroyed here (its destructor may unlink the spool), never on the
  // event loop.
  std::vector<delivery::Outcome> run() {
    std::unique_ptr<delivery::MessageWriter> owned = std::move(writer);
    const auto all = [this](const delivery::Outcome& o) {
      return std::vector<delivery::Outcome>(recipients, o);
    };
    // Queued behind stuck jobs past the deadline: the 451s are out, nothing is to be written.
    if (claim.cancelled()) return all(delivery::Outcome::timed_out());
    if (!owned) {
      delivery::Outcome failure;
      owned = store->begin(envelope, failure);
      if (!owned) return all(failure);
      if (auto f = owned->append(content)) return all(*f);
    }
    std::vector<delivery::Outcome> results = owned->commit(claim);
    // RFC 3461 §6.2.1: NOTIFY=SUCCESS recipients get a "delivered" report, made durable in the DSN
    // spool here, in the same job, while the copy it quotes (RET) is surely in new/. A timed-out
    // commit delivered nothing (every outcome is 451), so it spools nothing.
    if (dsn_spool && claim.state() != delivery::CommitClaim::State::timed_out) {
      dsn_file = delivery::spool_success_dsn(*dsn_spool, envelope, results, dsn_error);
    }
    return results;
  }
};

// One commit: the job's part, and the connection's side of the wait (touched only on its strand).
// Owned by the coroutine that waits for the job (and by the connection while it waits too).
struct CommitRun {
  explicit CommitRun(const Socket::executor_type& ex) : wake(ex) {}
  CommitWork work;
  std::string message_id;   // "<session>.<n>", for the log
  asio::steady_timer wake;  // the deadline; cancelled when the job returns
  std::optional<std::vector<delivery::Outcome>> outcomes;
  std::exception_ptr error;
  bool returned = false;
};

// Waits for the job on the connection's strand, for as long as it takes; the connection may have
// stopped waiting (and even closed) long before. Raw pointers only, in the pool job and here: g++ 12
// destroys the captures of a lambda passed to a coroutine twice (disk_pool.hpp); `run` is kept
// alive by the co_spawn'd lambda that calls this.
awaitable<void> run_commit_job(DiskPool* disk, CommitRun* run) {
  const auto started = Clock::now();
  CommitWork* work = &run->work;
  try {
    run->outcomes = co_await disk->run([work] { return work->run(); });
  } catch (...) {
    run->error = std::current_exception();
  }
  run->returned = true;
  run->wake.cancel();
  if (work->claim.state() != delivery::CommitClaim::State::timed_out) co_return;
  // The e2e test (test_delivery_timeout.py) waits for this line.
  const auto& u = work->claim.undo;
  const auto secs = std::chrono::duration<double>(Clock::now() - started).count();
  const auto level = u.failed > 0 ? spdlog::level::err : spdlog::level::warn;
  spdlog::log(level,
              "session={} timed-out delivery undone: disk job returned after {:.3f}s; {} copies removed from "
              "new/, {} already taken from new/ by a reader, {} not removable; spool removed",
              run->message_id, secs, u.removed, u.missing, u.failed);
}

}  // namespace

awaitable<std::vector<delivery::Outcome>> Connection::commit_within_deadline(std::optional<std::filesystem::path>& dsn_file,
                                                                            std::string& dsn_error) {
  auto run = std::make_shared<CommitRun>(socket_.get_executor());
  CommitWork& work = run->work;
  work.store = ctx_.store;
  work.recipients = envelope_.recipients.size();
  work.writer = std::move(writer_);
  if (!work.writer) work.content = std::move(pending_);  // a small message: spool, write and commit in the one job
  if (ctx_.dsn != nullptr) work.dsn_spool = ctx_.dsn->spool();
  run->message_id = envelope_.session_id;
  // The job needs the envelope for begin() (a message still in memory) and for a success DSN only.
  // It is lent, not copied, and given back when the job returns; after a timeout the job may still
  // be reading it, so the connection takes a copy then (both sides only read it meanwhile).
  const bool lent = !work.writer || work.dsn_spool;
  if (lent) work.envelope = std::move(envelope_);
  const auto started = Clock::now();
  commit_deadline_ = started + ctx_.config->timeouts.delivery;
  commit_wake_ = &run->wake;  // abort() may bring the deadline forward
  run->wake.expires_at(commit_deadline_);
  DiskPool* disk = ctx_.disk;
  asio::co_spawn(
      socket_.get_executor(), [run, disk]() { return run_commit_job(disk, run.get()); }, asio::detached);

  while (!run->returned) {
    error_code ec;
    co_await run->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (run->returned || Clock::now() < commit_deadline_) continue;
    if (work.claim.time_out()) {
      commit_wake_ = nullptr;
      if (lent) envelope_ = work.envelope;
      spdlog::warn(
          "session={} delivery timed out after {:.3g}s: 451 4.3.0 for {} recipient(s); copies already in "
          "new/ are removed when the disk job returns",
          run->message_id, std::chrono::duration<double>(Clock::now() - started).count(), work.recipients);
      co_return std::vector<delivery::Outcome>(work.recipients, delivery::Outcome::timed_out());
    }
    // The job claimed first: its copies are durable and its result is on its way.
    run->wake.expires_at(Clock::time_point::max());
    commit_deadline_ = Clock::time_point::max();
  }
  commit_wake_ = nullptr;
  if (lent) envelope_ = std::move(work.envelope);  // the job has returned: nobody else reads it
  if (run->error) std::rethrow_exception(run->error);
  dsn_file = std::move(work.dsn_file);
  dsn_error = std::move(work.dsn_error);
  co_return std::move(*run->outcomes);
}

}  // namespace mailslot::server
