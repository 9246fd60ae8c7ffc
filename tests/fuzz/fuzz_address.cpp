// libFuzzer target: bytes → lmtp::parse_path and lmtp::parse_command (docs/testing.md).
// Invariants, each an abort when broken:
//   - parse_path never reports more consumed characters than it was given;
//   - a parsed path, re-serialised with Path::to_string(), parses again to the same path,
//     consuming exactly the serialised text, and serialises to the same text (a fixed point);
//   - parse_command on any line: a MAIL/RCPT path it accepts round-trips the same way, and
//     parameter keywords come out upper-cased.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mailslot/lmtp/address.hpp"
#include "mailslot/lmtp/command.hpp"

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
  } else {
    check(error != PathError::none, "failed parse reports no error", input);
  }

  const Command cmd = parse_command(input);
  if ((cmd.verb == Verb::mail || cmd.verb == Verb::rcpt) && cmd.error == SyntaxError::none) {
    check_round_trip(cmd.path, input);
    for (const Param& p : cmd.params) {
      for (char c : p.keyword) check(!(c >= 'a' && c <= 'z'), "parameter keyword not upper-cased", input);
    }
  }
  return 0;
}
