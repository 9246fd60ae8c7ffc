// Text and JSON renderings of log events, and the JSON formatter installed in spdlog.
#include "mailslot/server/log_format.hpp"

#include <spdlog/formatter.h>
#include <spdlog/details/log_msg.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <ctime>

#include "mailslot/lmtp/ascii.hpp"

namespace mailslot::server {
namespace {

std::atomic<bool> g_json{false};
// Set while log_event() hands a ready JSON member list to spdlog (the same thread formats it:
// the logger is synchronous), so the formatter merges the fields instead of quoting them as "msg".
thread_local bool t_structured = false;

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

// Text values: client-supplied strings cannot break the line or fake another key (escaped).
void append_text_value(std::string& out, std::string_view v, bool force_quotes) {
  if (!force_quotes && !needs_quotes(v)) {
    out += v;
    return;
  }
  out += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

class JsonFormatter final : public spdlog::formatter {
 public:
  explicit JsonFormatter(bool timestamps) : timestamps_(timestamps) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{";
    if (timestamps_) {
      const auto t = msg.time;
      const std::time_t secs = std::chrono::system_clock::to_time_t(t);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
      std::tm tm{};
      ::gmtime_r(&secs, &tm);
      line += fmt::format("\"time\":\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\",", tm.tm_year + 1900, tm.tm_mon + 1,
                          tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    }
    const auto level = spdlog::level::to_string_view(msg.level);
    line += "\"level\":";
    append_json_string(line, std::string_view(level.data(), level.size()));
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (t_structured) {
      if (!payload.empty()) line += ',';
      line += payload;
    } else {
      line += ",\"msg\":";
      append_json_string(line, payload);
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(timestamps_); }

 private:
  bool timestamps_;
};

}  // namespace

void set_json_logs(bool on) { g_json = on; }
bool json_logs() { return g_json.load(std::memory_order_relaxed); }

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04x}", c);
        } else if (c >= 0x80) {
          // Bytes from clients need not be UTF-8; JSON must be (RFC 8259 §8.1). Non-ASCII bytes
          // are shown as \u00XX (their Latin-1 reading) so every line stays valid JSON.
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

void log_event(spdlog::level::level_enum level, std::span<const LogField> fields) {
  auto logger = spdlog::default_logger_raw();
  if (logger == nullptr || !logger->should_log(level)) return;
  std::string line;
  line.reserve(256);
  const bool json = json_logs();
  for (const auto& f : fields) {
    if (json) {
      if (!line.empty()) line += ',';
      append_json_string(line, f.key);
      line += ':';
      if (f.kind == LogField::Kind::number) {
        line += f.value;
      } else {
        append_json_string(line, f.value);
      }
    } else {
      if (!line.empty()) line += ' ';
      line += f.key;
      line += '=';
      append_text_value(line, f.value, f.kind == LogField::Kind::quoted);
    }
  }
  t_structured = json;
  logger->log(level, "{}", line);
  t_structured = false;
}

std::unique_ptr<spdlog::formatter> make_json_formatter(bool timestamps) {
  return std::make_unique<JsonFormatter>(timestamps);
}

// The recipient as the MTA first knew it: the ORCPT address (RFC 3461 §4.2, rfc822 type, decoded
// by the session) when given, else the forward-path as sent.
std::string original_recipient(const lmtp::Recipient& r) {
  if (r.orcpt && r.orcpt->is_rfc822()) return r.orcpt->address;
  return r.forward_path.mailbox.to_string();
}

std::string queue_id_from_head(std::string_view head) {
  // The header section ends at the first empty line; only the first Received: field counts (the
  // one the MTA handing us the message wrote when it received it: RFC 5321 §4.4 prepends).
  std::size_t pos = 0;
  while (pos < head.size()) {
    std::size_t eol = head.find('\n', pos);
    if (eol == std::string_view::npos) return {};  // incomplete line: not enough to tell
    std::string_view line = head.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return {};  // end of the header section
    if (line.size() > 9 && lmtp::ascii::iequals(line.substr(0, 9), "received:")) {
      // Unfold the field (RFC 5322 §2.2.3): continuation lines start with a space or tab.
      std::string field(line.substr(9));
      std::size_t next = eol + 1;
      for (;;) {
        if (next >= head.size()) return {};  // the field may continue past what we have
        if (head[next] != ' ' && head[next] != '\t') break;
        std::size_t e = head.find('\n', next);
        if (e == std::string_view::npos) return {};
        std::string_view more = head.substr(next, e - next);
        if (!more.empty() && more.back() == '\r') more.remove_suffix(1);
        field += ' ';
        field += more;
        next = e + 1;
      }
      // "... id <queue-id>" before the ';' that starts the date (RFC 5321 §4.4 ID clause).
      const std::string_view f(field.data(), field.find(';') == std::string::npos ? field.size() : field.find(';'));
      for (std::size_t i = 0; i + 3 < f.size(); ++i) {
        const bool starts = (f[i] == ' ' || f[i] == '\t') && (f[i + 1] == 'i' || f[i + 1] == 'I') &&
                            (f[i + 2] == 'd' || f[i + 2] == 'D') && (f[i + 3] == ' ' || f[i + 3] == '\t');
        if (!starts) continue;
        std::size_t j = i + 4;
        while (j < f.size() && (f[j] == ' ' || f[j] == '\t')) ++j;
        std::string id;
        while (j < f.size() && id.size() < 64) {
          const char c = f[j];
          const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' ||
                          c == '-' || c == '_';
          if (!ok) break;
          id += c;
          ++j;
        }
        return id;
      }
      return {};
    }
    pos = eol + 1;
  }
  return {};
}

}  // namespace mailslot::server
