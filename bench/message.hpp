// What the load generator sends: the pipelined envelope and the message of about --size bytes.
// The filler, which is nearly all of a large message, is built and dot-stuffed once and shared
// read-only by every session; only the small envelope and header block are written per message,
// into strings the session reuses, so a message costs no allocation once the strings have grown.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "bench_options.hpp"

namespace mailslot::bench {

inline void append_number(std::string& out, std::uint64_t v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  (void)ec;  // 24 characters always hold a 64-bit number
  out.append(digits, end);
}

class MessageFactory {
 public:
  explicit MessageFactory(const Options& o)
      : sender_(o.sender), domain_(o.domain), rcpts_(o.rcpts), mailboxes_(o.mailboxes), date_(rfc5322_now()) {
    // Unique per run so that Message-IDs never repeat across runs into the same Maildirs.
    run_id_ = std::to_string(::getpid()) + "." + std::to_string(std::time(nullptr));
    std::string probe;
    header(0, probe);
    build_filler(o.size > probe.size() ? o.size - probe.size() : 0);
  }

  // RFC 2033 §4.2 allows the whole envelope in one write with PIPELINING (RFC 2920):
  // MAIL FROM (with SIZE when with_size: RFC 1870 §6 allows it only after the server announced SIZE),
  // one RCPT TO per recipient, DATA.
  void envelope(std::uint64_t m, std::size_t message_size, bool with_size, std::string& out) const {
    out.clear();
    out += "MAIL FROM:<";
    out += sender_;
    out += '>';
    if (with_size) {
      out += " SIZE=";
      append_number(out, message_size);
    }
    out += "\r\n";
    for (std::size_t i = 0; i < rcpts_; ++i) {
      out += "RCPT TO:<";
      append_recipient(out, m, i);
      out += ">\r\n";
    }
    out += "DATA\r\n";
  }

  // The header block of message m, ending with the empty line.
  void header(std::uint64_t m, std::string& out) const {
    out.clear();
    out += "From: <";
    out += sender_;
    out += ">\r\nTo: <";
    append_recipient(out, m, 0);
    out += ">\r\nSubject: mailslot-bench message ";
    append_number(out, m);
    out += "\r\nMessage-ID: <";
    append_number(out, m);
    out += '.';
    out += run_id_;
    out += "@mailslot-bench.invalid>\r\nDate: ";
    out += date_;
    out += "\r\n\r\n";
  }

  // The rest of the message as it goes on the wire: dot-stuffed, then the terminating ".\r\n"
  // (the filler ends with CRLF, so this is the <CRLF>.<CRLF> of RFC 5321 §4.1.1.4).
  std::string_view filler_wire() const { return filler_wire_; }
  // Its size before stuffing, which is what counts towards the message size.
  std::size_t filler_size() const { return filler_size_; }

 private:
  static constexpr std::size_t kLineChars = 76;  // plus CRLF: 78, the RFC 5322 §2.1.1 "SHOULD"
  static constexpr std::size_t kDotEvery = 16;   // every 16th line starts with '.' to exercise unstuffing

  // Recipient i of message m is user<(m*R+i) % K>@D: --mailboxes spreads or concentrates the load.
  void append_recipient(std::string& out, std::uint64_t m, std::size_t i) const {
    out += "user";
    append_number(out, (m * rcpts_ + i) % mailboxes_);
    out += '@';
    out += domain_;
  }

  void build_filler(std::size_t target) {
    static constexpr std::string_view kAlphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
    filler_wire_.reserve(target + target / (kLineChars * kDotEvery) + 8);
    for (std::size_t line = 0; filler_size_ + 3 <= target; ++line) {
      std::size_t chars = std::min(kLineChars, target - filler_size_ - 2);
      std::size_t first = filler_wire_.size();
      for (std::size_t c = 0; c < chars; ++c) filler_wire_ += kAlphabet[(line + c) % kAlphabet.size()];
      if (line % kDotEvery == kDotEvery - 1) {
        filler_wire_[first] = '.';
        filler_wire_.insert(first, 1, '.');  // RFC 5321 §4.5.2: a leading '.' is doubled on the wire
      }
      filler_wire_ += "\r\n";
      filler_size_ += chars + 2;
    }
    filler_wire_ += ".\r\n";
  }

  static std::string rfc5322_now() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return std::string(buf, n);
  }

  std::string sender_;
  std::string domain_;
  std::size_t rcpts_;
  std::uint64_t mailboxes_;
  std::string date_;
  std::string run_id_;
  std::string filler_wire_;
  std::size_t filler_size_ = 0;
};

}  // namespace mailslot::bench
