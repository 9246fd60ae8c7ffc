// UTF-8 well-formedness (RFC 3629 §4), as RFC 6531 SMTPUTF8 addresses require it.
#pragma once

#include <string_view>

namespace mailslot::lmtp::utf8 {

// True when s is well-formed UTF-8: no overlong forms, no surrogates (U+D800..U+DFFF), nothing
// above U+10FFFF, no truncated sequence. ASCII (NUL included) is well-formed.
bool is_valid(std::string_view s);

// True when s holds a byte of 0x80 or above (a UTF8-non-ascii character once validated).
bool has_non_ascii(std::string_view s);

}  // namespace mailslot::lmtp::utf8
