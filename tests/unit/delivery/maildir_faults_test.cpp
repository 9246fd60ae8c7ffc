// The Maildir store under injected file-system faults (fs_faults.hpp): each errno gives the reply
// RFC 3463 and docs/reliability.md promise, only the failing mailbox is affected, nothing partial
// stays in new/ or tmp/, and the store keeps working once the fault is gone.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "mailslot/delivery/fs_faults.hpp"
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
using testing::read_file;
using testing::TempDir;
namespace stdfs = std::filesystem;

const std::string kBody = "Subject: faults\r\n\r\nStill here.\r\n";

// One transaction as server::Connection runs it: a failed begin() or append() answers every
// recipient with that failure and discards the spool; otherwise commit() answers each.
std::vector<Outcome> transact(MailStore& store, const Envelope& e, const std::vector<std::string>& chunks) {
  Outcome failure;
  auto w = store.begin(e, failure);
  if (!w) return std::vector<Outcome>(e.recipients.size(), failure);
  for (const auto& c : chunks) {
    if (auto f = w->append(c)) {
      w->discard();
      return std::vector<Outcome>(e.recipients.size(), *f);
    }
  }
  return w->commit();
}

struct Expected {
  int code;
  const char* enhanced;
};

Expected expected_for(int err) {
  switch (err) {
    case ENOSPC:
      return {452, "4.3.1"};  // RFC 3463 X.3.1 mail system full
    case EDQUOT:
      return {452, "4.2.2"};  // RFC 3463 X.2.2 mailbox full
    default:
      return {451, "4.3.0"};  // RFC 3463 X.3.0, temporary: an operator can fix it
  }
}

class MaildirFaultsTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  std::shared_ptr<FaultyFileSystem> faulty_ = std::make_shared<FaultyFileSystem>();
  MaildirStore store_{MaildirStoreOptions{"mail.example.test", true, tmp_.path(), faulty_}};

  stdfs::path md(const std::string& user) const { return tmp_.path() / "example.test" / user / "Maildir"; }
  std::shared_ptr<const Mailbox> rcpt(const std::string& user) {
    return mailbox(user + "@example.test", md(user));
  }

  // Delivers once to each user so that their Maildirs exist and are known durable.
  void warm_up(const std::vector<std::string>& users) {
    for (const auto& u : users) {
      const auto out = transact(store_, envelope({rcpt(u)}), {kBody});
      ASSERT_TRUE(out.at(0).delivered()) << out[0].text;
    }
  }

  // Nothing but complete deliveries in new/ (each the exact message), nothing at all in tmp/.
  void expect_clean(const std::string& user, std::size_t delivered) const {
    const auto files = list_dir(md(user) / "new");
    EXPECT_EQ(files.size(), delivered) << user;
    for (const auto& f : files) {
      const std::string content = read_file(md(user) / "new" / f);
      EXPECT_TRUE(content.size() >= kBody.size() && content.ends_with(kBody)) << f;
    }
    EXPECT_TRUE(list_dir(md(user) / "tmp").empty()) << user;
  }
};

// Every step of the durable write, failing with each errno a disk can give: the recipient gets the
// code the MTA must see, nothing partial is left, and the next message goes through.
TEST_F(MaildirFaultsTest, EachErrnoOnEachStepGivesTheRightCode) {
  const Op ops[] = {Op::open, Op::mkdir, Op::write, Op::fsync, Op::link, Op::close};
  const int errs[] = {ENOSPC, EDQUOT, EIO, EROFS, EACCES};
  int n = 0;
  for (const Op op : ops) {
    for (const int err : errs) {
      SCOPED_TRACE(std::string(fs::op_name(op)) + " errno " + std::to_string(err));
      // A fresh user each time: mkdir and the first-use fsyncs are on the path too.
      const std::string user = "u" + std::to_string(n++);
      faulty_->fail(op, err, 1, FaultyFileSystem::kForever);
      const auto out = transact(store_, envelope({rcpt(user)}), {kBody});
      faulty_->clear();
      ASSERT_EQ(out.size(), 1u);
      EXPECT_FALSE(out[0].delivered());
      EXPECT_EQ(out[0].kind, Outcome::Kind::temporary);
      EXPECT_EQ(out[0].code, expected_for(err).code) << out[0].text;
      EXPECT_EQ(out[0].enhanced, expected_for(err).enhanced) << out[0].text;
      if (err != ENOSPC && err != EDQUOT) {
        // The reply names the failed step, so the MTA's log tells the operator where to look.
        EXPECT_NE(out[0].text.find("failed: "), std::string::npos) << out[0].text;
      }
      expect_clean(user, 0);

      const auto again = transact(store_, envelope({rcpt(user)}), {kBody});
      ASSERT_TRUE(again.at(0).delivered()) << again[0].text;
      expect_clean(user, 1);
    }
  }
}

TEST_F(MaildirFaultsTest, OneMailboxOverQuotaTheOthersAreDelivered) {
  warm_up({"a", "b", "c"});
  faulty_->fail(Op::link, EDQUOT, 2);  // the second recipient's link into new/
  const auto out = transact(store_, envelope({rcpt("a"), rcpt("b"), rcpt("c")}), {kBody});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_EQ(out[1].code, 452);
  EXPECT_EQ(out[1].enhanced, "4.2.2");
  EXPECT_TRUE(out[2].delivered()) << out[2].text;
  expect_clean("a", 2);
  expect_clean("b", 1);
  expect_clean("c", 2);
}

TEST_F(MaildirFaultsTest, NewDirFsyncFailureTakesTheLinkBack) {
  warm_up({"a", "b", "c"});
  // fsyncs of this transaction: 1 the spool, 2..4 new/ of a, b, c. Never 250 without the fsync of
  // new/ (ARCHITECTURE.md step 3): b's name is removed again, so no copy the MTA will resend remains.
  faulty_->fail(Op::fsync, EIO, 3);
  const auto out = transact(store_, envelope({rcpt("a"), rcpt("b"), rcpt("c")}), {kBody});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].delivered());
  EXPECT_EQ(out[1].code, 451);
  EXPECT_EQ(out[1].enhanced, "4.3.0");
  EXPECT_EQ(out[1].text.rfind("fsync failed: ", 0), 0u) << out[1].text;
  EXPECT_TRUE(out[2].delivered());
  expect_clean("a", 2);
  expect_clean("b", 1);
  expect_clean("c", 2);
}

TEST_F(MaildirFaultsTest, NewMailboxCannotBeCreatedTheOthersAreDelivered) {
  warm_up({"a"});
  faulty_->fail(Op::mkdir, EACCES, 1, FaultyFileSystem::kForever);
  const auto out = transact(store_, envelope({rcpt("a"), rcpt("fresh")}), {kBody});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].delivered());
  EXPECT_EQ(out[1].code, 451);
  EXPECT_EQ(out[1].text.rfind("mkdir failed: ", 0), 0u) << out[1].text;
  EXPECT_FALSE(stdfs::exists(tmp_.path() / "example.test" / "fresh"));
  faulty_->clear();
  const auto again = transact(store_, envelope({rcpt("a"), rcpt("fresh")}), {kBody});
  EXPECT_TRUE(again.at(0).delivered());
  EXPECT_TRUE(again.at(1).delivered()) << again[1].text;
  expect_clean("a", 3);
  expect_clean("fresh", 1);
}

TEST_F(MaildirFaultsTest, FirstMailboxFullSpoolGoesToTheNext) {
  warm_up({"a", "b"});
  // a's file system is full: its spool cannot be created in a/tmp, so b's Maildir holds it, and
  // a gets 452 at commit when its own link fails too. Opens of begin(): the mail root, then
  // example.test, a, Maildir, tmp, new, and seventh the spool in a/tmp.
  faulty_->fail(Op::open, ENOSPC, 7);
  faulty_->fail(Op::link, ENOSPC, 1);  // the first link at commit is a's
  const auto out = transact(store_, envelope({rcpt("a"), rcpt("b")}), {kBody});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].code, 452);
  EXPECT_EQ(out[0].enhanced, "4.3.1");
  EXPECT_TRUE(out[1].delivered()) << out[1].text;
  EXPECT_EQ(faulty_->failures(Op::open), 1u);
  EXPECT_EQ(faulty_->failures(Op::link), 1u);
  expect_clean("a", 1);
  expect_clean("b", 2);
}

TEST_F(MaildirFaultsTest, DiskFillsUpInTheMiddleOfALargeMessage) {
  warm_up({"a", "b"});
  faulty_->fail(Op::write, ENOSPC, 5, FaultyFileSystem::kForever);
  const std::vector<std::string> chunks(20, std::string(64 * 1024, 'x') + "\r\n");
  const auto out = transact(store_, envelope({rcpt("a"), rcpt("b")}), chunks);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& o : out) {
    EXPECT_EQ(o.code, 452);
    EXPECT_EQ(o.enhanced, "4.3.1");
  }
  expect_clean("a", 1);
  expect_clean("b", 1);
  faulty_->clear();
  const auto again = transact(store_, envelope({rcpt("a"), rcpt("b")}), {kBody});
  EXPECT_TRUE(again.at(0).delivered());
  EXPECT_TRUE(again.at(1).delivered());
}

TEST_F(MaildirFaultsTest, CopyAcrossFileSystemsFailingLeavesNoTemporaryCopy) {
  warm_up({"a", "b"});
  // b looks like another file system (link → EXDEV), and that file system is full.
  faulty_->fail(Op::link, EXDEV, 2);
  faulty_->fail(Op::copy, ENOSPC, 1);
  const auto out = transact(store_, envelope({rcpt("a"), rcpt("b")}), {kBody});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].delivered());
  EXPECT_EQ(out[1].code, 452);
  EXPECT_EQ(out[1].enhanced, "4.3.1");
  EXPECT_EQ(faulty_->failures(Op::copy), 1u);
  expect_clean("a", 2);
  expect_clean("b", 1);  // and its tmp/ holds no half-made copy
}

TEST_F(MaildirFaultsTest, CloseFailureOnTheSpoolIsNotDelivered) {
  warm_up({"a"});
  // NFS may report a failed write only at close (qmail-local's "NFS dorks"): not delivered.
  faulty_->fail(Op::close, EIO, 1);
  const auto out = transact(store_, envelope({rcpt("a")}), {kBody});
  EXPECT_EQ(out.at(0).code, 451);
  EXPECT_EQ(out[0].text.rfind("close failed: ", 0), 0u) << out[0].text;
  expect_clean("a", 1);
}

}  // namespace
}  // namespace mailslot::delivery
