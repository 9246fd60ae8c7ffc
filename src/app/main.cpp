// mailslotd: flags, logging, configuration, signals; everything else lives in the library.
#include <sysexits.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>

#include "app.hpp"
#include "mailslot/config/load.hpp"
#include "mailslot/server/dsn_sender.hpp"
#include "mailslot/server/server.hpp"
#include "privileges.hpp"
#include "recipients_setup.hpp"

namespace {

using namespace mailslot;

// sysexits.h: EX_USAGE 64, EX_SOFTWARE 70, EX_OSERR 71, EX_CONFIG 78.

// "N connections open, ..." for systemd's STATUS= (systemctl status shows it).
std::string status_line(server::Server& srv) {
  const auto& m = srv.metrics();
  auto v = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  return fmt::format("{} connections open, {} in DATA; since start: {} delivered, {} deferred, {} rejected",
                     v(m.connections_open), v(m.sessions_in_data), v(m.delivered_total), v(m.deferred_total),
                     v(m.rejected_total));
}

std::string monotonic_usec() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::to_string(static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
                        static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL);
}

}  // namespace

int main(int argc, char** argv) {
  // Issue #5: before any thread exists, so every thread inherits it (privileges.hpp).
  mailslot::app::forbid_new_privileges();
  CLI::App app{"mailslotd: an LMTP delivery daemon writing durable Maildir copies (RFC 2033)"};
  std::string config_path = "/etc/mailslot/mailslot.toml";
  std::vector<std::string> listen;
  std::string log_level;
  bool check_config = false;
  bool stdio = false;
  bool version = false;
  std::string probe_url;
  app.add_option("-c,--config", config_path, "configuration file (TOML)")->capture_default_str();
  auto* check_opt = app.add_flag("--check-config", check_config, "load and validate the configuration, print it, and exit");
  auto* listen_opt = app.add_option(
      "-l,--listen", listen, "listen address, replacing the configured ones: 127.0.0.1:24, [::1]:24, unix:/run/mailslot/lmtp");
  // Issue #11 (src/app/stdio.cpp): no listener, so --listen means nothing with it.
  app.add_flag("--stdio", stdio,
               "serve one LMTP session on stdin/stdout and exit (Exim's lmtp transport `command =`, inetd, socat)")
      ->excludes(listen_opt)
      ->excludes(check_opt);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off");
  app.add_flag("-V,--version", version, "print the version and exit");
  app.add_option("--probe-health", probe_url,
                 "GET this URL (http://127.0.0.1:2425/healthz) and exit 0 on 200, 1 otherwise (container health checks)");
  // LDA mode (issue #8, src/app/deliver.cpp): same --config, no daemon, no network.
  mailslot::app::DeliverArgs deliver_args;
  CLI::App* deliver_cmd = app.add_subcommand(
      "deliver", "deliver the message on stdin to RECIPIENT... and exit with a sysexits.h status (pipe transports)");
  deliver_cmd->add_option("-f,--from", deliver_args.sender, "envelope sender (reverse-path); \"<>\" or empty: null sender");
  deliver_cmd->add_option("-a,--original-recipient", deliver_args.original_recipient,
                          "the recipient before any rewriting (X-Original-To: with mail.x_original_to)");
  deliver_cmd->add_option("recipients", deliver_args.recipients, "recipient addresses")->required();
  deliver_cmd->fallthrough();  // --config may follow "deliver"
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : EX_USAGE;
  }
  if (version) {
    std::cout << "mailslotd " << MAILSLOT_VERSION << "\n";
    return 0;
  }
  if (!probe_url.empty()) return mailslot::app::probe_health(probe_url);
  if (*deliver_cmd && stdio) {
    std::cerr << "mailslotd: --stdio and deliver exclude each other\n";
    return EX_USAGE;
  }
  if (*deliver_cmd) return mailslot::app::deliver(config_path, deliver_args);

  const mailslot::app::Overrides overrides{listen, log_level};
  if (stdio) return mailslot::app::serve_stdio(config_path, overrides);
  config::Config cfg;
  try {
    cfg = mailslot::app::load_config(config_path, overrides);
  } catch (const config::ConfigError& e) {
    std::cerr << "mailslotd: configuration error:\n" << e.what() << "\n";
    return EX_CONFIG;
  }
  if (check_config) {
    try {
      mailslot::app::build_recipients(cfg);  // the passwd-files and the aliases file are checked too
    } catch (const std::runtime_error& e) {
      std::cerr << "mailslotd: configuration error:\n" << e.what() << "\n";
      return EX_CONFIG;
    }
    std::cout << config::to_toml(cfg);
    std::cerr << "mailslotd: configuration " << config_path << " is valid\n";
    return 0;
  }

  mailslot::app::set_up_logging(cfg);
  const mailslot::app::Notifier notifier;
  try {
    mailslot::app::check_privilege_policy(cfg);  // issue #5: refuse root without server.user / allow_root
    auto res = mailslot::app::build_resources(cfg);
    // Issue #11: success DSNs. Declared before the server so it outlives every disk job.
    std::unique_ptr<server::DsnSender> dsn;
    if (cfg.dsn.enabled()) dsn = std::make_unique<server::DsnSender>(cfg.dsn);
    server::Server srv(res.config, res.recipients, res.store);
    // Issue #5: the TLS context joins the server's context (applied before the first accept).
    if (res.tls) srv.replace_context(server::Context{res.config, res.recipients, res.store, nullptr, nullptr, res.tls});
    for (const auto& a : srv.bind()) spdlog::info("listening on {}", a);
    if (auto m = srv.bind_metrics(); !m.empty()) spdlog::info("metrics on http://{}/metrics, health on http://{}/healthz", m, m);
    // Issue #5: sockets bound (privileged ports, socket activation): now become server.user.
    const auto on_workers = [&](const std::function<void()>& f) { srv.disk().run_on_every_thread(cfg.disk_threads, f); };
    if (auto what = mailslot::app::drop_privileges(cfg, on_workers); !what.empty()) spdlog::info("{}", what);
    // Issue #11: started as the user we now are, so the spool and the submitting command are its.
    if (dsn) {
      dsn->start();
      srv.set_dsn_sender(dsn.get());
      spdlog::info("DSN advertised: success reports go through {} (spool {})",
                   cfg.dsn.sendmail.empty() ? "smtp " + cfg.dsn.smtp : "sendmail " + cfg.dsn.sendmail.front(),
                   cfg.dsn.spool.string());
      // Issue #5 runs the daemon with no_new_privs after the drop: the set-group-ID postdrop behind
      // Postfix's sendmail (and Exim's set-user-ID binary) then runs without its privileges.
      if (!cfg.user.empty() && !cfg.dsn.sendmail.empty())
        spdlog::warn("dsn.sendmail with server.user: the command runs with no_new_privs and cannot use set-user/group-ID "
                     "helpers (Postfix's postdrop, Exim); dsn.smtp works in every case");
    } else {
      spdlog::info("DSN not advertised: no [dsn] sendmail or smtp to submit success reports with (RFC 3461 §6.2.1)");
    }
    if (!cfg.mail.fsync) spdlog::warn("mail.fsync = false: a 250 reply does NOT mean the message is durable");

    // SIGHUP: reload (the file is read and the resources built on the disk pool, never on
    // the event loop; a bad config is refused and the running one kept; sessions in progress keep
    // the snapshot they started with).
    // The signal handler and the reload coroutine share one strand: with several io_threads they
    // would otherwise race on these flags.
    auto ops = server::asio::make_strand(srv.io_context());
    bool reloading = false, reload_again = false;
    auto reload = [&]() -> server::awaitable<void> {
      do {
        reload_again = false;
        notifier.send("RELOADING=1\nMONOTONIC_USEC=" + monotonic_usec() + "\nSTATUS=reloading " + config_path);
        spdlog::info("received SIGHUP: reloading {}", config_path);
        const auto running = srv.current_context().config;
        std::shared_ptr<mailslot::app::Resources> next;
        std::string error;
        try {
          next = co_await srv.disk().run([&] {
            config::Config c = mailslot::app::load_config(config_path, overrides);
            mailslot::app::keep_restart_only_settings(*running, c);
            return std::make_shared<mailslot::app::Resources>(mailslot::app::build_resources(c));
          });
        } catch (const std::exception& e) {
          error = e.what();
        }
        if (next) {
          srv.replace_context(server::Context{next->config, next->recipients, next->store, nullptr, nullptr, next->tls});
          srv.metrics().reloads_total.fetch_add(1);
          spdlog::info("configuration reloaded from {}: domains {}; sessions already open keep the previous one",
                       config_path, fmt::join(next->config->mail.domains, ","));
          spdlog::default_logger()->set_level(spdlog::level::from_str(next->config->log_level));
          notifier.send("READY=1\nSTATUS=" + status_line(srv));
        } else {
          srv.metrics().reload_failures_total.fetch_add(1);
          spdlog::error("reload failed; keeping the running configuration:\n{}", error);
          notifier.send("READY=1\nSTATUS=reload failed, running the previous configuration; " + status_line(srv));
        }
      } while (reload_again);
      reloading = false;
    };

    // SIGTERM/SIGINT: drain and exit 0; a second one closes everything at once. SIGPIPE: a peer
    // gone mid-write is an error code, not death.
    std::signal(SIGPIPE, SIG_IGN);
    server::asio::signal_set signals(ops, SIGTERM, SIGINT, SIGHUP);
    int stop_signals = 0;
    std::function<void(const server::error_code&, int)> on_signal = [&](const server::error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        if (stop_signals > 0) {
          spdlog::info("received SIGHUP while shutting down: ignored");
        } else if (reloading) {
          reload_again = true;  // one more pass after the one running: the file may have changed since
        } else {
          reloading = true;
          server::asio::co_spawn(ops, reload(), server::asio::detached);
        }
      } else if (++stop_signals == 1) {
        spdlog::info("received {}, shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        notifier.send("STOPPING=1\nSTATUS=draining: " + status_line(srv));
        srv.shutdown();
      } else {
        spdlog::warn("received {} again: closing all connections now", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        srv.stop_now();
      }
      signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);

    // systemd: STATUS= with live figures, and WATCHDOG=1 from a timer on the event loop (so a
    // stuck loop stops the pings and systemd restarts us) at half the watchdog interval.
    server::asio::steady_timer status_timer(srv.io_context());
    std::function<void(const server::error_code&)> on_status_timer = [&](const server::error_code& ec) {
      if (ec) return;
      notifier.send((notifier.watchdog().count() > 0 ? "WATCHDOG=1\nSTATUS=" : "STATUS=") + status_line(srv));
      std::chrono::microseconds every = std::chrono::seconds(5);
      if (notifier.watchdog().count() > 0 && notifier.watchdog() / 2 < every) every = notifier.watchdog() / 2;
      status_timer.expires_after(every);
      status_timer.async_wait(on_status_timer);
    };
    if (notifier.enabled()) on_status_timer({});

    spdlog::info("mailslotd {} ready: mail root {}, domains {}", MAILSLOT_VERSION, cfg.mail.root.string(),
                 fmt::join(cfg.mail.domains, ","));
    notifier.send("READY=1\nSTATUS=" + status_line(srv));
    srv.run();
    spdlog::info("mailslotd stopped");
    return 0;
  } catch (const config::ConfigError& e) {
    spdlog::critical("configuration error: {}", e.what());
    return EX_CONFIG;
  } catch (const std::system_error& e) {
    spdlog::critical("{}", e.what());
    return EX_OSERR;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return EX_SOFTWARE;
  }
}
