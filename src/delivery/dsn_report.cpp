// RFC 3464 success reports (RFC 3461 §6.2.1 "delivered"), shaped like Postfix's bounce(8) success
// notices: a human-readable part, the machine-readable message/delivery-status part, and the
// returned message or its headers (RFC 3461 §4.3 RET).
#include "mailslot/delivery/dsn_report.hpp"

#include "mailslot/delivery/trace_headers.hpp"
#include "mailslot/lmtp/dsn.hpp"

namespace mailslot::delivery {
namespace {

// Values come from the session's parser (addresses, ENVID: no CR or LF); dropping control octets
// once more keeps every value on its line whatever changes upstream (header injection).
std::string clean(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    out += c;
  }
  return out;
}

bool ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// RFC 3464 §2.3.2 address-type ";" generic-address; RFC 6533 §3 "utf-8" for a UTF-8 address.
std::string typed(std::string_view address) {
  return (ascii(address) ? "rfc822;" : "utf-8;") + clean(address);
}

}  // namespace

DsnReport success_dsn(const DsnReportInput& in) {
  const std::string host = clean(in.hostname);
  // RFC 2046 §5.1.1: the boundary must not occur in the parts; the unique id and the "=_" (never
  // produced by base64 or quoted-printable) make a clash with the returned message implausible.
  const std::string boundary = "=_mailslot-dsn-" + clean(in.unique) + "_=";
  const bool utf8 = in.smtputf8;
  const std::string crlf = "\r\n";

  std::string h;
  // RFC 3464 §2 (and RFC 3461 §6.2): sent as MAILER-DAEMON with a null envelope sender (the
  // caller submits it with MAIL FROM:<>), so no report is ever sent about a report.
  h += "From: Mail Delivery System <MAILER-DAEMON@" + host + ">" + crlf;
  h += "To: <" + clean(in.reverse_path) + ">" + crlf;
  h += "Subject: Successful Mail Delivery Report" + crlf;
  h += "Date: " + rfc5322_date(in.now) + crlf;
  h += "Message-ID: <" + clean(in.unique) + ".dsn@" + host + ">" + crlf;
  h += "Auto-Submitted: auto-replied" + crlf;  // RFC 3834 §5
  h += "MIME-Version: 1.0" + crlf;
  h += "Content-Type: multipart/report; report-type=delivery-status;" + crlf;
  h += "\tboundary=\"" + boundary + "\"" + crlf;
  // The returned message may hold 8-bit octets; labelling 7-bit data 8bit is allowed (RFC 2045 §6.2).
  h += "Content-Transfer-Encoding: 8bit" + crlf;
  h += crlf;
  h += "This is a MIME-encapsulated message." + crlf + crlf;

  // Part 1: for people.
  h += "--" + boundary + crlf;
  h += std::string("Content-Type: text/plain; charset=") + (utf8 ? "utf-8" : "us-ascii") + crlf;
  h += "Content-Description: Notification" + crlf + crlf;
  h += "This is the mail system at host " + host + "." + crlf + crlf;
  h += "Your message was successfully delivered to the destination(s) listed below." + crlf;
  h += "This report was requested with NOTIFY=SUCCESS when the message was sent." + crlf + crlf;
  for (const auto& r : in.recipients) {
    h += "<" + clean(r.final_recipient) + ">";
    if (!r.original_recipient.empty() && r.original_recipient != r.final_recipient)
      h += " (originally addressed to <" + clean(r.original_recipient) + ">)";
    h += ": delivery successful" + crlf;
  }
  h += crlf;

  // Part 2: RFC 3464 §2.2 per-message fields, §2.3 one block per recipient. RFC 6533 §6: the
  // "global" type when it may carry UTF-8.
  h += "--" + boundary + crlf;
  h += std::string("Content-Type: message/") + (utf8 ? "global-delivery-status" : "delivery-status") + crlf;
  h += "Content-Description: Delivery report" + crlf + crlf;
  h += "Reporting-MTA: dns; " + host + crlf;
  // RFC 3464 §2.2.1: the ENVID as given (the session decoded the xtext and checked that it is
  // printable US-ASCII, RFC 3461 §4.4).
  if (in.envid) h += "Original-Envelope-Id: " + clean(*in.envid) + crlf;
  h += "Arrival-Date: " + rfc5322_date(in.arrival) + crlf;
  for (const auto& r : in.recipients) {
    h += crlf;
    // RFC 3464 §2.3.1: present exactly when ORCPT was given (RFC 3461 §6.3 c).
    if (!r.original_recipient.empty()) h += "Original-Recipient: " + typed(r.original_recipient) + crlf;
    h += "Final-Recipient: " + typed(r.final_recipient) + crlf;
    h += "Action: delivered" + crlf;  // RFC 3464 §2.3.3
    h += "Status: 2.0.0" + crlf;      // RFC 3463 X.0.0 success
  }
  h += crlf;

  DsnReport report;
  report.full = in.ret == lmtp::DsnRet::full;
  report.head_without_content = h;
  // Part 3: RFC 3461 §4.3 RET=FULL returns the message, RET=HDRS (and no RET: §4.3 leaves it to
  // the server; headers keep the report small) its headers only. RFC 6533 §3, §5: message/global
  // and message/global-headers for a message that may have UTF-8 header fields.
  h += "--" + boundary + crlf;
  if (report.full) {
    h += std::string("Content-Type: message/") + (utf8 ? "global" : "rfc822") + crlf;
    h += "Content-Description: Delivered message" + crlf;
  } else {
    h += std::string("Content-Type: ") + (utf8 ? "message/global-headers" : "text/rfc822-headers") + crlf;
    h += "Content-Description: Delivered message headers" + crlf;
  }
  h += "Content-Transfer-Encoding: 8bit" + crlf + crlf;
  report.head = std::move(h);
  report.tail = crlf + "--" + boundary + "--" + crlf;
  return report;
}

std::vector<std::size_t> success_dsn_recipients(const Envelope& envelope,
                                                const std::vector<Outcome>& outcomes) {
  std::vector<std::size_t> out;
  if (envelope.reverse_path.empty()) return out;  // MAIL FROM:<>: never a report
  for (std::size_t i = 0; i < outcomes.size() && i < envelope.dsn_notify.size(); ++i) {
    if (!outcomes[i].delivered() || outcomes[i].duplicate) continue;
    if ((envelope.dsn_notify[i] & lmtp::dsn_notify::success) == 0) continue;
    out.push_back(i);
  }
  return out;
}

DsnReportInput success_dsn_input(const Envelope& envelope, const std::vector<std::size_t>& recipients) {
  DsnReportInput in;
  in.hostname = envelope.hostname;
  in.reverse_path = envelope.reverse_path;
  in.envid = envelope.dsn_envid;
  in.ret = envelope.dsn_ret;
  in.smtputf8 = envelope.smtputf8;
  in.arrival = envelope.received_at;
  in.now = std::chrono::system_clock::now();
  in.unique = envelope.session_id;
  for (std::size_t i : recipients) {
    DsnRecipient r;
    if (i < envelope.forward_paths.size()) r.final_recipient = envelope.forward_paths[i];
    if (r.final_recipient.empty() && i < envelope.recipients.size() && envelope.recipients[i])
      r.final_recipient = envelope.recipients[i]->address;
    if (i < envelope.original_recipients.size()) r.original_recipient = envelope.original_recipients[i];
    in.recipients.push_back(std::move(r));
  }
  return in;
}

std::string_view header_block(std::string_view message) {
  if (message.starts_with("\r\n")) return message.substr(0, 2);
  if (message.starts_with("\n")) return message.substr(0, 1);
  const std::size_t crlf = message.find("\r\n\r\n");
  const std::size_t lf = message.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return message;
  return crlf < lf ? message.substr(0, crlf + 4) : message.substr(0, lf + 2);
}

}  // namespace mailslot::delivery
