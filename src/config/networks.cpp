// CIDR matching for lmtp.xforward_from; see networks.hpp.
#include "mailslot/config/networks.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <string>

namespace mailslot::config {

namespace {

bool parse_address(const std::string& s, Network& n) {
  if (::inet_pton(AF_INET, s.c_str(), n.bytes.data()) == 1) {
    n.family = AF_INET;
    return true;
  }
  if (::inet_pton(AF_INET6, s.c_str(), n.bytes.data()) == 1) {
    n.family = AF_INET6;
    return true;
  }
  return false;
}

}  // namespace

std::optional<Network> parse_network(std::string_view text) {
  Network n;
  if (text == "unix") {
    n.unix_socket = true;
    return n;
  }
  const auto slash = text.find('/');
  if (!parse_address(std::string(text.substr(0, slash)), n)) return std::nullopt;
  const unsigned max = n.family == AF_INET ? 32 : 128;
  n.prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || end != p.data() + p.size() || p.empty() || v > max) return std::nullopt;
    n.prefix = v;
  }
  return n;
}

bool client_in_networks(std::string_view client, const std::vector<std::string>& networks) {
  Network c;
  const bool is_unix = client == "unix" || client.empty();
  if (!is_unix && !parse_address(std::string(client), c)) return false;
  // An IPv4-mapped IPv6 peer (::ffff:192.0.2.1) is compared as IPv4.
  if (c.family == AF_INET6 && c.bytes[10] == 0xff && c.bytes[11] == 0xff &&
      std::all_of(c.bytes.begin(), c.bytes.begin() + 10, [](std::uint8_t b) { return b == 0; })) {
    c.family = AF_INET;
    std::copy(c.bytes.begin() + 12, c.bytes.end(), c.bytes.begin());
  }
  for (const auto& text : networks) {
    const auto n = parse_network(text);
    if (!n) continue;
    if (n->unix_socket) {
      if (is_unix) return true;
      continue;
    }
    if (is_unix || n->family != c.family) continue;
    unsigned bits = n->prefix, i = 0;
    bool match = true;
    for (; bits >= 8; bits -= 8, ++i) match = match && c.bytes[i] == n->bytes[i];
    if (bits > 0) {
      const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
      match = match && (c.bytes[i] & mask) == (n->bytes[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

}  // namespace mailslot::config
