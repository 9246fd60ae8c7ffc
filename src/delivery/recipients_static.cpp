// StaticRecipients: served domains and a path template below one root. Everything the client
// sends (local part, domain) becomes a path component only after is_safe_path_component().
#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "mailslot/delivery/domain_name.hpp"
#include "mailslot/delivery/local_part.hpp"
#include "mailslot/delivery/recipients.hpp"
#include "mailslot/lmtp/ascii.hpp"
#include "mailslot/lmtp/utf8.hpp"

namespace mailslot::delivery {

namespace {

using lmtp::ascii::lower;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Replaces {user} and {domain}; nullopt for an unknown placeholder or an unbalanced brace.
// Checked once in the constructor, so resolve() never meets a bad template.
std::optional<std::string> substitute(std::string_view tmpl, std::string_view user, std::string_view domain) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '}') return std::nullopt;
    if (tmpl[i] != '{') {
      out += tmpl[i];
      continue;
    }
    const std::size_t close = tmpl.find('}', i);
    if (close == std::string_view::npos) return std::nullopt;
    const std::string_view name = tmpl.substr(i + 1, close - i - 1);
    if (name == "user") {
      out += user;
    } else if (name == "domain") {
      out += domain;
    } else {
      return std::nullopt;
    }
    i = close;
  }
  return out;
}

// The Maildir path for a substituted template, or nullopt when it does not lie strictly below root
// (a template such as "../{user}" or "{user}/.." must never reach outside the mail spool).
std::optional<std::filesystem::path> below_root(const std::filesystem::path& root, const std::string& rel) {
  const std::filesystem::path rel_path(rel);
  if (rel.empty() || rel_path.is_absolute()) return std::nullopt;
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

}  // namespace

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
                                "': only {user} and {domain} may appear in braces");
  if (!below_root(opt_.root, *probe))
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
  using Status = Resolution::Status;
  // RFC 5321 §4.5.1: "postmaster" is case-insensitive and must be accepted for every served domain.
  const bool postmaster = lower(address.local_part) == "postmaster";
  std::string domain;          // A-label form: compared, and {domain} in the path
  std::string display_domain;  // in the address as the client wrote it (U-labels in NFC)
  if (address.domain.empty()) {
    // RFC 5321 §4.1.1.3: <postmaster> without a domain means this host's postmaster.
    if (!postmaster || opt_.domains.empty()) return refuse(Status::unknown_domain, "No such domain here");
    domain = display_domain = opt_.domains.front();
  } else {
    auto n = normalize_domain(address.domain);
    if (!n) return refuse(Status::unknown_domain, "Domain name is not valid IDNA2008");
    domain = std::move(n->ascii);
    display_domain = std::move(n->display);
  }
  if (!contains(opt_.domains, domain))
    return refuse(Status::unknown_domain, "Domain " + domain + " is not served here");

  // RFC 6530 §10.1 / RFC 6532 §3.1: a UTF-8 local part is compared and stored in NFC, so the NFC
  // and NFD spellings of "jörg" reach one Maildir. Malformed UTF-8 is refused.
  auto nfc = nfc_local_part(address.local_part);
  if (!nfc) return refuse(Status::bad_mailbox, "Mailbox name not allowed");
  std::string local = postmaster       ? std::string("postmaster")
                      : opt_.fold_case ? lower(*nfc)
                                       : std::move(*nfc);
  if (!is_safe_path_component(local) || !is_safe_path_component(domain))
    return refuse(Status::bad_mailbox, "Mailbox name not allowed");
  if (!postmaster && !opt_.users.empty() && !contains(opt_.users, local))
    return refuse(Status::unknown_user, "No such user here");

  const auto rel = substitute(opt_.mailbox_template, local, domain);
  const auto maildir = rel ? below_root(opt_.root, *rel) : std::nullopt;
  if (!maildir) return refuse(Status::bad_mailbox, "Mailbox name not allowed");

  auto mailbox = std::make_shared<Mailbox>();
  mailbox->address = local + "@" + display_domain;
  mailbox->maildir = *maildir;
  Resolution r;
  r.status = Status::ok;
  r.mailbox = std::move(mailbox);
  return r;
}

}  // namespace mailslot::delivery
