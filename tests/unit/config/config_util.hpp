// Shared by the config unit tests: load a TOML text and return the ConfigError's message.
#pragma once

#include <string>

#include "mailslot/config/load.hpp"

namespace mailslot::config::test {

// "" when `toml` loads; otherwise the error, which names file:line (t.toml) and the key.
inline std::string load_error(const std::string& toml) {
  try {
    load_string(toml, "t.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// A config whose [server] section is `server` (a listen line and more), with a minimal [mail].
inline std::string with_listen(const std::string& server) {
  return "[server]\n" + server + "\n[mail]\nroot = \"/var/mail\"\ndomains = [\"example.test\"]\n";
}

}  // namespace mailslot::config::test
