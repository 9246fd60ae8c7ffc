// StaticRecipients: served domains and a path template below one root. Everything the client
// sends (local part, domain) becomes a path component only after is_safe_path_component().
#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "mailslot/delivery/domain_name.hpp"
#include "mailslot/delivery/local_part.hpp"
#include "mailslot/delivery/maildir_dirs.hpp"
#include "mailslot/delivery/recipients.hpp"
#include "mailslot/delivery/address_parts.hpp"
#include "mailslot/lmtp/ascii.hpp"
#include "mailslot/lmtp/utf8.hpp"

namespace mailslot::delivery {

namespace {

using lmtp::ascii::lower;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The values a static template may use; {home} has no meaning here.
std::optional<std::string> substitute(std::string_view tmpl, std::string_view user, std::string_view domain,
                                      std::string_view detail = {}) {
  return expand_template(tmpl, {{"user", std::string(user)},
                                {"local", std::string(user)},
                                {"domain", std::string(domain)},
                                {"detail", std::string(detail)}});
}

}  // namespace

std::optional<std::filesystem::path> maildir_below(const std::filesystem::path& root, const std::string& rel) {
  // A template such as "../{user}" or "{user}/.." must never reach outside the mail spool.
  if (rel.empty() || rel.front() == '/') return std::nullopt;
  // The usual case, a plain relative path below a normal absolute root, is inside the root and
  // normal as it stands: no lexically_normal() (an allocation per component) at every RCPT.
  if (is_normal_path(rel) && root.is_absolute() && is_normal_path(root.native())) return root / rel;
  const std::filesystem::path rel_path(rel);
  const std::filesystem::path full = (root / rel_path).lexically_normal();
  const std::filesystem::path inside = full.lexically_relative(root);
  if (inside.empty() || inside == "." || *inside.begin() == "..") return std::nullopt;
  return full;
}

Resolution refuse(Resolution::Status status, std::string reason) {
  Resolution r;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

bool is_safe_path_component(std::string_view s) {
  // NAME_MAX on Linux file systems is 255 octets.
  if (s.empty() || s.size() > 255 || s.front() == '.') return false;  // also rules out "." and ".."
  // Well-formed UTF-8 only (SMTPUTF8 local parts): file names stay readable by every tool and one
  // name has one byte sequence on disk.
  if (!lmtp::utf8::is_valid(s)) return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == '/' || u < 0x20 || u == 0x7f;  // NUL is < 0x20
  });
}

StaticRecipients::StaticRecipients(StaticRecipientsOptions options) : opt_(std::move(options)) {
  if (opt_.root.empty() || !opt_.root.is_absolute())
    throw std::invalid_argument("mailbox root must be an absolute path: '" + opt_.root.string() + "'");
  opt_.root = opt_.root.lexically_normal();
  if (!opt_.root.has_filename() && opt_.root != opt_.root.root_path()) opt_.root = opt_.root.parent_path();
  const auto probe = substitute(opt_.mailbox_template, "user", "example.test");
  if (!probe)
    throw std::invalid_argument("mailbox template '" + opt_.mailbox_template +
                                "': only {user}, {local}, {domain} and {detail} may appear in braces");
  if (!maildir_below(opt_.root, *probe))
    throw std::invalid_argument("mailbox template '" + opt_.mailbox_template +
                                "' must be a relative path that stays below the root");
  // Served domains are compared as A-labels (RFC 6531 §3.2): "bücher.example" in the config
  // matches RCPTs to "BÜCHER.example" (any normalisation form) and to "xn--bcher-kva.example".
  for (auto& d : opt_.domains) {
    const auto n = normalize_domain(d);
    if (!n) throw std::invalid_argument("mail domain '" + d + "' is not a valid IDNA2008 domain name");
    d = n->ascii;
  }
  for (auto& u : opt_.users) {
    // Listed users compare in NFC, like the local parts they are compared with.
    if (auto n = nfc_local_part(u)) u = std::move(*n);
    if (opt_.fold_case) u = lower(u);
  }
}

Resolution StaticRecipients::resolve(const lmtp::Mailbox& address) const {
  AddressParts parts = split_address(address, opt_.delimiters, opt_.fold_case);
  if (!parts.domain_valid) return refuse(Resolution::Status::unknown_domain, "Domain name is not valid IDNA2008");
  if (!parts.local_valid) return refuse(Resolution::Status::bad_mailbox, "Mailbox name not allowed");
  if (parts.domain.empty()) {
    // RFC 5321 §4.1.1.3: <postmaster> without a domain means this host's postmaster.
    if (!parts.postmaster || opt_.domains.empty()) return refuse(Resolution::Status::unknown_domain, "No such domain here");
    parts.domain = parts.display_domain = opt_.domains.front();
  }
  if (!contains(opt_.domains, parts.domain))
    return refuse(Resolution::Status::unknown_domain, "Domain " + parts.domain + " is not served here");
  return lookup(parts);
}

Resolution StaticRecipients::lookup(const AddressParts& address) const {
  using Status = Resolution::Status;
  const std::string& local = address.user;
  const std::string& domain = address.domain;
  // RFC 5321 §4.5.1: "postmaster" is case-insensitive and must be accepted for every served domain.
  if (!is_safe_path_component(local) || !is_safe_path_component(domain))
    return refuse(Status::bad_mailbox, "Mailbox name not allowed");
  if (!address.postmaster && !opt_.users.empty() && !contains(opt_.users, local))
    return refuse(Status::unknown_user, "No such user here");
  if (!address.detail.empty() && !is_safe_path_component(address.detail)) {
    const auto uses = template_placeholders(opt_.mailbox_template);
    if (uses && std::find(uses->begin(), uses->end(), "detail") != uses->end())
      return refuse(Status::bad_mailbox, "Mailbox name not allowed");
  }

  const auto rel = substitute(opt_.mailbox_template, local, domain, address.detail);
  const auto maildir = rel ? maildir_below(opt_.root, *rel) : std::nullopt;
  if (!maildir) return refuse(Status::bad_mailbox, "Mailbox name not allowed");

  auto mailbox = std::make_shared<Mailbox>();
  mailbox->address = address.address();
  mailbox->maildir = *maildir;
  Resolution r;
  r.status = Status::ok;
  r.mailbox = std::move(mailbox);
  return r;
}

}  // namespace mailslot::delivery
