// Per-listener settings (issue #5): `listen` entries written as tables, and CIDR matching.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

#include "config_util.hpp"
#include "mailslot/config/load.hpp"
#include "mailslot/config/network.hpp"

namespace mailslot::config {
namespace {

using test::load_error;
using test::with_listen;

Address16 addr(const char* text) {
  Address16 a{};
  in_addr v4{};
  if (::inet_pton(AF_INET, text, &v4) == 1) {
    a[10] = a[11] = 0xff;
    std::memcpy(a.data() + 12, &v4, 4);
  } else {
    EXPECT_EQ(::inet_pton(AF_INET6, text, a.data()), 1) << text;
  }
  return a;
}

TEST(Listeners, StringsAndTablesMix) {
  Config c = load_string(with_listen(R"(listen = ["127.0.0.1:2424",
  { address = "unix:/run/mailslot/lmtp", mode = "0600", owner = "postfix", group = "mail" },
  { address = "[::]:24", allow = ["10.0.0.0/8", "2001:db8::/32"] }]
unix_socket_mode = "0666")"));
  ASSERT_EQ(c.listeners.size(), 3u);
  EXPECT_EQ(c.listeners[0].port, 2424);
  EXPECT_TRUE(c.listeners[0].allow.empty());
  EXPECT_EQ(c.listeners[1].kind, Listener::Kind::unix_socket);
  EXPECT_EQ(c.listeners[1].path, "/run/mailslot/lmtp");
  EXPECT_EQ(c.listeners[1].mode, 0600u);  // its own mode wins over unix_socket_mode
  EXPECT_EQ(c.listeners[1].owner, "postfix");
  EXPECT_EQ(c.listeners[1].group, "mail");
  EXPECT_EQ(c.listeners[2].host, "::");
  ASSERT_EQ(c.listeners[2].allow.size(), 2u);
  EXPECT_EQ(c.listeners[2].allow[0].text, "10.0.0.0/8");
}

TEST(Listeners, ArrayOfTablesForm) {
  Config c = load_string(R"([[server.listen]]
address = "unix:/run/lmtp"
mode = "0660"
[[server.listen]]
address = "127.0.0.1:24"
allow = ["127.0.0.0/8"]
[mail]
root = "/m"
domains = ["a.test"]
)");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].mode, 0660u);
  EXPECT_EQ(c.listeners[1].allow.size(), 1u);
}

TEST(Listeners, UnixSocketModeStillAppliesToUntabledEntries) {
  Config c = load_string(with_listen("listen = [\"unix:/a\", { address = \"unix:/b\" }]\nunix_socket_mode = \"0600\""));
  EXPECT_EQ(c.listeners[0].mode, 0600u);
  EXPECT_EQ(c.listeners[1].mode, 0600u);
}

TEST(Listeners, ErrorsNameFileLineAndKey) {
  auto w = load_error(with_listen("listen = [{ address = \"127.0.0.1:24\", allow = [\"10.0.0.1/8\"] }]"));
  EXPECT_NE(w.find("t.toml:2:"), std::string::npos) << w;
  EXPECT_NE(w.find("server.listen.allow"), std::string::npos) << w;
  EXPECT_NE(w.find("host bits"), std::string::npos) << w;
  w = load_error(with_listen("listen = [{ address = \"127.0.0.1:24\", mode = \"0600\" }]"));
  EXPECT_NE(w.find("server.listen.mode: applies only to unix: listeners"), std::string::npos) << w;
  w = load_error(with_listen("listen = [{ address = \"unix:/x\", allow = [\"::1\"] }]"));
  EXPECT_NE(w.find("server.listen.allow: applies only to TCP"), std::string::npos) << w;
  w = load_error(with_listen("listen = [{ mode = \"0600\" }]"));
  EXPECT_NE(w.find("server.listen.address: is required"), std::string::npos) << w;
  w = load_error(with_listen("listen = [{ address = \"unix:/x\", colour = \"red\" }]"));
  EXPECT_NE(w.find("server.listen.colour: unknown key"), std::string::npos) << w;
  w = load_error(with_listen("listen = [{ address = \"unix:/x\", mode = \"rw\" }]"));
  EXPECT_NE(w.find("server.listen.mode: must be an octal mode"), std::string::npos) << w;
  w = load_error(with_listen("listen = [42]"));
  EXPECT_NE(w.find("server.listen"), std::string::npos) << w;
}

TEST(Listeners, DumpRoundTrips) {
  Config c = load_string(with_listen(
      "listen = [\"127.0.0.1:1\", { address = \"unix:/s\", mode = \"0600\", owner = \"u\" },"
      " { address = \"[::1]:2\", allow = [\"::1\", \"127.0.0.0/8\"] }]"));
  Config again = load_string(to_toml(c));
  ASSERT_EQ(again.listeners.size(), 3u);
  EXPECT_EQ(again.listeners[1].mode, 0600u);
  EXPECT_EQ(again.listeners[1].owner, "u");
  ASSERT_EQ(again.listeners[2].allow.size(), 2u);
  EXPECT_EQ(again.listeners[2].allow[1].text, "127.0.0.0/8");
}

TEST(Network, Ipv4Prefixes) {
  const Network n = parse_network("10.0.0.0/8");
  EXPECT_EQ(n.prefix, 104u);
  EXPECT_TRUE(contains(n, addr("10.255.1.2")));
  EXPECT_FALSE(contains(n, addr("11.0.0.1")));
  EXPECT_FALSE(contains(n, addr("127.0.0.1")));
  EXPECT_TRUE(contains(parse_network("192.168.4.0/22"), addr("192.168.7.255")));
  EXPECT_FALSE(contains(parse_network("192.168.4.0/22"), addr("192.168.8.0")));
  EXPECT_TRUE(contains(parse_network("192.0.2.7"), addr("192.0.2.7")));
  EXPECT_FALSE(contains(parse_network("192.0.2.7"), addr("192.0.2.6")));
  EXPECT_TRUE(contains(parse_network("0.0.0.0/0"), addr("203.0.113.9")));
  EXPECT_FALSE(contains(parse_network("0.0.0.0/0"), addr("2001:db8::1")));  // IPv4 only
}

TEST(Network, Ipv6AndMapped) {
  EXPECT_TRUE(contains(parse_network("2001:db8::/32"), addr("2001:db8:ffff::1")));
  EXPECT_FALSE(contains(parse_network("2001:db8::/32"), addr("2001:db9::1")));
  EXPECT_TRUE(contains(parse_network("::1"), addr("::1")));
  EXPECT_TRUE(contains(parse_network("::/0"), addr("10.0.0.1")));  // everything, mapped IPv4 too
  // An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d and matches IPv4 networks.
  EXPECT_TRUE(contains(parse_network("127.0.0.0/8"), addr("::ffff:127.0.0.1")));
  EXPECT_TRUE(contains(parse_network("::ffff:10.0.0.0/104"), addr("10.1.1.1")));
}

TEST(Network, RejectsMalformed) {
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "host.example/8", "10.0.0.1/8",
                          "2001:db8::1/32", "10.0.0.0/-1", "10.0.0.0/8x"}) {
    EXPECT_THROW(parse_network(bad), std::invalid_argument) << bad;
  }
}

TEST(Network, EmptyListAllowsEveryone) {
  EXPECT_TRUE(allowed({}, addr("203.0.113.1")));
  const std::vector<Network> nets{parse_network("10.0.0.0/8"), parse_network("2001:db8::/32")};
  EXPECT_TRUE(allowed(nets, addr("2001:db8::5")));
  EXPECT_FALSE(allowed(nets, addr("127.0.0.1")));
}

}  // namespace
}  // namespace mailslot::config
