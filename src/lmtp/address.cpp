// RFC 5321 §4.1.2 Path grammar and §4.5.3.1 size limits, with RFC 6531 §3.3's UTF-8 extension:
// UTF8-non-ascii is allowed in atext, qtextSMTP and sub-domains (U-labels), and must be
// well-formed. Whether the transaction may use it (SMTPUTF8 on MAIL) is the session's business;
// whether a U-label is a valid IDNA2008 label is decided where domains are compared (delivery).
#include "mailslot/lmtp/address.hpp"
#include "mailslot/lmtp/ascii.hpp"
#include "mailslot/lmtp/utf8.hpp"

#include <cstddef>

namespace mailslot::lmtp {

namespace {

// RFC 5321 §4.5.3.1.1-3.
constexpr std::size_t kMaxLocalPart = 64;
constexpr std::size_t kMaxDomain = 255;
constexpr std::size_t kMaxPath = 256;  // including "<", ">" and any source route

bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_let_dig(char c) { return is_alpha(c) || is_digit(c); }
bool is_hex(char c) { return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); }
// An octet of a UTF8-non-ascii character (RFC 6531 §3.3); well-formedness is checked on the whole.
bool is_utf8_octet(char c) { return static_cast<unsigned char>(c) >= 0x80; }

// RFC 5322 §3.2.3 atext, as RFC 5321 §4.1.2 uses it for Atom; RFC 6531 §3.3: atext =/ UTF8-non-ascii.
bool is_atext(char c) {
  constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return is_let_dig(c) || kSpecials.find(c) != std::string_view::npos || is_utf8_octet(c);
}

// RFC 5321 §4.1.2 qtextSMTP = %d32-33 / %d35-91 / %d93-126 (no '"', no '\\'); RFC 6531 §3.3 adds
// UTF8-non-ascii.
bool is_qtext(char c) { return (c >= 32 && c <= 126 && c != '"' && c != '\\') || is_utf8_octet(c); }

// RFC 5321 §4.1.3 dcontent = %d33-90 / %d94-126 (printable, no "[", "\", "]").
bool is_dcontent(char c) { return c >= 33 && c <= 126 && c != '[' && c != '\\' && c != ']'; }

using ascii::iequals;

// Dot-string = Atom *("." Atom): no empty atom, so no leading, trailing or doubled dot.
bool is_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!is_atext(c)) {
      return false;
    }
    prev = c;
  }
  return true;
}

// Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig; sub-domain = Let-dig [Ldh-str];
// RFC 6531 §3.3: sub-domain =/ U-label (here: any label holding UTF-8 octets).
bool is_sub_domain(std::string_view s) {
  auto let_dig = [](char c) { return is_let_dig(c) || is_utf8_octet(c); };
  if (s.empty() || !let_dig(s.front()) || !let_dig(s.back())) return false;
  for (char c : s) {
    if (!let_dig(c) && c != '-') return false;
  }
  return true;
}

// Domain = sub-domain *("." sub-domain).
bool is_dot_domain(std::string_view s) {
  if (s.empty()) return false;
  for (;;) {
    const std::size_t dot = s.find('.');
    if (!is_sub_domain(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

// Snum = 1*3DIGIT representing a decimal integer value in the range 0 through 255.
bool is_snum(std::string_view s) {
  if (s.empty() || s.size() > 3) return false;
  int v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  return v <= 255;
}

// IPv4-address-literal = Snum 3("." Snum).
bool is_ipv4(std::string_view s) {
  for (int i = 0; i < 3; ++i) {
    const std::size_t dot = s.find('.');
    if (dot == std::string_view::npos || !is_snum(s.substr(0, dot))) return false;
    s.remove_prefix(dot + 1);
  }
  return is_snum(s);
}

// Counts the IPv6-hex groups of "h:h:...:h" (empty string: 0 groups); -1 when malformed.
// When `allow_v4_tail`, the last element may be an IPv4 address, counted as two groups.
int count_hex_groups(std::string_view s, bool allow_v4_tail) {
  if (s.empty()) return 0;
  int groups = 0;
  for (;;) {
    const std::size_t colon = s.find(':');
    const std::string_view g = s.substr(0, colon);
    if (colon == std::string_view::npos && allow_v4_tail && g.find('.') != std::string_view::npos) {
      return is_ipv4(g) ? groups + 2 : -1;
    }
    if (g.empty() || g.size() > 4) return -1;
    for (char c : g) {
      if (!is_hex(c)) return -1;
    }
    ++groups;
    if (colon == std::string_view::npos) return groups;
    s.remove_prefix(colon + 1);
  }
}

// RFC 5321 §4.1.3 IPv6-addr: full (8 groups, or 6 + IPv4) or compressed with one "::" standing
// for at least two zero groups, so at most 6 explicit groups (IPv4 counting as two).
bool is_ipv6(std::string_view s) {
  const std::size_t gap = s.find("::");
  if (gap == std::string_view::npos) return count_hex_groups(s, true) == 8;
  const std::string_view left = s.substr(0, gap);
  const std::string_view right = s.substr(gap + 2);
  if (right.find("::") != std::string_view::npos) return false;
  const int l = count_hex_groups(left, false);
  const int r = count_hex_groups(right, true);
  return l >= 0 && r >= 0 && l + r <= 6;
}

// address-literal = "[" ( IPv4 / "IPv6:" IPv6-addr / General-address-literal ) "]".
bool is_address_literal(std::string_view s) {
  if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
  s = s.substr(1, s.size() - 2);
  const std::size_t colon = s.find(':');
  if (colon == std::string_view::npos) return is_ipv4(s);
  const std::string_view tag = s.substr(0, colon);
  const std::string_view content = s.substr(colon + 1);
  if (iequals(tag, "IPv6")) return is_ipv6(content);
  // General-address-literal = Standardized-tag ":" 1*dcontent, Standardized-tag = Ldh-str.
  if (tag.empty() || !is_let_dig(tag.back()) || content.empty()) return false;
  for (char c : tag) {
    if (!is_let_dig(c) && c != '-') return false;
  }
  for (char c : content) {
    if (!is_dcontent(c)) return false;
  }
  return true;
}

std::string quote_local_part(std::string_view local) {
  std::string q;
  q.reserve(local.size() + 2);
  q.push_back('"');
  for (char c : local) {
    if (c == '"' || c == '\\') q.push_back('\\');  // RFC 5321 §4.1.2 quoted-pairSMTP
    q.push_back(c);
  }
  q.push_back('"');
  return q;
}

// Scans a domain or address literal starting at text[i]; returns its end.
std::size_t scan_domain(std::string_view text, std::size_t i) {
  if (i < text.size() && text[i] == '[') {
    while (i < text.size() && text[i] != ']') ++i;
    return i < text.size() ? i + 1 : i;
  }
  while (i < text.size() && (is_let_dig(text[i]) || text[i] == '-' || text[i] == '.' || is_utf8_octet(text[i]))) ++i;
  return i;
}

}  // namespace

bool is_valid_domain(std::string_view s) {
  if (s.empty() || s.size() > kMaxDomain || !utf8::is_valid(s)) return false;
  return s.front() == '[' ? is_address_literal(s) : is_dot_domain(s);
}

bool Mailbox::is_utf8() const { return utf8::has_non_ascii(local_part) || utf8::has_non_ascii(domain); }

std::string Mailbox::to_string() const {
  std::string local = is_dot_string(local_part) ? local_part : quote_local_part(local_part);
  if (domain.empty()) return local;  // <postmaster>
  return local + "@" + domain;
}

std::string Path::to_string() const {
  if (null) return "<>";
  // Built by appending: g++ 12 -O3 warns falsely on "<" + std::string&& (GCC bug 105329).
  std::string s = "<";
  s += mailbox.to_string();
  s += '>';
  return s;
}

std::optional<Path> parse_path(std::string_view text, std::size_t& consumed, PathError& error) {
  consumed = 0;
  error = PathError::none;
  const std::size_t n = text.size();
  // Running off the end of the text means the closing ">" never came.
  auto fail = [&](std::size_t at, PathError kind) -> std::optional<Path> {
    error = at >= n ? PathError::missing_brackets : kind;
    return std::nullopt;
  };
  if (n == 0 || text[0] != '<') return fail(n, PathError::missing_brackets);
  std::size_t i = 1;
  Path path;
  if (i < n && text[i] == '>') {  // RFC 5321 §4.1.1.2: "<>" is the null reverse-path
    consumed = 2;
    path.null = true;
    return path;
  }

  // A-d-l = At-domain *( "," At-domain ) ":" — accepted and dropped (RFC 5321 §4.1.1.3, App. C).
  if (i < n && text[i] == '@') {
    for (;;) {
      const std::size_t start = ++i;  // skip '@'
      while (i < n && text[i] != ',' && text[i] != ':' && text[i] != '>') ++i;
      if (i >= n) return fail(i, PathError::bad_domain);
      if (!is_dot_domain(text.substr(start, i - start))) return fail(start, PathError::bad_domain);
      if (text[i] == ':') {
        ++i;
        break;
      }
      if (text[i] == ',' && i + 1 >= n) return fail(n, PathError::bad_domain);
      if (text[i] != ',' || text[i + 1] != '@') return fail(i, PathError::bad_domain);
      ++i;  // now at the next '@'
    }
  }

  // Local-part = Dot-string / Quoted-string; stored decoded.
  const std::size_t local_start = i;
  bool quoted = false;
  if (i < n && text[i] == '"') {
    quoted = true;
    ++i;
    bool closed = false;
    while (i < n) {
      const char c = text[i];
      if (c == '"') {
        ++i;
        closed = true;
        break;
      }
      if (c == '\\') {  // quoted-pairSMTP = %d92 %d32-126
        if (i + 1 >= n) return fail(n, PathError::bad_local_part);
        const char e = text[i + 1];
        if (e < 32 || e > 126) return fail(i + 1, PathError::bad_local_part);
        path.mailbox.local_part.push_back(e);
        i += 2;
      } else if (is_qtext(c)) {
        path.mailbox.local_part.push_back(c);
        ++i;
      } else {
        return fail(i, PathError::bad_local_part);
      }
    }
    if (!closed) return fail(n, PathError::bad_local_part);
    if (!utf8::is_valid(path.mailbox.local_part)) return fail(local_start, PathError::bad_local_part);
  } else {
    while (i < n && (is_atext(text[i]) || text[i] == '.')) ++i;
    const std::string_view raw = text.substr(local_start, i - local_start);
    if (!is_dot_string(raw) || !utf8::is_valid(raw)) return fail(i, PathError::bad_local_part);
    path.mailbox.local_part.assign(raw);
  }
  const std::size_t local_len = i - local_start;
  if (i >= n) return fail(n, PathError::bad_local_part);

  if (text[i] == '>') {
    // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain is a valid forward-path.
    if (quoted || !iequals(path.mailbox.local_part, "postmaster")) return fail(i, PathError::bad_domain);
  } else {
    if (text[i] != '@') return fail(i, PathError::bad_local_part);
    const std::size_t domain_start = ++i;
    i = scan_domain(text, i);
    const std::string_view domain = text.substr(domain_start, i - domain_start);
    if (i >= n) return fail(n, PathError::bad_domain);
    if (text[i] != '>') return fail(i, PathError::bad_domain);
    if (domain.size() > kMaxDomain) return fail(i, PathError::too_long);
    const bool ok = !domain.empty() && domain.front() == '[' ? is_address_literal(domain)
                                                             : is_dot_domain(domain) && utf8::is_valid(domain);
    if (!ok) return fail(i, PathError::bad_domain);
    path.mailbox.domain.assign(domain);
  }
  consumed = i + 1;
  if (local_len > kMaxLocalPart || consumed > kMaxPath) {
    consumed = 0;
    error = PathError::too_long;
    return std::nullopt;
  }
  return path;
}

}  // namespace mailslot::lmtp
