// `mailslotd --config FILE --stdio`: exactly one LMTP session on stdin/stdout, for Exim's lmtp
// transport with `command =`, inetd, socat and the like (issue #11). The same configuration, the
// same checks and the same server code as the daemon: only the transport differs (no listener,
// no metrics listener, no systemd notification; STARTTLS and AUTH are not offered).
//
// Exit status (sysexits.h; docs/operations.md "stdio mode"):
//   0  the client said QUIT and got its 221
//   74 EX_IOERR     reading stdin or writing stdout failed, or stdin ended before QUIT
//   75 EX_TEMPFAIL  the session ended with 421: a timeout, or SIGTERM/SIGINT
//   76 EX_PROTOCOL  the server closed the session: too many protocol errors (limits.max_errors)
//   70 EX_SOFTWARE  an internal error;  71 EX_OSERR  the operating system refused something
//   78 EX_CONFIG    the configuration (or the privilege policy) is wrong; nothing was read
// A failure before the session starts answers the client "421 4.3.0" as its greeting, so an MTA
// defers (and logs why) instead of reading a log line as a reply.
#include <sysexits.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <functional>
#include <string>
#include <system_error>

#include "app.hpp"
#include "mailslot/config/load.hpp"
#include "mailslot/server/connection.hpp"
#include "mailslot/server/server.hpp"
#include "privileges.hpp"

namespace mailslot::app {
namespace {


// The LMTP stream, taken off descriptors 0 and 1 so that nothing else can read it or write to it:
// after this, fd 0 is /dev/null and fd 1 is stderr (a stray write to stdout lands in the log, never
// in front of the client). When stderr is the stream itself (Exim's child_open() makes fd 2 a copy
// of fd 1; inetd passes the socket as 0, 1 and 2), fd 1 and fd 2 are /dev/null and the log goes to
// syslog. A TTY on both is a person trying it out: the log stays on the terminal.
struct StdioStream {
  int in = -1;
  int out = -1;
  LogSink log = LogSink::stderr_stream;
};

bool same_file(int a, int b) {
  struct stat sa = {};
  struct stat sb = {};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

StdioStream take_stdio() {
  StdioStream s;
  s.in = ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
  if (s.in < 0) throw std::system_error(errno, std::system_category(), "--stdio: stdin");
  s.out = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
  if (s.out < 0) throw std::system_error(errno, std::system_category(), "--stdio: stdout");
  const bool stderr_is_stream = same_file(STDOUT_FILENO, STDERR_FILENO) && ::isatty(STDERR_FILENO) == 0;
  if (stderr_is_stream) s.log = LogSink::syslog;
  const int null = ::open("/dev/null", O_RDWR);
  if (null < 0) throw std::system_error(errno, std::system_category(), "--stdio: /dev/null");
  ::dup2(null, STDIN_FILENO);
  if (stderr_is_stream || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) ::dup2(null, STDOUT_FILENO);
  if (stderr_is_stream) ::dup2(null, STDERR_FILENO);
  if (null > STDERR_FILENO) ::close(null);
  return s;
}

// RFC 5321 §3.1: a server that cannot serve says 421 instead of 220, and the client defers.
void refuse(const StdioStream& s, const std::string& why) {
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  const std::string reply = fmt::format("421 4.3.0 {} Service not available: {}\r\n", host, why);
  [[maybe_unused]] auto n = ::write(s.out, reply.data(), reply.size());
}

int exit_status(server::Connection::Ending e) {
  using E = server::Connection::Ending;
  switch (e) {
    case E::quit:
      return EX_OK;
    case E::peer_closed:
    case E::io_error:
      return EX_IOERR;
    case E::timeout:
    case E::shutdown:
      return EX_TEMPFAIL;
    case E::protocol:
      return EX_PROTOCOL;
    case E::running:
    case E::internal:
      break;
  }
  return EX_SOFTWARE;
}

}  // namespace

int serve_stdio(const std::string& config_path, const Overrides& overrides) {
  // A peer gone mid-write is an error code (EPIPE), not death.
  std::signal(SIGPIPE, SIG_IGN);
  StdioStream stream;
  try {
    stream = take_stdio();
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "mailslotd: %s\n", e.what());
    return EX_IOERR;
  }
  set_up_logging(config::Config{}, stream.log);  // until the configuration says more

  config::Config cfg;
  try {
    cfg = load_config(config_path, overrides);
  } catch (const config::ConfigError& e) {
    spdlog::critical("configuration error:\n{}", e.what());
    refuse(stream, "configuration error");
    return EX_CONFIG;
  }
  // Not used in stdio mode: no listener is bound, and TLS and AUTH (per listener) are not offered,
  // so their certificate, key and SASL set-up are not loaded either (an unprivileged MTA user
  // need not read them). One event-loop thread serves the one session.
  cfg.listeners.clear();
  cfg.tls = config::Tls{};
  cfg.io_threads = 1;
  set_up_logging(cfg, stream.log);

  bool started = false;
  const auto refuse_unless_started = [&](const char* why) {
    if (!started) refuse(stream, why);
  };
  try {
    check_privilege_policy(cfg);  // root: server.user or server.allow_root, as for the daemon
    auto res = build_resources(cfg);
    server::Server srv(res.config, res.recipients, res.store);
    // Nothing to bind: become server.user at once (when started as root).
    const auto on_workers = [&](const std::function<void()>& f) {
      srv.disk().run_on_every_thread(cfg.disk_threads, f);
    };
    if (auto what = drop_privileges(cfg, on_workers); !what.empty()) spdlog::info("{}", what);
    if (!cfg.mail.fsync) spdlog::warn("mail.fsync = false: a 250 reply does NOT mean the message is durable");

    // SIGTERM/SIGINT: the daemon's drain (a message in DATA finishes, then 421 4.3.2); a second one
    // closes at once. SIGHUP: nothing to reload for one session (it keeps its snapshot anyway).
    server::asio::signal_set signals(srv.io_context(), SIGTERM, SIGINT, SIGHUP);
    int stop_signals = 0;
    std::function<void(const server::error_code&, int)> on_signal = [&](const server::error_code& ec,
                                                                        int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        spdlog::info("received SIGHUP: ignored in --stdio mode (one session, one configuration)");
      } else if (++stop_signals == 1) {
        spdlog::info("received {}, ending the session", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        srv.shutdown();
      } else {
        srv.stop_now();
      }
      signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    auto conn = srv.serve_stdio(stream.in, stream.out);
    spdlog::info("mailslotd {} serving one LMTP session on stdin/stdout: mail root {}, domains {}",
                 MAILSLOT_VERSION, cfg.mail.root.string(), fmt::join(cfg.mail.domains, ","));
    started = true;  // from here the descriptors belong to the session
    srv.run();       // returns when the session has ended (Server::serve_stdio)
    const int status = exit_status(conn->ending());
    spdlog::debug("exit status {}", status);
    return status;
  } catch (const config::ConfigError& e) {
    spdlog::critical("configuration error: {}", e.what());
    refuse_unless_started("configuration error");
    return EX_CONFIG;
  } catch (const std::system_error& e) {
    spdlog::critical("{}", e.what());
    refuse_unless_started("local error");
    return EX_OSERR;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    refuse_unless_started("local error");
    return EX_SOFTWARE;
  }
}

}  // namespace mailslot::app
