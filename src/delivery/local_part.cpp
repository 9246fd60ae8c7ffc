// NFC through ICU (Debian's libicu-dev); only non-ASCII local parts pay for it.
#include "mailslot/delivery/local_part.hpp"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "mailslot/lmtp/utf8.hpp"

namespace mailslot::delivery {

std::optional<std::string> nfc_local_part(std::string_view local) {
  if (!lmtp::utf8::is_valid(local)) return std::nullopt;
  if (!lmtp::utf8::has_non_ascii(local)) return std::string(local);
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status) || nfc == nullptr) return std::nullopt;
  const icu::UnicodeString in = icu::UnicodeString::fromUTF8(icu::StringPiece(local.data(), static_cast<int32_t>(local.size())));
  const icu::UnicodeString out = nfc->normalize(in, status);
  if (U_FAILURE(status)) return std::nullopt;
  std::string result;
  out.toUTF8String(result);
  return result;
}

}  // namespace mailslot::delivery
