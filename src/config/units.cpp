// Listener addresses, durations and sizes as operators write them in the config and on the
// command line.
#include <arpa/inet.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

// Splits "<digits><suffix>"; throws when there are no digits.
std::pair<std::uint64_t, std::string_view> number_and_suffix(std::string_view text, std::string_view what) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc::result_out_of_range) throw std::invalid_argument(std::string(what) + " is too large");
  if (ec != std::errc() || p == text.data()) {
    throw std::invalid_argument("\"" + std::string(text) + "\" is not a " + std::string(what));
  }
  std::string_view suffix(p, static_cast<std::size_t>(text.data() + text.size() - p));
  while (!suffix.empty() && suffix.front() == ' ') suffix.remove_prefix(1);
  return {n, suffix};
}

std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, std::string_view what) {
  if (b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b) {
    throw std::invalid_argument(std::string(what) + " is too large");
  }
  return a * b;
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text) {
  auto [n, suffix] = number_and_suffix(text, "duration (like \"30s\", \"5m\", \"250ms\")");
  std::uint64_t ms_per_unit = 0;
  if (suffix.empty() || suffix == "s") {
    ms_per_unit = 1000;
  } else if (suffix == "ms") {
    ms_per_unit = 1;
  } else if (suffix == "m" || suffix == "min") {
    ms_per_unit = 60'000;
  } else if (suffix == "h") {
    ms_per_unit = 3'600'000;
  } else if (suffix == "d") {
    ms_per_unit = 86'400'000;
  } else {
    throw std::invalid_argument("unknown duration unit \"" + std::string(suffix) + "\" (use ms, s, m, h, d)");
  }
  std::uint64_t ms = checked_mul(n, ms_per_unit, "duration");
  if (ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw std::invalid_argument("duration is too large");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::uint64_t parse_size(std::string_view text) {
  auto [n, suffix] = number_and_suffix(text, "size (like \"4096\", \"64K\", \"50M\", \"1G\")");
  std::uint64_t unit = 0;
  if (suffix.empty() || suffix == "B") {
    unit = 1;
  } else if (suffix == "K" || suffix == "KiB" || suffix == "k") {
    unit = 1ull << 10;
  } else if (suffix == "M" || suffix == "MiB") {
    unit = 1ull << 20;
  } else if (suffix == "G" || suffix == "GiB") {
    unit = 1ull << 30;
  } else {
    throw std::invalid_argument("unknown size unit \"" + std::string(suffix) + "\" (use K, M, G)");
  }
  return checked_mul(n, unit, "size");
}

Listener parse_listener(std::string_view address) {
  Listener l;
  l.address = std::string(address);
  if (address.starts_with("unix:")) {
    l.kind = Listener::Kind::unix_socket;
    std::string_view path = address.substr(5);
    if (path.empty()) throw std::invalid_argument("\"" + l.address + "\": unix: needs a socket path");
    // sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
    if (path.size() > 107) throw std::invalid_argument("\"" + l.address + "\": socket path longer than 107 bytes");
    l.path = std::string(path);
    return l;
  }
  l.kind = Listener::Kind::tcp;
  std::string_view host;
  std::string_view port;
  if (address.starts_with("[")) {  // "[::1]:24"
    auto close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      throw std::invalid_argument("\"" + l.address + "\": expected \"[ipv6]:port\"");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string_view::npos || address.find(':') != colon) {
      throw std::invalid_argument("\"" + l.address +
                                  "\": expected \"host:port\", \"[ipv6]:port\" or \"unix:/path\"");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (host.empty()) throw std::invalid_argument("\"" + l.address + "\": missing host (use 0.0.0.0 or [::] for all)");
  unsigned p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || port.empty() || p > 65535) {
    throw std::invalid_argument("\"" + l.address + "\": port must be a number from 0 to 65535");
  }
  l.host = std::string(host);
  unsigned char addr[16];
  if (::inet_pton(AF_INET, l.host.c_str(), addr) != 1 && ::inet_pton(AF_INET6, l.host.c_str(), addr) != 1) {
    throw std::invalid_argument("\"" + l.address + "\": host must be an IPv4 or IPv6 address");
  }
  l.port = static_cast<std::uint16_t>(p);
  return l;
}

}  // namespace mailslot::config
