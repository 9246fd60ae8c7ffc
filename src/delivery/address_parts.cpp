// Taking an RCPT address apart (user, detail, domain), folder names from details, path templates.
#include "mailslot/delivery/address_parts.hpp"

#include <vector>

#include "mailslot/delivery/domain_name.hpp"
#include "mailslot/delivery/local_part.hpp"
#include "mailslot/lmtp/ascii.hpp"

namespace mailslot::delivery {

using lmtp::ascii::iequals;
using lmtp::ascii::lower;

AddressParts split_address(const lmtp::Mailbox& address, std::string_view delimiters, bool fold_case) {
  AddressParts p;
  if (address.domain.empty()) {
    // <postmaster> without a domain: the caller supplies one.
  } else if (auto n = normalize_domain(address.domain)) {
    p.domain = std::move(n->ascii);
    p.display_domain = std::move(n->display);
  } else {
    p.domain_valid = false;
    p.domain = p.display_domain = lower(address.domain);
  }
  // RFC 6530 §10.1 / RFC 6532 §3.1: a UTF-8 local part is compared and stored in NFC, so the NFC
  // and NFD spellings of "jörg" reach one Maildir.
  const auto nfc = nfc_local_part(address.local_part);
  if (!nfc) p.local_valid = false;
  std::string_view local = nfc ? std::string_view(*nfc) : std::string_view(address.local_part);
  std::size_t cut = std::string_view::npos;
  if (!delimiters.empty() && local.size() > 1) cut = local.find_first_of(delimiters, 1);
  std::string_view user = local.substr(0, cut);
  if (cut != std::string_view::npos) {
    p.has_detail = true;
    p.delimiter = local[cut];
    p.detail = std::string(local.substr(cut + 1));
  }
  p.user = fold_case ? lower(user) : std::string(user);
  // RFC 5321 §4.5.1: postmaster is case-insensitive whatever fold_case says.
  p.postmaster = !p.has_detail && iequals(user, "postmaster");
  if (p.postmaster) p.user = "postmaster";
  return p;
}

std::string AddressParts::address() const {
  std::string a = user;
  if (has_detail) {
    a += delimiter;
    a += detail;
  }
  if (!domain.empty()) a += "@" + (display_domain.empty() ? domain : display_domain);
  return a;
}

std::string sanitize_folder_name(std::string_view detail) {
  std::string out;
  std::string level;
  auto flush = [&] {
    if (level.empty()) return;
    if (!out.empty()) out += '.';
    out += level;
    level.clear();
  };
  for (const char c : detail) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '.') {
      flush();
    } else if (u < 0x20 || u >= 0x7f || c == '/' || c == '\\' || c == '&' || c == '~') {
      level += '_';
    } else {
      level += c;
    }
  }
  flush();
  if (out.size() > 200) out.resize(200);
  while (!out.empty() && out.back() == '.') out.pop_back();
  if (iequals(out, "INBOX")) return {};
  return out;
}

std::optional<std::vector<std::string>> template_placeholders(std::string_view tmpl) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '}') return std::nullopt;
    if (tmpl[i] != '{') continue;
    const std::size_t close = tmpl.find('}', i);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string name(tmpl.substr(i + 1, close - i - 1));
    if (name != "domain" && name != "user" && name != "local" && name != "detail" && name != "home")
      return std::nullopt;
    names.push_back(name);
    i = close;
  }
  return names;
}

std::optional<std::string> expand_template(std::string_view tmpl, const std::map<std::string, std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '}') return std::nullopt;
    if (tmpl[i] != '{') {
      out += tmpl[i];
      continue;
    }
    const std::size_t close = tmpl.find('}', i);
    if (close == std::string_view::npos) return std::nullopt;
    const auto it = values.find(std::string(tmpl.substr(i + 1, close - i - 1)));
    if (it == values.end()) return std::nullopt;
    out += it->second;
    i = close;
  }
  return out;
}

}  // namespace mailslot::delivery
