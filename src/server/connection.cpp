// One LMTP connection: socket ⇄ lmtp::Session, requests → recipients and the mail store.
#include "mailslot/server/connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "mailslot/config/network.hpp"
#include "mailslot/delivery/dsn_report.hpp"
#include "mailslot/delivery/dsn_spool.hpp"
#include "mailslot/server/dsn_sender.hpp"
#include "mailslot/server/log_format.hpp"

namespace mailslot::server {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Read sizes: small while waiting for commands keeps idle sessions cheap; large inside DATA
// keeps bodies streaming in few system calls.
constexpr std::size_t kCommandReadSize = 4 * 1024;
constexpr std::size_t kDataReadSize = 64 * 1024;
// Messages up to this size are held in memory until the final "." and written in one disk job.
constexpr std::size_t kInMemoryMessage = 64 * 1024;
// The first bytes of each message are kept until the commit to find the MTA's queue id in its
// top Received: header (Postfix: "with ESMTP id 4Xb7Qm1Fz9z9rwT"; Exim: "id 1tEa8h-0003Kc-1x").
constexpr std::size_t kQueueIdHead = 4 * 1024;
// At the shutdown bound, a commit still running gets this long before its 451s (Server's force
// bound is 1 s: the replies must go out before it).
constexpr auto kAbortCommitGrace = 500ms;

// Session ids: the process start time and a counter, short enough to grep, unique per host.
std::string next_session_id() {
  static const auto start = static_cast<unsigned long long>(std::time(nullptr));
  static std::atomic<unsigned long long> counter{0};
  return fmt::format("{:x}-{:06x}", start, ++counter);
}

lmtp::Reply reply_for(const delivery::Resolution& r, const std::string& address) {
  using S = delivery::Resolution::Status;
  std::string why = r.reason.empty() ? std::string() : " (" + r.reason + ")";
  switch (r.status) {
    case S::ok:
      return {250, "2.1.5", "<" + address + "> OK"};
    case S::unknown_user:
      return {550, "5.1.1", "<" + address + "> User unknown" + why};
    case S::unknown_domain:
      return {550, "5.1.2", "<" + address + "> Domain not served here" + why};
    case S::bad_mailbox:
      return {550, "5.1.3", "<" + address + "> Mailbox name not allowed" + why};
    case S::over_quota:  // RFC 3463 X.2.2 mailbox full
      return {552, "5.2.2", "<" + address + "> Mailbox is over quota"};
    case S::over_quota_tempfail:
      return {452, "4.2.2", "<" + address + "> Mailbox is over quota"};
    case S::temporary:
      break;
  }
  return {451, "4.3.0", "<" + address + "> Temporary lookup failure" + why};
}

lmtp::Reply reply_for(const delivery::Outcome& o, const std::string& address, const std::string& id) {
  if (o.delivered()) return {250, "2.0.0", "<" + address + "> " + id + (o.duplicate ? " duplicate suppressed" : " Saved")};
  return {o.code, o.enhanced, "<" + address + "> " + o.text};
}

const char* status_word(const delivery::Outcome& o) {
  switch (o.kind) {
    case delivery::Outcome::Kind::delivered:
      return "delivered";
    case delivery::Outcome::Kind::temporary:
      return "deferred";
    case delivery::Outcome::Kind::permanent:
      break;
  }
  return "rejected";
}

// docs/reliability.md "Slow disk": while the disk queue is full, new transactions are refused with
// 451 4.3.2 (the MTA retries later); connections, other commands and transactions under way go on.
// Changes are logged for the process, not per connection, and each kind at most every 10 s: a
// queue hovering at its limit must not flood the log.
std::optional<lmtp::Reply> transaction_refusal(const DiskPool& disk) {
  static std::atomic<bool> refusing{false};
  static std::atomic<Clock::rep> next_full_log{0}, next_drained_log{0};
  const bool full = !disk.admits_new_work();
  if (full != refusing.exchange(full)) {
    auto& next = full ? next_full_log : next_drained_log;
    const Clock::rep now = Clock::now().time_since_epoch().count();
    if (Clock::rep due = next.load(); now >= due && next.compare_exchange_strong(due, now + Clock::duration(10s).count())) {
      if (full) {
        spdlog::warn("disk queue full ({} jobs queued or running): new transactions get 451 4.3.2", disk.pending());
      } else {
        spdlog::info("disk queue below its limit again: new transactions accepted");
      }
    }
  }
  if (!full) return std::nullopt;
  return lmtp::Reply{451, "4.3.2", "Disk busy, try again later"};
}

}  // namespace

Connection::Connection(Socket socket, Context ctx, Server& server, std::string client_address, std::string listener,
                       const config::Listener* settings)
    : socket_(std::move(socket)),
      ctx_(std::move(ctx)),
      server_(server),
      client_(std::move(client_address)),
      listener_(std::move(listener)),
      settings_(settings),
      id_(next_session_id()),
      session_(session_options()),
      command_buf_(std::make_unique_for_overwrite<char[]>(kCommandReadSize)),
      timer_(socket_.get_executor()),
      deadline_(Clock::now()),
      armed_(Clock::now()),
      started_(Clock::now()) {
  if (settings != nullptr && ctx_.tls) implicit_tls_ = settings->tls;
  if (settings != nullptr) auth_ = settings->auth;
}

Connection::Connection(int in_fd, int out_fd, const Socket::executor_type& ex, Context ctx, Server& server,
                       std::string client_address)
    : Connection(Socket(ex), std::move(ctx), server, std::move(client_address), "stdio", nullptr) {
  stream_.use_descriptors(in_fd, out_fd);
}

Connection::~Connection() = default;

lmtp::SessionOptions Connection::session_options() const {
  const auto& ext = ctx_.config->extensions;
  return with_security(lmtp::SessionOptions{.hostname = ctx_.config->hostname,
                                            .limits = ctx_.config->limits,
                                            .chunking = ext.chunking,
                                            .smtputf8 = ext.smtputf8,
                                            .dsn = ctx_.dsn != nullptr,  // issue #11: only with a way to send success DSNs
                                            .xforward = config::client_in_networks(client_, ext.xforward_from),
                                            .ignorequota = config::client_in_networks(client_, ext.ignorequota_from),
                                            .ignorequota_authenticated = ext.ignorequota_authenticated},
                       ctx_, settings_);
}

awaitable<void> Connection::run() {
  auto self = shared_from_this();
  spdlog::info("session={} connect client={} listener={}", id_, client_, listener_);
  asio::co_spawn(socket_.get_executor(), [self]() { return self->watchdog(); }, asio::detached);

  bool internal_error = false;
  try {
    // Issue #11: on a PROXY listener the header comes first, before TLS and the greeting.
    if (settings_ != nullptr && settings_->proxy_protocol && !co_await accept_proxy_header()) {
      peer_gone_ = true;  // nothing more is said: the greeting is dropped and the loop closes
      session_.receive_eof();
    } else {
      co_await begin_security();  // issue #5: implicit TLS before the greeting; SASL mechanisms
    }
    for (;;) {
      while (session_.has_request()) co_await perform(session_.request());
      co_await flush();
      if (abort_after_commit_) break;       // shutdown bound: the commit's replies are out, close
      if (session_.has_request()) continue;  // a failed write asked for the spool to go
      if (session_.closed()) break;
      if (shutdown_requested_ && !session_.draining()) {
        session_.drain();  // RFC 5321 §3.8: 421 before closing on our own initiative
        continue;
      }

      const bool in_data = session_.reading_content();  // DATA after 354, or a BDAT chunk's octets
      // The large buffer exists only while a message is coming in (idle sessions stay small);
      // allocated uninitialised: zero-filling 64 KiB per message showed up in the profile.
      if (in_data && !data_buf_) data_buf_ = std::make_unique_for_overwrite<char[]>(kDataReadSize);
      if (!in_data) data_buf_.reset();
      auto buf = in_data ? asio::buffer(data_buf_.get(), kDataReadSize) : asio::buffer(command_buf_.get(), kCommandReadSize);
      set_deadline(in_data ? ctx_.config->timeouts.data : ctx_.config->timeouts.command);
      reading_ = true;
      error_code ec;
      std::size_t n = co_await stream_.read_some(buf, ec);
      reading_ = false;
      io_pending_ = false;
      if (!ec) {
        session_.refuse_new_transactions(transaction_refusal(*ctx_.disk));
        session_.receive(std::string_view(static_cast<const char*>(buf.data()), n));
      } else if (timed_out_ && ec == asio::error::operation_aborted) {
        spdlog::info("session={} timeout in state {}", id_, in_data ? "DATA" : "command");
        timeout_closed_ = true;
        session_.timeout();
      } else if (ec == asio::error::operation_aborted && shutdown_requested_ && stream_.is_open()) {
        continue;  // woken to answer 421; the loop head does it
      } else {
        if (ec != asio::error::eof && ec != asio::error::operation_aborted) {
          spdlog::debug("session={} read: {}", id_, ec.message());
        }
        peer_gone_ = peer_gone_ || ec != asio::error::eof;
        eof_seen_ = eof_seen_ || ec == asio::error::eof;
        session_.receive_eof();
      }
    }
  } catch (const std::exception& e) {
    // Never reached by anything a client can send; a bug or resource exhaustion. Drop this
    // connection, keep the daemon.
    spdlog::error("session={} internal error: {}", id_, e.what());
    internal_error = true;
  }

  if (writer_) {  // the message never reached commit: nothing must stay in tmp/
    auto w = std::move(writer_);
    try {
      co_await ctx_.disk->run([&w] {
        std::unique_ptr<delivery::MessageWriter> owned = std::move(w);
        owned->discard();
      });
    } catch (const std::exception& e) {
      spdlog::error("session={} discard failed: {}", id_, e.what());
    }
  }
  data_ended();
  done_ = true;
  ending_ = decide_ending(internal_error);
  stream_.close();
  timer_.cancel();
  auto secs = std::chrono::duration<double>(Clock::now() - started_).count();
  spdlog::info("session={} disconnect client={} messages={} duration={:.3f}s", id_, client_,
               session_.messages_committed(), secs);
  server_.connection_finished(this);
}

// One deadline per connection, watched by one timer: an I/O operation only moves deadline_, so
// a busy connection costs no timer operations per read. The timer is re-armed when it fires
// early, and woken only when a deadline moves earlier than where it is armed.
awaitable<void> Connection::watchdog() {
  auto self = shared_from_this();
  while (!done_) {
    if (io_pending_ && deadline_ <= Clock::now()) {
      timed_out_ = true;
      stream_.cancel();
    }
    armed_ = io_pending_ ? deadline_ : Clock::now() + 24h;
    timer_.expires_at(armed_);
    error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

Connection::Ending Connection::decide_ending(bool internal_error) const {
  if (internal_error) return Ending::internal;
  if (session_.quit_answered()) return Ending::quit;
  if (timeout_closed_) return Ending::timeout;
  if (shutdown_requested_ || aborted_) return Ending::shutdown;
  if (eof_seen_) return Ending::peer_closed;
  if (peer_gone_) return Ending::io_error;
  return Ending::protocol;
}

void Connection::set_deadline(std::chrono::milliseconds timeout) {
  timed_out_ = false;
  deadline_ = Clock::now() + timeout;
  io_pending_ = true;
  if (deadline_ < armed_) timer_.cancel();
}

void Connection::request_shutdown() {
  shutdown_requested_ = true;
  if (awaiting_proxy_) {  // issue #11: no greeting yet, nothing to answer: stop waiting for the header
    error_code ignored;
    socket_.cancel(ignored);
    return;
  }
  // While a read is pending the output is flushed and no request is out, so the session may be
  // told now: in DATA it only notes it (the message finishes, nothing pipelined behind the "."
  // is taken); otherwise it answers 421 and the read is woken to send it. At any other moment
  // the loop head tells it, never while a write holds the session's output buffer.
  if (!reading_) return;
  session_.drain();
  if (session_.state() != lmtp::Session::State::data) stream_.cancel();
}

void Connection::abort() {
  // A message whose commit is on the disk may already be in new/: closing now would leave the MTA
  // without its 250 and it would deliver the message again. Let the commit finish and its replies
  // go out (also when they are being written now); the loop closes right after. The server's
  // force timer still bounds the wait.
  if (awaiting_proxy_) {  // issue #11: still waiting for the PROXY header; nothing to answer
    peer_gone_ = true;
    error_code ignored;
    socket_.close(ignored);
    return;
  }
  const bool writing = io_pending_ && !reading_;
  if (committing_ || writing) {
    spdlog::warn("session={} shutdown bound reached during a commit: closing after its replies", id_);
    abort_after_commit_ = true;
    // A commit still running now may be stuck on the disk: its delivery deadline moves to within
    // the server's 1 s force bound, so the MTA gets 451s (and the copies are undone) instead of a
    // lost connection after "." (commit_deadline.cpp).
    if (commit_wake_ != nullptr) {
      commit_deadline_ = std::min(commit_deadline_, Clock::now() + kAbortCommitGrace);
      commit_wake_->expires_at(commit_deadline_);
    }
    return;
  }
  spdlog::warn("session={} closed by shutdown timeout", id_);
  aborted_ = true;
  if (reading_) {
    // Nothing of ours is in flight while a read is pending, so a 421 cannot interleave with another
    // reply. RFC 5321 §3.8: the client learns the message was not taken (it retries); a
    // non-blocking send in clear only, dropped if the client's window is full.
    stream_.send_now(fmt::format("421 4.3.2 {} Service shutting down, message not delivered\r\n",
                                 ctx_.config->hostname));
  }
  peer_gone_ = true;
  stream_.close();
}

awaitable<void> Connection::flush() {
  while (!session_.output().empty()) {
    if (peer_gone_ || !stream_.is_open()) {
      session_.consume_output(session_.output().size());
      break;
    }
    error_code ec;
    auto out = session_.output();
    set_deadline(ctx_.config->timeouts.command);  // a client that never reads times out too
    std::size_t n = co_await stream_.write(asio::buffer(out.data(), out.size()), ec);
    io_pending_ = false;
    session_.consume_output(n);
    if (ec) {
      spdlog::debug("session={} write: {}", id_, ec.message());
      peer_gone_ = true;
      session_.consume_output(session_.output().size());
      session_.receive_eof();
    }
  }
}

awaitable<void> Connection::perform(const lmtp::Request& request) {
  if (const auto* r = std::get_if<lmtp::CheckRecipient>(&request)) {
    co_await check_recipient(*r);
  } else if (std::holds_alternative<lmtp::OpenMessage>(request)) {
    co_await open_message();
  } else if (const auto* a = std::get_if<lmtp::AppendBody>(&request)) {
    co_await append_body(a->data);
  } else if (std::holds_alternative<lmtp::CommitMessage>(request)) {
    co_await commit_message();
  } else if (std::holds_alternative<lmtp::DiscardMessage>(request)) {
    co_await discard_message();
  } else if (std::holds_alternative<lmtp::StartTls>(request)) {
    co_await start_tls();
  } else if (const auto* au = std::get_if<lmtp::Authenticate>(&request)) {
    co_await authenticate(*au);
  }
}

awaitable<void> Connection::check_recipient(const lmtp::CheckRecipient& r) {
  // Lookups are in memory; what blocks (re-reading a changed passwd-file or aliases file, NSS for
  // system users, reading maildirsize) runs on the disk pool (recipient_check.cpp).
  delivery::Resolution res = co_await resolve_recipient(r);
  std::string address = res.mailbox ? res.mailbox->address : r.forward_path.mailbox.to_string();
  lmtp::RecipientVerdict verdict{reply_for(res, address), nullptr};
  if (res.status == delivery::Resolution::Status::ok) {
    verdict.resolved = std::static_pointer_cast<const void>(res.mailbox);
  } else {
    ctx_.metrics->rcpt_rejected_total.fetch_add(1, std::memory_order_relaxed);
    // The delivery line's keys (docs/operations.md), so JSON logs carry refused RCPTs as fields too.
    using K = LogField::Kind;
    log_event(spdlog::level::info, {{"session", id_},
                                    {"client", client_},
                                    {"from", session_.transaction().reverse_path.to_string()},
                                    {"to", "<" + address + ">"},
                                    {"status", "rejected"},
                                    {"code", std::to_string(verdict.reply.code), K::number},
                                    {"dsn", verdict.reply.enhanced},
                                    {"reason", verdict.reply.text, K::quoted}});
  }
  session_.recipient_checked(std::move(verdict));
  co_return;
}

awaitable<void> Connection::open_message() {
  const lmtp::Transaction& txn = session_.transaction();
  ++message_index_;
  envelope_ = delivery::Envelope{};
  envelope_.reverse_path = txn.reverse_path.null ? std::string() : txn.reverse_path.mailbox.to_string();
  for (const auto& rcpt : txn.recipients) {
    envelope_.recipients.push_back(std::static_pointer_cast<const delivery::Mailbox>(rcpt.resolved));
    // RFC 3461 §4.2 ORCPT (only when DSN is offered) and the address as sent, for X-Original-To.
    envelope_.original_recipients.push_back(rcpt.orcpt && rcpt.orcpt->is_rfc822() ? rcpt.orcpt->address : "");
    envelope_.forward_paths.push_back(rcpt.forward_path.mailbox.to_string());
    envelope_.dsn_notify.push_back(rcpt.notify);
    envelope_.ignore_quota.push_back(rcpt.ignore_quota);
  }
  envelope_.dsn_envid = txn.dsn_envid;
  envelope_.dsn_ret = txn.dsn_ret;
  envelope_.smtputf8 = txn.smtputf8;
  envelope_.x_original_to = ctx_.config->mail.x_original_to;
  envelope_.per_recipient_headers = ctx_.config->mail.per_recipient_headers;
  envelope_.client_helo = session_.client_name();
  envelope_.client_address = client_ == "unix" || client_ == "stdio" ? std::string() : client_;
  if (client_ == "stdio") envelope_.client_name = "stdio";  // --stdio mode: "Received: from helo (stdio)"
  // XFORWARD/XCLIENT from a trusted client (lmtp.xforward_from): Received: names the original client.
  if (const lmtp::ForwardedClient f = session_.forwarded(); f.any()) {
    if (!f.helo.empty()) envelope_.client_helo = f.helo;
    envelope_.client_address = f.addr;
    envelope_.client_name = f.name;
  }
  envelope_.session_id = fmt::format("{}.{}", id_, message_index_);
  envelope_.hostname = ctx_.config->hostname;
  envelope_.received_at = std::chrono::system_clock::now();
  data_started_ = Clock::now();
  head_.clear();
  if (!counted_in_data_) {
    counted_in_data_ = true;
    ctx_.metrics->sessions_in_data.fetch_add(1, std::memory_order_relaxed);
  }

  // The spool is not opened yet: content is held in memory up to kInMemoryMessage, so a small
  // message costs one disk job (open, write, fsync, link, fsync) at the final "." instead of
  // three, and 354 goes out without waiting for the disk.
  writer_.reset();
  pending_.clear();
  session_.message_opened(std::nullopt);
  co_return;
}

// On the pool: creates the spool and writes what was held in memory plus `more`.
std::optional<delivery::Outcome> Connection::open_spool(std::string_view more) {
  delivery::Outcome failure;
  writer_ = ctx_.store->begin(envelope_, failure);
  if (!writer_) return failure;
  if (auto f = writer_->append(pending_)) return f;
  if (!more.empty()) return writer_->append(more);
  return std::nullopt;
}

awaitable<void> Connection::append_body(std::string_view data) {
  if (head_.size() < kQueueIdHead) head_.append(data.substr(0, kQueueIdHead - head_.size()));
  std::optional<delivery::Outcome> failure;
  if (!writer_ && pending_.size() + data.size() <= kInMemoryMessage) {
    pending_.append(data);  // no disk work yet
  } else if (!writer_) {
    failure = co_await ctx_.disk->run([this, data] { return open_spool(data); });
    release_pending();
  } else {
    auto* w = writer_.get();
    failure = co_await ctx_.disk->run([w, data] { return w->append(data); });
  }
  if (failure) {
    spdlog::warn("session={} spool write failed: {} {} {}", id_, failure->code, failure->enhanced, failure->text);
    session_.body_appended(lmtp::Reply{failure->code, failure->enhanced, failure->text});
  } else {
    session_.body_appended(std::nullopt);
  }
}

awaitable<void> Connection::commit_message() {
  // One disk job: for a message still in memory, the spool is created, written and committed in
  // it. It takes the writer (destroyed there, never on the event loop) and is waited for no longer
  // than limits.delivery_timeout (commit_deadline.cpp).
  const auto commit_started = Clock::now();
  committing_ = true;
  // Issue #11, RFC 3461 §6.2.1: the job also writes the "delivered" report for NOTIFY=SUCCESS
  // recipients into the DSN spool (commit_deadline.cpp); only submitting it is left for later.
  std::optional<std::filesystem::path> dsn_file;
  std::string dsn_error;
  std::vector<delivery::Outcome> outcomes = co_await commit_within_deadline(dsn_file, dsn_error);
  committing_ = false;
  ctx_.metrics->commit_seconds.observe(Clock::now() - commit_started);
  release_pending();
  const auto& rcpts = envelope_.recipients;
  outcomes.resize(rcpts.size(), delivery::Outcome{delivery::Outcome::Kind::temporary, 451, "4.3.0",
                                                  "Internal error: no delivery result", ""});
  log_deliveries(outcomes);
  if (dsn_file || !dsn_error.empty()) log_dsn_queued(outcomes, dsn_file, dsn_error);
  std::vector<lmtp::Reply> replies;
  replies.reserve(outcomes.size());
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    replies.push_back(reply_for(outcomes[i], rcpts[i] ? rcpts[i]->address : std::string(), envelope_.session_id));
  }
  // RFC 2033 §4.2: the replies go out only now, after every copy is durable or has failed.
  session_.message_committed(std::move(replies));
  data_ended();
}

awaitable<void> Connection::discard_message() {
  release_pending();
  if (writer_) {
    auto w = std::move(writer_);
    co_await ctx_.disk->run([&w] {
      std::unique_ptr<delivery::MessageWriter> owned = std::move(w);
      owned->discard();
    });
  }
  if (session_.state() != lmtp::Session::State::closed && session_.transaction().recipients.empty()) {
    // RSET or LHLO between BDAT chunks: the client abandoned the message; nothing was refused.
    spdlog::info("session={} client={} from=<{}> message abandoned by the client", id_, client_,
                 envelope_.reverse_path);
  } else if (session_.state() != lmtp::Session::State::closed) {
    spdlog::info("session={} client={} from=<{}> status=rejected size={} message discarded", id_, client_,
                 envelope_.reverse_path, session_.transaction().message_size);
  }
  session_.message_discarded();
  data_ended();
}

// Idle sessions must stay small: the in-memory copy of a message is freed once it is on disk.
void Connection::release_pending() {
  pending_.clear();
  if (pending_.capacity() > kCommandReadSize) std::string().swap(pending_);
}

void Connection::data_ended() {
  head_.clear();
  if (head_.capacity() > kQueueIdHead) std::string().swap(head_);
  if (counted_in_data_) {
    counted_in_data_ = false;
    ctx_.metrics->sessions_in_data.fetch_sub(1, std::memory_order_relaxed);
  }
}

// Issue #11: one line per success DSN written to the spool (or why it could not be).
void Connection::log_dsn_queued(const std::vector<delivery::Outcome>& outcomes,
                                const std::optional<std::filesystem::path>& file, const std::string& error) {
  using K = LogField::Kind;
  const auto which = delivery::success_dsn_recipients(envelope_, outcomes);
  std::string rcpts;
  for (std::size_t i : which) rcpts += (rcpts.empty() ? "<" : ",<") + envelope_.forward_paths[i] + ">";
  if (file) {
    log_event(spdlog::level::info, {{"session", envelope_.session_id},
                                    {"dsn_report", "queued"},
                                    {"to", "<" + envelope_.reverse_path + ">"},
                                    {"recipients", rcpts},
                                    {"file", file->filename().string()}});
    ctx_.dsn->wake();
  } else {
    // The deliveries stand (their 250s go out); only the report is missing: say so loudly.
    log_event(spdlog::level::err, {{"session", envelope_.session_id},
                                   {"dsn_report", "failed"},
                                   {"to", "<" + envelope_.reverse_path + ">"},
                                   {"recipients", rcpts},
                                   {"reason", error, K::quoted}});
  }
}

// One line per recipient with stable keys (docs/operations.md, "Log lines").
void Connection::log_deliveries(const std::vector<delivery::Outcome>& outcomes) {
  const auto elapsed = Clock::now() - data_started_;
  auto& m = *ctx_.metrics;
  m.delivery_seconds.observe(elapsed);
  m.messages_total.fetch_add(1, std::memory_order_relaxed);
  const auto size = session_.transaction().message_size;
  m.received_bytes_total.fetch_add(size, std::memory_order_relaxed);
  // XFORWARD IDENT (the MTA's queue id, said outright) before the top Received: header's id.
  const lmtp::ForwardedClient fwd = session_.forwarded();
  const std::string queue_id = fwd.ident.empty() ? queue_id_from_head(head_) : fwd.ident;
  const auto& txn_rcpts = session_.transaction().recipients;
  using K = LogField::Kind;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const auto& o = outcomes[i];
    const auto& mb = envelope_.recipients[i];
    (o.delivered() ? m.delivered_total : o.kind == delivery::Outcome::Kind::temporary ? m.deferred_total : m.rejected_total)
        .fetch_add(1, std::memory_order_relaxed);
    // The line below costs a dozen strings; none of them when its level is not logged (issue #3).
    const auto level = o.delivered() ? spdlog::level::info : spdlog::level::warn;
    if (!spdlog::should_log(level)) continue;
    const std::string orig_to = i < txn_rcpts.size() ? original_recipient(txn_rcpts[i]) : std::string();
    std::vector<LogField> fields{{"session", envelope_.session_id},
                                 {"client", client_},
                                 {"from", "<" + envelope_.reverse_path + ">"},
                                 {"to", "<" + (mb ? mb->address : std::string()) + ">"},
                                 {"orig_to", "<" + orig_to + ">"},
                                 {"mailbox", mb ? mb->maildir.string() : std::string()},
                                 {"size", std::to_string(size), K::number},
                                 {"status", status_word(o)},
                                 {"code", std::to_string(o.code), K::number},
                                 {"dsn", o.enhanced},
                                 {"delay", fmt::format("{:.4f}", std::chrono::duration<double>(elapsed).count()), K::number},
                                 {"queue_id", queue_id},
                              {o.delivered() ? "file" : "reason", o.delivered() ? o.location : o.text,
                o.delivered() ? K::text : K::quoted}};
    // The other RFC 3461 parameters, only when the client sent them.
    if (i < envelope_.dsn_notify.size() && envelope_.dsn_notify[i] != 0)
      fields.push_back({"notify", lmtp::dsn_notify_text(envelope_.dsn_notify[i])});
    if (envelope_.dsn_envid) fields.push_back({"envid", *envelope_.dsn_envid, K::quoted});
    if (envelope_.dsn_ret != lmtp::DsnRet::unspecified)
      fields.push_back({"ret", envelope_.dsn_ret == lmtp::DsnRet::full ? "FULL" : "HDRS"});
    // The original client from a trusted XFORWARD/XCLIENT (issue #8).
    if (fwd.any()) {
      fields.push_back({"orig_client", fwd.name.empty() ? fwd.addr : fwd.name + "[" + fwd.addr + "]", K::quoted});
      if (!fwd.helo.empty()) fields.push_back({"orig_helo", fwd.helo, K::quoted});
    }
    // IGNOREQUOTA from a trusted client (issue #11): the quota was not enforced for this copy.
    if (i < envelope_.ignore_quota.size() && envelope_.ignore_quota[i]) fields.push_back({"ignorequota", "yes"});
    if (o.duplicate) fields.push_back({"duplicate", "suppressed"});  // issue #11: not written again
    log_event(level, fields);
  }
}

}  // namespace mailslot::server
