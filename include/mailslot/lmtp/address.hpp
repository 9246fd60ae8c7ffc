// RFC 5321 §4.1.2 paths: Reverse-path, Forward-path, Mailbox, Local-part, Domain.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailslot::lmtp {

// A mailbox "local@domain". local_part is decoded (quotes and backslash escapes removed);
// domain is as sent (a dot-string domain or an address literal "[192.0.2.1]"). Both may hold
// well-formed UTF-8 (RFC 6531 §3.3: UTF8-non-ascii in atext, qtextSMTP and U-labels); the parser
// refuses malformed UTF-8, so every Mailbox it makes is valid UTF-8.
struct Mailbox {
  std::string local_part;
  std::string domain;  // empty only for the special forward-path <postmaster> (RFC 5321 §4.1.1.3)

  // Canonical text, re-quoting the local part when it is not a Dot-string: "bob@example.test",
  // "\"john doe\"@example.test".
  std::string to_string() const;
  // RFC 6531 §3.3: a local part or domain with UTF-8 characters needs SMTPUTF8 on MAIL.
  bool is_utf8() const;
};

// Result of parsing "<...>" (source routes "@a,@b:" are accepted and dropped, RFC 5321 §4.1.1.3).
struct Path {
  bool null = false;  // "<>" — allowed only as reverse-path
  Mailbox mailbox;
  std::string to_string() const;  // "<local@domain>" or "<>"
};

enum class PathError {
  none,
  missing_brackets,   // no "<...>"
  bad_local_part,     // not a Dot-string or Quoted-string
  bad_domain,         // not a domain or address literal
  too_long,           // RFC 5321 §4.5.3.1: local part 64, domain 255, path 256 octets
};

// Parses a path starting at text[0] == '<'. On success returns the path and sets `consumed`
// to the number of characters used (up to and including '>').
std::optional<Path> parse_path(std::string_view text, std::size_t& consumed, PathError& error);

// True when s is a syntactically valid RFC 5321 Domain (sub-domains of letters, digits, hyphen)
// or address literal.
bool is_valid_domain(std::string_view s);

}  // namespace mailslot::lmtp
