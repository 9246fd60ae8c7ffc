// [log] and [metrics] (issue #7): validation with file:line and the --check-config dump.
#include <gtest/gtest.h>

#include "config_util.hpp"
#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

using test::load_error;

constexpr const char* kBase = "[server]\nlisten = [\"127.0.0.1:0\"]\n[mail]\nroot = \"/m\"\ndomains = [\"example.test\"]\n";

TEST(OperationsConfig, Defaults) {
  Config c = load_string(kBase);
  EXPECT_EQ(c.log.format, "text");
  EXPECT_EQ(c.metrics.listen, "");
}

TEST(OperationsConfig, MetricsListenParsed) {
  Config c = load_string(std::string(kBase) + "[metrics]\nlisten = \"[::1]:2425\"\n[log]\nformat = \"json\"\n");
  EXPECT_EQ(c.metrics.host, "::1");
  EXPECT_EQ(c.metrics.port, 2425);
  EXPECT_EQ(c.log.format, "json");
  const std::string dump = to_toml(c);
  EXPECT_NE(dump.find("[log]\nformat = \"json\"\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("[metrics]\nlisten = \"[::1]:2425\"\n"), std::string::npos) << dump;
  // The dump loads again to the same values.
  Config again = load_string(dump);
  EXPECT_EQ(again.metrics.port, 2425);
}

TEST(OperationsConfig, ErrorsNameKeyAndLine) {
  EXPECT_NE(load_error(std::string(kBase) + "[log]\nformat = \"xml\"\n").find("t.toml:7:10: log.format: must be"),
            std::string::npos);
  EXPECT_NE(load_error(std::string(kBase) + "[metrics]\nlisten = \"unix:/run/m\"\n").find("t.toml:7:10: metrics.listen"),
            std::string::npos);
  EXPECT_NE(load_error(std::string(kBase) + "[metrics]\nport = 1\n").find("metrics.port: unknown key"), std::string::npos);
}

}  // namespace
}  // namespace mailslot::config
