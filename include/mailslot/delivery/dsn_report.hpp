// RFC 3464 "delivered" reports: the success DSN that RFC 3461 §6.2.1 obliges the final delivery
// server to send for NOTIFY=SUCCESS. Pure code: builds text, touches no file.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mailslot/delivery/envelope.hpp"
#include "mailslot/delivery/outcome.hpp"

namespace mailslot::delivery {

struct DsnRecipient {
  std::string final_recipient;     // the RCPT TO address as the client sent it
  std::string original_recipient;  // ORCPT (rfc822 type, xtext-decoded), "" when not given
};

struct DsnReportInput {
  std::string hostname;      // Reporting-MTA, From: MAILER-DAEMON@hostname, Message-ID domain
  std::string reverse_path;  // the report goes to it (never empty: no DSN for MAIL FROM:<>)
  std::optional<std::string> envid;
  lmtp::DsnRet ret = lmtp::DsnRet::unspecified;
  bool smtputf8 = false;  // RFC 6533: UTF-8 addresses and headers use the "global" types
  std::chrono::system_clock::time_point arrival;  // Arrival-Date
  std::chrono::system_clock::time_point now;      // Date:
  std::string unique;  // makes the Message-ID and the MIME boundary unique (e.g. the session id)
  std::vector<DsnRecipient> recipients;  // one per-recipient block each, Action: delivered
};

// The report around the returned content: `head` is everything up to and including the headers of
// the third part, `tail` closes the multipart. Whoever writes the report streams the returned
// content between them: the whole message for RET=FULL (`full`), else its header block only
// (header_block()). When no content is available the caller uses `head_without_content` and
// `tail` (RFC 3464 §2: the third part is optional).
struct DsnReport {
  std::string head;
  std::string head_without_content;
  std::string tail;
  bool full = false;  // RET=FULL: return the whole message; otherwise its headers
};

DsnReport success_dsn(const DsnReportInput& in);

// The recipients of a committed transaction that get a success DSN: delivered now (not a
// duplicate suppressed because it was delivered earlier: that delivery was the one to report),
// with NOTIFY containing SUCCESS, and only when the reverse-path is not null (RFC 3461 §5.2.1,
// RFC 5321 §4.5.5: never a report to MAIL FROM:<>). Indices into envelope.recipients.
std::vector<std::size_t> success_dsn_recipients(const Envelope& envelope,
                                                const std::vector<Outcome>& outcomes);

// The input for those recipients of `envelope`.
DsnReportInput success_dsn_input(const Envelope& envelope, const std::vector<std::size_t>& recipients);

// The header block of a message (up to and including the empty line, or all of it when it has
// no body): what RET=HDRS returns.
std::string_view header_block(std::string_view message);

}  // namespace mailslot::delivery
