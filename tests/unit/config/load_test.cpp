#include "mailslot/config/load.hpp"

#include <gtest/gtest.h>

#include <fstream>

namespace mailslot::config {
namespace {

const char* kMinimal = R"(
[server]
listen = ["127.0.0.1:2424"]
[mail]
root = "/var/mail"
domains = ["example.test"]
)";

TEST(LoadConfig, MinimalConfigGetsDefaults) {
  Config c = load_string(kMinimal);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].host, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].port, 2424);
  EXPECT_EQ(c.limits.max_message_size, 50ull << 20);
  EXPECT_EQ(c.limits.max_recipients, 1000u);
  EXPECT_EQ(c.limits.max_command_line, 1000u);
  EXPECT_EQ(c.timeouts.command, std::chrono::minutes(5));
  EXPECT_EQ(c.mail.mailbox, "{domain}/{user}/Maildir");
  EXPECT_TRUE(c.mail.fsync);
  EXPECT_FALSE(c.mail.x_original_to);
  EXPECT_TRUE(c.extensions.chunking);
  EXPECT_TRUE(c.extensions.smtputf8);
  EXPECT_EQ(c.disk_threads, 64u);
  EXPECT_EQ(c.io_threads, 1u);
  EXPECT_FALSE(c.hostname.empty());  // gethostname()
}

TEST(LoadConfig, EveryKeyIsRead) {
  Config c = load_string(R"(
[server]
hostname = "mx.test"
listen = ["[::1]:24", "unix:/run/mailslot/lmtp"]
unix_socket_mode = "0600"
max_connections = 10
io_threads = 2
disk_threads = 4
log_level = "debug"
[limits]
max_message_size = "10M"
max_recipients = 5
max_command_line = 2048
max_data_line = 0
command_timeout = "30s"
data_timeout = "2m"
shutdown_timeout = 7
[mail]
root = "/srv/mail"
mailbox = "{domain}/{user}"
domains = ["a.test", "b.test"]
users = ["alice"]
fold_case = false
fsync = false
x_original_to = true
[lmtp]
chunking = false
smtputf8 = false
)");
  EXPECT_EQ(c.hostname, "mx.test");
  ASSERT_EQ(c.listeners.size(), 2u);
  EXPECT_EQ(c.listeners[0].host, "::1");
  EXPECT_EQ(c.listeners[1].kind, Listener::Kind::unix_socket);
  EXPECT_EQ(c.listeners[1].path, "/run/mailslot/lmtp");
  EXPECT_EQ(c.listeners[1].mode, 0600u);
  EXPECT_EQ(c.max_connections, 10u);
  EXPECT_EQ(c.io_threads, 2u);
  EXPECT_EQ(c.disk_threads, 4u);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.limits.max_message_size, 10u << 20);
  EXPECT_EQ(c.limits.max_recipients, 5u);
  EXPECT_EQ(c.limits.max_command_line, 2048u);
  EXPECT_EQ(c.limits.max_data_line, 0u);
  EXPECT_EQ(c.timeouts.command, std::chrono::seconds(30));
  EXPECT_EQ(c.timeouts.data, std::chrono::minutes(2));
  EXPECT_EQ(c.timeouts.shutdown, std::chrono::seconds(7));
  EXPECT_EQ(c.mail.root, "/srv/mail");
  EXPECT_EQ(c.mail.domains.size(), 2u);
  EXPECT_EQ(c.mail.users, std::vector<std::string>{"alice"});
  EXPECT_FALSE(c.mail.fold_case);
  EXPECT_FALSE(c.mail.fsync);
  EXPECT_TRUE(c.mail.x_original_to);
  EXPECT_FALSE(c.extensions.chunking);
  EXPECT_FALSE(c.extensions.smtputf8);
}

// Every problem is reported at once, each naming the source, line and key.
TEST(LoadConfig, ErrorsNameFileLineAndKey) {
  try {
    load_string(R"([server]
listen = ["127.0.0.1:2424"]
max_conections = 5
[limits]
max_recipients = "lots"
[mail]
root = "/var/mail"
domains = ["example.test"]
)",
                "test.toml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 2u) << e.what();
    EXPECT_EQ(e.problems()[0], "test.toml:3:1: server.max_conections: unknown key");
    EXPECT_EQ(e.problems()[1], "test.toml:5:18: limits.max_recipients: must be an integer");
  }
}

TEST(LoadConfig, SyntaxErrorNamesLine) {
  try {
    load_string("[server]\nlisten = [\"127.0.0.1:1\"\n", "bad.toml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.toml:"), std::string::npos) << e.what();
  }
}

TEST(LoadConfig, RequiredKeysAreChecked) {
  try {
    load_string("[server]\nlisten = []\n[mail]\nroot = \"/x\"\n", "t.toml");
    FAIL();
  } catch (const ConfigError& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("mail.domains"), std::string::npos) << w;
    EXPECT_NE(w.find("server.listen"), std::string::npos) << w;
  }
}

TEST(LoadConfig, RangesAreChecked) {
  auto fails = [](const std::string& extra, const std::string& key) {
    try {
      load_string(std::string(kMinimal) + extra);
    } catch (const ConfigError& e) {
      return std::string(e.what()).find(key) != std::string::npos;
    }
    return false;
  };
  EXPECT_TRUE(fails("[limits]\nmax_command_line = 100\n", "limits.max_command_line"));  // RFC minimum 512
  EXPECT_TRUE(fails("[limits]\nmax_data_line = 500\n", "limits.max_data_line"));
  EXPECT_TRUE(fails("[limits]\nmax_recipients = 0\n", "limits.max_recipients"));
  EXPECT_TRUE(fails("[limits]\ncommand_timeout = \"5 fortnights\"\n", "limits.command_timeout"));
  EXPECT_TRUE(fails("[limits]\nmax_message_size = \"12X\"\n", "limits.max_message_size"));
  EXPECT_TRUE(fails("[other]\nx = 1\n", "other: unknown key"));
  EXPECT_TRUE(fails("[limits]\ncommand_timeout = \"1000000d\"\n", "limits.command_timeout"));
}

TEST(LoadConfig, DomainsMustBeDomainNames) {
  for (const char* bad : {"example.test.", "exa mple.test", "[127.0.0.1]", "-x.test"}) {
    std::string toml = std::string("[server]\nlisten=[\"127.0.0.1:1\"]\n[mail]\nroot=\"/m\"\ndomains=[\"") + bad + "\"]\n";
    EXPECT_THROW(load_string(toml), ConfigError) << bad;
  }
}

TEST(LoadConfig, BadLogLevelAndSocketMode) {
  EXPECT_THROW(load_string("[server]\nlisten=[\"127.0.0.1:1\"]\nlog_level=\"loud\"\n[mail]\nroot=\"/m\"\ndomains=[\"a\"]\n"),
               ConfigError);
  EXPECT_THROW(load_string("[server]\nlisten=[\"127.0.0.1:1\"]\nunix_socket_mode=\"999\"\n[mail]\nroot=\"/m\"\ndomains=[\"a\"]\n"),
               ConfigError);
}

TEST(LoadConfig, RelativePathsResolveAgainstTheConfigDirectory) {
  Config c = load_string(R"(
[server]
listen = ["unix:run/lmtp"]
[mail]
root = "../mail"
domains = ["example.test"]
)",
                         "x.toml", "/etc/mailslot");
  EXPECT_EQ(c.mail.root, "/etc/mail");
  EXPECT_EQ(c.listeners[0].path, "/etc/mailslot/run/lmtp");
}

TEST(LoadConfig, LoadFileReportsMissingFile) {
  EXPECT_THROW(load_file("/nonexistent/mailslot.toml"), ConfigError);
}

TEST(LoadConfig, TheShippedConfigsLoad) {
  for (const char* name : {"dev.toml", "mailslot.toml"}) {
    auto path = std::filesystem::path(MAILSLOT_TEST_DATA_DIR) / "../../../config" / name;
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    EXPECT_NO_THROW(load_file(path)) << name;
  }
}

TEST(ParseListener, Forms) {
  auto v4 = parse_listener("0.0.0.0:24");
  EXPECT_EQ(v4.host, "0.0.0.0");
  EXPECT_EQ(v4.port, 24);
  auto v6 = parse_listener("[::]:24");
  EXPECT_EQ(v6.host, "::");
  auto u = parse_listener("unix:/run/mailslot/lmtp");
  EXPECT_EQ(u.kind, Listener::Kind::unix_socket);
  EXPECT_EQ(u.path, "/run/mailslot/lmtp");
  for (const char* bad : {"localhost:24", "127.0.0.1", "127.0.0.1:99999", "::1:24", "[::1]24", "unix:", ":24",
                          "127.0.0.1:x"}) {
    EXPECT_THROW(parse_listener(bad), std::invalid_argument) << bad;
  }
  EXPECT_THROW(parse_listener("unix:/" + std::string(200, 'x')), std::invalid_argument);
}

TEST(ParseUnits, Durations) {
  EXPECT_EQ(parse_duration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(parse_duration("30s"), std::chrono::seconds(30));
  EXPECT_EQ(parse_duration("30"), std::chrono::seconds(30));
  EXPECT_EQ(parse_duration("5m"), std::chrono::minutes(5));
  EXPECT_EQ(parse_duration("1h"), std::chrono::hours(1));
  EXPECT_THROW(parse_duration("s"), std::invalid_argument);
  EXPECT_THROW(parse_duration("5y"), std::invalid_argument);
  EXPECT_THROW(parse_duration("99999999999999999999h"), std::invalid_argument);
}

TEST(ParseUnits, Sizes) {
  EXPECT_EQ(parse_size("4096"), 4096u);
  EXPECT_EQ(parse_size("64K"), 65536u);
  EXPECT_EQ(parse_size("50M"), 50u << 20);
  EXPECT_EQ(parse_size("50MiB"), 50u << 20);
  EXPECT_EQ(parse_size("1G"), 1u << 30);
  EXPECT_THROW(parse_size("1T"), std::invalid_argument);
  EXPECT_THROW(parse_size("-1"), std::invalid_argument);
  EXPECT_THROW(parse_size("18446744073709551615G"), std::invalid_argument);
}

TEST(ToToml, RoundTrips) {
  Config c = load_string(kMinimal);
  Config again = load_string(to_toml(c));
  EXPECT_EQ(again.listeners[0].address, c.listeners[0].address);
  EXPECT_EQ(again.limits.max_message_size, c.limits.max_message_size);
  EXPECT_EQ(again.timeouts.command, c.timeouts.command);
  EXPECT_EQ(again.mail.root, c.mail.root);
  EXPECT_EQ(again.hostname, c.hostname);
  EXPECT_EQ(again.mail.x_original_to, c.mail.x_original_to);
  EXPECT_EQ(again.extensions.chunking, c.extensions.chunking);
  EXPECT_EQ(again.extensions.smtputf8, c.extensions.smtputf8);
}

TEST(LoadConfig, PerRecipientHeadersOffByDefaultSetAndDumped) {
  EXPECT_FALSE(load_string(kMinimal).mail.per_recipient_headers);
  const Config c = load_string(std::string(kMinimal) + "per_recipient_headers = true\n");
  EXPECT_TRUE(c.mail.per_recipient_headers);
  EXPECT_TRUE(load_string(to_toml(c)).mail.per_recipient_headers);
  EXPECT_THROW(load_string(std::string(kMinimal) + "per_recipient_headers = \"yes\"\n"), ConfigError);
}

}  // namespace
}  // namespace mailslot::config
