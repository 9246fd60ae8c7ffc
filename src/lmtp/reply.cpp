// Wire form of a reply (RFC 5321 §4.2, §4.2.1 multi-line replies; RFC 2034 §3 enhanced codes).
#include "mailslot/lmtp/reply.hpp"

namespace mailslot::lmtp {

namespace {

// RFC 5321 §4.2: the reply code is exactly three digits. A code outside 100..599 is a bug in the
// caller; render it as 451 rather than emitting something a client cannot parse.
int wire_code(int code) { return code >= 100 && code <= 599 ? code : 451; }

// Appends one line; CR and LF inside the text would end the reply early on the wire, so they
// are dropped (the only line separator of `text` is '\n', handled by the caller).
void append_line(std::string& out, const char code[3], bool last, std::string_view enhanced,
                 std::string_view text) {
  out.append(code, 3);
  const bool has_text = !enhanced.empty() || !text.empty();
  if (!last) {
    out.push_back('-');  // RFC 5321 §4.2.1: "code-text" on every line but the last
  } else if (has_text) {
    out.push_back(' ');
  }
  if (!enhanced.empty()) {
    out.append(enhanced);
    if (!text.empty()) out.push_back(' ');
  }
  for (char c : text) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  out.append("\r\n");
}

}  // namespace

void Reply::render(std::string& out) const {
  const int c = wire_code(code);
  const char digits[3] = {static_cast<char>('0' + c / 100), static_cast<char>('0' + c / 10 % 10),
                          static_cast<char>('0' + c % 10)};
  std::string_view rest = text;
  for (;;) {
    const std::size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      append_line(out, digits, true, enhanced, rest);
      return;
    }
    append_line(out, digits, false, enhanced, rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
}

}  // namespace mailslot::lmtp
