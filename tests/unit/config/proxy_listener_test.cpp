// Issue #11: PROXY protocol per listener (server.listen { proxy_protocol, proxy_from }).
#include <gtest/gtest.h>

#include "config_util.hpp"
#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

using test::load_error;
using test::with_listen;

TEST(ProxyListener, TcpAndUnix) {
  Config c = load_string(with_listen(
      R"(listen = ["127.0.0.1:24", { address = "0.0.0.0:2424", proxy_protocol = true, proxy_from = ["10.0.0.5", "2001:db8::/32"] },
  { address = "unix:/run/lb.sock", proxy_protocol = true }])"));
  ASSERT_EQ(c.listeners.size(), 3u);
  EXPECT_FALSE(c.listeners[0].proxy_protocol);
  EXPECT_TRUE(c.listeners[1].proxy_protocol);
  ASSERT_EQ(c.listeners[1].proxy_from.size(), 2u);
  EXPECT_EQ(c.listeners[1].proxy_from[0].text, "10.0.0.5");
  EXPECT_TRUE(c.listeners[2].proxy_protocol);  // trust comes from the socket file's mode
  Config again = load_string(to_toml(c));
  ASSERT_EQ(again.listeners.size(), 3u);
  EXPECT_TRUE(again.listeners[1].proxy_protocol);
  ASSERT_EQ(again.listeners[1].proxy_from.size(), 2u);
  EXPECT_EQ(again.listeners[1].proxy_from[1].text, "2001:db8::/32");
  EXPECT_TRUE(again.listeners[2].proxy_protocol);
}

TEST(ProxyListener, Errors) {
  auto w = load_error(with_listen("listen = [{ address = \"127.0.0.1:24\", proxy_protocol = true }]"));
  EXPECT_NE(w.find("t.toml:2:"), std::string::npos) << w;
  EXPECT_NE(w.find("server.listen.proxy_protocol: needs proxy_from"), std::string::npos) << w;
  w = load_error(with_listen("listen = [{ address = \"127.0.0.1:24\", proxy_from = [\"10.0.0.0/8\"] }]"));
  EXPECT_NE(w.find("server.listen.proxy_from: needs proxy_protocol = true"), std::string::npos) << w;
  w = load_error(
      with_listen("listen = [{ address = \"unix:/x\", proxy_protocol = true, proxy_from = [\"::1\"] }]"));
  EXPECT_NE(w.find("server.listen.proxy_from: applies only to TCP"), std::string::npos) << w;
  w = load_error(with_listen(
      "listen = [{ address = \"127.0.0.1:24\", proxy_protocol = true, proxy_from = [\"10.0.0.1/8\"] }]"));
  EXPECT_NE(w.find("server.listen.proxy_from"), std::string::npos) << w;
  EXPECT_NE(w.find("host bits"), std::string::npos) << w;
  w = load_error(with_listen("listen = [{ address = \"127.0.0.1:24\", proxy_protocol = \"v2\" }]"));
  EXPECT_NE(w.find("server.listen.proxy_protocol"), std::string::npos) << w;
}

}  // namespace
}  // namespace mailslot::config
