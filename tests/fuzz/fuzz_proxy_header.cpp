// libFuzzer target: bytes → lmtp::parse_proxy_header (PROXY protocol v1/v2, issue #11).
// Invariants, each an abort when broken:
//   - `done` consumes at least one byte and no more than it was given, at most 107 for v1 and
//     16 + 65535 for v2; `incomplete` is never said of more than the longest header;
//   - the header alone parses to the same result (what follows it is not looked at), and every
//     shorter prefix of it is `incomplete`: a reader that takes only what it is told never eats
//     the client's first bytes;
//   - a proxied header names a source address that parses as an IP address.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mailslot/lmtp/proxy_header.hpp"

namespace {

using namespace mailslot::lmtp;
using Status = ProxyParse::Status;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const ProxyParse p = parse_proxy_header(input);
  if (p.status == Status::incomplete) {
    check(input.size() < kProxyMax, "incomplete beyond the longest header");
    return 0;
  }
  if (p.status == Status::invalid) {
    check(!p.error.empty(), "invalid without a reason");
    return 0;
  }
  check(p.consumed > 0 && p.consumed <= input.size(), "consumed out of range");
  check(p.header.version == 1 || p.header.version == 2, "unknown version");
  check(p.header.version != 1 || p.consumed <= kProxyV1Max, "v1 longer than 107 bytes");
  check(p.consumed <= kProxyMax, "v2 longer than 16 + 65535 bytes");
  const ProxyParse alone = parse_proxy_header(input.substr(0, p.consumed));
  check(alone.status == Status::done && alone.consumed == p.consumed &&
            alone.header.source == p.header.source && alone.header.proxied == p.header.proxied,
        "the header alone parses differently");
  // Every shorter prefix is incomplete (sampled for long v2 headers).
  const std::size_t step = p.consumed > 512 ? p.consumed / 64 : 1;
  for (std::size_t n = 0; n < p.consumed; n += step) {
    check(parse_proxy_header(input.substr(0, n)).status == Status::incomplete,
          "a prefix of the header is not incomplete");
  }
  check(parse_proxy_header(input.substr(0, p.consumed - 1)).status == Status::incomplete,
        "the header less one byte is not incomplete");
  if (p.header.proxied) {
    unsigned char buf[16];
    const std::string s = p.header.source;
    check(::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1,
          "proxied source is not an IP address");
  } else {
    check(p.header.source.empty(), "an unproxied header names a source");
  }
  return 0;
}
