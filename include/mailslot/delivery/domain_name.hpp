// Domain comparison for internationalised addresses (RFC 6531 §3.2, RFC 5890/5891): two spellings
// of one domain (U-labels in NFC or not, upper or lower case, A-labels) compare equal after
// IDNA2008 processing with UTS #46 non-transitional mapping (libidn2).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailslot::delivery {

struct DomainName {
  std::string ascii;    // lower-case A-label form: what domains are compared and paths built on
  std::string display;  // as the client wrote it when ASCII (lower-cased), else the NFC U-label form
};

// nullopt when the domain is not valid IDNA2008 (or not valid UTF-8). ASCII domains without an
// "xn--" label are only lower-cased; an address literal ("[192.0.2.1]") is kept as it is.
std::optional<DomainName> normalize_domain(std::string_view domain);

}  // namespace mailslot::delivery
