// Prometheus rendering of Metrics (src/server/metrics.cpp) and activation address matching.
#include "mailslot/server/metrics.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include "mailslot/config/load.hpp"
#include "mailslot/server/activation.hpp"

namespace mailslot::server {
namespace {

TEST(Metrics, RendersCountersGaugesAndCumulativeBuckets) {
  Metrics m;
  m.connections_open = 3;
  m.sessions_in_data = 1;
  m.delivered_total = 7;
  m.delivery_seconds.observe(std::chrono::microseconds(300));  // <= 0.0005
  m.delivery_seconds.observe(std::chrono::milliseconds(30));   // <= 0.05
  m.delivery_seconds.observe(std::chrono::seconds(60));        // +Inf only
  const std::string text = m.render(true);
  EXPECT_NE(text.find("# TYPE mailslot_connections_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_up 1\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_sessions{state=\"command\"} 2\nmailslot_sessions{state=\"data\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_deliveries_total{result=\"delivered\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_delivery_duration_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_delivery_duration_seconds_bucket{le=\"0.025\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_delivery_duration_seconds_bucket{le=\"0.05\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_delivery_duration_seconds_bucket{le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_delivery_duration_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_delivery_duration_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(text.find("mailslot_delivery_duration_seconds_sum 60.030300\n"), std::string::npos);
  EXPECT_NE(m.render(false).find("mailslot_up 0\n"), std::string::npos);
  // Every counter's name ends in _total (Prometheus naming).
  for (std::size_t p = text.find("# TYPE "); p != std::string::npos; p = text.find("# TYPE ", p + 1)) {
    const std::string line = text.substr(p, text.find('\n', p) - p);
    if (line.ends_with(" counter")) {
      EXPECT_NE(line.find("_total "), std::string::npos) << line;
    }
    EXPECT_EQ(line.rfind("# TYPE mailslot_", 0), 0u) << line;
  }
}

TEST(Activation, MatchesByAddressPortZeroIsAnyPort) {
  InheritedSocket tcp{3, "lmtp", "127.0.0.1:24", AF_INET};
  InheritedSocket v6{4, "lmtp", "[::1]:24", AF_INET6};
  InheritedSocket unix_sock{5, "lmtp", "unix:/run/mailslot/lmtp", AF_UNIX};
  EXPECT_TRUE(matches(tcp, config::parse_listener("127.0.0.1:24")));
  EXPECT_TRUE(matches(tcp, config::parse_listener("127.0.0.1:0")));
  EXPECT_FALSE(matches(tcp, config::parse_listener("127.0.0.1:25")));
  EXPECT_FALSE(matches(tcp, config::parse_listener("127.0.0.2:24")));
  EXPECT_TRUE(matches(v6, config::parse_listener("[0:0::1]:24")));
  EXPECT_FALSE(matches(v6, config::parse_listener("127.0.0.1:24")));
  EXPECT_TRUE(matches(unix_sock, config::parse_listener("unix:/run/mailslot/lmtp")));
  EXPECT_TRUE(matches(unix_sock, config::parse_listener("unix:/run/mailslot/../mailslot/lmtp")));
  EXPECT_FALSE(matches(unix_sock, config::parse_listener("unix:/run/other")));
  EXPECT_FALSE(matches(unix_sock, config::parse_listener("127.0.0.1:24")));
}

}  // namespace
}  // namespace mailslot::server
