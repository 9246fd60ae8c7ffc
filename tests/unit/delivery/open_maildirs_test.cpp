// OpenMaildirs (maildir_dirs.hpp): recently walked Maildirs whose tmp/ and new/ stay open, and the
// store using them: a second delivery into a Maildir walks nothing, an entry expires `ttl` after
// its walk, and a Maildir removed while its directories are held is walked and made again at once.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "mailslot/delivery/fs_faults.hpp"
#include "mailslot/delivery/maildir_dirs.hpp"
#include "mailslot/delivery/maildir_store.hpp"
#include "envelope_util.hpp"
#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using fs::FaultyFileSystem;
using fs::Op;
using testing::envelope;
using testing::list_dir;
using testing::mailbox;
using testing::TempDir;
using namespace std::chrono_literals;
namespace stdfs = std::filesystem;

using Clock = OpenMaildirs::Clock;

std::shared_ptr<const HeldMaildir> held() { return std::make_shared<const HeldMaildir>(); }

TEST(OpenMaildirs, FindsAnEntryUntilItsTtlHasPassedSinceTheWalk) {
  OpenMaildirs open(4, 2s);
  const auto t0 = Clock::time_point{} + 1h;
  const auto a = held();
  open.insert("a", a, t0);
  EXPECT_EQ(open.find("a", t0 + 1s), a);
  // Found a moment ago, but walked 2 s ago: gone, whatever the traffic.
  EXPECT_EQ(open.find("a", t0 + 2s), nullptr);
  EXPECT_EQ(open.size(), 0u);
  EXPECT_EQ(open.find("b", t0), nullptr);
}

TEST(OpenMaildirs, EvictsTheLeastRecentlyUsedWhenFull) {
  OpenMaildirs open(2, 1h);
  const auto t0 = Clock::time_point{} + 1h;
  open.insert("a", held(), t0);
  open.insert("b", held(), t0);
  ASSERT_NE(open.find("a", t0), nullptr);  // a is now the most recently used
  open.insert("c", held(), t0);            // b goes
  EXPECT_EQ(open.size(), 2u);
  EXPECT_NE(open.find("a", t0), nullptr);
  EXPECT_EQ(open.find("b", t0), nullptr);
  EXPECT_NE(open.find("c", t0), nullptr);
}

TEST(OpenMaildirs, ForgetsOnlyTheStaleEntry) {
  OpenMaildirs open(4, 1h);
  const auto t0 = Clock::time_point{} + 1h;
  const auto old_walk = held();
  const auto new_walk = held();
  open.insert("a", old_walk, t0);
  open.insert("a", new_walk, t0 + 1s);  // another writer walked it again meanwhile
  open.forget("a", old_walk.get());     // a writer that used the old one found it gone
  EXPECT_EQ(open.find("a", t0 + 2s), new_walk);
  open.forget("a", new_walk.get());
  EXPECT_EQ(open.find("a", t0 + 2s), nullptr);
}

TEST(OpenMaildirs, KeepsNothingWhenOff) {
  for (OpenMaildirs* open : {new OpenMaildirs(0, 1h), new OpenMaildirs(8, 0s)}) {
    const std::unique_ptr<OpenMaildirs> owned(open);
    EXPECT_FALSE(open->enabled());
    open->insert("a", held(), Clock::now());
    EXPECT_EQ(open->find("a", Clock::now()), nullptr);
  }
}

const std::string kBody = "Subject: held\r\n\r\nThe directories were already open.\r\n";

class StoreWithOpenMaildirsTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  std::shared_ptr<FaultyFileSystem> faulty_ = std::make_shared<FaultyFileSystem>();
  MaildirStore store_{options()};

  MaildirStoreOptions options() {
    MaildirStoreOptions o{"mail.example.test", true, tmp_.path(), faulty_};
    o.open_maildirs = 16;
    o.open_maildir_ttl = 1h;  // nothing expires during a test
    return o;
  }
  stdfs::path md(const std::string& user) const { return tmp_.path() / "example.test" / user / "Maildir"; }
  std::shared_ptr<const Mailbox> rcpt(const std::string& user) { return mailbox(user + "@example.test", md(user)); }

  std::vector<Outcome> deliver(const std::vector<std::string>& users) {
    std::vector<std::shared_ptr<const Mailbox>> to;
    for (const auto& u : users) to.push_back(rcpt(u));
    Outcome failure;
    auto w = store_.begin(envelope(to), failure);
    if (!w) return std::vector<Outcome>(users.size(), failure);
    if (auto f = w->append(kBody)) return std::vector<Outcome>(users.size(), *f);
    return w->commit();
  }
  void expect_delivered(const std::vector<Outcome>& out) const {
    for (const Outcome& o : out) EXPECT_TRUE(o.delivered()) << o.text;
  }
};

TEST_F(StoreWithOpenMaildirsTest, ASecondDeliveryOpensOnlyItsSpool) {
  expect_delivered(deliver({"a"}));
  const auto opens = faulty_->calls(Op::open);
  const auto stats = faulty_->calls(Op::stat);
  expect_delivered(deliver({"a"}));
  // One open: the spool, created in the held tmp/. No root, no walk, no stat, no read descriptor
  // (one recipient: no copy can be needed).
  EXPECT_EQ(faulty_->calls(Op::open) - opens, 1u);
  EXPECT_EQ(faulty_->calls(Op::stat) - stats, 0u);
  EXPECT_EQ(list_dir(md("a") / "new").size(), 2u);
  EXPECT_TRUE(list_dir(md("a") / "tmp").empty());
}

TEST_F(StoreWithOpenMaildirsTest, WithoutItEveryDeliveryWalksFromTheRoot) {
  MaildirStore plain(MaildirStoreOptions{"mail.example.test", true, tmp_.path(), faulty_});
  for (int i = 0; i < 2; ++i) {
    Outcome failure;
    auto w = plain.begin(envelope({rcpt("a")}), failure);
    ASSERT_TRUE(w) << failure.text;
    ASSERT_FALSE(w->append(kBody));
    expect_delivered(w->commit());
  }
  const auto opens = faulty_->calls(Op::open);
  Outcome failure;
  auto w = plain.begin(envelope({rcpt("a")}), failure);
  ASSERT_TRUE(w);
  ASSERT_FALSE(w->append(kBody));
  expect_delivered(w->commit());
  // The root, example.test, a, Maildir, tmp, new, then the spool.
  EXPECT_EQ(faulty_->calls(Op::open) - opens, 7u);
}

TEST_F(StoreWithOpenMaildirsTest, AMaildirRemovedWhileHeldIsMadeAgain) {
  expect_delivered(deliver({"a"}));
  stdfs::remove_all(md("a"));  // an operator (or a test) removes it; tmp/ is held open, and gone
  const auto out = deliver({"a"});
  expect_delivered(out);
  EXPECT_EQ(list_dir(md("a") / "new").size(), 1u);
  EXPECT_TRUE(stdfs::is_directory(md("a") / "cur"));
}

TEST_F(StoreWithOpenMaildirsTest, ARecipientsNewRemovedWhileHeldIsMadeAgain) {
  expect_delivered(deliver({"a", "b"}));
  stdfs::remove_all(md("b"));  // b's directories are held; a's tmp/ holds the next spool
  const auto out = deliver({"a", "b"});
  expect_delivered(out);
  EXPECT_EQ(list_dir(md("a") / "new").size(), 2u);
  EXPECT_EQ(list_dir(md("b") / "new").size(), 1u);
  EXPECT_TRUE(list_dir(md("a") / "tmp").empty());
}

TEST_F(StoreWithOpenMaildirsTest, ARefusedMaildirIsNotKept) {
  stdfs::create_directories(md("a").parent_path());
  stdfs::create_directory_symlink(tmp_.path(), md("a"));  // a symlink below the root
  EXPECT_FALSE(deliver({"a"}).at(0).delivered());
  stdfs::remove(md("a"));
  expect_delivered(deliver({"a"}));  // walked again: the symlink is gone, the Maildir is made
  EXPECT_EQ(list_dir(md("a") / "new").size(), 1u);
}

}  // namespace
}  // namespace mailslot::delivery
