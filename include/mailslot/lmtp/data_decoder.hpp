// DATA transparency (RFC 5321 §4.5.2) and end-of-data detection (§4.1.1.4).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mailslot::lmtp {

// Incremental decoder for the DATA stream. Only <CRLF>.<CRLF> ends the data (the first CRLF
// belongs to the content); <LF>.<LF>, <CR>.<CR> and the like are content (SMTP smuggling).
// A line starts only after CRLF (and at the very start): a "." there is removed (dot-unstuffing).
// Bare LF and bare CR are content, stored as sent. Bytes are preserved exactly otherwise.
// Works across any split of the input into pieces.
class DataDecoder {
 public:
  explicit DataDecoder(std::size_t max_line = 0) : max_line_(max_line) {}

  struct Result {
    std::size_t consumed = 0;  // input bytes used; less than input.size() only when `done`
    bool done = false;         // the terminating <CRLF>.<CRLF> has been consumed
  };

  // Appends decoded content to `out`.
  Result feed(std::string_view input, std::string& out);

  // True once any line (counted between LFs, incl. its line ending) exceeded max_line.
  bool line_too_long() const { return line_too_long_; }
  void reset();

 private:
  enum class State { line_start, mid, cr, dot, dot_cr };
  State state_ = State::line_start;
  std::size_t max_line_;
  std::size_t line_len_ = 0;
  bool line_too_long_ = false;
};

}  // namespace mailslot::lmtp
