// libFuzzer target: bytes → lmtp::parse_path and lmtp::parse_command (docs/testing.md).
// Invariants, each an abort when broken:
//   - parse_path never reports more consumed characters than it was given;
//   - a parsed path, re-serialised with Path::to_string(), parses again to the same path,
//     consuming exactly the serialised text, and serialises to the same text (a fixed point);
//   - parse_command on any line: a MAIL/RCPT path it accepts round-trips the same way, and
//     parameter keywords come out upper-cased;
//   - what is accepted is well-formed UTF-8 (RFC 6531 §3.3): local part, domain, parameter values;
//   - a BDAT line parsed without error has a chunk size made of its digits (RFC 3030 §2).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mailslot/lmtp/address.hpp"
#include "mailslot/lmtp/command.hpp"
#include "mailslot/lmtp/utf8.hpp"

namespace {

using namespace mailslot::lmtp;

[[noreturn]] void violated(const char* what, std::string_view input) {
  std::fprintf(stderr, "invariant violated: %s\ninput: %.*s\n", what, static_cast<int>(input.size()),
               input.data());
  std::abort();
}

void check(bool ok, const char* what, std::string_view input) {
  if (!ok) violated(what, input);
}

bool same_path(const Path& a, const Path& b) {
  return a.null == b.null && a.mailbox.local_part == b.mailbox.local_part &&
         a.mailbox.domain == b.mailbox.domain;
}

// A path the parser accepted must survive to_string() → parse_path() unchanged.
void check_round_trip(const Path& path, std::string_view input) {
  const std::string text = path.to_string();
  std::size_t consumed = 0;
  PathError error = PathError::none;
  const std::optional<Path> again = parse_path(text, consumed, error);
  check(again.has_value(), "to_string() of a parsed path does not parse", input);
  check(error == PathError::none, "successful parse reports an error", input);
  check(consumed == text.size(), "re-parse does not consume the whole serialised path", input);
  check(same_path(path, *again), "round trip changed the mailbox", input);
  check(again->to_string() == text, "to_string() is not a fixed point", input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::size_t consumed = 0;
  PathError error = PathError::none;
  const std::optional<Path> path = parse_path(input, consumed, error);
  check(consumed <= input.size(), "consumed > size", input);
  if (path) {
    check(error == PathError::none, "successful parse reports an error", input);
    check(consumed >= 2 && input[consumed - 1] == '>', "a path ends with '>'", input);
    check_round_trip(*path, input);
    check(utf8::is_valid(path->mailbox.local_part) && utf8::is_valid(path->mailbox.domain),
          "accepted path is not well-formed UTF-8", input);
  } else {
    check(error != PathError::none, "failed parse reports no error", input);
  }

  const Command cmd = parse_command(input);
  if ((cmd.verb == Verb::mail || cmd.verb == Verb::rcpt) && cmd.error == SyntaxError::none) {
    check_round_trip(cmd.path, input);
    for (const Param& p : cmd.params) {
      for (char c : p.keyword) check(!(c >= 'a' && c <= 'z'), "parameter keyword not upper-cased", input);
      if (p.value) check(utf8::is_valid(*p.value), "accepted parameter value is not well-formed UTF-8", input);
    }
  }
  if (cmd.verb == Verb::bdat && cmd.error == SyntaxError::none) {
    const std::string_view rest = input.substr(5);
    check(!rest.empty() && rest[0] >= '0' && rest[0] <= '9', "BDAT accepted without a size", input);
    std::uint64_t n = 0;
    bool saturated = false;
    std::size_t i = 0;
    for (; i < rest.size() && rest[i] >= '0' && rest[i] <= '9'; ++i) {
      const auto d = static_cast<std::uint64_t>(rest[i] - '0');
      if (n > (~std::uint64_t{0} - d) / 10) saturated = true;
      n = saturated ? ~std::uint64_t{0} : n * 10 + d;
    }
    check(cmd.chunk_size == n, "BDAT chunk size differs from its digits", input);
    check(cmd.last == (i < rest.size()), "BDAT LAST marker misread", input);
  }
  return 0;
}
