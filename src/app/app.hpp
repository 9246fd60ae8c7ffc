// Pieces of mailslotd's main(): logging, the resources a reload rebuilds, systemd notification,
// and the health probe used by container health checks.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mailslot/config/config.hpp"
#include "mailslot/delivery/mail_store.hpp"
#include "mailslot/delivery/recipients.hpp"
#include "mailslot/server/tls.hpp"

namespace mailslot::app {

// --- logging.cpp ---
// stderr, one line per event; text or JSON ([log] format); no timestamps under systemd
// (JOURNAL_STREAM set: the journal stamps each line itself).
// --stdio mode logs to syslog (facility mail, no timestamps either) when stderr is the LMTP stream
// itself: Exim's command transport and inetd give the child one descriptor as stdout and stderr.
enum class LogSink { stderr_stream, syslog };
void set_up_logging(const config::Config& c, LogSink sink = LogSink::stderr_stream);

// --- resources.cpp ---
// Command-line settings that override the file, applied again on every reload.
struct Overrides {
  std::vector<std::string> listen;
  std::string log_level;
};
// Loads and validates the file and applies the overrides (throws config::ConfigError).
config::Config load_config(const std::string& path, const Overrides& o);

// Everything built from a config snapshot. THE place a reload rebuilds: recipient tables, the
// mail store, and (issue #5) TLS contexts and certificates belong here too.
struct Resources {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const delivery::Recipients> recipients;
  std::shared_ptr<delivery::MailStore> store;
  std::shared_ptr<boost::asio::ssl::context> tls;  // issue #5: null when no listener uses TLS
};
Resources build_resources(const config::Config& c);  // throws std::exception with a clear message

// Settings that need a restart (listeners, threads, metrics.listen, log format) are copied from
// `running` into `next`, with a warning naming each one that differed.
void keep_restart_only_settings(const config::Config& running, config::Config& next);

// --- notify.cpp ---
// sd_notify(3) without blocking: a non-blocking datagram to $NOTIFY_SOCKET (lost if systemd's
// queue is full rather than stalling the event loop). Does nothing when NOTIFY_SOCKET is unset.
class Notifier {
 public:
  Notifier();
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  void send(const std::string& state) const;
  // WATCHDOG_USEC when the watchdog is on for this process (WATCHDOG_PID), else zero.
  std::chrono::microseconds watchdog() const { return watchdog_; }

 private:
  int fd_ = -1;
  std::string address_;
  std::chrono::microseconds watchdog_{0};
};

// --- probe.cpp ---
// `mailslotd --probe-health http://127.0.0.1:2425/healthz`: exit 0 on HTTP 200, 1 otherwise
// (for HEALTHCHECK in images without curl).
int probe_health(const std::string& url);

// --- deliver.cpp ---
// `mailslotd deliver`: the LDA mode (pipe transports, scripts). Returns a sysexits.h status.
struct DeliverArgs {
  std::string sender;                   // -f; "" or "<>" for the null sender
  std::string original_recipient;       // -a (X-Original-To: when mail.x_original_to)
  std::vector<std::string> recipients;  // one or more
};
int deliver(const std::string& config_path, const DeliverArgs& args);

// --- stdio.cpp ---
// `mailslotd --stdio`: one LMTP session on stdin/stdout (Exim's lmtp transport with `command =`,
// inetd, socat), then exit; the status says how it ended (sysexits.h, docs/operations.md).
int serve_stdio(const std::string& config_path, const Overrides& overrides);

}  // namespace mailslot::app
