#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "mailslot/delivery/passwd_file.hpp"
#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using testing::TempDir;
using testing::write_file;
using Status = Resolution::Status;

AddressParts parts(std::string user, std::string domain, std::string detail = "") {
  AddressParts a;
  a.user = std::move(user);
  a.domain = std::move(domain);
  a.has_detail = !detail.empty();
  a.detail = std::move(detail);
  a.delimiter = '+';
  return a;
}

TEST(ParsePasswdFile, DovecotFieldsCommentsAndExtras) {
  std::vector<std::string> problems;
  const auto t = parse_passwd_file(
      "# users\n"
      "\n"
      "bob@example.test:{PLAIN}x:1001:1002::/home/bob::userdb_mail=maildir:~/Maildir:LAYOUT=fs "
      "userdb_quota_rule=*:storage=1G userdb_quota_rule2=*:messages=100\n"
      "Alice::::::\r\n"
      "carol:x:::::\n"
      "dave::2000:2000::/srv/dave::mail=/srv/mail/%d/%n quota_rule=*:bytes=5000 nopassword\n",
      "users", true, problems);
  ASSERT_TRUE(problems.empty()) << problems.front();
  ASSERT_EQ(t.size(), 4u);
  const auto& bob = t.at("bob@example.test");
  EXPECT_EQ(bob.uid, 1001);
  EXPECT_EQ(bob.gid, 1002);
  EXPECT_EQ(bob.home, "/home/bob");
  EXPECT_EQ(bob.mail, "~/Maildir");
  ASSERT_TRUE(bob.quota);
  EXPECT_EQ(bob.quota->bytes, 1024ull * 1024 * 1024);
  EXPECT_EQ(bob.quota->messages, 100u);
  EXPECT_EQ(t.at("alice").uid, -1);  // folded; empty uid: the daemon's own
  EXPECT_EQ(t.at("dave").mail, "/srv/mail/%d/%n");
  EXPECT_EQ(t.at("dave").quota->bytes, 5000u);
}

TEST(ParsePasswdFile, ErrorsNameFileAndLine) {
  std::vector<std::string> problems;
  parse_passwd_file(
      "ok:x:1:1::/h\n"
      "bad:x:abc:1::/h\n"
      "rel:x:1:1::home\n"
      "mbox::1:1::/h::userdb_mail=mbox:~/mail\n"
      "q::1:1::/h::userdb_quota_rule=*:storage=lots\n"
      "ok:x:2:2::/h\n"
      "var::1:1::/h::mail=/m/%Lu\n",
      "/etc/mailslot/users", true, problems);
  ASSERT_EQ(problems.size(), 6u);
  EXPECT_EQ(problems[0].rfind("/etc/mailslot/users:2: ", 0), 0u) << problems[0];
  EXPECT_EQ(problems[1].rfind("/etc/mailslot/users:3: ", 0), 0u) << problems[1];
  EXPECT_NE(problems[2].find(":4: mail location format 'mbox'"), std::string::npos) << problems[2];
  EXPECT_EQ(problems[3].rfind("/etc/mailslot/users:5: ", 0), 0u) << problems[3];
  EXPECT_NE(problems[4].find(":6: user 'ok' already defined on line 1"), std::string::npos) << problems[4];
  EXPECT_NE(problems[5].find(":7: "), std::string::npos) << problems[5];
}

TEST(QuotaRule, Units) {
  QuotaLimits q;
  std::string err;
  ASSERT_TRUE(apply_quota_rule("*:storage=100", q, err));
  EXPECT_EQ(q.bytes, 100u * 1024);  // Dovecot: KiB without a suffix
  ASSERT_TRUE(apply_quota_rule("*:storage=10M", q, err));
  EXPECT_EQ(q.bytes, 10u * 1024 * 1024);
  ASSERT_TRUE(apply_quota_rule("*:storage=7b:messages=3", q, err));
  EXPECT_EQ(q.bytes, 7u);
  EXPECT_EQ(q.messages, 3u);
  ASSERT_TRUE(apply_quota_rule("Trash:storage=+100M", q, err));  // other mailboxes: ignored
  EXPECT_EQ(q.bytes, 7u);
  EXPECT_FALSE(apply_quota_rule("*:storage=10%", q, err));
  EXPECT_FALSE(apply_quota_rule("storage", q, err));
}

TEST(ExpandMailLocation, Variables) {
  const auto a = parts("bob", "example.test");
  EXPECT_EQ(*expand_mail_location("~/Maildir", a, "/home/bob"), "/home/bob/Maildir");
  EXPECT_EQ(*expand_mail_location("/v/%d/%n/%u/%%", a, ""), "/v/example.test/bob/bob@example.test/%");
  EXPECT_EQ(*expand_mail_location("%h/M", a, "/h"), "/h/M");
  EXPECT_FALSE(expand_mail_location("~/Maildir", a, ""));
}

class PasswdFileUserDbTest : public ::testing::Test {
 protected:
  PasswdFileOptions options() {
    PasswdFileOptions o;
    o.file = dir.path() / "users";
    o.root = dir.path() / "mail";
    return o;
  }
  TempDir dir;
};

TEST_F(PasswdFileUserDbTest, ResolvesHomeMailAndRelativeLocations) {
  write_file(dir.path() / "users",
             "bob@example.test::1001:1001::/home/bob\n"
             "carol::1002:1002::/home/carol::userdb_mail=maildir:%d/%n/Maildir userdb_quota_rule=*:messages=5\n"
             "dave::::::\n");
  const PasswdFileUserDb db(options());
  const Resolution bob = db.lookup(parts("bob", "example.test", "x"));
  ASSERT_EQ(bob.status, Status::ok) << bob.reason;
  EXPECT_EQ(bob.mailbox->maildir, "/home/bob/Maildir");
  EXPECT_EQ(bob.mailbox->base, "/home/bob");  // walked from the home, not mail.root
  EXPECT_EQ(bob.mailbox->uid, 1001);
  EXPECT_EQ(db.lookup(parts("bob", "other.test")).status, Status::unknown_user);  // key has a domain

  const Resolution carol = db.lookup(parts("carol", "other.test"));
  ASSERT_EQ(carol.status, Status::ok) << carol.reason;
  EXPECT_EQ(carol.mailbox->maildir, dir.path() / "mail/other.test/carol/Maildir");
  EXPECT_TRUE(carol.mailbox->base.empty());
  EXPECT_EQ(carol.mailbox->quota.messages, 5u);
  // No home and the default template needs one: a temporary failure, not a guess.
  EXPECT_EQ(db.lookup(parts("dave", "x.test")).status, Status::temporary);
  EXPECT_EQ(db.lookup(parts("erin", "x.test")).status, Status::unknown_user);
  EXPECT_EQ(db.lookup(parts("../bob", "x.test")).status, Status::bad_mailbox);
}

TEST_F(PasswdFileUserDbTest, LocationWithDotDotIsRefused) {
  write_file(dir.path() / "users", "eve:::::/home/eve::userdb_mail=maildir:%d/../../%n\n");
  const PasswdFileUserDb db(options());
  EXPECT_EQ(db.lookup(parts("eve", "x.test")).status, Status::bad_mailbox);
}

TEST_F(PasswdFileUserDbTest, StartUpErrorNamesFileAndLine) {
  write_file(dir.path() / "users", "ok::1:1::/h\nbad::x:1::/h\n");
  try {
    PasswdFileUserDb db(options());
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find((dir.path() / "users").string() + ":2: "), std::string::npos) << e.what();
  }
}

TEST_F(PasswdFileUserDbTest, ReloadsOnChangeAndKeepsOldTableOnSyntaxError) {
  const auto file = dir.path() / "users";
  write_file(file, "bob::1:1::/home/bob\n");
  const PasswdFileUserDb db(options());
  EXPECT_TRUE(db.refresh(false).empty());  // unchanged: nothing read
  EXPECT_EQ(db.lookup(parts("carol", "x.test")).status, Status::unknown_user);

  write_file(file, "bob::1:1::/home/bob\ncarol::2:2::/home/carol\n");
  std::filesystem::last_write_time(file, std::filesystem::last_write_time(file) + std::chrono::seconds(2));
  EXPECT_TRUE(db.refresh(false).empty());
  EXPECT_EQ(db.lookup(parts("carol", "x.test")).status, Status::ok);

  write_file(file, "bob::1:1::/home/bob\ncarol::oops:2::/home/carol\n");
  std::filesystem::last_write_time(file, std::filesystem::last_write_time(file) + std::chrono::seconds(4));
  const auto problems = db.refresh(false);
  ASSERT_FALSE(problems.empty());
  EXPECT_NE(problems.front().find(file.string() + ":2: "), std::string::npos) << problems.front();
  EXPECT_EQ(db.lookup(parts("carol", "x.test")).status, Status::ok);  // the old table stays
  EXPECT_TRUE(db.refresh(false).empty());                              // reported once per change
  EXPECT_FALSE(db.refresh(true).empty());                              // SIGHUP re-reads and re-reports

  std::filesystem::remove(file);
  EXPECT_FALSE(db.refresh(false).empty());
  EXPECT_EQ(db.lookup(parts("bob", "x.test")).status, Status::ok);
}

}  // namespace
}  // namespace mailslot::delivery
