// RFC 3461 §4 DSN parameters and xtext.
#include "mailslot/lmtp/dsn.hpp"

#include "mailslot/lmtp/ascii.hpp"

namespace mailslot::lmtp {

namespace {

using ascii::iequals;

int upper_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // RFC 3461 §4: hexchar uses upper-case letters only
}

bool printable_ascii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// RFC 5322 §3.2.3 atext, which RFC 3461 §4.2's atom is made of.
bool is_atom(std::string_view s) {
  if (s.empty()) return false;
  constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  for (char c : s) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && kSpecials.find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

bool OriginalRecipient::is_rfc822() const { return iequals(addr_type, "rfc822"); }

std::optional<std::string> decode_xtext(std::string_view x) {
  std::string out;
  out.reserve(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const char c = x[i];
    if (c == '+') {
      if (i + 2 >= x.size()) return std::nullopt;  // "+" needs two hex digits after it
      const int hi = upper_hex_value(x[i + 1]);
      const int lo = upper_hex_value(x[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c >= '!' && c <= '~' && c != '=') {
      out.push_back(c);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::optional<DsnRet> parse_dsn_ret(std::string_view v) {
  if (iequals(v, "FULL")) return DsnRet::full;
  if (iequals(v, "HDRS")) return DsnRet::hdrs;
  return std::nullopt;
}

std::optional<unsigned> parse_dsn_notify(std::string_view v) {
  unsigned set = 0;
  for (;;) {
    const std::size_t comma = v.find(',');
    const std::string_view word = v.substr(0, comma);
    unsigned bit = 0;
    if (iequals(word, "NEVER")) {
      bit = dsn_notify::never;
    } else if (iequals(word, "SUCCESS")) {
      bit = dsn_notify::success;
    } else if (iequals(word, "FAILURE")) {
      bit = dsn_notify::failure;
    } else if (iequals(word, "DELAY")) {
      bit = dsn_notify::delay;
    } else {
      return std::nullopt;
    }
    if ((set & bit) != 0) return std::nullopt;
    set |= bit;
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  // RFC 3461 §4.1: "NEVER" must appear by itself.
  if ((set & dsn_notify::never) != 0 && set != dsn_notify::never) return std::nullopt;
  return set;
}

std::optional<std::string> parse_dsn_envid(std::string_view v) {
  auto decoded = decode_xtext(v);
  if (!decoded || decoded->empty() || decoded->size() > 100 || !printable_ascii(*decoded)) return std::nullopt;
  return decoded;
}

std::optional<OriginalRecipient> parse_dsn_orcpt(std::string_view v) {
  const std::size_t semi = v.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  OriginalRecipient o;
  o.addr_type.assign(v.substr(0, semi));
  if (!is_atom(o.addr_type)) return std::nullopt;
  auto decoded = decode_xtext(v.substr(semi + 1));
  if (!decoded || decoded->empty() || decoded->size() > 500 || !printable_ascii(*decoded)) return std::nullopt;
  o.address = std::move(*decoded);
  return o;
}

std::string dsn_notify_text(unsigned n) {
  if (n & dsn_notify::never) return "NEVER";
  std::string s;
  auto add = [&s](const char* w) {
    if (!s.empty()) s += ',';
    s += w;
  };
  if (n & dsn_notify::success) add("SUCCESS");
  if (n & dsn_notify::failure) add("FAILURE");
  if (n & dsn_notify::delay) add("DELAY");
  return s;
}

}  // namespace mailslot::lmtp
