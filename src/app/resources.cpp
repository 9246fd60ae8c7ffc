// Loading a configuration and building what runs on it; used at start-up and on every SIGHUP.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "app.hpp"
#include "mailslot/config/load.hpp"
#include "mailslot/delivery/duplicates.hpp"
#include "mailslot/delivery/fs_faults.hpp"
#include "mailslot/delivery/maildir_store.hpp"
#include "mailslot/server/sasl.hpp"
#include "recipients_setup.hpp"

namespace mailslot::app {
namespace {

std::shared_ptr<const delivery::Recipients> make_recipients(const config::Config& c) {
  try {
    return build_recipients(c);  // recipients_setup.cpp
  } catch (const std::runtime_error& e) {  // a passwd-file or aliases file that cannot be used
    throw config::ConfigError({e.what()});
  }
}

// RLIMIT_NOFILE's soft limit (1024 when it cannot be read).
std::size_t open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
  return limit.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20 : static_cast<std::size_t>(limit.rlim_cur);
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

std::string listeners_text(const config::Config& c) {
  std::string s;
  for (const auto& l : c.listeners) {
    s += (s.empty() ? "" : ",") + l.address;
    // Per-listener settings (issue #5) are bound with the socket: a change needs a restart too.
    s += " mode=" + std::to_string(l.mode) + " owner=" + l.owner + " group=" + l.group + " allow=";
    for (const auto& n : l.allow) s += n.text + ";";
    s += " starttls=" + std::to_string(static_cast<int>(l.starttls)) + " tls=" + std::to_string(l.tls) +
         " auth=" + std::to_string(static_cast<int>(l.auth));  // TLS/AUTH (issue #5 part A)
  }
  return s;
}

}  // namespace

config::Config load_config(const std::string& path, const Overrides& o) {
  config::Config cfg = config::load_file(path);
  if (!o.listen.empty()) {
    unsigned mode = cfg.unix_socket_mode;
    cfg.listeners.clear();
    for (const auto& a : o.listen) {
      try {
        cfg.listeners.push_back(config::parse_listener(a));
        cfg.listeners.back().mode = mode;  // server.unix_socket_mode still applies
      } catch (const std::invalid_argument& e) {
        throw config::ConfigError({std::string("--listen: ") + e.what()});
      }
    }
  }
  if (!o.log_level.empty()) {
    if (spdlog::level::from_str(o.log_level) == spdlog::level::off && o.log_level != "off") {
      throw config::ConfigError({"--log-level: unknown level \"" + o.log_level + "\""});
    }
    cfg.log_level = o.log_level;
  }
  return cfg;
}

Resources build_resources(const config::Config& c) {
  prepare_mail_root(c);
  Resources r;
  r.config = std::make_shared<const config::Config>(c);
  r.recipients = make_recipients(c);
  delivery::MaildirStoreOptions store_options{c.hostname, c.mail.fsync, c.mail.root};
  // Test only (docs/reliability.md): fail or slow down chosen file-system calls of the store.
  if (const char* faults = std::getenv("MAILSLOT_TEST_FS_FAULTS"); faults != nullptr && *faults != '\0') {
    auto faulty = std::make_shared<delivery::fs::FaultyFileSystem>();
    delivery::fs::configure_faults(*faulty, faults);
    store_options.file_system = faulty;
    spdlog::warn("MAILSLOT_TEST_FS_FAULTS=\"{}\": injecting file-system faults (for tests only)", faults);
  }
  store_options.quota_full_tempfail = c.mail.quota_full_tempfail;
  // Issue #3: recently walked Maildirs keep tmp/ and new/ open for 2 s (OpenMaildirs, maildir_dirs.hpp),
  // which saves about a dozen system calls per delivery; at most 512 Maildirs, and at most a
  // sixteenth of the descriptors the process may open, so connections keep theirs.
  store_options.open_maildirs = std::min<std::size_t>(512, open_file_limit() / 32);
  store_options.open_maildir_ttl = std::chrono::seconds(2);
  // Issue #11: duplicate suppression; a database that cannot be opened refuses start-up (or the reload).
  if (c.duplicates.enabled) {
    store_options.duplicates = delivery::DuplicateDb::open(
        c.duplicates.database, std::chrono::duration_cast<std::chrono::seconds>(c.duplicates.window));
    spdlog::info("duplicate suppression on: {} (window {}s)", c.duplicates.database.string(),
                 std::chrono::duration_cast<std::chrono::seconds>(c.duplicates.window).count());
  }
  r.store = std::make_shared<delivery::MaildirStore>(store_options);
  // Issue #5: the TLS context (certificate and key files) is built here, so a reload picks up
  // renewed certificates and a bad one refuses the whole reload.
  bool tls_used = !c.tls.cert.empty(), auth_used = false;
  for (const auto& l : c.listeners) {
    tls_used = tls_used || l.tls || l.starttls != config::Listener::TlsPolicy::off;
    auth_used = auth_used || l.auth != config::Listener::AuthPolicy::off;
  }
  if (tls_used) {
    try {
      r.tls = server::make_tls_context(c.tls);
    } catch (const std::runtime_error& e) {
      throw config::ConfigError({e.what()});
    }
  }
  if (auth_used) server::configure_sasl(c.auth);
  return r;
}

void keep_restart_only_settings(const config::Config& running, config::Config& next) {
  auto keep = [](const char* key, bool differs) {
    if (differs) spdlog::warn("reload: {} changed; it takes effect only after a restart (keeping the running value)", key);
  };
  keep("server.listen (or server.unix_socket_mode)", listeners_text(running) != listeners_text(next) ||
                                                         running.unix_socket_mode != next.unix_socket_mode);
  keep("server.io_threads", running.io_threads != next.io_threads);
  keep("server.disk_threads", running.disk_threads != next.disk_threads);
  keep("server.disk_queue", running.disk_queue != next.disk_queue);
  keep("metrics.listen", running.metrics.listen != next.metrics.listen);
  keep("log.format", running.log.format != next.log.format);
  keep("[dsn]", running.dsn != next.dsn);
  next.listeners = running.listeners;
  next.unix_socket_mode = running.unix_socket_mode;
  next.io_threads = running.io_threads;
  next.disk_threads = running.disk_threads;
  next.disk_queue = running.disk_queue;
  next.metrics = running.metrics;
  next.log = running.log;
  next.dsn = running.dsn;  // issue #11: the submitter thread is started once
}

}  // namespace mailslot::app
