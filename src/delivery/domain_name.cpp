// IDNA2008 domain normalisation through libidn2 (Debian's libidn2-dev).
#include "mailslot/delivery/domain_name.hpp"

#include <idn2.h>

#include <cstdlib>
#include <memory>

#include "mailslot/lmtp/ascii.hpp"
#include "mailslot/lmtp/utf8.hpp"

namespace mailslot::delivery {

namespace {

struct FreeIdn2 {
  void operator()(char* p) const { idn2_free(p); }
};
using Idn2String = std::unique_ptr<char, FreeIdn2>;

bool has_a_label(std::string_view lowered) {
  return lowered.rfind("xn--", 0) == 0 || lowered.find(".xn--") != std::string_view::npos;
}

}  // namespace

std::optional<DomainName> normalize_domain(std::string_view domain) {
  if (!lmtp::utf8::is_valid(domain) || domain.find('\0') != std::string_view::npos) return std::nullopt;
  if (!domain.empty() && domain.front() == '[') return DomainName{std::string(domain), std::string(domain)};
  const bool non_ascii = lmtp::utf8::has_non_ascii(domain);
  std::string lowered = lmtp::ascii::lower(domain);
  if (!non_ascii && !has_a_label(lowered)) return DomainName{lowered, lowered};

  // RFC 5891 §5 with UTS #46 mapping (case folding, NFC): IDN2_NONTRANSITIONAL; IDN2_NFC_INPUT
  // normalises the input first, so NFD and NFC spellings of a name give one A-label.
  char* out = nullptr;
  if (idn2_to_ascii_8z(lowered.c_str(), &out, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK) return std::nullopt;
  Idn2String ascii(out);
  DomainName d;
  d.ascii = lmtp::ascii::lower(ascii.get());
  if (!non_ascii) {
    d.display = lowered;
    return d;
  }
  char* u = nullptr;
  if (idn2_to_unicode_8z8z(d.ascii.c_str(), &u, 0) != IDN2_OK) return std::nullopt;
  Idn2String unicode(u);
  d.display = unicode.get();
  return d;
}

}  // namespace mailslot::delivery
