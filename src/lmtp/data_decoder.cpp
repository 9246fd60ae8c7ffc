// DATA transparency (RFC 5321 §4.5.2) and end of data (§4.1.1.4): a byte-exact state machine with
// a memchr fast path for the middle of lines, where nearly all bytes of a message are.
#include "mailslot/lmtp/data_decoder.hpp"

#include <algorithm>
#include <cstring>

namespace mailslot::lmtp {

void DataDecoder::reset() {
  state_ = State::line_start;
  line_len_ = 0;
  line_too_long_ = false;
}

DataDecoder::Result DataDecoder::feed(std::string_view input, std::string& out) {
  // Grow geometrically ourselves: reserving exactly size()+n on every small feed would
  // reallocate on every call with some standard libraries.
  if (out.capacity() - out.size() < input.size()) {
    out.reserve(std::max(out.size() + input.size(), 2 * out.capacity()));
  }
  // Line length for the limit is counted on the wire, between LFs, including the ending.
  auto count = [this](std::size_t k) {
    line_len_ += k;
    if (max_line_ != 0 && line_len_ > max_line_) line_too_long_ = true;
  };

  const char* const data = input.data();
  const std::size_t n = input.size();
  std::size_t i = 0;
  while (i < n) {
    switch (state_) {
      case State::line_start:
        // RFC 5321 §4.5.2: a line starting with "." has that "." removed; whether this line is
        // the terminator is decided by what follows it.
        if (data[i] == '.') {
          // Not counted: RFC 5321 §4.5.3.1.6 excludes the dot added for transparency from the
          // line length, and this dot is always removed (stuffing or terminator).
          ++i;
          state_ = State::dot;
        } else {
          state_ = State::mid;
        }
        break;

      case State::mid: {
        // Copy everything up to the next CR or LF in one go.
        const char* p = data + i;
        const std::size_t rest = n - i;
        const void* lf = std::memchr(p, '\n', rest);
        std::size_t seg = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - p) : rest;
        if (const void* cr = std::memchr(p, '\r', seg)) {
          seg = static_cast<std::size_t>(static_cast<const char*>(cr) - p);
        }
        out.append(p, seg);
        count(seg);
        i += seg;
        if (i == n) break;
        const char c = data[i++];
        out.push_back(c);
        count(1);
        if (c == '\n') {
          line_len_ = 0;  // a bare LF ends a line for the length limit but starts no new line
        } else {
          state_ = State::cr;
        }
        break;
      }

      case State::cr:  // the previous byte was a CR, already copied
        if (data[i] == '\n') {
          out.push_back('\n');
          count(1);
          line_len_ = 0;
          ++i;
          state_ = State::line_start;  // only CRLF starts a line
        } else if (data[i] == '\r') {
          out.push_back('\r');
          count(1);
          ++i;
        } else {
          state_ = State::mid;
        }
        break;

      case State::dot:  // "<CRLF>." seen, the "." held back
        if (data[i] == '\r') {
          count(1);
          ++i;
          state_ = State::dot_cr;
        } else {
          state_ = State::mid;  // a stuffed dot: drop it, the rest of the line is content
        }
        break;

      case State::dot_cr:  // "<CRLF>.<CR>" seen, CR held back
        if (data[i] == '\n') {
          count(1);
          ++i;
          state_ = State::line_start;
          line_len_ = 0;
          return {i, true};  // RFC 5321 §4.1.1.4: <CRLF>.<CRLF> ends the mail data
        }
        // "<CRLF>.<CR>x": not the end; the "." was stuffing, the CR is content.
        out.push_back('\r');
        state_ = State::cr;
        break;
    }
  }
  return {n, false};
}

}  // namespace mailslot::lmtp
