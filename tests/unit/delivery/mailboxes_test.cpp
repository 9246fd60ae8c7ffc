// The Maildir store with what recipient resolution adds: +detail folders, quota at commit, alias
// targets (one outcome per RCPT), per-user identity, ownership refusal, single-instance copies.
#include <gtest/gtest.h>
#include <pwd.h>
#include <set>
#include <sstream>
#include <unistd.h>

#include "mailslot/delivery/delivery_plan.hpp"
#include "mailslot/delivery/maildir_store.hpp"
#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using testing::list_dir;
using testing::read_file;
using testing::stat_of;
using testing::TempDir;
using testing::write_file;
namespace stdfs = std::filesystem;

std::shared_ptr<Mailbox> box(const std::string& address, const stdfs::path& maildir) {
  auto m = std::make_shared<Mailbox>();
  m->address = address;
  m->maildir = maildir;
  return m;
}

Envelope envelope(std::vector<std::shared_ptr<const Mailbox>> rcpts) {
  Envelope e;
  e.reverse_path = "alice@example.org";
  e.recipients = std::move(rcpts);
  e.client_helo = "mx.example.org";
  e.session_id = "s1";
  e.hostname = "mail.example.test";
  e.received_at = std::chrono::system_clock::from_time_t(1795440358);
  return e;
}

std::vector<Outcome> deliver(MailStore& s, const Envelope& e, const std::string& body) {
  Outcome failure;
  auto w = s.begin(e, failure);
  if (!w) return std::vector<Outcome>(e.recipients.size(), failure);
  if (auto err = w->append(body)) return std::vector<Outcome>(e.recipients.size(), *err);
  return w->commit();
}

const std::string kBody = "Subject: hi\r\n\r\nHello.\r\n";

class MailboxesTest : public ::testing::Test {
 protected:
  MaildirStore store(bool tempfail = false) {
    MaildirStoreOptions o{"mail.example.test", true, root()};
    o.quota_full_tempfail = tempfail;
    return MaildirStore(o);
  }
  stdfs::path root() const { return tmp.path() / "mail"; }
  stdfs::path md(const std::string& user) const { return root() / "example.test" / user / "Maildir"; }
  void SetUp() override {
    stdfs::create_directories(root());
    // An unprivileged recipient must be able to reach its Maildir through the test's directories.
    stdfs::permissions(tmp.path(), stdfs::perms(0755));
    stdfs::permissions(root(), stdfs::perms(0755));
  }
  TempDir tmp;
};

TEST_F(MailboxesTest, DetailGoesToExistingFolderElseInbox) {
  stdfs::create_directories(md("bob") / ".Lists/new");
  auto s = store();
  auto lists = box("bob+lists@example.test", md("bob"));
  lists->folder = "lists";  // "+lists" finds ".Lists": folder names match without ASCII case
  lists->folder_policy = DetailFolders::existing;
  auto other = box("bob+other@example.test", md("bob"));
  other->folder = "other";
  other->folder_policy = DetailFolders::existing;
  auto out = deliver(s, envelope({lists}), kBody);
  ASSERT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_EQ(list_dir(md("bob") / ".Lists/new").size(), 1u);
  out = deliver(s, envelope({other}), kBody);
  ASSERT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_EQ(list_dir(md("bob") / "new").size(), 1u);  // no ".other": INBOX
  EXPECT_FALSE(stdfs::exists(md("bob") / ".other"));
}

TEST_F(MailboxesTest, DetailFolderCreatedOnDemandAndSubscribed) {
  auto s = store();
  auto m = box("carol+news@example.test", md("carol"));
  m->folder = "news";
  m->folder_policy = DetailFolders::create;
  for (int i = 0; i < 2; ++i) {
    const auto out = deliver(s, envelope({m}), kBody);
    ASSERT_TRUE(out[0].delivered()) << out[0].text;
  }
  EXPECT_EQ(list_dir(md("carol") / ".news/new").size(), 2u);
  EXPECT_TRUE(stdfs::exists(md("carol") / ".news/maildirfolder"));
  EXPECT_TRUE(stdfs::is_directory(md("carol") / ".news/cur"));
  EXPECT_EQ(read_file(md("carol") / "subscriptions"), "news\n");  // once, however many deliveries
  EXPECT_TRUE(list_dir(md("carol") / "new").empty());
}

TEST_F(MailboxesTest, SubscriptionsInDovecotVersion2FormatAndOthersKept) {
  stdfs::create_directories(md("ann"));
  write_file(md("ann") / "subscriptions", "V\t2\n\nArchive\tOld\nSent\n");
  auto m = box("ann+lists.debian@example.test", md("ann"));
  m->folder = "lists.debian";
  m->folder_policy = DetailFolders::create;
  ASSERT_TRUE(deliver(*std::make_unique<MaildirStore>(store()), envelope({m}), kBody)[0].delivered());
  EXPECT_EQ(read_file(md("ann") / "subscriptions"), "V\t2\n\nArchive\tOld\nSent\nlists\tdebian\n");
  EXPECT_FALSE(stdfs::exists(md("ann") / "subscriptions.lock"));
  EXPECT_EQ(list_dir(md("ann") / ".lists.debian/new").size(), 1u);
}

TEST_F(MailboxesTest, FolderNeverLeavesTheMaildir) {
  // Even a folder name that was not sanitised cannot name a path: ".<name>" is one component.
  auto s = store();
  auto m = box("eve@example.test", md("eve"));
  m->folder = "../../../escape";
  m->folder_policy = DetailFolders::create;
  const auto out = deliver(s, envelope({m}), kBody);
  EXPECT_FALSE(stdfs::exists(tmp.path() / "escape"));
  EXPECT_FALSE(stdfs::exists(root() / "escape"));
  ASSERT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_EQ(list_dir(md("eve") / "new").size(), 1u);  // INBOX
}

TEST_F(MailboxesTest, QuotaAtCommitPermanentAndTempfail) {
  auto m = box("dave@example.test", md("dave"));
  m->quota = {0, 2};  // two messages
  auto s = store();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(deliver(s, envelope({m}), kBody)[0].delivered());
  auto out = deliver(s, envelope({m}), kBody);
  EXPECT_EQ(out[0].code, 552);
  EXPECT_EQ(out[0].enhanced, "5.2.2");
  EXPECT_EQ(out[0].kind, Outcome::Kind::permanent);
  auto t = store(true);
  out = deliver(t, envelope({m}), kBody);
  EXPECT_EQ(out[0].code, 452);
  EXPECT_EQ(out[0].enhanced, "4.2.2");
  EXPECT_EQ(list_dir(md("dave") / "new").size(), 2u);
  // maildirsize: header, the recalculated line, one line per later delivery.
  const std::string size = read_file(md("dave") / "maildirsize");
  EXPECT_EQ(size.substr(0, size.find('\n')), "2C");
  EXPECT_TRUE(list_dir(md("dave") / "tmp").empty());
}

TEST_F(MailboxesTest, QuotaBytesCountsThisMessage) {
  auto m = box("fay@example.test", md("fay"));
  auto s = store();
  ASSERT_TRUE(deliver(s, envelope({m}), kBody)[0].delivered());
  const auto first = list_dir(md("fay") / "new");
  const auto size = stat_of(md("fay") / "new" / first[0]).st_size;
  m->quota = {static_cast<std::uint64_t>(2 * size), 0};
  ASSERT_TRUE(deliver(s, envelope({m}), kBody)[0].delivered());  // exactly at the limit
  EXPECT_EQ(deliver(s, envelope({m}), kBody)[0].code, 552);
  EXPECT_NE(read_file(md("fay") / "maildirsize").find(std::to_string(size) + " 1\n"), std::string::npos);
}

// IGNOREQUOTA (issue #11): the recipient flagged in the envelope is delivered past its quota and
// the copy is still counted in maildirsize; the other recipient of the same message is refused.
TEST_F(MailboxesTest, IgnoreQuotaDeliversPastTheLimitAndStillCounts) {
  auto full = box("gus@example.test", md("gus"));
  full->quota = {0, 1};  // one message
  auto also = box("hal@example.test", md("hal"));
  also->quota = {0, 1};
  auto s = store();
  ASSERT_TRUE(deliver(s, envelope({full}), kBody)[0].delivered());
  ASSERT_TRUE(deliver(s, envelope({also}), kBody)[0].delivered());
  // Without the flag: refused as before.
  EXPECT_EQ(deliver(s, envelope({full}), kBody)[0].code, 552);
  Envelope e = envelope({full, also});
  e.ignore_quota = {true, false};
  const auto out = deliver(s, e, kBody);
  ASSERT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_EQ(out[1].code, 552);
  EXPECT_EQ(list_dir(md("gus") / "new").size(), 2u);
  EXPECT_EQ(list_dir(md("hal") / "new").size(), 1u);
  // maildirsize says two messages now (header "1C", then lines "<bytes> <count>").
  const std::string size = read_file(md("gus") / "maildirsize");
  std::istringstream lines(size.substr(size.find('\n') + 1));
  long long bytes = 0, count = 0, total = 0;
  while (lines >> bytes >> count) total += count;
  EXPECT_EQ(total, 2) << size;
  // The usage stays right: the next message without the flag is still refused.
  EXPECT_EQ(deliver(s, envelope({full}), kBody)[0].code, 552);
  // The same Maildir named twice, the flag on the second RCPT only: its one copy serves both.
  Envelope twice = envelope({full, full});
  twice.ignore_quota = {false, true};
  const auto both = deliver(s, twice, kBody);
  EXPECT_TRUE(both[0].delivered() && both[1].delivered()) << both[0].text << " / " << both[1].text;
  EXPECT_EQ(list_dir(md("gus") / "new").size(), 3u);
  EXPECT_TRUE(list_dir(md("gus") / "tmp").empty());
}

TEST_F(MailboxesTest, AliasTargetsOneOutcomePerRcpt) {
  auto alias = std::make_shared<Mailbox>();
  alias->address = "team@example.test";
  alias->targets = {box("a@example.test", md("a")), box("b@example.test", md("b"))};
  const auto out = deliver(*std::make_unique<MaildirStore>(store()), envelope({alias, box("c@example.test", md("c"))}), kBody);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_TRUE(out[1].delivered()) << out[1].text;
  for (const char* u : {"a", "b", "c"}) EXPECT_EQ(list_dir(md(u) / "new").size(), 1u) << u;
}

TEST(CombineOutcomes, TemporaryWinsThenDeliveredThenPermanent) {
  std::vector<Destination> plan(4);
  plan[0].rcpt = 0;
  plan[1].rcpt = 0;
  plan[2].rcpt = 1;
  plan[3].rcpt = 1;
  Outcome perm = Outcome::temporary("x", 550, "5.1.1");
  perm.kind = Outcome::Kind::permanent;
  auto out = combine_outcomes(plan, {Outcome::ok("f1"), Outcome::temporary("busy"), Outcome::ok("f2"), perm}, 2);
  EXPECT_EQ(out[0].code, 451);
  EXPECT_TRUE(out[1].delivered());
  EXPECT_NE(out[1].location.find("not delivered"), std::string::npos);
  out = combine_outcomes({plan[2]}, {perm}, 2);
  EXPECT_EQ(out[1].code, 550);
  EXPECT_EQ(out[0].code, 451);  // no destination at all: never silently "delivered"
}

TEST_F(MailboxesTest, TenRecipientsShareOneInode) {
  std::vector<std::shared_ptr<const Mailbox>> rcpts;
  for (int i = 0; i < 10; ++i) rcpts.push_back(box("u" + std::to_string(i) + "@example.test", md("u" + std::to_string(i))));
  auto s = store();
  const auto out = deliver(s, envelope(rcpts), std::string(1 << 20, 'x'));
  ASSERT_EQ(out.size(), 10u);
  std::set<ino_t> inodes;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(out[i].delivered()) << out[i].text;
    const auto files = list_dir(md("u" + std::to_string(i)) / "new");
    ASSERT_EQ(files.size(), 1u);
    const auto st = stat_of(md("u" + std::to_string(i)) / "new" / files[0]);
    inodes.insert(st.st_ino);
    EXPECT_EQ(st.st_nlink, 10u);  // the spool name is gone; ten names for one file
  }
  EXPECT_EQ(inodes.size(), 1u);
}

class IdentityTest : public MailboxesTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "per-user identity needs root";
    MailboxesTest::SetUp();
    const passwd* pw = ::getpwnam("nobody");
    ASSERT_NE(pw, nullptr);
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  uid_t uid = 0;
  gid_t gid = 0;
};

TEST_F(IdentityTest, FilesAndDirectoriesBelongToTheRecipient) {
  auto m = box("nobody@example.test", md("nobody"));
  m->uid = uid;
  m->gid = gid;
  m->quota = {1 << 20, 0};
  auto root_box = box("root@example.test", md("rootuser"));
  auto s = store();
  const auto out = deliver(s, envelope({root_box, m}), kBody);
  ASSERT_TRUE(out[0].delivered()) << out[0].text;
  ASSERT_TRUE(out[1].delivered()) << out[1].text;
  for (const auto& p : {md("nobody"), md("nobody") / "new", md("nobody") / "cur", md("nobody") / "tmp",
                        md("nobody") / "maildirsize"}) {
    EXPECT_EQ(stat_of(p).st_uid, uid) << p;
    EXPECT_EQ(stat_of(p).st_gid, gid) << p;
  }
  const auto files = list_dir(md("nobody") / "new");
  ASSERT_EQ(files.size(), 1u);
  const auto st = stat_of(md("nobody") / "new" / files[0]);
  EXPECT_EQ(st.st_uid, uid);
  EXPECT_EQ(st.st_nlink, 1u);  // a copy of its own, not a link to root's file
  EXPECT_EQ(read_file(md("nobody") / "new" / files[0]), read_file(md("rootuser") / "new" / list_dir(md("rootuser") / "new")[0]));
  // The directory above is the daemon's, searchable but not listable by users.
  EXPECT_EQ(stat_of(md("nobody").parent_path()).st_uid, 0u);
  EXPECT_EQ(testing::permissions_of(md("nobody").parent_path()), 0711u);
}

// mail.per_recipient_headers: each copy is made as its recipient, whichever owns the spool.
TEST_F(IdentityTest, PerRecipientCopiesBelongToTheirRecipient) {
  auto m = box("nobody@example.test", md("nobody"));
  m->uid = uid;
  m->gid = gid;
  auto root_box = box("root@example.test", md("rootuser"));
  auto s = store();
  for (const auto& rcpts : {std::vector<std::shared_ptr<const Mailbox>>{root_box, m},
                            std::vector<std::shared_ptr<const Mailbox>>{m, root_box}}) {
    Envelope e = envelope(rcpts);
    e.per_recipient_headers = true;
    const auto out = deliver(s, e, kBody);
    ASSERT_TRUE(out[0].delivered()) << out[0].text;
    ASSERT_TRUE(out[1].delivered()) << out[1].text;
  }
  for (const auto& [user, owner] : {std::pair<std::string, uid_t>{"nobody", uid}, {"rootuser", 0}}) {
    const auto files = list_dir(md(user) / "new");
    ASSERT_EQ(files.size(), 2u) << user;
    for (const auto& f : files) {
      EXPECT_EQ(stat_of(md(user) / "new" / f).st_uid, owner) << user;
      const std::string text = read_file(md(user) / "new" / f);
      EXPECT_NE(text.find("Delivered-To: " + std::string(user == "nobody" ? "nobody" : "root") + "@example.test\r\n"),
                std::string::npos)
          << text;
      EXPECT_TRUE(text.ends_with(kBody));
    }
    EXPECT_TRUE(list_dir(md(user) / "tmp").empty()) << user;
  }
}

TEST_F(IdentityTest, MailboxOwnedBySomeoneElseIsRefused) {
  stdfs::create_directories(md("mallory") / "new");  // root's, but the mailbox says nobody
  auto m = box("mallory@example.test", md("mallory"));
  m->uid = uid;
  m->gid = gid;
  auto ok = box("bob@example.test", md("bob"));
  auto s = store();
  const auto out = deliver(s, envelope({m, ok}), kBody);
  EXPECT_EQ(out[0].code, 451);
  EXPECT_EQ(out[0].enhanced, "4.3.0");
  EXPECT_NE(out[0].text.find("owned by uid 0"), std::string::npos) << out[0].text;
  EXPECT_TRUE(list_dir(md("mallory") / "new").empty());
  EXPECT_TRUE(out[1].delivered());
  // And the other way round: a root-run daemon's own mailbox owned by another user.
  ASSERT_EQ(::chown(md("bob").c_str(), uid, gid), 0);
  EXPECT_EQ(deliver(s, envelope({ok}), kBody)[0].code, 451);
}

}  // namespace
}  // namespace mailslot::delivery
