#include <gtest/gtest.h>

#include <pwd.h>

#include "mailslot/delivery/passwd_file.hpp"
#include "mailslot/delivery/recipient_router.hpp"
#include "mailslot/delivery/user_mailbox.hpp"
#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using testing::TempDir;
using testing::write_file;
using Status = Resolution::Status;

lmtp::Mailbox addr(std::string local, std::string domain) { return lmtp::Mailbox{std::move(local), std::move(domain)}; }

class RouterTest : public ::testing::Test {
 protected:
  std::shared_ptr<const UserDb> static_db(std::vector<std::string> users = {}) {
    StaticRecipientsOptions o;
    o.root = dir.path() / "mail";
    o.users = std::move(users);
    return std::make_shared<StaticRecipients>(o);
  }
  RouterOptions options() {
    RouterOptions o;
    o.delimiters = "+-";
    o.domains["Example.TEST"] = static_db({"alice", "bob", "carol"});
    o.postmaster = static_db();
    o.default_domain = "example.test";
    return o;
  }
  std::shared_ptr<const AliasFile> aliases(const std::string& text) {
    write_file(dir.path() / "aliases", text);
    return std::make_shared<AliasFile>(dir.path() / "aliases");
  }
  TempDir dir;
};

TEST_F(RouterTest, DetailBecomesFolderAndAddressKeepsIt) {
  auto o = options();
  o.detail_folders = DetailFolders::create;
  const RecipientRouter r(o);
  const Resolution res = r.resolve(addr("Bob+Lists", "EXAMPLE.test"));
  ASSERT_EQ(res.status, Status::ok) << res.reason;
  EXPECT_EQ(res.mailbox->address, "bob+Lists@example.test");
  EXPECT_EQ(res.mailbox->maildir, dir.path() / "mail/example.test/bob/Maildir");
  EXPECT_EQ(res.mailbox->folder, "Lists");
  EXPECT_EQ(res.mailbox->folder_policy, DetailFolders::create);
  EXPECT_EQ(r.resolve(addr("bob-x", "example.test")).mailbox->folder, "x");  // a second delimiter
  // Path escapes through the detail stay inside the Maildir.
  const Resolution esc = r.resolve(addr("bob+../../../etc", "example.test"));
  ASSERT_EQ(esc.status, Status::ok);
  EXPECT_EQ(esc.mailbox->folder.find('/'), std::string::npos);
  EXPECT_EQ(esc.mailbox->folder.find(".."), std::string::npos);
  EXPECT_EQ(r.resolve(addr("bob+..", "example.test")).mailbox->folder, "");  // INBOX
}

TEST_F(RouterTest, DetailOffMeansInbox) {
  auto o = options();
  o.detail_folders = DetailFolders::off;
  const Resolution res = RecipientRouter(o).resolve(addr("bob+lists", "example.test"));
  ASSERT_EQ(res.status, Status::ok);
  EXPECT_EQ(res.mailbox->folder, "");
  EXPECT_EQ(res.mailbox->folder_policy, DetailFolders::off);
}

TEST_F(RouterTest, PostmasterAlwaysAcceptedEvenWhenNotAUser) {
  const RecipientRouter r(options());
  for (const char* l : {"postmaster", "PostMaster"}) {
    const Resolution res = r.resolve(addr(l, "example.test"));
    ASSERT_EQ(res.status, Status::ok) << res.reason;
    EXPECT_EQ(res.mailbox->maildir, dir.path() / "mail/example.test/postmaster/Maildir");
  }
  ASSERT_EQ(r.resolve(addr("postmaster", "")).status, Status::ok);  // RFC 5321 §4.1.1.3
  EXPECT_EQ(r.resolve(addr("postmaster", "other.test")).status, Status::unknown_domain);
  EXPECT_EQ(r.resolve(addr("dave", "example.test")).status, Status::unknown_user);
}

TEST_F(RouterTest, AliasesExpandToSeveralMailboxesInOneResolution) {
  auto o = options();
  o.aliases = aliases("sales: alice, bob\npostmaster: carol\nall: sales, carol@example.test\n");
  const RecipientRouter r(o);
  const Resolution sales = r.resolve(addr("Sales", "example.test"));
  ASSERT_EQ(sales.status, Status::ok) << sales.reason;
  EXPECT_EQ(sales.mailbox->address, "sales@example.test");
  ASSERT_EQ(sales.mailbox->targets.size(), 2u);
  EXPECT_EQ(sales.mailbox->targets[0]->maildir, dir.path() / "mail/example.test/alice/Maildir");
  EXPECT_EQ(sales.mailbox->targets[1]->maildir, dir.path() / "mail/example.test/bob/Maildir");
  // Nested aliases are flattened; a single target is the mailbox itself under the alias's address.
  EXPECT_EQ(r.resolve(addr("all", "example.test")).mailbox->targets.size(), 3u);
  const Resolution pm = r.resolve(addr("postmaster", "example.test"));
  ASSERT_EQ(pm.status, Status::ok);
  EXPECT_TRUE(pm.mailbox->targets.empty());
  EXPECT_EQ(pm.mailbox->address, "postmaster@example.test");
  EXPECT_EQ(pm.mailbox->maildir, dir.path() / "mail/example.test/carol/Maildir");
}

TEST_F(RouterTest, AliasKeepsDetailAndRefusesEscapes) {
  auto o = options();
  o.detail_folders = DetailFolders::existing;
  o.aliases = aliases("sales: alice\nevil: \"../../etc\", \"a/b\"\nloop1: loop2\nloop2: loop1\nout: bob@elsewhere.test\n");
  const RecipientRouter r(o);
  const Resolution res = r.resolve(addr("sales+q4", "example.test"));
  ASSERT_EQ(res.status, Status::ok);
  EXPECT_EQ(res.mailbox->folder, "q4");
  EXPECT_EQ(res.mailbox->maildir, dir.path() / "mail/example.test/alice/Maildir");
  const Resolution evil = r.resolve(addr("evil", "example.test"));
  EXPECT_NE(evil.status, Status::ok);
  EXPECT_FALSE(evil.mailbox);
  EXPECT_EQ(r.resolve(addr("loop1", "example.test")).status, Status::temporary);
  const Resolution out = r.resolve(addr("out", "example.test"));
  EXPECT_EQ(out.status, Status::unknown_domain);  // an MDA does not forward
  EXPECT_NE(out.reason.find("alias target bob@elsewhere.test"), std::string::npos) << out.reason;
}

TEST_F(RouterTest, DefaultQuotaOnlyForUsersWithoutTheirOwn) {
  write_file(dir.path() / "users", "bob:::::/home/bob::userdb_quota_rule=*:messages=7\nann:::::/home/ann\n");
  auto o = options();
  PasswdFileOptions p;
  p.file = dir.path() / "users";
  p.root = dir.path() / "mail";
  o.domains["pw.test"] = std::make_shared<PasswdFileUserDb>(p);
  o.default_quota = {1000, 0};
  const RecipientRouter r(o);
  EXPECT_EQ(r.resolve(addr("bob", "pw.test")).mailbox->quota.messages, 7u);
  EXPECT_EQ(r.resolve(addr("bob", "pw.test")).mailbox->quota.bytes, 0u);
  EXPECT_EQ(r.resolve(addr("ann", "pw.test")).mailbox->quota.bytes, 1000u);
}

TEST_F(RouterTest, RefreshReloadsAliasesAndGateIsRateLimited) {
  auto o = options();
  o.aliases = aliases("sales: alice\n");
  const RecipientRouter r(o);
  EXPECT_TRUE(r.refresh_due());
  EXPECT_FALSE(r.refresh_due());  // at most once a second
  write_file(dir.path() / "aliases", "sales: bob\n");
  std::filesystem::last_write_time(dir.path() / "aliases",
                                   std::filesystem::last_write_time(dir.path() / "aliases") + std::chrono::seconds(2));
  EXPECT_TRUE(r.refresh(false).empty());
  EXPECT_EQ(r.resolve(addr("sales", "example.test")).mailbox->maildir, dir.path() / "mail/example.test/bob/Maildir");
  write_file(dir.path() / "aliases", "sales: |cmd\n");
  EXPECT_FALSE(r.refresh(true).empty());
  EXPECT_EQ(r.resolve(addr("sales", "example.test")).mailbox->maildir, dir.path() / "mail/example.test/bob/Maildir");
}

TEST_F(RouterTest, SystemUsers) {
  auto o = options();
  o.domains["sys.test"] = std::make_shared<SystemUserDb>(dir.path() / "mail");
  const RecipientRouter r(o);
  EXPECT_TRUE(r.blocking());  // NSS may block: resolved on the disk pool
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const Resolution res = r.resolve(addr("nobody", "sys.test"));
  ASSERT_EQ(res.status, Status::ok) << res.reason;
  EXPECT_EQ(res.mailbox->uid, nobody->pw_uid);
  EXPECT_EQ(res.mailbox->gid, nobody->pw_gid);
  EXPECT_EQ(res.mailbox->maildir, std::filesystem::path(nobody->pw_dir) / "Maildir");
  EXPECT_EQ(r.resolve(addr("root", "sys.test")).status, Status::unknown_user);
  EXPECT_EQ(r.resolve(addr("no-such-user-here", "sys.test")).status, Status::unknown_user);
  EXPECT_EQ(r.resolve(addr("../etc", "sys.test")).status, Status::bad_mailbox);
}

}  // namespace
}  // namespace mailslot::delivery
