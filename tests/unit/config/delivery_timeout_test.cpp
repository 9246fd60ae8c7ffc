// limits.delivery_timeout (issue #11, docs/configuration.md): default 300 s, at least 1 s, and in the
// --check-config dump so that the dump loads back to the same value.
#include <gtest/gtest.h>

#include <string>

#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

const std::string kBase = R"(
[server]
listen = ["127.0.0.1:2424"]
[mail]
root = "/var/mail"
domains = ["example.test"]
)";

TEST(DeliveryTimeout, DefaultIsFiveMinutesBelowPostfixsTen) {
  EXPECT_EQ(load_string(kBase).timeouts.delivery, std::chrono::seconds(300));
}

TEST(DeliveryTimeout, ReadAndDumped) {
  const Config c = load_string(kBase + "[limits]\ndelivery_timeout = \"2m\"\n");
  EXPECT_EQ(c.timeouts.delivery, std::chrono::minutes(2));
  const std::string dump = to_toml(c);
  EXPECT_NE(dump.find("delivery_timeout = \"120s\""), std::string::npos) << dump;
  EXPECT_EQ(load_string(dump).timeouts.delivery, std::chrono::minutes(2));
  EXPECT_EQ(load_string(kBase + "[limits]\ndelivery_timeout = 1\n").timeouts.delivery,
            std::chrono::seconds(1));
}

TEST(DeliveryTimeout, BelowOneSecondIsRefusedWithItsLine) {
  try {
    load_string("[limits]\ndelivery_timeout = \"500ms\"\n" + kBase, "test.toml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 1u) << e.what();
    EXPECT_EQ(e.problems()[0], "test.toml:2:20: limits.delivery_timeout: must be at least 1s");
  }
}

}  // namespace
}  // namespace mailslot::config
