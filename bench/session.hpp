// One client session of the load generator: a straight-line coroutine on its own strand that
// connects, greets, runs pipelined LMTP transactions (or idles), and quits. Every reply is checked;
// every connect, read and write has a deadline that the controller's sweeper enforces.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>

#include "mailslot/server/asio.hpp"
#include "message.hpp"
#include "reply_parser.hpp"
#include "stats.hpp"

namespace mailslot::bench {

namespace asio = mailslot::server::asio;
using mailslot::server::awaitable;
using mailslot::server::error_code;
using mailslot::server::Socket;
using Clock = std::chrono::steady_clock;
using Strand = asio::strand<asio::io_context::executor_type>;

// Counts sessions past a point; the controller awaits zero. The wake-up is posted to the
// controller's strand, where the count is checked and the wait begun without a gap in between.
class Latch {
 public:
  Latch(Strand strand, std::size_t count) : timer_(strand), count_(count) {
    timer_.expires_at(Clock::time_point::max());
  }

  void arrive(bool ok) {
    if (!ok) failed_.fetch_add(1);
    if (count_.fetch_sub(1) == 1) asio::post(timer_.get_executor(), [this] { timer_.cancel(); });
  }
  awaitable<void> wait() {
    while (count_.load() > 0) {
      error_code ignored;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }
  std::size_t failed() const { return failed_.load(); }

 private:
  asio::steady_timer timer_;
  std::atomic<std::size_t> count_;
  std::atomic<std::size_t> failed_{0};
};

// What all sessions share: read-only settings and the message counter that divides the work.
struct Shared {
  const Options& options;
  const MessageFactory& factory;
  asio::generic::stream_protocol::endpoint endpoint;
  bool tcp = true;
  Clock::duration timeout{};
  Clock::time_point stop_at{};  // the duration limit: no new message after this
  std::atomic<std::uint64_t> next_message{0};
  std::atomic<bool> stop_starting{false};  // SIGINT/SIGTERM in load mode

  // The next message to send, or none when the run is over for new messages.
  std::optional<std::uint64_t> claim() {
    if (stop_starting.load(std::memory_order_relaxed) || Clock::now() >= stop_at) return std::nullopt;
    std::uint64_t m = next_message.fetch_add(1, std::memory_order_relaxed);
    if (m >= options.messages) return std::nullopt;
    return m;
  }
};

class Session {
 public:
  Session(Strand strand, Shared& shared, Latch& ready, Latch& done)
      : strand_(strand), socket_(strand), shared_(shared), ready_(ready), done_(done) {}

  Strand strand() const { return strand_; }
  Stats& stats() { return stats_; }

  awaitable<void> run() {
    try {
      bool greeted = co_await open();
      if (shared_.options.idle > 0) {
        ready_.arrive(greeted);
        arrived_ready_ = true;
        if (greeted && co_await hold()) co_await quit();
      } else if (greeted) {
        while (auto m = shared_.claim()) {
          if (!co_await transaction(*m)) break;
        }
        if (socket_.is_open()) co_await quit();
      }
    } catch (const std::exception& e) {  // resource exhaustion, not the server's replies
      stats_.error("internal error", e.what());
      if (shared_.options.idle > 0 && !arrived_ready_) ready_.arrive(false);
    }
    error_code ignored;
    socket_.close(ignored);
    done_.arrive(stats_.errors == 0);
  }

  // The following run on the session's strand (posted by the controller).

  // Idle mode: the hold is over; QUIT.
  void release() {
    released_ = true;
    error_code ignored;
    socket_.cancel(ignored);
  }
  // The final hard stop: whatever is in progress fails now.
  void abort() {
    aborted_ = true;
    error_code ignored;
    socket_.close(ignored);
  }
  void check_deadline(Clock::time_point now) {
    if (now < deadline()) return;
    timed_out_ = true;
    error_code ignored;
    socket_.close(ignored);
  }

  // Read from the controller's strand: cheap enough to scan ten thousand sessions a few times a second.
  bool overdue(Clock::time_point now) const { return now >= deadline(); }

 private:
  Clock::time_point deadline() const {
    return Clock::time_point(Clock::duration(deadline_.load(std::memory_order_relaxed)));
  }
  void set_deadline() {
    deadline_.store((Clock::now() + shared_.timeout).time_since_epoch().count(), std::memory_order_relaxed);
  }
  void clear_deadline() {
    deadline_.store(Clock::time_point::max().time_since_epoch().count(), std::memory_order_relaxed);
  }

  // Connect, read the 220 greeting, LHLO and its 250.
  awaitable<bool> open() {
    if (!co_await connect()) co_return false;
    Reply r;
    if (!co_await read(r, "greeting") || !expect(r, 220, "greeting")) co_return false;
    if (!co_await write(asio::buffer(std::string_view("LHLO mailslot-bench.invalid\r\n")), "LHLO"))
      co_return false;
    // RFC 1870 §6: SIZE= only to a server that announced SIZE (Dovecot 2.3 does not, and answers
    // 555 5.5.4 to it). The first line is the server's name, the others its capabilities.
    bool size_announced = false;
    auto on_line = [&size_announced](std::size_t index, std::string_view text) {
      if (index > 0 && ReplyBuffer::is_keyword(text, "SIZE")) size_announced = true;
    };
    if (!co_await read(r, "LHLO", on_line) || !expect(r, 250, "LHLO")) co_return false;
    send_size_ = size_announced && !shared_.options.no_size;
    ++stats_.greeted;
    if (send_size_) ++stats_.size_sessions;
    co_return true;
  }

  awaitable<bool> connect() {
    set_deadline();
    for (;;) {
      error_code ec;
      co_await socket_.async_connect(shared_.endpoint, asio::redirect_error(asio::use_awaitable, ec));
      // Linux answers a non-blocking UNIX connect to a full backlog with EAGAIN, which Asio treats
      // as "in progress" and waits for writability, so the connect can report success without a
      // peer: ask whether one is really there, and retry shortly while the listener is busy.
      if (!ec) socket_.remote_endpoint(ec);
      if (!ec) break;
      // ENOBUFS: the kernel is short of socket memory for a moment, also worth another try.
      bool busy = ec == asio::error::try_again || ec == asio::error::would_block ||
                  ec == asio::error::not_connected || ec == asio::error::no_buffer_space;
      if (!busy || timed_out_ || aborted_) co_return fail_io("connect", ec);
      error_code ignored;
      socket_.close(ignored);
      asio::steady_timer pause(strand_, std::chrono::milliseconds(2));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      if (timed_out_ || aborted_) co_return fail_io("connect", ec);
    }
    clear_deadline();
    // The body goes out in one write and then we wait: do not let Nagle hold back its tail.
    if (shared_.tcp) socket_.set_option(asio::ip::tcp::no_delay(true));
    co_return true;
  }

  // One message: RFC 2033 §4.2 with PIPELINING, then one reply per accepted recipient (§4.2).
  awaitable<bool> transaction(std::uint64_t m) {
    const MessageFactory& f = shared_.factory;
    f.header(m, header_);
    f.envelope(m, header_.size() + f.filler_size(), send_size_, envelope_);
    if (!co_await write(asio::buffer(envelope_), "MAIL")) co_return false;

    Reply r;
    if (!co_await read(r, "MAIL")) co_return false;
    bool mail_ok = expect(r, 250, "MAIL");
    std::size_t accepted = 0;
    for (std::size_t i = 0; i < shared_.options.rcpts; ++i) {
      if (!co_await read(r, "RCPT")) co_return false;
      if (r.code == 250 || r.code == 251)
        ++accepted;
      else
        expect(r, 250, "RCPT");
    }
    if (!co_await read(r, "DATA")) co_return false;
    if (r.code != 354) {
      if (mail_ok && accepted > 0) expect(r, 354, "DATA");
      co_return co_await rset();
    }
    if (!mail_ok || accepted == 0) {  // §4.2 would have refused DATA: the reply count is unknown
      stats_.error("354 to DATA without a valid recipient");
      error_code ignored;
      socket_.close(ignored);
      co_return false;
    }

    std::array<asio::const_buffer, 2> message{asio::buffer(header_), asio::buffer(f.filler_wire())};
    if (!co_await write(message, "message")) co_return false;
    auto sent = Clock::now();  // the final "." is out: latency runs until the last recipient's reply
    for (std::size_t i = 0; i < accepted; ++i) {
      if (!co_await read(r, "end of data")) co_return false;
      if (r.code / 100 == 2)
        ++stats_.deliveries;
      else
        expect(r, 250, "end of data");
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent).count();
    stats_.latency_us.push_back(static_cast<std::uint32_t>(us));
    ++stats_.messages;
    co_return true;
  }

  awaitable<bool> rset() {
    Reply r;
    if (!co_await write(asio::buffer(std::string_view("RSET\r\n")), "RSET")) co_return false;
    co_return co_await read(r, "RSET") && expect(r, 250, "RSET");
  }

  awaitable<void> quit() {
    Reply r;
    if (co_await write(asio::buffer(std::string_view("QUIT\r\n")), "QUIT") && co_await read(r, "QUIT") &&
        expect(r, 221, "QUIT")) {
      ++stats_.closed;
    }
  }

  // Idle mode: wait, with no deadline, until released. Returns false when the server spoke or
  // closed first (an idle timeout or a shutdown), which counts as an error.
  awaitable<bool> hold() {
    if (released_) co_return true;
    clear_deadline();
    error_code ec;
    co_await socket_.async_wait(Socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (released_) co_return true;
    Reply r;
    if (!ec && co_await read(r, "hold"))
      stats_.error("reply " + std::to_string(r.code) + " while idle", r.text);
    else if (ec)
      fail_io("hold", ec);
    co_return false;
  }

  template <typename Buffers>
  awaitable<bool> write(const Buffers& buffers, const char* what) {
    set_deadline();
    error_code ec;
    co_await asio::async_write(socket_, buffers, asio::redirect_error(asio::use_awaitable, ec));
    clear_deadline();
    co_return ec ? fail_io(what, ec) : true;
  }

  // The next complete reply, reading as much as needed; on_line(index, text) sees each of its lines.
  template <typename OnLine = ReplyBuffer::IgnoreLines>
  awaitable<bool> read(Reply& r, const char* what, OnLine on_line = {}) {
    for (;;) {
      switch (buf_.next(r, on_line)) {
        case ReplyBuffer::Parse::complete:
          co_return true;
        case ReplyBuffer::Parse::malformed:
          stats_.error(std::string("malformed reply to ") + what);
          co_return false;
        case ReplyBuffer::Parse::need_more:
          break;
      }
      set_deadline();
      error_code ec;
      std::size_t n = co_await socket_.async_read_some(asio::buffer(buf_.space(), buf_.space_size()),
                                                       asio::redirect_error(asio::use_awaitable, ec));
      clear_deadline();
      if (ec) co_return fail_io(what, ec);
      buf_.commit(n);
    }
  }

  // Counts a reply other than the one expected; the session goes on (the server said no politely).
  bool expect(const Reply& r, int code, const char* what) {
    if (r.code == code) return true;
    stats_.error(std::string(what) + " " + std::to_string(r.code), r.text);
    return false;
  }

  bool fail_io(const char* what, const error_code& ec) {
    if (timed_out_)
      stats_.error(std::string("timeout in ") + what);
    else if (aborted_)
      stats_.error(std::string("hard stop in ") + what);
    else if (ec == asio::error::eof)
      stats_.error(std::string("server closed the connection in ") + what);
    else
      stats_.error(std::string(what) + ": " + ec.message());
    error_code ignored;
    socket_.close(ignored);
    return false;
  }

  Strand strand_;
  Socket socket_;
  Shared& shared_;
  Latch& ready_;
  Latch& done_;
  ReplyBuffer buf_;
  std::string envelope_;  // reused: no allocation per message once grown
  std::string header_;
  Stats stats_;
  std::atomic<Clock::rep> deadline_{Clock::time_point::max().time_since_epoch().count()};
  bool timed_out_ = false;
  bool aborted_ = false;
  bool released_ = false;
  bool arrived_ready_ = false;
  bool send_size_ = false;  // LHLO announced SIZE and --no-size was not given
};

}  // namespace mailslot::bench
