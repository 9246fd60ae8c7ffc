// Unicode normalisation of SMTPUTF8 local parts (RFC 6530 §10.1, RFC 6532 §3.1: NFC), so that
// one mailbox name has one spelling on disk whichever normalisation form a client sends.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailslot::delivery {

// The NFC form of a well-formed UTF-8 local part; ASCII comes back unchanged. nullopt when the
// input is not well-formed UTF-8 or normalisation fails.
std::optional<std::string> nfc_local_part(std::string_view local);

}  // namespace mailslot::delivery
