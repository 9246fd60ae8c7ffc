// Reply parsing for the load generator: a fixed-size receive buffer and a strict, allocation-free
// parser of RFC 5321 §4.2 replies (single-line and "250-..." multi-line). Pure: no sockets, so the
// session decides how bytes arrive and what a timeout means.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>
#include <vector>

namespace mailslot::bench {

struct Reply {
  int code = 0;
  std::string_view text;  // the last line without the code; valid until the buffer is refilled
};

class ReplyBuffer {
 public:
  enum class Parse { complete, need_more, malformed };

  // Replies from an LMTP server are short; one that outgrows this is broken, not big. Small also
  // because idle mode holds ten thousand of these.
  static constexpr std::size_t kCapacity = 4 * 1024;

  ReplyBuffer() : data_(kCapacity) {}

  struct IgnoreLines {
    void operator()(std::size_t, std::string_view) const {}
  };

  // Takes the next complete reply off the front of the buffer. Once it is complete, on_line(index,
  // text) sees each of its lines (text without the code and separator): the capabilities of a
  // multi-line 250 to LHLO, for instance. Nothing is called for a reply still incomplete.
  template <typename OnLine = IgnoreLines>
  Parse next(Reply& out, OnLine&& on_line = {}) {
    std::size_t pos = begin_;
    int code = 0;
    for (;;) {
      const char* start = data_.data() + pos;
      const char* crlf = find_crlf(start, data_.data() + end_);
      if (crlf == nullptr) return end_ - begin_ >= kCapacity ? Parse::malformed : Parse::need_more;
      std::string_view line(start, static_cast<std::size_t>(crlf - start));
      int line_code = code_of(line);
      if (line_code == 0 || (code != 0 && line_code != code)) return Parse::malformed;
      code = line_code;
      pos = static_cast<std::size_t>(crlf - data_.data()) + 2;
      if (line.size() == 3 || line[3] == ' ') {  // "250" or "250 text": the last line
        out.code = code;
        out.text = line.size() > 4 ? line.substr(4) : std::string_view();
        visit_lines(begin_, pos, on_line);
        begin_ = pos;
        return Parse::complete;
      }
    }
  }

  // RFC 5321 §4.2.1: the first line of "250-..." carries the domain, the others (for LHLO) one
  // capability each: "SIZE 52428800", "PIPELINING", ...
  static bool is_keyword(std::string_view capability_line, std::string_view keyword) {
    std::string_view k = capability_line.substr(0, capability_line.find(' '));
    if (k.size() != keyword.size()) return false;
    for (std::size_t i = 0; i < k.size(); ++i) {
      char a = k[i], b = keyword[i];
      if (a >= 'a' && a <= 'z') a = static_cast<char>(a - 'a' + 'A');
      if (b >= 'a' && b <= 'z') b = static_cast<char>(b - 'a' + 'A');
      if (a != b) return false;
    }
    return true;
  }

  // Room to receive into; moves unparsed bytes to the front first. Empty only when a partial
  // reply fills the whole buffer, which next() reports as malformed before anyone asks.
  char* space() {
    if (begin_ == end_) {
      begin_ = end_ = 0;
    } else if (begin_ > 0) {
      std::memmove(data_.data(), data_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    return data_.data() + end_;
  }
  std::size_t space_size() const { return data_.size() - end_; }
  void commit(std::size_t n) { end_ += n; }
  bool empty() const { return begin_ == end_; }

 private:
  static const char* find_crlf(const char* from, const char* to) {
    for (const char* p = from; p + 1 < to; ++p) {
      p = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(to - p)));
      if (p == nullptr || p + 1 >= to) return nullptr;
      if (p[1] == '\n') return p;
    }
    return nullptr;
  }

  template <typename OnLine>
  void visit_lines(std::size_t from, std::size_t to, OnLine& on_line) const {
    std::size_t index = 0;
    while (from < to) {
      const char* start = data_.data() + from;
      const char* crlf = find_crlf(start, data_.data() + to);  // every line here is complete
      std::string_view line(start, static_cast<std::size_t>(crlf - start));
      on_line(index++, line.size() > 4 ? line.substr(4) : std::string_view());
      from = static_cast<std::size_t>(crlf - data_.data()) + 2;
    }
  }

  // RFC 5321 §4.2: three digits, the first 2-5, then ' ' or '-' or the end of the line.
  static int code_of(std::string_view line) {
    if (line.size() < 3) return 0;
    if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' || line[2] < '0' || line[2] > '9') {
      return 0;
    }
    if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return 0;
    return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  }

  std::vector<char> data_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace mailslot::bench
