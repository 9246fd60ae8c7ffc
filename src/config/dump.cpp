// The effective configuration as TOML, for `mailslotd --check-config`: what the daemon would
// run with after defaults and path resolution. (No secrets exist yet; redact them here when
// TLS keys and SASL settings arrive.)
#include <cstdio>
#include <sstream>

#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + toml_string(v[i]);
  return out + "]";
}

std::string octal(unsigned mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode);
  return text;
}

// server.listen: plain strings, or inline tables for listeners with their own settings (issue #5).
std::string listen_entries(const Config& c) {
  std::string out = "[";
  for (std::size_t i = 0; i < c.listeners.size(); ++i) {
    const Listener& l = c.listeners[i];
    const bool unix_socket = l.kind == Listener::Kind::unix_socket;
    const std::string address = unix_socket ? "unix:" + l.path.string() : l.address;
    out += i ? ", " : "";
    const bool security = l.tls || l.starttls != Listener::TlsPolicy::off || l.auth != Listener::AuthPolicy::off;
    if (!security && !l.proxy_protocol && l.allow.empty() && l.owner.empty() && l.group.empty() &&
        (!unix_socket || l.mode == c.unix_socket_mode)) {
      out += toml_string(address);
      continue;
    }
    out += "{ address = " + toml_string(address);
    if (unix_socket) out += ", mode = " + toml_string(octal(l.mode));
    if (!l.owner.empty()) out += ", owner = " + toml_string(l.owner);
    if (!l.group.empty()) out += ", group = " + toml_string(l.group);
    if (!l.allow.empty()) {
      std::vector<std::string> nets;
      for (const auto& n : l.allow) nets.push_back(n.text);
      out += ", allow = " + list(nets);
    }
    // Issue #5 part A: TLS and AUTH.
    static constexpr const char* kTls[] = {"off", "offered", "required"};
    static constexpr const char* kAuth[] = {"off", "optional", "required"};
    if (l.starttls != Listener::TlsPolicy::off) out += std::string(", starttls = ") + toml_string(kTls[static_cast<int>(l.starttls)]);
    if (l.tls) out += ", tls = true";
    if (l.auth != Listener::AuthPolicy::off) out += std::string(", auth = ") + toml_string(kAuth[static_cast<int>(l.auth)]);
    if (l.proxy_protocol) {  // issue #11
      std::vector<std::string> nets;
      for (const auto& n : l.proxy_from) nets.push_back(n.text);
      out += ", proxy_protocol = true";
      if (!nets.empty()) out += ", proxy_from = " + list(nets);
    }
    out += " }";
  }
  return out + "]";
}

std::string duration(std::chrono::milliseconds d) {
  if (d.count() % 1000 != 0) return toml_string(std::to_string(d.count()) + "ms");
  return toml_string(std::to_string(d.count() / 1000) + "s");
}

}  // namespace

std::string to_toml(const Config& c) {
  std::ostringstream o;
  o << "# effective configuration";
  if (!c.source.empty()) o << " of " << c.source.string();
  o << "\n\n[server]\n";
  o << "hostname = " << toml_string(c.hostname) << "\n";
  const unsigned mode = c.unix_socket_mode;
  o << "listen = " << listen_entries(c) << "\n";
  char mode_text[8];
  std::snprintf(mode_text, sizeof mode_text, "%04o", mode);
  o << "unix_socket_mode = " << toml_string(mode_text) << "\n";
  o << "max_connections = " << c.max_connections << "\n";
  if (!c.user.empty()) o << "user = " << toml_string(c.user) << "\n";
  if (!c.group.empty()) o << "group = " << toml_string(c.group) << "\n";
  o << "allow_root = " << (c.allow_root ? "true" : "false") << "\n";
  o << "max_connections_per_client = " << c.max_connections_per_client << "\n";
  o << "io_threads = " << c.io_threads << "\n";
  o << "disk_threads = " << c.disk_threads << "\n";
  o << "disk_queue = " << c.disk_queue << "\n";
  o << "log_level = " << toml_string(c.log_level) << "\n\n[limits]\n";
  o << "max_message_size = " << c.limits.max_message_size << "\n";
  o << "max_recipients = " << c.limits.max_recipients << "\n";
  o << "max_command_line = " << c.limits.max_command_line << "\n";
  o << "max_data_line = " << c.limits.max_data_line << "\n";
  o << "max_errors = " << c.limits.max_errors << "\n";
  o << "command_timeout = " << duration(c.timeouts.command) << "\n";
  o << "data_timeout = " << duration(c.timeouts.data) << "\n";
  o << "shutdown_timeout = " << duration(c.timeouts.shutdown) << "\n";
  o << "delivery_timeout = " << duration(c.timeouts.delivery) << "\n\n[mail]\n";
  o << "root = " << toml_string(c.mail.root.string()) << "\n";
  o << "mailbox = " << toml_string(c.mail.mailbox) << "\n";
  o << "domains = " << list(c.mail.domains) << "\n";
  o << "users = " << list(c.mail.users) << "\n";
  o << "fold_case = " << (c.mail.fold_case ? "true" : "false") << "\n";
  o << "fsync = " << (c.mail.fsync ? "true" : "false") << "\n";
  o << "x_original_to = " << (c.mail.x_original_to ? "true" : "false") << "\n";
  o << "per_recipient_headers = " << (c.mail.per_recipient_headers ? "true" : "false") << "\n";
  o << "recipient_delimiter = " << toml_string(c.mail.recipient_delimiter) << "\n";
  o << "detail_folders = " << toml_string(c.mail.detail_folders) << "\n";
  o << "aliases = " << toml_string(c.mail.aliases.string()) << "\n";
  o << "quota = " << c.mail.quota << "\n";
  o << "quota_messages = " << c.mail.quota_messages << "\n";
  o << "quota_full_tempfail = " << (c.mail.quota_full_tempfail ? "true" : "false") << "\n";
  o << "rcpt_check_quota = " << (c.mail.rcpt_check_quota ? "true" : "false") << "\n";
  for (const auto& d : c.domains) {
    o << "\n[domains." << toml_string(d.name) << "]\n";
    o << "resolver = " << toml_string(d.resolver) << "\n";
    if (!d.passwd_file.empty()) o << "passwd_file = " << toml_string(d.passwd_file.string()) << "\n";
    if (!d.mailbox.empty()) o << "mailbox = " << toml_string(d.mailbox) << "\n";
    if (!d.users.empty()) o << "users = " << list(d.users) << "\n";
  }
  o << "\n[lmtp]\n";
  o << "chunking = " << (c.extensions.chunking ? "true" : "false") << "\n";
  o << "smtputf8 = " << (c.extensions.smtputf8 ? "true" : "false") << "\n";
  o << "xforward_from = " << list(c.extensions.xforward_from) << "\n";
  o << "ignorequota_from = " << list(c.extensions.ignorequota_from) << "\n";
  o << "ignorequota_authenticated = " << (c.extensions.ignorequota_authenticated ? "true" : "false") << "\n";
  o << "\n[log]\nformat = " << toml_string(c.log.format) << "\n";
  o << "\n[metrics]\nlisten = " << toml_string(c.metrics.listen) << "\n";
  o << "\n[duplicates]\nenabled = " << (c.duplicates.enabled ? "true" : "false") << "\n";
  o << "window = " << duration(c.duplicates.window) << "\n";
  o << "database = " << toml_string(c.duplicates.database.string()) << "\n";
  o << "\n[dsn]\nsendmail = " << list(c.dsn.sendmail) << "\n";
  o << "smtp = " << toml_string(c.dsn.smtp) << "\n";
  o << "spool = " << toml_string(c.dsn.spool.string()) << "\n";
  o << "retry = " << duration(c.dsn.retry) << "\n";
  o << "retry_max = " << duration(c.dsn.retry_max) << "\n";
  o << "max_age = " << duration(c.dsn.max_age) << "\n";
  // Issue #5: file names only; the key's content is never printed. sasl_options may hold
  // secrets (an LDAP bind password): their values are redacted.
  o << "\n[tls]\ncert = " << toml_string(c.tls.cert.string()) << "\n";
  o << "key = " << toml_string(c.tls.key.string()) << "\n";
  o << "chain = " << toml_string(c.tls.chain.string()) << "\n";
  o << "min_version = " << toml_string(c.tls.min_version) << "\n";
  o << "ciphers = " << toml_string(c.tls.ciphers) << "\n";
  o << "handshake_timeout = " << duration(c.tls.handshake_timeout) << "\n";
  o << "\n[auth]\nmechanisms = " << list(c.auth.mechanisms) << "\n";
  o << "max_failures = " << c.auth.max_failures << "\n";
  o << "failure_delay = " << duration(c.auth.failure_delay) << "\n";
  o << "\n[auth.sasl_options]\n";
  for (const auto& [k, v] : c.auth.sasl_options) {
    const bool secret = k.find("pass") != std::string::npos || k.find("secret") != std::string::npos;
    o << toml_string(k) << " = " << toml_string(secret ? "(redacted)" : v) << "\n";
  }
  return o.str();
}

}  // namespace mailslot::config
