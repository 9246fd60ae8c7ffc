// [dsn] (issue #11): success-DSN submission, validation with file:line, the --check-config dump.
#include <gtest/gtest.h>

#include "config_util.hpp"
#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

using test::load_error;

constexpr const char* kBase =
    "[server]\nlisten = [\"127.0.0.1:0\"]\n[mail]\nroot = \"/m\"\ndomains = [\"example.test\"]\n";

TEST(DsnConfig, OffByDefaultWithTheSpoolBelowTheMailRoot) {
  Config c = load_string(kBase);
  EXPECT_FALSE(c.dsn.enabled());
  EXPECT_EQ(c.dsn.spool, "/m/.mailslot-dsn");
  EXPECT_EQ(c.dsn.retry, std::chrono::minutes(1));
  EXPECT_EQ(c.dsn.retry_max, std::chrono::hours(1));
  EXPECT_EQ(c.dsn.max_age, std::chrono::hours(24 * 5));
}

TEST(DsnConfig, SendmailOrSmtpAndTheDumpLoadsAgain) {
  Config c = load_string(
      std::string(kBase) +
      "[dsn]\nsendmail = [\"/usr/sbin/sendmail\", \"-i\", \"-f\", \"<>\"]\nspool = \"/var/spool/d\"\n"
      "retry = \"30s\"\nretry_max = \"10m\"\nmax_age = \"2d\"\n");
  EXPECT_TRUE(c.dsn.enabled());
  EXPECT_EQ(c.dsn.sendmail, (std::vector<std::string>{"/usr/sbin/sendmail", "-i", "-f", "<>"}));
  EXPECT_EQ(c.dsn.spool, "/var/spool/d");
  EXPECT_EQ(c.dsn.max_age, std::chrono::hours(48));
  Config again = load_string(to_toml(c));
  EXPECT_EQ(again.dsn.sendmail, c.dsn.sendmail);
  EXPECT_EQ(again.dsn.retry, std::chrono::seconds(30));
  EXPECT_EQ(again.dsn.retry_max, std::chrono::minutes(10));

  c = load_string(std::string(kBase) + "[dsn]\nsmtp = \"[::1]:25\"\n");
  EXPECT_TRUE(c.dsn.enabled());
  EXPECT_EQ(c.dsn.smtp_host, "::1");
  EXPECT_EQ(c.dsn.smtp_port, 25);
}

TEST(DsnConfig, ErrorsNameKeyAndLine) {
  EXPECT_NE(load_error(std::string(kBase) + "[dsn]\nsendmail = [\"/s\"]\nsmtp = \"127.0.0.1:25\"\n")
                .find("t.toml:8:8: dsn.smtp: set dsn.sendmail or dsn.smtp, not both"),
            std::string::npos);
  EXPECT_NE(load_error(std::string(kBase) + "[dsn]\nsmtp = \"192.0.2.1:25\"\n")
                .find("dsn.smtp: must be a loopback address"),
            std::string::npos);
  EXPECT_NE(load_error(std::string(kBase) + "[dsn]\nsendmail = [\"sendmail\"]\n")
                .find("dsn.sendmail: the command must be an absolute path"),
            std::string::npos);
  EXPECT_NE(load_error(std::string(kBase) + "[dsn]\nretry = \"2h\"\n")
                .find("dsn.retry_max: must not be less than dsn.retry"),
            std::string::npos);
  EXPECT_NE(load_error(std::string(kBase) + "[dsn]\ncommand = \"x\"\n").find("dsn.command: unknown key"),
            std::string::npos);
}

}  // namespace
}  // namespace mailslot::config
