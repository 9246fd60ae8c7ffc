// A reply as RFC 5321 §4.2 defines it, with the RFC 3463 enhanced status code (RFC 2034).
#pragma once

#include <string>
#include <string_view>

namespace mailslot::lmtp {

struct Reply {
  int code = 0;          // three-digit reply code, e.g. 250
  std::string enhanced;  // "2.1.5"; empty for the greeting, 354 and the LHLO reply (RFC 2034 §3)
  std::string text;      // human text; '\n' separates the lines of a multi-line reply

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }

  // Appends the wire form: "250-first\r\n250 last\r\n", the enhanced code leading every line's text.
  void render(std::string& out) const;
  std::string wire() const {
    std::string s;
    render(s);
    return s;
  }
};

}  // namespace mailslot::lmtp
