// Envelope helpers: the RFC 3461 fields as the delivery log line shows them.
#include "mailslot/delivery/envelope.hpp"

namespace mailslot::delivery {

std::string dsn_log_fields(const Envelope& e, std::size_t i) {
  std::string f;
  if (i < e.original_recipients.size() && !e.original_recipients[i].empty())
    f += " orig_to=<" + e.original_recipients[i] + ">";
  if (i < e.dsn_notify.size() && e.dsn_notify[i] != 0) f += " notify=" + lmtp::dsn_notify_text(e.dsn_notify[i]);
  if (e.dsn_envid) {
    f += " envid=\"";
    for (char c : *e.dsn_envid) {
      if (c == '"' || c == '\\') f += '\\';
      f += c;
    }
    f += '"';
  }
  if (e.dsn_ret == lmtp::DsnRet::full) f += " ret=FULL";
  if (e.dsn_ret == lmtp::DsnRet::hdrs) f += " ret=HDRS";
  return f;
}

}  // namespace mailslot::delivery
