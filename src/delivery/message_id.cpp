// The Message-ID of a message being received, for duplicate suppression (duplicates.hpp).
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "mailslot/delivery/duplicates.hpp"

namespace mailslot::delivery {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_wsp(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Where the empty line ending the header section starts (at or after `from`), or npos. At the very
// start it is an empty header section.
std::size_t header_end(std::string_view s, std::size_t from) {
  if (from == 0 && (s.starts_with("\r\n") || s.starts_with("\n"))) return 0;
  const std::size_t crlf = s.find("\r\n\r\n", from);
  const std::size_t lf = s.find("\n\n", from);
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::string_view::npos;
  return crlf < lf ? crlf + 2 : lf + 1;
}

// The field value with folding removed and surrounding whitespace trimmed; the msg-id inside
// "<...>" when there is one (RFC 5322 §3.6.4), so "<a@b>" and " <a@b> (comment)" are one key.
std::optional<std::string> normalise(std::string_view value) {
  std::string v;
  for (const char c : value) {
    if (c == '\r' || c == '\n') continue;  // unfolding (RFC 5322 §2.2.3)
    v.push_back(c == '\t' ? ' ' : c);
  }
  const std::size_t open = v.find('<');
  if (open != std::string::npos) {
    const std::size_t close = v.find('>', open + 1);
    if (close != std::string::npos) v = v.substr(open + 1, close - open - 1);
  }
  std::string out;
  for (const char c : v) {
    if (c != ' ') out.push_back(c);  // no whitespace inside a msg-id; obsolete forms may have it
  }
  if (out.empty()) return std::nullopt;
  return out;
}

}  // namespace

std::optional<std::string> find_message_id(std::string_view h) {
  std::size_t pos = 0;
  while (pos < h.size()) {
    // One field: its first line and every continuation line starting with WSP.
    std::size_t end = pos;
    for (;;) {
      const std::size_t lf = h.find('\n', end);
      if (lf == std::string_view::npos) {
        end = h.size();
        break;
      }
      end = lf + 1;
      if (end >= h.size() || (h[end] != ' ' && h[end] != '\t')) break;
    }
    const std::string_view field = h.substr(pos, end - pos);
    pos = end;
    if (field == "\r\n" || field == "\n") break;  // the empty line: the body follows
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = field.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
    if (iequals(name, "Message-ID")) return normalise(field.substr(colon + 1));
  }
  return std::nullopt;
}

void MessageIdScanner::feed(std::string_view data) {
  if (done_) return;
  const std::size_t before = header_.size();
  header_.append(data.substr(0, kMaxHeader - header_.size()));
  // Search from a little before the new piece: the empty line may straddle two pieces.
  const std::size_t end = header_end(header_, before > 3 ? before - 3 : 0);
  if (end != std::string_view::npos) {
    header_.resize(end);  // the body is not kept
    done_ = true;
  } else if (header_.size() >= kMaxHeader) {
    // Cut by the limit: the last field may be incomplete, so it is not trusted.
    const std::size_t last_lf = header_.rfind('\n');
    header_.resize(last_lf == std::string::npos ? 0 : last_lf + 1);
    done_ = true;
  }
}

std::optional<std::string> MessageIdScanner::message_id() const {
  return find_message_id(header_);
}

}  // namespace mailslot::delivery
