// Trace fields prepended to every stored copy (RFC 5321 §4.4, RFC 5322 §3.6.7).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include "mailslot/delivery/envelope.hpp"

namespace mailslot::delivery {

// "Return-Path: <sender>\r\n", "Delivered-To: <rcpt>\r\n" when the envelope has exactly one
// recipient (and "X-Original-To: <orcpt or rcpt as sent>" when envelope.x_original_to), then
// "Received: from <helo> ([addr]) by <host> (mailslot) with LMTP id <id> [for <rcpt>];
// <RFC 5322 date>" folded over lines ("with UTF8LMTP" and UTF-8 addresses after SMTPUTF8).
// CRLF line ends.
std::string trace_headers(const Envelope& envelope);

// The same for the copy of RCPT `rcpt` (index into envelope.recipients) alone, whatever the number
// of recipients: its own Delivered-To, X-Original-To and "for <rcpt>" (mail.per_recipient_headers).
std::string trace_headers(const Envelope& envelope, std::size_t rcpt);

// RFC 5322 §3.3 date-time in UTC: "Mon, 23 Nov 2026 13:25:58 +0000".
std::string rfc5322_date(std::chrono::system_clock::time_point t);

}  // namespace mailslot::delivery
