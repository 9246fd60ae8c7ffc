// Client networks for per-listener access control ([server] listen = [{ ..., allow = [...] }]).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "mailslot/config/config.hpp"

namespace mailslot::config {

// "10.0.0.0/8", "2001:db8::/32", "::ffff:10.0.0.0/104", or a single address ("192.0.2.7", "::1").
// Host bits set below the prefix ("10.1.2.3/8") are refused: such an entry is usually a typo.
// Throws std::invalid_argument with the reason.
Network parse_network(std::string_view text);

// An IPv6 address, or an IPv4 address in IPv4-mapped form (::ffff:a.b.c.d, RFC 4291 §2.5.5.2).
using Address16 = std::array<std::uint8_t, 16>;

// Whether `address` lies in `network`. An IPv4 client reaching an IPv6 socket arrives as
// ::ffff:a.b.c.d and so matches IPv4 networks too.
bool contains(const Network& network, const Address16& address);
bool allowed(const std::vector<Network>& networks, const Address16& address);  // empty list: everyone

}  // namespace mailslot::config
