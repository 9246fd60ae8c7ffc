// mailslot-bench: an LMTP load generator (RFC 2033) for mailslot and any other LMTP server.
// Load mode: N sessions share M pipelined transactions and report throughput and latency.
// Idle mode: N sessions greet, hold, and quit, so a script can measure the server's memory per
// idle session. bench/README.md describes the output; bench/compare parses it.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "bench_options.hpp"
#include "message.hpp"
#include "session.hpp"
#include "stats.hpp"

namespace mailslot::bench {
namespace {

using namespace std::chrono_literals;

Clock::duration seconds(double s) {
  // Clamped so that "forever" stays representable when added to now().
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::min(s, 1e8)));
}

double elapsed_s(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// "127.0.0.1:24", "[::1]:24" or "unix:/path". Numeric addresses only: the tool never resolves
// names, so it connects exactly where it is told.
asio::generic::stream_protocol::endpoint parse_endpoint(const std::string& text, bool& tcp) {
  if (text.rfind("unix:", 0) == 0) {
    tcp = false;
    return asio::local::stream_protocol::endpoint(text.substr(5));
  }
  tcp = true;
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    throw std::invalid_argument("--connect: expected ADDRESS:PORT or unix:PATH");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto port = detail::parse_count("--connect port", std::string_view(text).substr(colon + 1));
  error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec || port == 0 || port > 65535)
    throw std::invalid_argument("--connect: not a numeric address and port: " + text);
  return asio::ip::tcp::endpoint(address, static_cast<unsigned short>(port));
}

// Ten thousand idle sessions need ten thousand descriptors: take all the hard limit allows.
void raise_fd_limit(std::size_t sessions) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  const rlim_t needed = sessions + 64;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < needed) {
    std::fprintf(stderr,
                 "mailslot-bench: RLIMIT_NOFILE hard limit %llu is below the %llu descriptors needed\n",
                 static_cast<unsigned long long>(rl.rlim_max), static_cast<unsigned long long>(needed));
  }
}

// Starts the sessions, enforces their deadlines, runs the idle hold, and notices the end.
class Controller {
 public:
  Controller(asio::io_context& ioc, Shared& shared, std::size_t count)
      : shared_(shared),
        strand_(asio::make_strand(ioc)),
        ready_(strand_, shared.options.idle > 0 ? count : 0),
        done_(strand_, count),
        sweep_timer_(strand_),
        release_timer_(strand_),
        signals_(strand_, SIGINT, SIGTERM),
        stdin_(strand_) {
    sessions_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      sessions_.push_back(std::make_unique<Session>(asio::make_strand(ioc), shared, ready_, done_));
      sessions_.back()->stats().latency_us.reserve(shared.options.messages / count + 1);
    }
  }

  void start() {
    start_ = Clock::now();
    bool idle = shared_.options.idle > 0;
    // Load mode ends on its own: new messages stop at the duration limit and every operation has a
    // deadline. The hard stop is the last resort against a server that answers just in time forever.
    hard_stop_at_ = idle ? Clock::time_point::max() : shared_.stop_at + shared_.timeout + 10s;
    for (auto& s : sessions_) asio::co_spawn(s->strand(), s->run(), asio::detached);
    asio::co_spawn(strand_, sweep(), asio::detached);
    asio::co_spawn(strand_, idle ? run_idle() : run_load(), asio::detached);
    watch_signals();
  }

  double elapsed() const { return elapsed_; }
  double greet_s() const { return greet_s_; }
  std::size_t greeted() const { return sessions_.size() - ready_.failed(); }

  // After the io_context has stopped: every session's figures in one.
  Stats merged_stats() {
    Stats all;
    for (auto& s : sessions_) all.merge(std::move(s->stats()));
    return all;
  }

 private:
  awaitable<void> run_load() {
    co_await done_.wait();
    elapsed_ = elapsed_s(start_);
    finish();
  }

  awaitable<void> run_idle() {
    co_await ready_.wait();
    greet_s_ = elapsed_s(start_);
    std::printf("idle_sessions=%zu greet_s=%.3f errors=%zu\n", greeted(), greet_s_, ready_.failed());
    std::printf("holding\n");
    std::fflush(stdout);  // the script measures the server's memory once it reads this line

    double hold = shared_.options.hold_s;
    release_timer_.expires_after(hold > 0 ? seconds(hold) : Clock::duration::max() / 2);
    if (hold == 0) watch_stdin();
    if (!shared_.stop_starting) {
      error_code ignored;
      co_await release_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    for (auto& s : sessions_) asio::post(s->strand(), [s = s.get()] { s->release(); });
    co_await done_.wait();
    elapsed_ = elapsed_s(start_);
    finish();
  }

  // Deadlines: one timer for all sessions instead of one each; a session only stores its deadline.
  awaitable<void> sweep() {
    while (!finished_) {
      sweep_timer_.expires_after(200ms);
      error_code ignored;
      co_await sweep_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      auto now = Clock::now();
      if (now >= hard_stop_at_) {
        hard_stop_at_ = Clock::time_point::max();
        std::fprintf(stderr, "mailslot-bench: hard stop, closing every session\n");
        for (auto& s : sessions_) asio::post(s->strand(), [s = s.get()] { s->abort(); });
      }
      for (auto& s : sessions_) {
        if (s->overdue(now)) asio::post(s->strand(), [s = s.get(), now] { s->check_deadline(now); });
      }
    }
  }

  // SIGINT/SIGTERM: no new messages (load mode), end the hold (idle mode).
  void watch_signals() {
    signals_.async_wait([this](const error_code& ec, int) {
      if (ec || finished_) return;
      shared_.stop_starting = true;
      release_timer_.cancel();
      watch_signals();
    });
  }

  // --hold 0 also ends at EOF on stdin, when stdin is something a script can close: a pipe, a
  // socket or a terminal. /dev/null (a background job's stdin) is ignored so that it cannot end
  // the hold at once; SIGTERM does it then.
  void watch_stdin() {
    struct stat st {};
    if (fstat(STDIN_FILENO, &st) != 0) return;
    bool closable =
        S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || (S_ISCHR(st.st_mode) && isatty(STDIN_FILENO));
    if (!closable) return;
    error_code ec;
    stdin_.assign(dup(STDIN_FILENO), ec);
    if (!ec) asio::co_spawn(strand_, read_stdin(), asio::detached);
  }

  awaitable<void> read_stdin() {
    char discard[512];
    for (;;) {
      error_code ec;
      co_await stdin_.async_read_some(asio::buffer(discard), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec != asio::error::operation_aborted) release_timer_.cancel();
        co_return;
      }
    }
  }

  // Everything that would keep the io_context running after the sessions are gone.
  void finish() {
    finished_ = true;
    error_code ignored;
    sweep_timer_.cancel();
    signals_.cancel(ignored);
    stdin_.close(ignored);
  }

  Shared& shared_;
  Strand strand_;
  Latch ready_;  // idle mode: sessions past LHLO (or failed before it)
  Latch done_;   // sessions that have ended
  asio::steady_timer sweep_timer_;
  asio::steady_timer release_timer_;
  asio::signal_set signals_;
  asio::posix::stream_descriptor stdin_;
  std::vector<std::unique_ptr<Session>> sessions_;  // after the latches: destroyed before them
  Clock::time_point start_;
  Clock::time_point hard_stop_at_ = Clock::time_point::max();
  bool finished_ = false;
  double elapsed_ = 0;
  double greet_s_ = 0;
};

struct Pass {
  Stats stats;
  double elapsed = 0;
  double greet_s = 0;
  std::size_t greeted = 0;
};

// One run of sessions over its own io_context: the warm-up, the timed phase, or idle mode.
Pass run_pass(const Options& o, const MessageFactory& factory) {
  const std::size_t count = o.idle > 0 ? o.idle : o.sessions;
  bool tcp = true;
  auto endpoint = parse_endpoint(o.connect, tcp);
  asio::io_context ioc(static_cast<int>(o.threads));
  Shared shared{o, factory, endpoint, tcp, seconds(o.timeout_s)};
  Controller controller(ioc, shared, count);
  shared.stop_at = Clock::now() + seconds(o.duration_limit_s);
  controller.start();
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < o.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  return Pass{controller.merged_stats(), controller.elapsed(), controller.greet_s(), controller.greeted()};
}

int run(const Options& o) {
  std::signal(SIGPIPE, SIG_IGN);  // a server that hangs up is an error to count, not a reason to die
  raise_fd_limit(o.idle > 0 ? o.idle : o.sessions);
  const MessageFactory factory(o);

  Stats warmup;
  if (o.idle == 0 && o.warmup) {
    // Message m goes to mailboxes (m*R .. m*R+R-1) % K: ceil(K/R) messages reach all K once.
    Options w = o;
    w.messages = (o.mailboxes + o.rcpts - 1) / o.rcpts;
    w.sessions = std::min<std::size_t>(o.sessions, static_cast<std::size_t>(w.messages));
    warmup = std::move(run_pass(w, factory).stats);
  }

  const double cpu_start = cpu_seconds();
  Pass pass = run_pass(o, factory);
  double cpu_s = cpu_seconds() - cpu_start;
  CpuUse cpu{cpu_s, pass.elapsed > 0 ? 100.0 * cpu_s / pass.elapsed : 0};
  if (o.idle > 0) {
    std::printf("closed=%llu\n", static_cast<unsigned long long>(pass.stats.closed));
    if (o.json) print_idle_json(pass.stats, pass.greeted, pass.greet_s, cpu);
  } else {
    print_load_report(pass.stats, warmup, pass.elapsed, cpu, o.json);
  }
  std::fflush(stdout);
  print_error_kinds(warmup);
  print_error_kinds(pass.stats);
  return pass.stats.errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace mailslot::bench

int main(int argc, char** argv) {
  try {
    auto options = mailslot::bench::parse_options(argc, argv);
    if (!options) {
      std::fputs(mailslot::bench::kUsage, stdout);
      return 0;
    }
    return mailslot::bench::run(*options);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "mailslot-bench: %s\n%s", e.what(), mailslot::bench::kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailslot-bench: %s\n", e.what());
    return 2;
  }
}
