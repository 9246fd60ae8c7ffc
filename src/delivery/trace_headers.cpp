// Trace fields prepended to every stored copy (RFC 5321 §4.4, RFC 5322 §3.6.7), shaped like
// Dovecot's (PEERS.md §1.5): Delivered-To and "for" only when the copy belongs to one recipient, so a
// copy never reveals the other recipients of the transaction. A copy shared by several (hard links)
// gets none; with mail.per_recipient_headers every copy is its own file and gets its recipient's.
#include "mailslot/delivery/trace_headers.hpp"

#include <cstdio>
#include <ctime>
#include <optional>
#include <string_view>

#include "mailslot/lmtp/utf8.hpp"

namespace mailslot::delivery {

namespace {

// Client-supplied values (LHLO argument, addresses) go into header lines. Dropping CR, LF and every
// other control byte keeps each on its line, so a client cannot end our header and start its own
// (header injection). Tokens lose whitespace too, so "from a by b" cannot fake a clause. Bytes of
// 0x80 and above become '?' unless the transaction used SMTPUTF8: RFC 5322 §2.2 header fields are
// US-ASCII, and a visible '?' keeps "ex\xc3\xa4mple" from reading as a real "exmple".
// Lengths are capped so every line stays below RFC 5322 §2.1.1's 998 octets.
//
// With SMTPUTF8 (RFC 6531), RFC 6532 §3 allows UTF-8 in header fields: addresses, which the lmtp
// parser has checked to be well-formed UTF-8, keep their characters then (`utf8`); the cap never
// cuts a character in two. The LHLO argument is never checked, so it always gets '?'.
// Appends `s` cleaned so to `out`, at most `max` octets of it; returns how many it appended.
std::size_t append_clean(std::string& out, std::string_view s, std::size_t max, bool token, bool utf8 = false) {
  if (utf8 && !lmtp::utf8::is_valid(s)) utf8 = false;
  const std::size_t start = out.size();
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (token && u == ' ') continue;
    const std::size_t used = out.size() - start;
    if (used == max) break;
    if (u >= 0x80 && utf8) {
      std::size_t len = u >= 0xF0 ? 4 : u >= 0xE0 ? 3 : 2;  // a lead octet: the string is valid
      if (used + len > max) break;
      out.append(s.substr(i, len));
      i += len - 1;
      continue;
    }
    out += u >= 0x80 ? '?' : c;
  }
  return out.size() - start;
}

constexpr std::size_t kMaxToken = 255;    // RFC 5321 §4.5.3.1.2: a domain is at most 255 octets
constexpr std::size_t kMaxAddress = 512;  // twice RFC 5321 §4.5.3.1.3's 256-octet path

// RFC 5321 §4.1.3 address literal: "[192.0.2.1]", "[IPv6:2001:db8::1]".
void append_address_literal(std::string& out, std::string_view address) {
  out += '[';
  const std::size_t at = out.size();
  append_clean(out, address, 64, true);
  if (out.find(':', at) != std::string::npos) out.insert(at, "IPv6:");
  out += ']';
}

}  // namespace

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
  // Names spelled out rather than strftime("%a"), which follows the locale (RFC 5322 §3.3 is English).
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);  // UTC and reentrant: the disk pool calls this from many threads
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

namespace {

// The trace block of a copy that belongs to RCPT `who` alone (nullopt: a copy shared by several).
// Built in one string, each client-supplied value cleaned straight into it.
std::string build(const Envelope& e, std::optional<std::size_t> who) {
  const bool one = who && *who < e.recipients.size() && e.recipients[*who] != nullptr;
  const std::size_t r = one ? *who : 0;
  const bool u8 = e.smtputf8;
  const std::string_view rcpt = one ? std::string_view(e.recipients[r]->address) : std::string_view();

  std::string h;
  h.reserve(320);
  // RFC 5321 §4.4: the final delivery adds Return-Path with the reverse-path, "<>" for the null sender.
  h += "Return-Path: <";
  append_clean(h, e.reverse_path, kMaxAddress, false, u8);
  h += ">\r\n";
  if (one) {
    h += "Delivered-To: ";
    append_clean(h, rcpt, kMaxAddress, false, u8);
    h += "\r\n";
  }
  // Like Postfix's local(8): the recipient before any rewriting, for the one recipient of this
  // copy. A hard-linked copy shared by several recipients cannot carry one per recipient, so
  // it gets none (docs/conformance.md).
  if (one && e.x_original_to) {
    std::string_view original = r < e.original_recipients.size() ? e.original_recipients[r] : std::string_view();
    if (original.empty() && r < e.forward_paths.size()) original = e.forward_paths[r];
    const std::size_t field = h.size();
    h += "X-Original-To: ";
    if (append_clean(h, original, kMaxAddress, false, u8) == 0) {
      h.resize(field);  // nothing left of it: no field
    } else {
      h += "\r\n";
    }
  }

  // Folded one clause per line (CRLF + tab, RFC 5322 §2.2.3), as Postfix and Dovecot write it.
  h += "Received: from ";
  if (append_clean(h, e.client_helo, kMaxToken, true) == 0) h += "unknown";
  h += " (";
  // The original client named by a trusted XFORWARD/XCLIENT: "(name [addr])", as Postfix writes it.
  if (append_clean(h, e.client_name, kMaxToken, true) != 0) {
    if (!e.client_address.empty()) {
      h += ' ';
      append_address_literal(h, e.client_address);
    }
  } else if (e.client_address.empty()) {
    h += "unix socket";
  } else {
    append_address_literal(h, e.client_address);
  }
  h += ")\r\n\tby ";
  if (append_clean(h, e.hostname, kMaxToken, true) == 0) h += "localhost";
  // RFC 6531 §3.7.3: the "with" protocol of a transaction that used SMTPUTF8 is UTF8LMTP.
  h += u8 ? " (mailslot) with UTF8LMTP" : " (mailslot) with LMTP";
  const std::size_t id = h.size();
  h += " id ";
  if (append_clean(h, e.session_id, kMaxToken, true) == 0) h.resize(id);
  if (one) {
    h += "\r\n\tfor <";
    append_clean(h, rcpt, kMaxAddress, false, u8);
    h += '>';
  }
  h += "; ";
  h += rfc5322_date(e.received_at);
  h += "\r\n";
  return h;
}

}  // namespace

std::string trace_headers(const Envelope& e) {
  return build(e, e.recipients.size() == 1 ? std::optional<std::size_t>(0) : std::nullopt);
}

std::string trace_headers(const Envelope& e, std::size_t rcpt) { return build(e, rcpt); }

}  // namespace mailslot::delivery
