// TOML → Config, with errors that name the file, line and key.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mailslot/config/config.hpp"

namespace mailslot::config {

// Thrown by load functions; what() lists every problem found, one per line, each
// "file:line:column: key: message".
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

Config load_file(const std::filesystem::path& path);
// Relative paths in the config (mail.root, unix: listeners) are resolved against base_dir
// (load_file passes the config file's directory).
Config load_string(std::string_view toml, std::string_view source_name = "<string>",
                   const std::filesystem::path& base_dir = {});

// Parses "127.0.0.1:24", "[::1]:24", "unix:/path". Throws std::invalid_argument with a reason.
Listener parse_listener(std::string_view address);

// "30s", "5m", "250ms", "1h" → milliseconds; plain integers are seconds.
std::chrono::milliseconds parse_duration(std::string_view text);
// "50M", "50MiB", "1G", "4096", "64K" → bytes (binary multiples).
std::uint64_t parse_size(std::string_view text);

// The effective configuration as TOML (for --check-config).
std::string to_toml(const Config& config);

}  // namespace mailslot::config
