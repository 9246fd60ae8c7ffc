// Duplicate suppression (issue #11): the Message-ID scan, the SQLite record, and the store using them.
#include "mailslot/delivery/duplicates.hpp"

#include <gtest/gtest.h>

#include "mailslot/delivery/maildir_store.hpp"
#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using testing::list_dir;
using testing::TempDir;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

TEST(MessageId, FoundCaseInsensitiveFoldedAndWithoutBrackets) {
  EXPECT_EQ(find_message_id("Subject: x\r\nMessage-ID: <a.b@example.org>\r\n\r\nbody\r\n"), "a.b@example.org");
  EXPECT_EQ(find_message_id("message-id:\r\n  <a.b@example.org> (comment)\r\n\r\n"), "a.b@example.org");
  EXPECT_EQ(find_message_id("MESSAGE-ID : <x@y>\n\n"), "x@y");
  EXPECT_EQ(find_message_id("Message-ID: no-brackets@host\r\n\r\n"), "no-brackets@host");
}

TEST(MessageId, AbsentEmptyOrOnlyInTheBodyIsNone) {
  EXPECT_EQ(find_message_id("Subject: x\r\n\r\nMessage-ID: <in@body>\r\n"), std::nullopt);
  EXPECT_EQ(find_message_id("Message-ID:   \r\n\r\n"), std::nullopt);
  EXPECT_EQ(find_message_id("Message-ID: <>\r\n\r\n"), std::nullopt);
  EXPECT_EQ(find_message_id("X-Message-ID: <a@b>\r\n\r\n"), std::nullopt);
  EXPECT_EQ(find_message_id(""), std::nullopt);
}

TEST(MessageIdScanner, PiecesOfOneByteAndTheBodyIsIgnored) {
  const std::string msg = "Subject: x\r\nMessage-ID: <one@byte>\r\n\r\nMessage-ID: <not@this>\r\n";
  MessageIdScanner s;
  for (const char c : msg) s.feed(std::string_view(&c, 1));
  EXPECT_EQ(s.message_id(), "one@byte");
  MessageIdScanner body_only;
  body_only.feed("Subject: x\r\n\r");
  body_only.feed("\nMessage-ID: <not@this>\r\n");
  EXPECT_EQ(body_only.message_id(), std::nullopt);
}

TEST(MessageIdScanner, BeyondTheHeaderLimitIsNotSeen) {
  MessageIdScanner s;
  const std::string filler = "X-Filler: " + std::string(1000, 'a') + "\r\n";
  for (std::size_t n = 0; n < MessageIdScanner::kMaxHeader / filler.size() + 1; ++n) s.feed(filler);
  s.feed("Message-ID: <late@x>\r\n\r\n");
  EXPECT_EQ(s.message_id(), std::nullopt);
}

TEST(DuplicateDb, SeenWithinTheWindowPerMailboxAndSurvivesReopen) {
  TempDir tmp;
  const auto file = tmp.path() / "dup.sqlite";
  const auto t0 = DuplicateDb::Clock::from_time_t(1795440358);
  {
    auto db = DuplicateDb::open(file, 24h);
    EXPECT_FALSE(db->seen("a@b", "/m/bob", t0));
    EXPECT_TRUE(db->record("a@b", "/m/bob", t0));
    EXPECT_TRUE(db->seen("a@b", "/m/bob", t0 + 1h));
    EXPECT_FALSE(db->seen("a@b", "/m/carol", t0 + 1h));  // per mailbox
    EXPECT_FALSE(db->seen("c@d", "/m/bob", t0 + 1h));    // per Message-ID
  }
  auto db = DuplicateDb::open(file, 24h);  // crash-safe: on disk, not in memory
  EXPECT_TRUE(db->seen("a@b", "/m/bob", t0 + 23h));
  EXPECT_FALSE(db->seen("a@b", "/m/bob", t0 + 24h + 1s));  // the window has passed
  EXPECT_EQ(db->errors(), 0u);
}

TEST(DuplicateDb, AnUnopenableFileThrowsWithThePath) {
  TempDir tmp;
  try {
    DuplicateDb::open(tmp.path() / "missing-dir" / "dup.sqlite", 24h);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing-dir"), std::string::npos) << e.what();
  }
}

class DuplicateStoreTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  DuplicateDb::Clock::time_point now_ = DuplicateDb::Clock::from_time_t(1795440358);

  std::shared_ptr<const Mailbox> mailbox(const std::string& user) const {
    auto m = std::make_shared<Mailbox>();
    m->address = user + "@example.test";
    m->maildir = tmp_.path() / user / "Maildir";
    return m;
  }
  MaildirStore store(std::shared_ptr<DuplicateDb> db) {
    MaildirStoreOptions o{"mail.example.test", true, tmp_.path()};
    o.duplicates = std::move(db);
    o.clock = [this] { return now_; };
    return MaildirStore(o);
  }
  std::vector<Outcome> deliver(MailStore& s, std::vector<std::shared_ptr<const Mailbox>> rcpts, const std::string& msg) {
    Envelope e;
    e.reverse_path = "alice@example.org";
    e.recipients = std::move(rcpts);
    e.hostname = "mail.example.test";
    e.received_at = now_;
    Outcome failure;
    auto w = s.begin(e, failure);
    if (!w) {
      ADD_FAILURE() << failure.text;
      return {};
    }
    EXPECT_FALSE(w->append(msg));
    return w->commit();
  }
  std::size_t copies(const std::string& user) const { return list_dir(tmp_.path() / user / "Maildir" / "new").size(); }
};

TEST_F(DuplicateStoreTest, ARetryIsAnswered250AndNotWrittenAgain) {
  auto s = store(DuplicateDb::open(tmp_.path() / "dup.sqlite", 24h));
  const std::string msg = "Message-ID: <m1@example.org>\r\nSubject: x\r\n\r\nHello\r\n";
  auto first = deliver(s, {mailbox("bob")}, msg);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(first[0].delivered());
  EXPECT_FALSE(first[0].duplicate);
  // The retry after a lost connection: bob already has it, carol (new in this transaction) does not.
  auto retry = deliver(s, {mailbox("bob"), mailbox("carol")}, msg);
  ASSERT_EQ(retry.size(), 2u);
  EXPECT_TRUE(retry[0].delivered());
  EXPECT_TRUE(retry[0].duplicate);
  EXPECT_EQ(retry[0].code, 250);
  EXPECT_EQ(retry[0].text, "duplicate suppressed");
  EXPECT_TRUE(retry[1].delivered());
  EXPECT_FALSE(retry[1].duplicate);
  EXPECT_EQ(copies("bob"), 1u);
  EXPECT_EQ(copies("carol"), 1u);
  // After the window the same Message-ID is a new delivery again.
  now_ += 25h;
  auto later = deliver(s, {mailbox("bob")}, msg);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_FALSE(later[0].duplicate);
  EXPECT_EQ(copies("bob"), 2u);
}

TEST_F(DuplicateStoreTest, WithoutMessageIdNeverSuppressed) {
  auto s = store(DuplicateDb::open(tmp_.path() / "dup.sqlite", 24h));
  const std::string msg = "Subject: no id\r\n\r\nMessage-ID: <in@body>\r\n";
  deliver(s, {mailbox("bob")}, msg);
  auto again = deliver(s, {mailbox("bob")}, msg);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_FALSE(again[0].duplicate);
  EXPECT_EQ(copies("bob"), 2u);
}

TEST_F(DuplicateStoreTest, OffByDefault) {
  auto s = store(nullptr);
  const std::string msg = "Message-ID: <m1@example.org>\r\n\r\nHello\r\n";
  deliver(s, {mailbox("bob")}, msg);
  deliver(s, {mailbox("bob")}, msg);
  EXPECT_EQ(copies("bob"), 2u);
}

TEST_F(DuplicateStoreTest, AFailedCopyIsNotRecorded) {
  auto db = DuplicateDb::open(tmp_.path() / "dup.sqlite", 24h);
  auto s = store(db);
  // bob's Maildir path is a file: his copy fails, so the retry must write it.
  stdfs::create_directories(tmp_.path() / "bob");
  testing::write_file(tmp_.path() / "bob" / "Maildir", "not a directory");
  const std::string msg = "Message-ID: <m2@example.org>\r\n\r\nHello\r\n";
  auto out = deliver(s, {mailbox("carol"), mailbox("bob")}, msg);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].delivered());
  EXPECT_FALSE(out[1].delivered());
  EXPECT_TRUE(db->seen("m2@example.org", (tmp_.path() / "carol" / "Maildir").string(), now_));
  EXPECT_FALSE(db->seen("m2@example.org", (tmp_.path() / "bob" / "Maildir").string(), now_));
}

}  // namespace
}  // namespace mailslot::delivery
