// Structured log lines: the same fields as `key=value` text or as one JSON object per line
// ([log] format). Keys are stable: scripts and log shippers rely on them (docs/operations.md).
#pragma once

#include <spdlog/spdlog.h>

#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "mailslot/lmtp/transaction.hpp"

namespace mailslot::server {

struct LogField {
  enum class Kind { text, quoted, number };
  std::string_view key;
  std::string value;
  Kind kind = Kind::text;  // text: bare in key=value (no spaces); quoted: "..." in text; number: bare in JSON too
};

// Chosen once at start-up, before any session (app/main.cpp).
void set_json_logs(bool on);
bool json_logs();

// One event line at `level`: "k1=v1 k2=\"v 2\"" in text mode, {"k1":"v1","k2":"v 2"} in JSON mode.
void log_event(spdlog::level::level_enum level, std::span<const LogField> fields);
inline void log_event(spdlog::level::level_enum level, std::initializer_list<LogField> fields) {
  log_event(level, std::span<const LogField>(fields.begin(), fields.size()));
}

// The formatter of JSON mode: {"time":...,"level":...} plus either the event's own fields or
// "msg" holding an ordinary line, every string escaped (RFC 8259 §7). `timestamps` false under
// systemd, whose journal stamps each line itself.
std::unique_ptr<spdlog::formatter> make_json_formatter(bool timestamps);

// JSON string escaping, exposed for tests.
void append_json_string(std::string& out, std::string_view s);

// The MTA's queue id from the top Received: header of a message ("... with ESMTP id 4Xb7Qm1Fz9z9rwT;"),
// looked for only in `head` (the first bytes of the message). Empty when there is none.
std::string queue_id_from_head(std::string_view head);

// The recipient as the MTA first knew it, for the orig_to key: ORCPT=rfc822;<xtext> (RFC 3461
// §4.2) when given, else the forward-path as sent.
std::string original_recipient(const lmtp::Recipient& r);

}  // namespace mailslot::server
