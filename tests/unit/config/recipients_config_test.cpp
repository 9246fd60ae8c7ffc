// [mail] recipient keys and [domains.*] tables (issue #4).
#include <gtest/gtest.h>

#include "mailslot/config/load.hpp"

namespace mailslot::config {
namespace {

const std::string kHead = "[server]\nlisten = [\"127.0.0.1:2424\"]\n";

TEST(RecipientsConfig, Defaults) {
  const Config c = load_string(kHead + "[mail]\nroot = \"/m\"\ndomains = [\"a.test\"]\n");
  EXPECT_EQ(c.mail.recipient_delimiter, "");
  EXPECT_EQ(c.mail.detail_folders, "existing");
  EXPECT_TRUE(c.mail.aliases.empty());
  EXPECT_EQ(c.mail.quota, 0u);
  EXPECT_EQ(c.mail.quota_messages, 0u);
  EXPECT_FALSE(c.mail.quota_full_tempfail);
  EXPECT_TRUE(c.mail.rcpt_check_quota);
  EXPECT_TRUE(c.domains.empty());
}

TEST(RecipientsConfig, EveryKeyIsRead) {
  const Config c = load_string(kHead + R"(
[mail]
root = "/m"
domains = ["a.test"]
recipient_delimiter = "+-"
detail_folders = "create"
aliases = "aliases"
quota = "1G"
quota_messages = 5000
quota_full_tempfail = true
rcpt_check_quota = false

[domains."Virtual.TEST"]
resolver = "passwd-file"
passwd_file = "users"
mailbox = "{home}/Maildir"

[domains."sys.test"]
resolver = "system"

[domains."static.test"]
mailbox = "{domain}/{local}"
users = ["bob"]
)",
                               "<t>", "/etc/mailslot");
  EXPECT_EQ(c.mail.recipient_delimiter, "+-");
  EXPECT_EQ(c.mail.detail_folders, "create");
  EXPECT_EQ(c.mail.aliases, "/etc/mailslot/aliases");
  EXPECT_EQ(c.mail.quota, 1ull << 30);
  EXPECT_EQ(c.mail.quota_messages, 5000u);
  EXPECT_TRUE(c.mail.quota_full_tempfail);
  EXPECT_FALSE(c.mail.rcpt_check_quota);
  ASSERT_EQ(c.domains.size(), 3u);
  bool seen_virtual = false;
  for (const auto& d : c.domains) {
    if (d.name == "virtual.test") {
      seen_virtual = true;
      EXPECT_EQ(d.resolver, "passwd-file");
      EXPECT_EQ(d.passwd_file, "/etc/mailslot/users");
      EXPECT_EQ(d.mailbox, "{home}/Maildir");
    }
    if (d.name == "static.test") {
      EXPECT_EQ(d.users, std::vector<std::string>{"bob"});
    }
  }
  EXPECT_TRUE(seen_virtual);
  // --check-config prints them back.
  const std::string dumped = to_toml(c);
  for (const char* k : {"recipient_delimiter = \"+-\"", "detail_folders = \"create\"", "quota_full_tempfail = true",
                        "[domains.\"virtual.test\"]", "resolver = \"passwd-file\""})
    EXPECT_NE(dumped.find(k), std::string::npos) << k;
  EXPECT_NO_THROW(load_string(dumped));
}

TEST(RecipientsConfig, DomainsTablesAloneAreEnough) {
  const Config c = load_string(kHead + "[mail]\nroot = \"/m\"\n[domains.\"a.test\"]\nresolver = \"system\"\n");
  EXPECT_TRUE(c.mail.domains.empty());
  ASSERT_EQ(c.domains.size(), 1u);
}

TEST(RecipientsConfig, ProblemsNameTheKey) {
  const auto problems = [](const std::string& toml) -> std::string {
    try {
      load_string(toml, "c.toml");
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(problems(kHead + "[mail]\nroot=\"/m\"\ndomains=[\"a\"]\ndetail_folders=\"maybe\"\n").find("mail.detail_folders"),
            std::string::npos);
  EXPECT_NE(problems(kHead + "[mail]\nroot=\"/m\"\ndomains=[\"a\"]\nrecipient_delimiter=\"@\"\n")
                .find("mail.recipient_delimiter"),
            std::string::npos);
  EXPECT_NE(problems(kHead + "[mail]\nroot=\"/m\"\n[domains.\"a.test\"]\nresolver=\"ldap\"\n").find("domains.a.test.resolver"),
            std::string::npos);
  EXPECT_NE(problems(kHead + "[mail]\nroot=\"/m\"\n[domains.\"a.test\"]\nresolver=\"passwd-file\"\n")
                .find("domains.a.test.passwd_file: is required"),
            std::string::npos);
  EXPECT_NE(problems(kHead + "[mail]\nroot=\"/m\"\n[domains.\"a.test\"]\nbogus=1\n").find("domains.a.test.bogus: unknown key"),
            std::string::npos);
  EXPECT_NE(problems(kHead + "[mail]\nroot=\"/m\"\n").find("mail.domains"), std::string::npos);
  EXPECT_NE(problems(kHead + "[mail]\nroot=\"/m\"\n[domains.\"bad domain\"]\n").find("is not a domain name"),
            std::string::npos);
}

}  // namespace
}  // namespace mailslot::config
