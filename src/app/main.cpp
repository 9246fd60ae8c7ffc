// mailslotd: flags, logging, configuration, signals; everything else lives in the library.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>

#include "mailslot/config/load.hpp"
#include "mailslot/delivery/fs_faults.hpp"
#include "mailslot/delivery/maildir_store.hpp"
#include "mailslot/delivery/recipients.hpp"
#include "mailslot/server/server.hpp"
#include "recipients_setup.hpp"

namespace {

using namespace mailslot;

// sysexits.h: EX_USAGE 64, EX_SOFTWARE 70, EX_OSERR 71, EX_CONFIG 78.
constexpr int kExitUsage = 64;
constexpr int kExitSoftware = 70;
constexpr int kExitOsErr = 71;
constexpr int kExitConfig = 78;

void set_up_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("mailslotd");
  // Under systemd the journal stamps every line itself.
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    logger->set_pattern("[%l] %v");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);  // one line per event, visible at once (tests read it)
  spdlog::set_default_logger(logger);
}

std::shared_ptr<const delivery::Recipients> make_recipients(const config::Config& c) {
  try {
    return app::build_recipients(c);  // recipients_setup.cpp
  } catch (const std::runtime_error& e) {  // a passwd-file or aliases file that cannot be used
    throw config::ConfigError({e.what()});
  }
}

// The mail root must exist and be a directory we can use; create it when missing (first start).
void prepare_mail_root(const config::Config& c) {
  std::error_code ec;
  std::filesystem::create_directories(c.mail.root, ec);
  if (ec) throw std::runtime_error("mail.root " + c.mail.root.string() + ": " + ec.message());
  if (!std::filesystem::is_directory(c.mail.root)) {
    throw std::runtime_error("mail.root " + c.mail.root.string() + " is not a directory");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mailslotd: an LMTP delivery daemon writing durable Maildir copies (RFC 2033)"};
  std::string config_path = "/etc/mailslot/mailslot.toml";
  std::vector<std::string> listen;
  std::string log_level;
  bool check_config = false;
  bool version = false;
  app.add_option("-c,--config", config_path, "configuration file (TOML)")->capture_default_str();
  app.add_flag("--check-config", check_config, "load and validate the configuration, print it, and exit");
  app.add_option("-l,--listen", listen,
                 "listen address, replacing the configured ones: 127.0.0.1:24, [::1]:24, unix:/run/mailslot/lmtp");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical, off");
  app.add_flag("-V,--version", version, "print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  if (version) {
    std::cout << "mailslotd " << MAILSLOT_VERSION << "\n";
    return 0;
  }

  config::Config cfg;
  try {
    cfg = config::load_file(config_path);
    if (!listen.empty()) {
      unsigned mode = cfg.unix_socket_mode;
      cfg.listeners.clear();
      for (const auto& a : listen) {
        try {
          cfg.listeners.push_back(config::parse_listener(a));
          cfg.listeners.back().mode = mode;  // server.unix_socket_mode still applies
        } catch (const std::invalid_argument& e) {
          throw config::ConfigError({std::string("--listen: ") + e.what()});
        }
      }
    }
    if (!log_level.empty()) {
      if (spdlog::level::from_str(log_level) == spdlog::level::off && log_level != "off") {
        throw config::ConfigError({"--log-level: unknown level \"" + log_level + "\""});
      }
      cfg.log_level = log_level;
    }
  } catch (const config::ConfigError& e) {
    std::cerr << "mailslotd: configuration error:\n" << e.what() << "\n";
    return kExitConfig;
  }
  if (check_config) {
    try {
      make_recipients(cfg);  // the passwd-files and the aliases file are checked too
    } catch (const config::ConfigError& e) {
      std::cerr << "mailslotd: configuration error:\n" << e.what() << "\n";
      return kExitConfig;
    }
    std::cout << config::to_toml(cfg);
    std::cerr << "mailslotd: configuration " << config_path << " is valid\n";
    return 0;
  }

  set_up_logging(cfg.log_level);
  try {
    prepare_mail_root(cfg);
    auto shared_cfg = std::make_shared<const config::Config>(cfg);
    delivery::MaildirStoreOptions store_options{cfg.hostname, cfg.mail.fsync, cfg.mail.root};
    // Test only (docs/reliability.md): fail or slow down chosen file-system calls of the store.
    if (const char* faults = std::getenv("MAILSLOT_TEST_FS_FAULTS"); faults != nullptr && *faults != '\0') {
      auto faulty = std::make_shared<delivery::fs::FaultyFileSystem>();
      delivery::fs::configure_faults(*faulty, faults);
      store_options.file_system = faulty;
      spdlog::warn("MAILSLOT_TEST_FS_FAULTS=\"{}\": injecting file-system faults (for tests only)", faults);
    }
    store_options.quota_full_tempfail = cfg.mail.quota_full_tempfail;
    auto store = std::make_shared<delivery::MaildirStore>(store_options);
    server::Server srv(shared_cfg, make_recipients(cfg), store);
    for (const auto& a : srv.bind()) spdlog::info("listening on {}", a);
    if (!cfg.mail.fsync) spdlog::warn("mail.fsync = false: a 250 reply does NOT mean the message is durable");

    // SIGTERM/SIGINT: drain and exit 0; a second one closes everything at once. SIGHUP must not
    // kill the daemon (its default action): reload arrives with the operations work; until then
    // it is logged and ignored. SIGPIPE: a peer gone mid-write is an error code, not death.
    std::signal(SIGPIPE, SIG_IGN);
    server::asio::signal_set signals(srv.io_context(), SIGTERM, SIGINT, SIGHUP);
    int stop_signals = 0;
    std::function<void(const server::error_code&, int)> on_signal = [&](const server::error_code& ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) {
        spdlog::warn("received SIGHUP: configuration reload is not supported yet; keeping the running configuration");
      } else if (++stop_signals == 1) {
        spdlog::info("received {}, shutting down", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        srv.shutdown();
      } else {
        spdlog::warn("received {} again: closing all connections now", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        srv.stop_now();
      }
      signals.async_wait(on_signal);
    };
    signals.async_wait(on_signal);
    spdlog::info("mailslotd {} ready: mail root {}, domains {}", MAILSLOT_VERSION, cfg.mail.root.string(),
                 fmt::join(cfg.mail.domains, ","));
    srv.run();
    spdlog::info("mailslotd stopped");
    return 0;
  } catch (const config::ConfigError& e) {
    spdlog::critical("configuration error: {}", e.what());
    return kExitConfig;
  } catch (const std::system_error& e) {
    spdlog::critical("{}", e.what());
    return kExitOsErr;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return kExitSoftware;
  }
}
