// [tls], [auth] and the per-listener starttls/tls/auth keys (issue #5 part A).
#include <gtest/gtest.h>

#include "config_util.hpp"
#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

using test::load_error;

std::string doc(const std::string& listen, const std::string& more = "") {
  return "[server]\nlisten = " + listen + "\n[mail]\nroot = \"/var/mail\"\ndomains = [\"example.test\"]\n" + more;
}

TEST(TlsAuthConfig, ListenerPoliciesAndSections) {
  Config c = load_string(doc(R"([{ address = "127.0.0.1:24", starttls = "required", auth = "optional" },
    { address = "127.0.0.1:2424", tls = true }, "unix:/run/x"])",
                             "[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nhandshake_timeout = \"3s\"\n"
                             "[auth]\nmechanisms = [\"scram-sha-256\"]\nmax_failures = 5\n"
                             "[auth.sasl_options]\nsasldb_path = \"/etc/sasldb2\"\n"),
                         "t.toml", "/etc/mailslot");
  ASSERT_EQ(c.listeners.size(), 3u);
  EXPECT_EQ(c.listeners[0].starttls, Listener::TlsPolicy::required);
  EXPECT_EQ(c.listeners[0].auth, Listener::AuthPolicy::optional);
  EXPECT_TRUE(c.listeners[1].tls);
  EXPECT_EQ(c.listeners[2].starttls, Listener::TlsPolicy::off);
  EXPECT_EQ(c.tls.cert, "/etc/mailslot/c.pem");
  EXPECT_EQ(c.tls.handshake_timeout, std::chrono::seconds(3));
  EXPECT_EQ(c.auth.mechanisms, std::vector<std::string>{"SCRAM-SHA-256"});
  EXPECT_EQ(c.auth.max_failures, 5u);
  ASSERT_EQ(c.auth.sasl_options.size(), 1u);
  EXPECT_EQ(c.auth.sasl_options[0].second, "/etc/sasldb2");
  const std::string dumped = to_toml(c);
  EXPECT_NE(dumped.find(R"(starttls = "required", auth = "optional")"), std::string::npos) << dumped;
  EXPECT_NE(dumped.find("tls = true"), std::string::npos) << dumped;
}

TEST(TlsAuthConfig, BadValuesNameTheKey) {
  EXPECT_NE(load_error(doc(R"([{ address = "127.0.0.1:24", starttls = "maybe" }])")).find("server.listen.starttls"),
            std::string::npos);
  EXPECT_NE(load_error(doc(R"([{ address = "127.0.0.1:24", auth = "yes" }])")).find("server.listen.auth"),
            std::string::npos);
  EXPECT_NE(load_error(doc(R"([{ address = "127.0.0.1:24", tls = true, starttls = "offered" }])"))
                .find("makes no sense with tls = true"),
            std::string::npos);
  EXPECT_NE(load_error(doc(R"(["127.0.0.1:24"])", "[tls]\ncert = \"c.pem\"\n")).find("cert and key go together"),
            std::string::npos);
  EXPECT_NE(load_error(doc(R"(["127.0.0.1:24"])", "[tls]\nmin_version = \"TLSv1.1\"\n")).find("tls.min_version"),
            std::string::npos);
}

}  // namespace
}  // namespace mailslot::config
