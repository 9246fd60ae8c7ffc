// SMTPUTF8 (RFC 6531 §3.4) and DSN (RFC 3461 §4) parameters on MAIL and RCPT.
#include "mailslot/lmtp/extension_params.hpp"

#include <string>

#include "mailslot/lmtp/dsn.hpp"

namespace mailslot::lmtp {

namespace {

// RFC 5321 §4.1.1.11: a parameter the server does not offer gets 555.
Reply unsupported(const Param& p) { return {555, "5.5.4", "Unsupported parameter " + p.keyword}; }
Reply bad(const Param& p) { return {501, "5.5.4", "Bad " + p.keyword + " parameter"}; }

}  // namespace

std::optional<Reply> apply_mail_extension_param(const Param& p, Transaction& t, const SessionOptions& opt) {
  if (p.keyword == "SMTPUTF8" && opt.smtputf8) {
    // RFC 6531 §3.4: "SMTPUTF8" takes no value.
    if (t.smtputf8 || p.value) return bad(p);
    t.smtputf8 = true;
    return std::nullopt;
  }
  if (p.keyword == "RET" && opt.dsn) {  // RFC 3461 §4.3
    const auto ret = p.value ? parse_dsn_ret(*p.value) : std::nullopt;
    if (t.dsn_ret != DsnRet::unspecified || !ret) return bad(p);
    t.dsn_ret = *ret;
    return std::nullopt;
  }
  if (p.keyword == "ENVID" && opt.dsn) {  // RFC 3461 §4.4
    auto envid = p.value ? parse_dsn_envid(*p.value) : std::nullopt;
    if (t.dsn_envid || !envid) return bad(p);
    t.dsn_envid = std::move(envid);
    return std::nullopt;
  }
  return unsupported(p);
}

std::optional<Reply> apply_rcpt_extension_param(const Param& p, Recipient& r, const Transaction& /*t*/,
                                                const SessionOptions& opt) {
  if (p.keyword == "NOTIFY" && opt.dsn) {  // RFC 3461 §4.1
    const auto notify = p.value ? parse_dsn_notify(*p.value) : std::nullopt;
    if (r.notify != 0 || !notify) return bad(p);
    r.notify = *notify;
    return std::nullopt;
  }
  if (p.keyword == "ORCPT" && opt.dsn) {  // RFC 3461 §4.2
    // The value must decode to printable US-ASCII: RFC 6533's UTF-8 forms (utf-8-addr-xtext,
    // utf-8-addr-unitext) are not decoded yet and get 501 rather than a half-decoded address.
    auto orcpt = p.value ? parse_dsn_orcpt(*p.value) : std::nullopt;
    if (r.orcpt || !orcpt) return bad(p);
    r.orcpt = std::move(orcpt);
    return std::nullopt;
  }
  return unsupported(p);
}

}  // namespace mailslot::lmtp
