// lmtp.xforward_from networks (issue #8): CIDR parsing and client matching.
#include "mailslot/config/network.hpp"

#include <gtest/gtest.h>

#include <string>

#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

TEST(Networks, ListAcceptsAddressesPrefixesAndUnix) {
  EXPECT_NO_THROW(check_network_list({"127.0.0.0/8", "192.0.2.1", "::1", "2001:db8::/32", "unix"}));
  EXPECT_EQ(parse_network("192.0.2.1").prefix, 128u);  // stored IPv4-mapped: 96 + 32
  for (const char* bad : {"", "localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/8/8"})
    EXPECT_THROW(check_network_list({bad}), std::invalid_argument) << bad;
}

TEST(Networks, MatchesClients) {
  const std::vector<std::string> nets{"127.0.0.0/8", "192.0.2.128/25", "2001:db8::/32"};
  EXPECT_TRUE(client_in_networks("127.0.0.1", nets));
  EXPECT_TRUE(client_in_networks("192.0.2.200", nets));
  EXPECT_FALSE(client_in_networks("192.0.2.127", nets));
  EXPECT_TRUE(client_in_networks("2001:db8:1::5", nets));
  EXPECT_FALSE(client_in_networks("2001:db9::1", nets));
  EXPECT_TRUE(client_in_networks("::ffff:127.0.0.1", nets));  // IPv4-mapped
  EXPECT_FALSE(client_in_networks("unix", nets));             // only when "unix" is listed
  EXPECT_TRUE(client_in_networks("unix", {"unix"}));
  EXPECT_FALSE(client_in_networks("127.0.0.1", {"unix"}));
  EXPECT_FALSE(client_in_networks("127.0.0.1", {}));
  EXPECT_TRUE(client_in_networks("10.1.2.3", {"0.0.0.0/0"}));
  EXPECT_FALSE(client_in_networks("garbage", {"0.0.0.0/0"}));
}

TEST(Networks, ConfigKeyIsReadAndChecked) {
  const std::string base = "[server]\nlisten = [\"127.0.0.1:2424\"]\n[mail]\nroot = \"/var/mail\"\ndomains = [\"example.test\"]\n[lmtp]\n";
  Config c = load_string(base + "xforward_from = [\"unix\", \"127.0.0.0/8\"]\n");
  EXPECT_EQ(c.extensions.xforward_from, (std::vector<std::string>{"unix", "127.0.0.0/8"}));
  EXPECT_TRUE(load_string(base).extensions.xforward_from.empty());  // default: nobody
  try {
    load_string(base + "xforward_from = [\"localhost\"]\n", "t.toml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lmtp.xforward_from"), std::string::npos) << e.what();
  }
}

// IGNOREQUOTA (issue #11): the same kind of list, and a switch for authenticated clients.
TEST(Networks, IgnoreQuotaKeysAreReadAndChecked) {
  const std::string base = "[server]\nlisten = [\"127.0.0.1:2424\"]\n[mail]\nroot = \"/var/mail\"\ndomains = [\"example.test\"]\n[lmtp]\n";
  const Config c = load_string(base + "ignorequota_from = [\"unix\", \"::1\"]\nignorequota_authenticated = true\n");
  EXPECT_EQ(c.extensions.ignorequota_from, (std::vector<std::string>{"unix", "::1"}));
  EXPECT_TRUE(c.extensions.ignorequota_authenticated);
  const Config d = load_string(base);  // defaults: nobody
  EXPECT_TRUE(d.extensions.ignorequota_from.empty());
  EXPECT_FALSE(d.extensions.ignorequota_authenticated);
  try {
    load_string(base + "ignorequota_from = [\"10.0.0.0/33\"]\n", "t.toml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("lmtp.ignorequota_from"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mailslot::config
