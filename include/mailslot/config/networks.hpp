// Client networks for lmtp.xforward_from (issue #8): "192.0.2.0/24", "2001:db8::/32", a single
// address, or "unix" for UNIX-socket peers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>
#include <string>

namespace mailslot::config {

struct Network {
  bool unix_socket = false;
  int family = 0;                       // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};  // network address (4 or 16 bytes used)
  unsigned prefix = 0;                  // bits
};

std::optional<Network> parse_network(std::string_view text);

// True when `client` ("127.0.0.1", "::1", or "unix" for a UNIX-socket peer) lies in one of the
// networks (each as accepted by parse_network; invalid entries never match).
bool client_in_networks(std::string_view client, const std::vector<std::string>& networks);

}  // namespace mailslot::config
