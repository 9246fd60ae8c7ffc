// The commit/cancel protocol of limits.delivery_timeout (commit_claim.hpp, docs/reliability.md
// "Delivery timeout"): with the disk hung at each step of the commit (fs_faults.hpp hang()), the
// side that claims first decides; a timed-out commit leaves nothing in new/ or tmp/ once the
// disk call returns, and records no duplicate.
#include "mailslot/delivery/commit_claim.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "envelope_util.hpp"
#include "mailslot/delivery/duplicates.hpp"
#include "mailslot/delivery/fs_faults.hpp"
#include "mailslot/delivery/maildir_store.hpp"
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
using namespace std::chrono_literals;
namespace stdfs = std::filesystem;

const std::string kBody = "Subject: slow\r\nMessage-ID: <hung@example.org>\r\n\r\nThe disk hung.\r\n";
constexpr auto kHangWait = 10s;  // bound on waiting for the job to reach the hung call

TEST(CommitClaim, ExactlyOneSideWins) {
  CommitClaim job_first;
  EXPECT_FALSE(job_first.cancelled());
  EXPECT_TRUE(job_first.finish());
  EXPECT_FALSE(job_first.time_out());  // the replies of the job go out
  EXPECT_EQ(job_first.state(), CommitClaim::State::finished);

  CommitClaim timer_first;
  EXPECT_TRUE(timer_first.time_out());
  EXPECT_TRUE(timer_first.cancelled());
  EXPECT_FALSE(timer_first.finish());  // the job must undo its copies
  EXPECT_EQ(timer_first.state(), CommitClaim::State::timed_out);
}

class CommitTimeoutTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  std::shared_ptr<FaultyFileSystem> faulty_ = std::make_shared<FaultyFileSystem>();
  std::shared_ptr<DuplicateDb> duplicates_ = DuplicateDb::open(tmp_.path() / "dup.sqlite", 24h);
  MaildirStore store_{MaildirStoreOptions{
      "mail.example.test", true, tmp_.path(), faulty_, false, {}, 65536, 24h, duplicates_}};

  stdfs::path md(const std::string& user) const { return tmp_.path() / "example.test" / user / "Maildir"; }
  std::shared_ptr<const Mailbox> rcpt(const std::string& user) {
    return mailbox(user + "@example.test", md(user));
  }
  std::size_t in_new(const std::string& user) const { return list_dir(md(user) / "new").size(); }
  std::size_t in_tmp(const std::string& user) const { return list_dir(md(user) / "tmp").size(); }

  std::unique_ptr<MessageWriter> open(const std::vector<std::string>& users,
                                      const std::string& body = kBody) {
    std::vector<std::shared_ptr<const Mailbox>> rcpts;
    for (const auto& u : users) rcpts.push_back(rcpt(u));
    Outcome failure;
    auto w = store_.begin(envelope(rcpts), failure);
    EXPECT_TRUE(w) << failure.text;
    if (w) {
      EXPECT_FALSE(w->append(body));
    }
    return w;
  }

  // Maildirs exist and are known durable, so a commit's fsyncs are: 1 the spool, then new/ of each.
  void warm_up(const std::vector<std::string>& users) {
    for (const auto& u : users) {
      auto w = open({u}, "Subject: warm-up\r\n\r\nx\r\n");
      ASSERT_TRUE(w);
      ASSERT_TRUE(w->commit().at(0).delivered());
    }
  }

  // The connection's side: the job runs on its own thread and hangs at the chosen call; the
  // deadline passes while it is stuck; then the disk comes back.
  std::vector<Outcome> time_out_while_hung(std::unique_ptr<MessageWriter> w, CommitClaim& claim,
                                           const std::function<void()>& while_hung = {}) {
    std::vector<Outcome> out;
    std::thread job([&] {
      out = w->commit(claim);
      w.reset();  // as on the disk pool: the writer goes with the job
    });
    const bool hung = faulty_->wait_hung(kHangWait);
    EXPECT_TRUE(hung) << "the commit never reached the hung call";
    EXPECT_TRUE(claim.time_out()) << "the job finished although its disk call hangs";
    if (while_hung) while_hung();
    faulty_->release();
    job.join();
    return out;
  }

  static void expect_timed_out(const std::vector<Outcome>& out, std::size_t n) {
    ASSERT_EQ(out.size(), n);
    for (const auto& o : out) {
      EXPECT_EQ(o.code, 451);
      EXPECT_EQ(o.enhanced, "4.3.0");
      EXPECT_EQ(o.text, "Delivery timed out");
    }
  }
};

TEST_F(CommitTimeoutTest, HungSpoolFsyncLinksNothing) {
  warm_up({"a"});
  auto w = open({"a"});
  faulty_->hang(Op::fsync, 1);  // the spool's fsync, before any name exists in new/
  CommitClaim claim;
  const auto out = time_out_while_hung(std::move(w), claim, [&] { EXPECT_EQ(in_new("a"), 1u); });
  expect_timed_out(out, 1);
  EXPECT_EQ(in_new("a"), 1u);  // the warm-up message only
  EXPECT_EQ(in_tmp("a"), 0u);
  EXPECT_EQ(claim.undo.removed, 0u);
  EXPECT_EQ(faulty_->calls(Op::link), 1u);  // the warm-up's: the timed-out commit linked nothing
}

// The weakest moment: names are linked and new/ is being fsynced when the deadline passes. They
// are visible while the fsync hangs (docs/reliability.md says so), and gone once it returns.
TEST_F(CommitTimeoutTest, HungNewDirFsyncRemovesTheLinkedCopies) {
  warm_up({"a", "b"});
  auto w = open({"a", "b"});
  faulty_->hang(Op::fsync, 2);  // 1: the spool; 2: new/ of a, after both links
  CommitClaim claim;
  const auto out = time_out_while_hung(std::move(w), claim, [&] {
    EXPECT_EQ(in_new("a"), 2u);
    EXPECT_EQ(in_new("b"), 2u);
  });
  expect_timed_out(out, 2);
  EXPECT_EQ(in_new("a"), 1u);
  EXPECT_EQ(in_new("b"), 1u);
  EXPECT_EQ(in_tmp("a"), 0u);
  EXPECT_EQ(in_tmp("b"), 0u);
  EXPECT_EQ(claim.undo.removed, 2u);
  EXPECT_EQ(claim.undo.missing, 0u);
  EXPECT_EQ(claim.undo.failed, 0u);
}

// The deadline passes between the job's "not cancelled" check and its link(): the late link is
// undone like any other, because finish() decides, not the check.
TEST_F(CommitTimeoutTest, LinkRacingTheDeadlineIsUndone) {
  warm_up({"a", "b"});
  auto w = open({"a", "b"});
  faulty_->hang(Op::link, 1);  // a's link, entered before the deadline
  CommitClaim claim;
  const auto out = time_out_while_hung(std::move(w), claim);
  expect_timed_out(out, 2);
  EXPECT_EQ(in_new("a"), 1u);
  EXPECT_EQ(in_new("b"), 1u);  // b's link was never made: cancelled first
  EXPECT_EQ(in_tmp("a"), 0u);
  EXPECT_EQ(claim.undo.removed, 1u);
}

// A reader that took the visible copy to cur/ meanwhile: the undo cannot remove it and says so.
TEST_F(CommitTimeoutTest, CopyTakenByAReaderIsReported) {
  warm_up({"a"});
  auto w = open({"a"});
  faulty_->hang(Op::fsync, 2);  // new/ of a, after the link
  CommitClaim claim;
  const auto out = time_out_while_hung(std::move(w), claim, [&] {
    for (const auto& name : list_dir(md("a") / "new")) {
      if (read_file(md("a") / "new" / name).find("hung@") != std::string::npos)
        stdfs::rename(md("a") / "new" / name, md("a") / "cur" / (name + ":2,"));
    }
  });
  expect_timed_out(out, 1);
  EXPECT_EQ(in_new("a"), 1u);
  EXPECT_EQ(claim.undo.removed, 0u);
  EXPECT_EQ(claim.undo.missing, 1u);
}

// A timed-out copy is not recorded as delivered: the MTA's retry is written, not suppressed.
TEST_F(CommitTimeoutTest, TimedOutCopyIsNotRecordedAsDuplicate) {
  warm_up({"a"});
  auto w = open({"a"});
  faulty_->hang(Op::fsync, 2);
  CommitClaim claim;
  expect_timed_out(time_out_while_hung(std::move(w), claim), 1);
  ASSERT_EQ(in_new("a"), 1u);

  auto retry = open({"a"});
  ASSERT_TRUE(retry);
  const auto out = retry->commit();
  ASSERT_TRUE(out.at(0).delivered()) << out[0].text;
  EXPECT_FALSE(out[0].duplicate);
  EXPECT_EQ(in_new("a"), 2u);
}

// The job claims first: the deadline that passes afterwards changes nothing.
TEST_F(CommitTimeoutTest, JobThatFinishedFirstKeepsItsDelivery) {
  warm_up({"a"});
  auto w = open({"a"});
  CommitClaim claim;
  const auto out = w->commit(claim);
  EXPECT_FALSE(claim.time_out());
  ASSERT_TRUE(out.at(0).delivered()) << out[0].text;
  EXPECT_EQ(out[0].code, 250);
  EXPECT_EQ(in_new("a"), 2u);
  EXPECT_EQ(in_tmp("a"), 0u);
}

// Deadline passed before the job started (it was queued behind stuck ones): nothing is linked.
TEST_F(CommitTimeoutTest, CancelledBeforeCommitLinksNothing) {
  warm_up({"a"});
  auto w = open({"a"});
  CommitClaim claim;
  ASSERT_TRUE(claim.time_out());
  expect_timed_out(w->commit(claim), 1);
  w.reset();
  EXPECT_EQ(in_new("a"), 1u);
  EXPECT_EQ(in_tmp("a"), 0u);
}

}  // namespace
}  // namespace mailslot::delivery
