// mailslot-bench command line: the flags bench/compare relies on, parsed into one Options value.
// Header-only; no CLI library, so the generator builds with nothing but Asio.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mailslot::bench {

struct Options {
  std::string connect;  // "127.0.0.1:2424", "[::1]:24" or "unix:/path"
  std::size_t sessions = 1;
  std::uint64_t messages = 1000;
  std::size_t size = 4096;
  std::size_t rcpts = 1;
  std::string domain = "example.test";
  std::uint64_t mailboxes = 100;
  std::string sender = "bench@example.net";
  double duration_limit_s = 120;
  std::size_t idle = 0;  // > 0: idle mode with this many sessions
  double hold_s = 10;    // idle mode: 0 = until SIGTERM/SIGINT/stdin EOF
  std::size_t threads = 1;
  double timeout_s = 30;  // bound on every single connect, read and write
  bool json = false;
  bool no_size = false;  // never send SIZE= (by default it is sent only when LHLO announces SIZE)
  // Before the timed phase, one untimed message to every mailbox, so the Maildirs exist as on a
  // running mail host: the first delivery to a mailbox creates its directories (several fsyncs)
  // and would otherwise land in the latency tail of whichever server is measured.
  bool warmup = true;
};

constexpr const char* kUsage =
    "usage: mailslot-bench --connect HOST:PORT|[V6]:PORT|unix:PATH [options]\n"
    "  --sessions N          concurrent sessions (default 1)\n"
    "  --messages M          total messages across all sessions (default 1000)\n"
    "  --size S              message bytes: 4096, 4K, 1M (default 4096)\n"
    "  --rcpts R             recipients per message (default 1)\n"
    "  --domain D            recipient domain (default example.test)\n"
    "  --mailboxes K         recipient i of message m is user<(m*R+i)%K>@D (default 100)\n"
    "  --sender ADDR         MAIL FROM (default bench@example.net)\n"
    "  --duration-limit SEC  stop starting new messages after SEC seconds (default 120)\n"
    "  --idle N              idle mode: open N sessions, LHLO, hold, QUIT\n"
    "  --hold SEC            idle hold time; 0 = until SIGTERM/SIGINT/stdin EOF (default 10)\n"
    "  --threads T           threads running the event loop (default 1)\n"
    "  --timeout SEC         bound on each connect, read and write (default 30)\n"
    "  --no-size             never send SIZE= in MAIL FROM (default: only when LHLO announces SIZE)\n"
    "  --no-warmup           skip the untimed first message to every mailbox (default: warm up)\n"
    "  --json                also print one final line of JSON\n";

namespace detail {

inline std::uint64_t parse_count(std::string_view flag, std::string_view text) {
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument(std::string(flag) + ": not a whole number: " + std::string(text));
  }
  return v;
}

inline double parse_seconds(std::string_view flag, std::string_view text) {
  char* end = nullptr;
  std::string s(text);
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !(v >= 0)) {
    throw std::invalid_argument(std::string(flag) + ": not a number of seconds: " + s);
  }
  return v;
}

// "4096", "4K", "1M", "1G" (binary multiples, either case).
inline std::size_t parse_size(std::string_view flag, std::string_view text) {
  std::uint64_t scale = 1;
  if (!text.empty()) {
    const char unit = text.back();
    if (unit == 'k' || unit == 'K') scale = 1024;
    if (unit == 'm' || unit == 'M') scale = 1024 * 1024;
    if (unit == 'g' || unit == 'G') scale = 1024 * 1024 * 1024;
    if (scale != 1) text.remove_suffix(1);
  }
  return parse_count(flag, text) * scale;
}

}  // namespace detail

// Throws std::invalid_argument with a message fit for stderr; returns nullopt for --help.
inline std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") return std::nullopt;
    if (flag == "--json") {
      o.json = true;
      continue;
    }
    if (flag == "--no-warmup") {
      o.warmup = false;
      continue;
    }
    if (flag == "--no-size") {
      o.no_size = true;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + ": missing value");
    std::string_view v = argv[++i];
    using namespace detail;
    // A table of flags reads best one per line.
    // clang-format off
    if (flag == "--connect") o.connect = v;
    else if (flag == "--sessions") o.sessions = parse_count(flag, v);
    else if (flag == "--messages") o.messages = parse_count(flag, v);
    else if (flag == "--size") o.size = parse_size(flag, v);
    else if (flag == "--rcpts") o.rcpts = parse_count(flag, v);
    else if (flag == "--domain") o.domain = v;
    else if (flag == "--mailboxes") o.mailboxes = parse_count(flag, v);
    else if (flag == "--sender") o.sender = v;
    else if (flag == "--duration-limit") o.duration_limit_s = parse_seconds(flag, v);
    else if (flag == "--idle") o.idle = parse_count(flag, v);
    else if (flag == "--hold") o.hold_s = parse_seconds(flag, v);
    else if (flag == "--threads") o.threads = parse_count(flag, v);
    else if (flag == "--timeout") o.timeout_s = parse_seconds(flag, v);
    else throw std::invalid_argument("unknown option " + std::string(flag));
    // clang-format on
  }
  if (o.connect.empty()) throw std::invalid_argument("--connect is required");
  if (o.sessions == 0 && o.idle == 0) throw std::invalid_argument("--sessions must be at least 1");
  if (o.rcpts == 0) throw std::invalid_argument("--rcpts must be at least 1");
  if (o.mailboxes == 0) throw std::invalid_argument("--mailboxes must be at least 1");
  if (o.threads == 0) throw std::invalid_argument("--threads must be at least 1");
  if (o.timeout_s <= 0) throw std::invalid_argument("--timeout must be positive");
  // Addresses go verbatim into commands: a CR or LF would inject commands of its own.
  for (const std::string* s : {&o.domain, &o.sender}) {
    if (s->find_first_of("\r\n<> ") != std::string::npos) {
      throw std::invalid_argument("--domain/--sender must not contain spaces, <, > or line breaks");
    }
  }
  return o;
}

}  // namespace mailslot::bench
