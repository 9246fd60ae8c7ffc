// CIDR networks: parsed once at load time, matched per accepted connection (a few byte compares).
#include "mailslot/config/network.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mailslot::config {

Network parse_network(std::string_view text) {
  Network n;
  n.text = std::string(text);
  const auto slash = text.find('/');
  const std::string host(text.substr(0, slash));
  bool v4 = false;
  in_addr a4{};
  in6_addr a6{};
  if (::inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    v4 = true;
    n.address[10] = 0xff;
    n.address[11] = 0xff;
    std::memcpy(n.address.data() + 12, &a4, 4);
  } else if (::inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    std::memcpy(n.address.data(), &a6, 16);
  } else {
    throw std::invalid_argument("\"" + n.text + "\": not an IPv4 or IPv6 network like \"10.0.0.0/8\" or \"2001:db8::/32\"");
  }
  const unsigned max = v4 ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    const std::string_view p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix > max) {
      throw std::invalid_argument("\"" + n.text + "\": prefix length must be 0 to " + std::to_string(max));
    }
  }
  n.prefix = v4 ? prefix + 96 : prefix;
  Network masked = n;
  for (unsigned bit = n.prefix; bit < 128; ++bit) masked.address[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  if (masked.address != n.address) {
    throw std::invalid_argument("\"" + n.text + "\": host bits set below the prefix length (did you mean a network address?)");
  }
  return n;
}

bool contains(const Network& network, const Address16& address) {
  const unsigned full = network.prefix / 8;
  for (unsigned i = 0; i < full; ++i) {
    if (network.address[i] != address[i]) return false;
  }
  const unsigned rest = network.prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (network.address[full] & mask) == (address[full] & mask);
}

bool allowed(const std::vector<Network>& networks, const Address16& address) {
  if (networks.empty()) return true;
  for (const auto& n : networks) {
    if (contains(n, address)) return true;
  }
  return false;
}

}  // namespace mailslot::config
