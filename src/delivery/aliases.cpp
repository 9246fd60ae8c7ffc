// The aliases file: parser and reloading holder (aliases.hpp describes the format).
#include "mailslot/delivery/aliases.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "mailslot/lmtp/ascii.hpp"

namespace mailslot::delivery {

namespace {

using lmtp::ascii::lower;

std::string_view trim(std::string_view s) {
  const std::size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const std::size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// One target: an RFC 5321 mailbox, with or without "@domain".
std::optional<lmtp::Mailbox> parse_target(std::string_view t, std::string& error) {
  if (t.front() == '|' || t.front() == '/' || t.substr(0, 9) == ":include:") {
    error = "'" + std::string(t) + "': pipes, files and :include: are not supported (targets are addresses)";
    return std::nullopt;
  }
  const bool has_domain = t.find('@') != std::string_view::npos && t.back() != '"';
  const std::string wrapped = "<" + std::string(t) + (has_domain ? "" : "@alias.invalid") + ">";
  std::size_t used = 0;
  lmtp::PathError perr = lmtp::PathError::none;
  auto path = lmtp::parse_path(wrapped, used, perr);
  if (!path || used != wrapped.size() || path->null) {
    error = "'" + std::string(t) + "' is not an address";
    return std::nullopt;
  }
  if (!has_domain) path->mailbox.domain.clear();
  return path->mailbox;
}

}  // namespace

AliasTable parse_aliases(std::string_view text, const std::string& name, std::vector<std::string>& problems) {
  AliasTable table;
  std::unordered_map<std::string, int> defined_at;
  // Logical lines: continuation lines (leading white space) are joined to the one before.
  std::vector<std::pair<int, std::string>> lines;
  int line_no = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    ++line_no;
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    start = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string_view t = trim(line);
    if (t.empty() || t.front() == '#') continue;
    if ((line.front() == ' ' || line.front() == '\t') && !lines.empty()) {
      lines.back().second += " " + std::string(t);
    } else {
      lines.emplace_back(line_no, std::string(t));
    }
  }
  for (const auto& [no, line] : lines) {
    auto bad = [&, no = no](const std::string& why) { problems.push_back(name + ":" + std::to_string(no) + ": " + why); };
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) {
      bad("expected 'alias: target[, target...]'");
      continue;
    }
    const std::string key = lower(trim(std::string_view(line).substr(0, colon)));
    if (key.empty() || key.find_first_of(" \t,") != std::string::npos) {
      bad("the alias name must be one word");
      continue;
    }
    std::vector<lmtp::Mailbox> targets;
    bool ok = true;
    std::string_view rest = std::string_view(line).substr(colon + 1);
    while (ok) {
      const std::size_t comma = rest.find(',');
      const std::string_view t = trim(rest.substr(0, comma));
      if (!t.empty()) {
        std::string error;
        if (auto m = parse_target(t, error)) {
          targets.push_back(std::move(*m));
        } else {
          bad(error);
          ok = false;
        }
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if (!ok) continue;
    if (targets.empty()) {
      bad("alias '" + key + "' has no target");
      continue;
    }
    if (const auto [it, fresh] = defined_at.try_emplace(key, no); !fresh) {
      bad("alias '" + key + "' already defined on line " + std::to_string(it->second));
      continue;
    }
    table.emplace(key, std::move(targets));
  }
  return table;
}

AliasFile::AliasFile(std::filesystem::path file) : file_(std::move(file)) {
  int err = 0;
  const auto stamp = stamp_of(file_, err);
  if (!stamp) throw std::runtime_error(file_.string() + ": " + std::strerror(err));
  if (auto problems = load(*stamp); !problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "\n") + p;
    throw std::runtime_error(all);
  }
}

std::vector<std::string> AliasFile::load(const FileStamp& stamp) const {
  int err = 0;
  const auto text = read_text(file_, err);
  std::vector<std::string> problems;
  if (!text) {
    problems.push_back(file_.string() + ": " + std::strerror(err));
    return problems;
  }
  auto table = std::make_shared<const AliasTable>(parse_aliases(*text, file_.string(), problems));
  const std::lock_guard lock(mutex_);
  seen_ = stamp;
  if (problems.empty()) table_ = std::move(table);
  return problems;
}

std::vector<std::string> AliasFile::refresh(bool force) const {
  int err = 0;
  const auto stamp = stamp_of(file_, err);
  if (!stamp) {
    std::lock_guard lock(mutex_);
    if (!force && !seen_) return {};
    seen_.reset();
    return {file_.string() + ": " + std::strerror(err) + " (keeping the aliases loaded before)"};
  }
  {
    const std::lock_guard lock(mutex_);
    if (!force && seen_ == stamp) return {};
  }
  auto problems = load(*stamp);
  if (!problems.empty()) problems.push_back(file_.string() + ": not reloaded, keeping the aliases loaded before");
  return problems;
}

std::optional<std::vector<lmtp::Mailbox>> AliasFile::lookup(const std::string& key) const {
  std::shared_ptr<const AliasTable> table;
  {
    const std::lock_guard lock(mutex_);
    table = table_;
  }
  const auto it = table->find(key);
  if (it == table->end()) return std::nullopt;
  return it->second;
}

}  // namespace mailslot::delivery
