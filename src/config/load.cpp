// TOML → Config. Every problem is collected (not just the first) and reported as
// "file:line:column: key: message", so an operator fixes a config in one pass.
#include "mailslot/config/load.hpp"

#include <unistd.h>

#include <cctype>
#include <charconv>
#include <cstring>
#include <map>
#include <optional>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "mailslot/config/network.hpp"
#include "mailslot/lmtp/address.hpp"

namespace mailslot::config {
namespace {

std::string default_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// Walks one TOML table: typed getters that record problems instead of throwing, and a check
// that every key present was one we know (a misspelt key must not be silently ignored).
class Reader {
 public:
  Reader(std::string source, std::vector<std::string>& problems)
      : source_(std::move(source)), problems_(problems) {}

  void problem(const toml::node* node, std::string_view key, std::string_view message) {
    problem(node != nullptr ? node->source() : toml::source_region{}, key, message);
  }

  void problem(const toml::source_region& where, std::string_view key, std::string_view message) {
    std::ostringstream s;
    s << source_;
    if (where.begin.line != 0) s << ':' << where.begin.line << ':' << where.begin.column;
    s << ": " << key << ": " << message;
    problems_.push_back(s.str());
  }

  // The table at `key` (empty view when absent); records the key as known.
  const toml::table* table(const toml::table& parent, std::string_view key, std::string_view path) {
    known_[&parent].insert(std::string(key));
    const toml::node* n = parent.get(key);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) {
      problem(n, path, "must be a table");
      return nullptr;
    }
    return n->as_table();
  }

  const toml::node* node(const toml::table& t, std::string_view key) {
    known_[&t].insert(std::string(key));
    return t.get(key);
  }

  void string(const toml::table& t, std::string_view key, std::string_view path, std::string& out) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return;
    if (auto v = n->value<std::string>()) {
      out = *v;
    } else {
      problem(n, path, "must be a string");
    }
  }

  void boolean(const toml::table& t, std::string_view key, std::string_view path, bool& out) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return;
    if (auto v = n->value<bool>()) {
      out = *v;
    } else {
      problem(n, path, "must be true or false");
    }
  }

  template <typename Int>
  void integer(const toml::table& t, std::string_view key, std::string_view path, Int& out, std::int64_t min,
               std::int64_t max) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return;
    auto v = n->value<std::int64_t>();
    if (!v || !n->is_integer()) {
      problem(n, path, "must be an integer");
    } else if (*v < min || *v > max) {
      problem(n, path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    } else {
      out = static_cast<Int>(*v);
    }
  }

  // An integer number of bytes, or a string with a binary suffix ("64K", "50M", "1G").
  template <typename Int>
  void size(const toml::table& t, std::string_view key, std::string_view path, Int& out, std::uint64_t min,
            std::uint64_t max) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return;
    std::uint64_t bytes = 0;
    try {
      if (auto i = n->value<std::int64_t>(); i && n->is_integer()) {
        if (*i < 0) throw std::invalid_argument("must not be negative");
        bytes = static_cast<std::uint64_t>(*i);
      } else if (auto s = n->value<std::string>()) {
        bytes = parse_size(*s);
      } else {
        throw std::invalid_argument("must be a size: an integer number of bytes or a string like \"50M\"");
      }
      if (bytes < min || bytes > max) {
        throw std::invalid_argument("must be between " + std::to_string(min) + " and " + std::to_string(max) +
                                    " bytes");
      }
      out = static_cast<Int>(bytes);
    } catch (const std::invalid_argument& e) {
      problem(n, path, e.what());
    }
  }

  // Integer seconds, or a string with a unit ("250ms", "30s", "5m", "1h").
  void duration(const toml::table& t, std::string_view key, std::string_view path, std::chrono::milliseconds& out) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return;
    try {
      std::chrono::milliseconds d{};
      if (auto i = n->value<std::int64_t>(); i && n->is_integer()) {
        if (*i < 0) throw std::invalid_argument("must not be negative");
        d = std::chrono::seconds(*i);
      } else if (auto s = n->value<std::string>()) {
        d = parse_duration(*s);
      } else {
        throw std::invalid_argument("must be a duration: integer seconds or a string like \"30s\", \"5m\"");
      }
      if (d.count() <= 0) throw std::invalid_argument("must be greater than zero");
      // Bounded so that "now + timeout" can never overflow the clock.
      if (d > std::chrono::hours(24 * 7)) throw std::invalid_argument("must be at most 7 days");
      out = d;
    } catch (const std::invalid_argument& e) {
      problem(n, path, e.what());
    }
  }

  void string_list(const toml::table& t, std::string_view key, std::string_view path,
                   std::vector<std::string>& out) {
    const toml::node* n = node(t, key);
    if (n == nullptr) return;
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      problem(n, path, "must be an array of strings");
      return;
    }
    out.clear();
    for (const toml::node& e : *a) {
      if (auto v = e.value<std::string>()) {
        out.push_back(*v);
      } else {
        problem(&e, path, "must be an array of strings");
      }
    }
  }

  // Reports every key of `t` that no getter asked for.
  void unknown_keys(const toml::table& t, std::string_view prefix) {
    const auto& known = known_[&t];
    for (const auto& [k, v] : t) {
      if (!known.contains(std::string(k.str()))) {
        std::string path = prefix.empty() ? std::string(k.str()) : std::string(prefix) + "." + std::string(k.str());
        problem(k.source().begin.line != 0 ? k.source() : v.source(), path, "unknown key");
      }
    }
  }

 private:
  std::string source_;
  std::vector<std::string>& problems_;
  std::map<const toml::table*, std::set<std::string>> known_;
};

std::filesystem::path resolve(const std::filesystem::path& base_dir, const std::string& p) {
  std::filesystem::path path(p);
  if (path.is_relative() && !base_dir.empty()) path = base_dir / path;
  return path.lexically_normal();
}

// STARTTLS, implicit TLS and AUTH of one listener table (issue #5 part A: TLS and AUTH).
void read_listener_security(Reader& r, const toml::table& t, Listener& l) {
  const std::string path = "server.listen";
  std::string starttls = "off", auth = "off";
  r.string(t, "starttls", path + ".starttls", starttls);
  r.boolean(t, "tls", path + ".tls", l.tls);
  r.string(t, "auth", path + ".auth", auth);
  if (starttls == "offered") {
    l.starttls = Listener::TlsPolicy::offered;
  } else if (starttls == "required") {
    l.starttls = Listener::TlsPolicy::required;
  } else if (starttls != "off") {
    r.problem(t.get("starttls"), path + ".starttls", "must be \"off\", \"offered\" or \"required\"");
  }
  if (auth == "optional") {
    l.auth = Listener::AuthPolicy::optional;
  } else if (auth == "required") {
    l.auth = Listener::AuthPolicy::required;
  } else if (auth != "off") {
    r.problem(t.get("auth"), path + ".auth", "must be \"off\", \"optional\" or \"required\"");
  }
  if (l.tls && l.starttls != Listener::TlsPolicy::off) {
    r.problem(t.get("starttls"), path + ".starttls", "makes no sense with tls = true (already encrypted)");
  }
}

// "0660" → 0660; nullopt when it is not an octal mode.
std::optional<unsigned> octal_mode(const std::string& mode) {
  unsigned m = 0;
  auto [p, ec] = std::from_chars(mode.data(), mode.data() + mode.size(), m, 8);
  if (mode.empty() || ec != std::errc() || p != mode.data() + mode.size() || m > 0777) return std::nullopt;
  return m;
}

// A list of networks under `name` in table `t`: each entry parsed, a bad one reported at its own
// line (server.listen allow, proxy_from).
void read_networks(Reader& r, const toml::table& t, const char* name, const std::string& key,
                   const std::vector<std::string>& texts, std::vector<Network>& out) {
  for (std::size_t i = 0; i < texts.size(); ++i) {
    try {
      out.push_back(parse_network(texts[i]));
    } catch (const std::invalid_argument& e) {
      const toml::node* n = t.get(name);
      if (n != nullptr && n->is_array() && i < n->as_array()->size()) n = n->as_array()->get(i);
      r.problem(n, key, e.what());
    }
  }
}

// Issue #11: { address = "0.0.0.0:24", proxy_protocol = true, proxy_from = ["10.0.0.5/32"] }. On TCP
// the peers allowed to send the header must be named (a header from anyone would let anyone pick
// the client address the access checks and logs see); unix: listeners rely on the file's mode.
void read_proxy_from(Reader& r, const toml::table& t, const std::vector<std::string>& proxy_from, Listener& l) {
  const std::string key = "server.listen.proxy_from";
  read_networks(r, t, "proxy_from", key, proxy_from, l.proxy_from);
  if (t.contains("proxy_from") && !l.proxy_protocol) {
    r.problem(t.get("proxy_from"), key, "needs proxy_protocol = true");
  } else if (l.kind == Listener::Kind::unix_socket && t.contains("proxy_from")) {
    r.problem(t.get("proxy_from"), key, "applies only to TCP listeners (use mode/owner/group for unix:)");
  } else if (l.proxy_protocol && l.kind == Listener::Kind::tcp && proxy_from.empty()) {
    r.problem(t.get("proxy_protocol"), "server.listen.proxy_protocol",
              "needs proxy_from: the load balancers' networks allowed to send the PROXY header");
  }
}

// One `listen` entry written as a table (issue #5):
//   { address = "unix:/run/mailslot/lmtp", mode = "0660", owner = "postfix", group = "postfix" }
//   { address = "[::]:24", allow = ["10.0.0.0/8", "2001:db8::/32"] }
// Settings that do not apply to the address's kind are errors, not silently ignored.
std::optional<Listener> read_listener_table(Reader& r, const toml::table& t, const std::filesystem::path& base_dir,
                                            std::vector<bool>& explicit_mode) {
  const std::string path = "server.listen";
  std::string address, mode;
  std::vector<std::string> allow;
  Listener l;
  r.string(t, "address", path + ".address", address);
  r.string(t, "mode", path + ".mode", mode);
  r.string(t, "owner", path + ".owner", l.owner);
  r.string(t, "group", path + ".group", l.group);
  r.string_list(t, "allow", path + ".allow", allow);
  Listener security;
  read_listener_security(r, t, security);  // starttls, tls, auth (issue #5 part A)
  std::vector<std::string> proxy_from;     // issue #11: PROXY protocol
  r.boolean(t, "proxy_protocol", path + ".proxy_protocol", security.proxy_protocol);
  r.string_list(t, "proxy_from", path + ".proxy_from", proxy_from);
  r.unknown_keys(t, path);
  if (address.empty()) {
    r.problem(&t, path + ".address", "is required in a listener table");
    return std::nullopt;
  }
  try {
    const std::string text = address;
    auto owner = std::move(l.owner), group = std::move(l.group);
    l = parse_listener(text);
    l.owner = std::move(owner);
    l.group = std::move(group);
    l.starttls = security.starttls;
    l.tls = security.tls;
    l.auth = security.auth;
    l.proxy_protocol = security.proxy_protocol;
  } catch (const std::invalid_argument& e) {
    r.problem(t.get("address"), path + ".address", e.what());
    return std::nullopt;
  }
  const bool unix_socket = l.kind == Listener::Kind::unix_socket;
  if (unix_socket) l.path = resolve(base_dir, l.path.string());
  if (!mode.empty()) {
    if (auto m = octal_mode(mode)) {
      l.mode = *m;
    } else {
      r.problem(t.get("mode"), path + ".mode", "must be an octal mode like \"0660\"");
    }
  }
  read_networks(r, t, "allow", path + ".allow", allow, l.allow);
  if (!unix_socket) {
    for (const char* key : {"mode", "owner", "group"}) {
      if (t.contains(key)) r.problem(t.get(key), path + "." + key, "applies only to unix: listeners");
    }
  } else if (t.contains("allow")) {
    r.problem(t.get("allow"), path + ".allow", "applies only to TCP listeners (use mode/owner/group for unix:)");
  }
  read_proxy_from(r, t, proxy_from, l);
  explicit_mode.push_back(!mode.empty());
  return l;
}

void read_server(Reader& r, const toml::table& t, Config& c, const std::filesystem::path& base_dir) {
  r.string(t, "hostname", "server.hostname", c.hostname);
  std::vector<bool> explicit_mode;  // per listener: mode set in its own table (wins over unix_socket_mode)
  if (const toml::node* n = r.node(t, "listen")) {
    const toml::array* a = n->as_array();
    if (a == nullptr) {
      r.problem(n, "server.listen", "must be an array of addresses like \"127.0.0.1:24\" or \"unix:/run/x\"");
    } else {
      c.listeners.clear();
      for (const toml::node& e : *a) {
        if (const toml::table* lt = e.as_table()) {  // per-listener settings (issue #5)
          if (auto l = read_listener_table(r, *lt, base_dir, explicit_mode)) c.listeners.push_back(std::move(*l));
          continue;
        }
        auto s = e.value<std::string>();
        if (!s) {
          r.problem(&e, "server.listen", "must be an array of addresses (strings) or tables { address = \"...\", ... }");
          continue;
        }
        try {
          Listener l = parse_listener(*s);
          if (l.kind == Listener::Kind::unix_socket) l.path = resolve(base_dir, l.path.string());
          c.listeners.push_back(std::move(l));
          explicit_mode.push_back(false);
        } catch (const std::invalid_argument& e2) {
          r.problem(&e, "server.listen", e2.what());
        }
      }
    }
  }
  std::string mode;
  r.string(t, "unix_socket_mode", "server.unix_socket_mode", mode);
  if (!mode.empty()) {
    unsigned m = 0;
    auto [p, ec] = std::from_chars(mode.data(), mode.data() + mode.size(), m, 8);
    if (ec != std::errc() || p != mode.data() + mode.size() || m > 0777) {
      r.problem(t.get("unix_socket_mode"), "server.unix_socket_mode", "must be an octal mode like \"0660\"");
    } else {
      for (std::size_t i = 0; i < c.listeners.size(); ++i) {
        if (i >= explicit_mode.size() || !explicit_mode[i]) c.listeners[i].mode = m;
      }
      c.unix_socket_mode = m;
    }
  }
  r.integer(t, "max_connections", "server.max_connections", c.max_connections, 1, 1'000'000);
  // Security (issue #5).
  r.string(t, "user", "server.user", c.user);
  r.string(t, "group", "server.group", c.group);
  r.boolean(t, "allow_root", "server.allow_root", c.allow_root);
  if (c.user.empty() && !c.group.empty()) r.problem(t.get("group"), "server.group", "needs server.user");
  r.integer(t, "max_connections_per_client", "server.max_connections_per_client", c.max_connections_per_client, 0,
            1'000'000);
  r.integer(t, "io_threads", "server.io_threads", c.io_threads, 1, 256);
  r.integer(t, "disk_threads", "server.disk_threads", c.disk_threads, 1, 1024);
  r.integer(t, "disk_queue", "server.disk_queue", c.disk_queue, 0, 1'000'000);
  r.string(t, "log_level", "server.log_level", c.log_level);
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.contains(c.log_level)) {
    r.problem(t.get("log_level"), "server.log_level", "must be one of trace, debug, info, warn, error, critical, off");
  }
  r.unknown_keys(t, "server");
}

void read_limits(Reader& r, const toml::table& t, Config& c) {
  auto& l = c.limits;
  r.size(t, "max_message_size", "limits.max_message_size", l.max_message_size, 1024, std::uint64_t(1) << 40);
  r.integer(t, "max_recipients", "limits.max_recipients", l.max_recipients, 1, 1'000'000);
  r.size(t, "max_command_line", "limits.max_command_line", l.max_command_line, 512, 1 << 20);
  r.size(t, "max_data_line", "limits.max_data_line", l.max_data_line, 0, std::uint64_t(1) << 30);
  if (l.max_data_line != 0 && l.max_data_line < 1000) {
    r.problem(t.get("max_data_line"), "limits.max_data_line",
              "must be 0 (unlimited) or at least 1000 (RFC 5321 §4.5.3.1.6)");
  }
  r.integer(t, "max_errors", "limits.max_errors", l.max_errors, 0, 1'000'000);  // issue #5
  r.duration(t, "command_timeout", "limits.command_timeout", c.timeouts.command);
  r.duration(t, "data_timeout", "limits.data_timeout", c.timeouts.data);
  r.duration(t, "shutdown_timeout", "limits.shutdown_timeout", c.timeouts.shutdown);
  // Issue #11: a healthy fsync can take a second under load; shorter would fail good deliveries.
  r.duration(t, "delivery_timeout", "limits.delivery_timeout", c.timeouts.delivery);
  if (c.timeouts.delivery < std::chrono::seconds(1))
    r.problem(t.get("delivery_timeout"), "limits.delivery_timeout", "must be at least 1s");
  r.unknown_keys(t, "limits");
}

// Issue #4 keys of [mail]: delimiter, +detail folders, aliases, quota.
void read_mail_recipients(Reader& r, const toml::table& t, Config& c, const std::filesystem::path& base_dir) {
  r.string(t, "recipient_delimiter", "mail.recipient_delimiter", c.mail.recipient_delimiter);
  for (const char ch : c.mail.recipient_delimiter) {
    const auto u = static_cast<unsigned char>(ch);
    if (u <= 0x20 || u >= 0x7f || ch == '@' || ch == '"' || ch == '\\' || ch == '.') {
      r.problem(t.get("recipient_delimiter"), "mail.recipient_delimiter",
                "must be printable ASCII characters other than '@', '.', '\"' and '\\' (e.g. \"+\")");
      break;
    }
  }
  r.string(t, "detail_folders", "mail.detail_folders", c.mail.detail_folders);
  if (c.mail.detail_folders != "off" && c.mail.detail_folders != "existing" && c.mail.detail_folders != "create")
    r.problem(t.get("detail_folders"), "mail.detail_folders", "must be \"off\", \"existing\" or \"create\"");
  std::string aliases;
  r.string(t, "aliases", "mail.aliases", aliases);
  if (!aliases.empty()) c.mail.aliases = resolve(base_dir, aliases);
  r.size(t, "quota", "mail.quota", c.mail.quota, 0, std::uint64_t(1) << 60);
  r.integer(t, "quota_messages", "mail.quota_messages", c.mail.quota_messages, 0, std::int64_t(1) << 40);
  r.boolean(t, "quota_full_tempfail", "mail.quota_full_tempfail", c.mail.quota_full_tempfail);
  r.boolean(t, "rcpt_check_quota", "mail.rcpt_check_quota", c.mail.rcpt_check_quota);
}

// [domains."example.org"] tables: resolver = "static" | "passwd-file" | "system".
void read_domains(Reader& r, const toml::table& t, Config& c, const std::filesystem::path& base_dir) {
  for (const auto& [key, node] : t) {
    const std::string name(key.str());
    const std::string path = "domains." + name;
    r.node(t, key.str());  // every key here is a domain name
    const toml::table* d = node.as_table();
    if (d == nullptr) {
      r.problem(&node, path, "must be a table");
      continue;
    }
    Domain dom;
    dom.name = name;
    for (char& ch : dom.name) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    if (!lmtp::is_valid_domain(dom.name) || dom.name.front() == '[')
      r.problem(&node, path, "\"" + name + "\" is not a domain name");
    r.string(*d, "resolver", path + ".resolver", dom.resolver);
    std::string file;
    r.string(*d, "passwd_file", path + ".passwd_file", file);
    if (!file.empty()) dom.passwd_file = resolve(base_dir, file);
    r.string(*d, "mailbox", path + ".mailbox", dom.mailbox);
    r.string_list(*d, "users", path + ".users", dom.users);
    if (dom.resolver != "static" && dom.resolver != "passwd-file" && dom.resolver != "system")
      r.problem(d->get("resolver"), path + ".resolver", "must be \"static\", \"passwd-file\" or \"system\"");
    if (dom.resolver == "passwd-file" && dom.passwd_file.empty())
      r.problem(d, path + ".passwd_file", "is required with resolver = \"passwd-file\"");
    if (dom.resolver != "passwd-file" && !dom.passwd_file.empty())
      r.problem(d->get("passwd_file"), path + ".passwd_file", "is only used with resolver = \"passwd-file\"");
    if (dom.resolver != "static" && !dom.users.empty())
      r.problem(d->get("users"), path + ".users", "is only used with resolver = \"static\"");
    if (!dom.mailbox.empty() && dom.mailbox.front() == '/')
      r.problem(d->get("mailbox"), path + ".mailbox", "must be a template like \"{home}/Maildir\" or one below mail.root");
    r.unknown_keys(*d, path);
    c.domains.push_back(std::move(dom));
  }
}

void read_mail(Reader& r, const toml::table& t, Config& c, const std::filesystem::path& base_dir) {
  std::string root;
  r.string(t, "root", "mail.root", root);
  if (!root.empty()) c.mail.root = resolve(base_dir, root);
  r.string(t, "mailbox", "mail.mailbox", c.mail.mailbox);
  r.string_list(t, "domains", "mail.domains", c.mail.domains);
  r.string_list(t, "users", "mail.users", c.mail.users);
  r.boolean(t, "fold_case", "mail.fold_case", c.mail.fold_case);
  r.boolean(t, "fsync", "mail.fsync", c.mail.fsync);
  r.boolean(t, "x_original_to", "mail.x_original_to", c.mail.x_original_to);
  r.boolean(t, "per_recipient_headers", "mail.per_recipient_headers", c.mail.per_recipient_headers);
  read_mail_recipients(r, t, c, base_dir);
  if (c.mail.root.empty()) r.problem(&t, "mail.root", "is required: the directory all Maildirs live below");
  for (const auto& d : c.mail.domains) {
    // A domain that can never match an RCPT (trailing dot, spaces, an address literal) would
    // silently refuse all its mail.
    if (!lmtp::is_valid_domain(d) || d.front() == '[') {
      r.problem(t.get("domains"), "mail.domains", "\"" + d + "\" is not a domain name");
    }
  }
  if (c.mail.mailbox.empty() || c.mail.mailbox.front() == '/') {
    r.problem(t.get("mailbox"), "mail.mailbox", "must be a relative path template below mail.root");
  }
  r.unknown_keys(t, "mail");
}

// [log] and [metrics] (operations, issue #7).
void read_log(Reader& r, const toml::table& t, Config& c) {
  r.string(t, "format", "log.format", c.log.format);
  if (c.log.format != "text" && c.log.format != "json") {
    r.problem(t.get("format"), "log.format", "must be \"text\" or \"json\"");
  }
  r.unknown_keys(t, "log");
}

void read_metrics(Reader& r, const toml::table& t, Config& c) {
  r.string(t, "listen", "metrics.listen", c.metrics.listen);
  if (!c.metrics.listen.empty()) {
    try {
      Listener l = parse_listener(c.metrics.listen);
      if (l.kind != Listener::Kind::tcp) throw std::invalid_argument("must be a TCP address like \"127.0.0.1:2425\"");
      c.metrics.host = l.host;
      c.metrics.port = l.port;
    } catch (const std::invalid_argument& e) {
      r.problem(t.get("listen"), "metrics.listen", e.what());
    }
  }
  r.unknown_keys(t, "metrics");
}

// [lmtp]: LHLO extensions (issue #9).
void read_lmtp(Reader& r, const toml::table& t, Config& c) {
  r.boolean(t, "chunking", "lmtp.chunking", c.extensions.chunking);
  r.boolean(t, "smtputf8", "lmtp.smtputf8", c.extensions.smtputf8);
  r.string_list(t, "xforward_from", "lmtp.xforward_from", c.extensions.xforward_from);
  try {
    check_network_list(c.extensions.xforward_from);
  } catch (const std::invalid_argument& e) {
    r.problem(t.get("xforward_from"), "lmtp.xforward_from", std::string(e.what()) + " (or \"unix\")");
  }
  // IGNOREQUOTA (issue #11): the same kind of trust list as xforward_from.
  r.string_list(t, "ignorequota_from", "lmtp.ignorequota_from", c.extensions.ignorequota_from);
  try {
    check_network_list(c.extensions.ignorequota_from);
  } catch (const std::invalid_argument& e) {
    r.problem(t.get("ignorequota_from"), "lmtp.ignorequota_from", std::string(e.what()) + " (or \"unix\")");
  }
  r.boolean(t, "ignorequota_authenticated", "lmtp.ignorequota_authenticated", c.extensions.ignorequota_authenticated);
  r.unknown_keys(t, "lmtp");
}

// [duplicates] (issue #11).
void read_duplicates(Reader& r, const toml::table& t, Config& c, const std::filesystem::path& base_dir) {
  r.boolean(t, "enabled", "duplicates.enabled", c.duplicates.enabled);
  r.duration(t, "window", "duplicates.window", c.duplicates.window);
  std::string database;
  r.string(t, "database", "duplicates.database", database);
  if (!database.empty()) c.duplicates.database = resolve(base_dir, database);
  r.unknown_keys(t, "duplicates");
}

// [dsn] (issue #11): success DSNs and how they are submitted.
void read_dsn(Reader& r, const toml::table& t, Config& c, const std::filesystem::path& base_dir) {
  r.string_list(t, "sendmail", "dsn.sendmail", c.dsn.sendmail);
  r.string(t, "smtp", "dsn.smtp", c.dsn.smtp);
  if (!c.dsn.sendmail.empty() && !c.dsn.smtp.empty())
    r.problem(t.get("smtp"), "dsn.smtp", "set dsn.sendmail or dsn.smtp, not both");
  if (!c.dsn.sendmail.empty() && (c.dsn.sendmail.front().empty() || c.dsn.sendmail.front().front() != '/'))
    r.problem(t.get("sendmail"), "dsn.sendmail", "the command must be an absolute path");
  if (!c.dsn.smtp.empty()) {
    try {
      Listener l = parse_listener(c.dsn.smtp);
      if (l.kind != Listener::Kind::tcp) throw std::invalid_argument("must be a TCP address like \"127.0.0.1:25\"");
      // The report is submitted with MAIL FROM:<> and no authentication: only to an MTA on this host.
      if (!l.host.starts_with("127.") && l.host != "::1")
        throw std::invalid_argument("must be a loopback address (127.0.0.0/8 or [::1])");
      c.dsn.smtp_host = l.host;
      c.dsn.smtp_port = l.port;
    } catch (const std::invalid_argument& e) {
      r.problem(t.get("smtp"), "dsn.smtp", e.what());
    }
  }
  std::string spool;
  r.string(t, "spool", "dsn.spool", spool);
  if (!spool.empty()) c.dsn.spool = resolve(base_dir, spool);
  r.duration(t, "retry", "dsn.retry", c.dsn.retry);
  r.duration(t, "retry_max", "dsn.retry_max", c.dsn.retry_max);
  r.duration(t, "max_age", "dsn.max_age", c.dsn.max_age);
  if (c.dsn.retry_max < c.dsn.retry) r.problem(t.get("retry_max"), "dsn.retry_max", "must not be less than dsn.retry");
  r.unknown_keys(t, "dsn");
}

// [tls] and [auth] (issue #5).
void read_tls(Reader& r, const toml::table& t, Config& c, const std::filesystem::path& base_dir) {
  std::string cert, key, chain;
  r.string(t, "cert", "tls.cert", cert);
  r.string(t, "key", "tls.key", key);
  r.string(t, "chain", "tls.chain", chain);
  if (!cert.empty()) c.tls.cert = resolve(base_dir, cert);
  if (!key.empty()) c.tls.key = resolve(base_dir, key);
  if (!chain.empty()) c.tls.chain = resolve(base_dir, chain);
  if (cert.empty() != key.empty()) r.problem(&t, "tls", "cert and key go together");
  r.string(t, "min_version", "tls.min_version", c.tls.min_version);
  if (c.tls.min_version != "TLSv1.2" && c.tls.min_version != "TLSv1.3") {
    r.problem(t.get("min_version"), "tls.min_version", "must be \"TLSv1.2\" or \"TLSv1.3\"");
  }
  r.string(t, "ciphers", "tls.ciphers", c.tls.ciphers);
  r.duration(t, "handshake_timeout", "tls.handshake_timeout", c.tls.handshake_timeout);
  r.unknown_keys(t, "tls");
}

void read_auth(Reader& r, const toml::table& t, Config& c) {
  r.string_list(t, "mechanisms", "auth.mechanisms", c.auth.mechanisms);
  for (auto& m : c.auth.mechanisms) {
    for (char& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  }
  if (const auto* o = r.table(t, "sasl_options", "auth.sasl_options")) {
    for (const auto& [k, v] : *o) {
      if (auto s = v.value<std::string>()) {
        c.auth.sasl_options.emplace_back(std::string(k.str()), *s);
      } else {
        r.problem(&v, "auth.sasl_options", "values must be strings");
      }
    }
  }
  r.integer(t, "max_failures", "auth.max_failures", c.auth.max_failures, 1, 100);
  r.duration(t, "failure_delay", "auth.failure_delay", c.auth.failure_delay);
  r.unknown_keys(t, "auth");
}

Config from_table(const toml::table& doc, std::string source, const std::filesystem::path& base_dir) {
  Config c;
  c.source = source;
  std::vector<std::string> problems;
  Reader r(source, problems);
  if (const auto* t = r.table(doc, "server", "server")) read_server(r, *t, c, base_dir);
  if (const auto* t = r.table(doc, "limits", "limits")) read_limits(r, *t, c);
  if (const auto* t = r.table(doc, "domains", "domains")) read_domains(r, *t, c, base_dir);
  if (const auto* t = r.table(doc, "mail", "mail")) {
    read_mail(r, *t, c, base_dir);
    if (c.mail.domains.empty() && c.domains.empty())
      r.problem(t, "mail.domains", "is required (or [domains.*] tables): the domains delivered here");
  } else {
    r.problem(nullptr, "mail", "section is required (mail.root and mail.domains)");
  }
  if (const auto* t = r.table(doc, "log", "log")) read_log(r, *t, c);
  if (const auto* t = r.table(doc, "metrics", "metrics")) read_metrics(r, *t, c);
  if (const auto* t = r.table(doc, "lmtp", "lmtp")) read_lmtp(r, *t, c);
  if (const auto* t = r.table(doc, "duplicates", "duplicates")) read_duplicates(r, *t, c, base_dir);
  if (c.duplicates.database.empty() && !c.mail.root.empty())
    c.duplicates.database = c.mail.root / ".mailslot-duplicates.sqlite";
  if (const auto* t = r.table(doc, "dsn", "dsn")) read_dsn(r, *t, c, base_dir);
  if (c.dsn.spool.empty() && !c.mail.root.empty()) c.dsn.spool = c.mail.root / ".mailslot-dsn";
  if (const auto* t = r.table(doc, "tls", "tls")) read_tls(r, *t, c, base_dir);
  if (const auto* t = r.table(doc, "auth", "auth")) read_auth(r, *t, c);
  r.unknown_keys(doc, "");
  if (c.hostname.empty()) c.hostname = default_hostname();
  if (c.listeners.empty()) r.problem(nullptr, "server.listen", "no listen address configured");
  if (!problems.empty()) throw ConfigError(std::move(problems));
  return c;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error([&] {
        std::string s;
        for (const auto& p : problems) s += p + "\n";
        if (!s.empty()) s.pop_back();
        return s;
      }()),
      problems_(std::move(problems)) {}

Config load_string(std::string_view text, std::string_view source_name, const std::filesystem::path& base_dir) {
  toml::table doc;
  try {
    doc = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream s;
    s << source_name << ':' << e.source().begin.line << ':' << e.source().begin.column << ": " << e.description();
    throw ConfigError({s.str()});
  }
  return from_table(doc, std::string(source_name), base_dir);
}

Config load_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError({path.string() + ": cannot open: " + std::strerror(errno)});
  std::ostringstream buf;
  buf << in.rdbuf();
  std::filesystem::path base = std::filesystem::absolute(path).parent_path();
  return load_string(buf.str(), path.string(), base);
}

}  // namespace mailslot::config
