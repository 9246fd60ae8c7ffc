// ESMTP parameters on MAIL and RCPT (RFC 5321 §4.1.2 Mail-parameters / Rcpt-parameters).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mailslot::lmtp {

struct Param {
  std::string keyword;               // upper-cased
  std::optional<std::string> value;  // as sent
};

using Params = std::vector<Param>;

}  // namespace mailslot::lmtp
