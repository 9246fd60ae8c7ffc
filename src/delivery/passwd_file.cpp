// The passwd-file parser (passwd_file.hpp describes the format). Pure: text in, table and
// problems out, so every rule is unit-tested without a file.
#include "mailslot/delivery/passwd_file.hpp"

#include <charconv>
#include <limits>

#include "mailslot/lmtp/ascii.hpp"

namespace mailslot::delivery {

namespace {

using lmtp::ascii::iequals;
using lmtp::ascii::lower;

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

bool parse_id(std::string_view s, std::int64_t& out) {
  if (s.empty()) {
    out = -1;
    return true;
  }
  std::uint32_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == std::numeric_limits<std::uint32_t>::max()) return false;
  out = v;
  return true;
}

// "1G", "500M", "1024" (KiB), "10b".
bool parse_storage(std::string_view s, std::uint64_t unit_default, std::uint64_t& out) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p == s.data()) return false;
  std::string_view suffix(p, static_cast<std::size_t>(s.data() + s.size() - p));
  std::uint64_t unit = unit_default;
  if (suffix.size() == 2 && (suffix[1] == 'B' || suffix[1] == 'b') && suffix[0] != 'b' && suffix[0] != 'B')
    suffix.remove_suffix(1);  // "1GB" as "1G"
  if (suffix.empty()) {
  } else if (iequals(suffix, "b")) {
    unit = 1;
  } else if (iequals(suffix, "k")) {
    unit = 1024;
  } else if (iequals(suffix, "m")) {
    unit = 1024 * 1024;
  } else if (iequals(suffix, "g")) {
    unit = 1024ull * 1024 * 1024;
  } else if (iequals(suffix, "t")) {
    unit = 1024ull * 1024 * 1024 * 1024;
  } else {
    return false;
  }
  if (v > std::numeric_limits<std::uint64_t>::max() / unit) return false;
  out = v * unit;
  return true;
}

// "maildir:~/Maildir:LAYOUT=fs" → "~/Maildir"; other formats are refused.
bool mail_location(std::string_view value, std::string& out, std::string& error) {
  std::string_view v = value;
  const std::size_t colon = v.find(':');
  if (colon != std::string_view::npos && v.substr(0, colon).find('/') == std::string_view::npos) {
    const std::string_view format = v.substr(0, colon);
    if (!iequals(format, "maildir")) {
      error = "mail location format '" + std::string(format) + "' is not supported (only maildir)";
      return false;
    }
    v.remove_prefix(colon + 1);
  }
  v = v.substr(0, v.find(':'));  // ":INDEX=...", ":LAYOUT=..." options belong to the reader
  if (v.empty()) {
    error = "empty mail location";
    return false;
  }
  for (std::size_t i = 0; i + 1 < v.size(); ++i) {
    if (v[i] != '%') continue;
    const char c = v[++i];
    if (c != 'u' && c != 'n' && c != 'd' && c != 'h' && c != '%') {
      error = std::string("mail location variable %") + c + " is not supported (%u %n %d %h %%)";
      return false;
    }
  }
  out = std::string(v);
  return true;
}

}  // namespace

bool apply_quota_rule(std::string_view rule, QuotaLimits& into, std::string& error) {
  const std::size_t colon = rule.find(':');
  if (colon == std::string_view::npos) {
    error = "quota rule '" + std::string(rule) + "' must look like *:storage=1G";
    return false;
  }
  const std::string_view mailbox = rule.substr(0, colon);
  const std::string_view limits = rule.substr(colon + 1);
  if (mailbox != "*") return true;  // per-folder rules are the reader's business
  for (const std::string_view item : split(limits, ':')) {
    const std::size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    bool ok = false;
    if (key == "storage") {
      ok = parse_storage(value, 1024, into.bytes);
    } else if (key == "bytes") {
      ok = parse_storage(value, 1, into.bytes);
    } else if (key == "messages") {
      const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), into.messages);
      ok = ec == std::errc() && p == value.data() + value.size() && !value.empty();
    } else if (key == "ignore" || key == "noquota") {
      into = QuotaLimits{};
      ok = true;
    }
    if (!ok) {
      error = "quota rule '" + std::string(rule) + "': cannot read '" + std::string(item) + "'";
      return false;
    }
  }
  return true;
}

PasswdTable parse_passwd_file(std::string_view text, const std::string& name, bool fold_case,
                              std::vector<std::string>& problems) {
  PasswdTable table;
  int line_no = 0;
  for (std::string_view line : split(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    auto bad = [&](const std::string& why) { problems.push_back(name + ":" + std::to_string(line_no) + ": " + why); };

    std::vector<std::string_view> f = split(line, ':');
    // The extra fields may contain ':' themselves ("userdb_mail=maildir:~/Maildir"): everything
    // after the seventh colon is the eighth field.
    std::string_view extra;
    if (f.size() > 7) {
      std::size_t at = 0;
      for (int i = 0; i < 7; ++i) at = line.find(':', at) + 1;
      extra = line.substr(at);
      f.resize(7);
    }
    const std::string user = fold_case ? lower(f[0]) : std::string(f[0]);
    if (user.empty() || user.find_first_of(" \t") != std::string::npos) {
      bad("the user name (first field) must not be empty or contain spaces");
      continue;
    }
    PasswdEntry e;
    e.line = line_no;
    if ((f.size() > 2 && !parse_id(f[2], e.uid)) || (f.size() > 3 && !parse_id(f[3], e.gid))) {
      bad("uid and gid (third and fourth fields) must be numbers");
      continue;
    }
    if (f.size() > 5) e.home = std::string(f[5]);
    if (!e.home.empty() && e.home.front() != '/') {
      bad("home (sixth field) must be an absolute path");
      continue;
    }
    bool ok = true;
    for (const std::string_view item : split(extra, ' ')) {
      if (item.empty()) continue;
      const std::size_t eq = item.find('=');
      std::string_view key = item.substr(0, eq);
      const std::string_view value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
      if (key.substr(0, 7) == "userdb_") key.remove_prefix(7);
      std::string error;
      if (key == "mail") {
        ok = mail_location(value, e.mail, error);
      } else if (key.substr(0, 10) == "quota_rule") {
        if (!e.quota) e.quota = QuotaLimits{};
        ok = apply_quota_rule(value, *e.quota, error);
      } else if (key == "uid" || key == "gid") {
        ok = parse_id(value, key == "uid" ? e.uid : e.gid) && !value.empty();
        if (!ok) error = std::string(key) + " must be a number";
      } else if (key == "home") {
        e.home = std::string(value);
        ok = !e.home.empty() && e.home.front() == '/';
        if (!ok) error = "home must be an absolute path";
      }  // other fields (passdb extras, nopassword, ...) are not ours
      if (!ok) {
        bad(error);
        break;
      }
    }
    if (!ok) continue;
    if (const auto [it, fresh] = table.try_emplace(user, e); !fresh) {
      bad("user '" + user + "' already defined on line " + std::to_string(it->second.line));
    }
  }
  return table;
}

std::optional<std::string> expand_mail_location(std::string_view mail, const AddressParts& a, const std::string& home) {
  std::string out;
  std::size_t i = 0;
  if (mail.substr(0, 2) == "~/" || mail == "~") {
    if (home.empty()) return std::nullopt;
    out = home;
    i = 1;
  }
  for (; i < mail.size(); ++i) {
    if (mail[i] != '%' || i + 1 == mail.size()) {
      out += mail[i];
      continue;
    }
    switch (mail[++i]) {
      case 'u':
        out += a.user + "@" + a.domain;
        break;
      case 'n':
        out += a.user;
        break;
      case 'd':
        out += a.domain;
        break;
      case 'h':
        if (home.empty()) return std::nullopt;
        out += home;
        break;
      default:
        out += mail[i];  // "%%"; the parser refused every other letter
    }
  }
  return out;
}

}  // namespace mailslot::delivery
