#include "mailslot/delivery/maildir_store.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <regex>

#include "mailslot/delivery/trace_headers.hpp"
#include "envelope_util.hpp"
#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using testing::envelope;
using testing::list_dir;
using testing::mailbox;
using testing::permissions_of;
using testing::read_file;
using testing::stat_of;
using testing::TempDir;
namespace stdfs = std::filesystem;

MaildirStore store(const stdfs::path& root, bool fsync = true) {
  return MaildirStore(MaildirStoreOptions{"mail.example.test", fsync, root});
}

const std::string kBody = "Subject: hi\r\n\r\nHello.\r\n";

// Runs begin → append(chunks) → commit and expects every step before commit to succeed.
std::vector<Outcome> deliver(MailStore& s, const Envelope& e, const std::vector<std::string>& chunks) {
  Outcome failure;
  auto w = s.begin(e, failure);
  if (!w) {
    ADD_FAILURE() << "begin failed: " << failure.text;
    return {};
  }
  for (const auto& c : chunks) {
    if (auto err = w->append(c)) {
      ADD_FAILURE() << "append failed: " << err->text;
      return {};
    }
  }
  return w->commit();
}

class MaildirStoreTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  stdfs::path root() const { return tmp_.path(); }
};

TEST_F(MaildirStoreTest, OneRecipientOneFileExactBytes) {
  const stdfs::path md = root() / "example.test" / "bob" / "Maildir";
  auto s = store(root());
  const Envelope e = envelope({mailbox("bob@example.test", md)});
  const auto out = deliver(s, e, {kBody});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_EQ(out[0].code, 250);

  const auto files = list_dir(md / "new");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(out[0].location, (md / "new" / files[0]).string());
  EXPECT_EQ(read_file(out[0].location), trace_headers(e) + kBody);
  EXPECT_TRUE(list_dir(md / "tmp").empty());
  EXPECT_TRUE(list_dir(md / "cur").empty());
  EXPECT_EQ(permissions_of(out[0].location), 0600u);
  for (const stdfs::path& d :
       {root() / "example.test", root() / "example.test" / "bob", md, md / "tmp", md / "new", md / "cur"}) {
    EXPECT_EQ(permissions_of(d), 0700u) << d;
  }
}

TEST_F(MaildirStoreTest, NameCarriesExactSizes) {
  const stdfs::path md = root() / "m";
  auto s = store(root());
  // Bare LF, CRLF, and a CRLF split across two appends (the CR ends one chunk).
  const auto out = deliver(s, envelope({mailbox("b@x", md)}), {"a\nb\r\nc\r", "\nd\n\ne"});
  ASSERT_TRUE(out.at(0).delivered()) << out[0].text;
  const std::string bytes = read_file(out[0].location);
  std::string crlf;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n' && (i == 0 || bytes[i - 1] != '\r')) crlf += '\r';
    crlf += bytes[i];
  }
  const std::regex re(R"(^\d+\.M\d+P\d+Q\d+R[0-9a-f]{16}\.mail\.example\.test,S=(\d+),W=(\d+)$)");
  std::smatch m;
  const std::string name = stdfs::path(out[0].location).filename();
  ASSERT_TRUE(std::regex_match(name, m, re)) << name;
  EXPECT_EQ(std::stoull(m[1]), stdfs::file_size(out[0].location));
  EXPECT_EQ(std::stoull(m[2]), crlf.size());
  EXPECT_EQ(crlf.size(), bytes.size() + 3);  // three bare LFs in the content
}

TEST_F(MaildirStoreTest, ThreeMaildirsShareOneInode) {
  const std::vector<stdfs::path> mds = {root() / "a", root() / "b", root() / "c"};
  auto s = store(root());
  const auto out =
      deliver(s, envelope({mailbox("a@x", mds[0]), mailbox("b@x", mds[1]), mailbox("c@x", mds[2])}),
              {kBody, "more\r\n"});
  ASSERT_EQ(out.size(), 3u);
  const auto first = stat_of(out[0].location);
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(out[i].delivered()) << out[i].text;
    EXPECT_EQ(stdfs::path(out[i].location).parent_path(), mds[i] / "new");
    EXPECT_EQ(list_dir(mds[i] / "new").size(), 1u);
    EXPECT_TRUE(list_dir(mds[i] / "tmp").empty());
    const auto st = stat_of(out[i].location);
    EXPECT_EQ(st.st_ino, first.st_ino);
    EXPECT_EQ(st.st_nlink, 3u);  // the spool's own name in tmp/ is gone
    EXPECT_EQ(read_file(out[i].location), read_file(out[0].location));
  }
  EXPECT_NE(out[0].location, out[1].location);
}

TEST_F(MaildirStoreTest, SameMaildirTwiceDeliversOnce) {
  const stdfs::path md = root() / "shared";
  auto s = store(root());
  const auto out = deliver(
      s, envelope({mailbox("a@x", md), mailbox("b@x", root() / "other"), mailbox("A@x", md / ".")}), {kBody});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].delivered());
  EXPECT_TRUE(out[1].delivered());
  EXPECT_TRUE(out[2].delivered());
  EXPECT_EQ(out[2].location, out[0].location);
  EXPECT_EQ(list_dir(md / "new").size(), 1u);
  EXPECT_EQ(stat_of(out[0].location).st_nlink, 2u);
}

TEST_F(MaildirStoreTest, DiscardLeavesNothing) {
  const stdfs::path md = root() / "m";
  auto s = store(root());
  Outcome failure;
  auto w = s.begin(envelope({mailbox("b@x", md)}), failure);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->append(kBody), std::nullopt);
  EXPECT_EQ(list_dir(md / "tmp").size(), 1u);  // the spool
  w->discard();
  w->discard();  // idempotent
  EXPECT_TRUE(list_dir(md / "tmp").empty());
  EXPECT_TRUE(list_dir(md / "new").empty());
  const auto late = w->commit();
  ASSERT_EQ(late.size(), 1u);
  EXPECT_FALSE(late[0].delivered());
  EXPECT_TRUE(list_dir(md / "new").empty());
}

TEST_F(MaildirStoreTest, DestructorDiscards) {
  const stdfs::path md = root() / "m";
  auto s = store(root());
  {
    Outcome failure;
    auto w = s.begin(envelope({mailbox("b@x", md)}), failure);
    ASSERT_TRUE(w);
    EXPECT_EQ(w->append(kBody), std::nullopt);
    EXPECT_EQ(list_dir(md / "tmp").size(), 1u);
  }
  EXPECT_TRUE(list_dir(md / "tmp").empty());
  EXPECT_TRUE(list_dir(md / "new").empty());
}

TEST_F(MaildirStoreTest, UnusableMaildirFailsOnlyThatRecipient) {
  testing::write_file(root() / "blocked", "a regular file where a directory should be");
  const stdfs::path bad = root() / "blocked" / "Maildir";
  auto s = store(root());
  const auto out = deliver(
      s, envelope({mailbox("a@x", root() / "a"), mailbox("bad@x", bad), mailbox("c@x", root() / "c")}),
      {kBody});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_FALSE(out[1].delivered());
  EXPECT_EQ(out[1].code, 451);
  EXPECT_EQ(out[1].enhanced, "4.3.0");
  EXPECT_EQ(out[1].text.rfind("mkdir failed: ", 0), 0u) << out[1].text;
  EXPECT_TRUE(out[1].location.empty());
  EXPECT_TRUE(out[2].delivered()) << out[2].text;
}

TEST_F(MaildirStoreTest, FirstRecipientUnusableSpoolsInSecond) {
  testing::write_file(root() / "blocked", "x");
  const stdfs::path bad = root() / "blocked" / "Maildir";
  const stdfs::path good = root() / "good";
  auto s = store(root());
  Outcome failure;
  auto w = s.begin(envelope({mailbox("bad@x", bad), mailbox("good@x", good)}), failure);
  ASSERT_TRUE(w) << failure.text;
  EXPECT_EQ(list_dir(good / "tmp").size(), 1u);
  ASSERT_EQ(w->append(kBody), std::nullopt);
  const auto out = w->commit();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].code, 451);
  EXPECT_TRUE(out[1].delivered()) << out[1].text;
  EXPECT_TRUE(list_dir(good / "tmp").empty());
}

TEST_F(MaildirStoreTest, AllRecipientsUnusableBeginFails) {
  testing::write_file(root() / "blocked", "x");
  auto s = store(root());
  Outcome failure;
  auto w =
      s.begin(envelope({mailbox("a@x", root() / "blocked" / "a"), mailbox("b@x", root() / "blocked" / "b")}),
              failure);
  EXPECT_FALSE(w);
  EXPECT_EQ(failure.code, 451);
  EXPECT_EQ(failure.enhanced, "4.3.0");
  EXPECT_NE(failure.text.find("failed"), std::string::npos);
}

TEST_F(MaildirStoreTest, NoRecipientsBeginFails) {
  auto s = store(root());
  Outcome failure;
  EXPECT_FALSE(s.begin(envelope({}), failure));
  EXPECT_FALSE(failure.delivered());
}

// Makes write(2) fail with EFBIG past `limit` bytes (works as root, unlike chmod).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t limit) {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit lower = old_;
    lower.rlim_cur = limit;
    ::setrlimit(RLIMIT_FSIZE, &lower);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
};

TEST_F(MaildirStoreTest, AppendAfterFailureReturnsTheFailure) {
  const stdfs::path md = root() / "m";
  auto s = store(root());
  Outcome failure;
  auto w = s.begin(envelope({mailbox("a@x", md), mailbox("b@x", root() / "n")}), failure);
  ASSERT_TRUE(w);
  std::optional<Outcome> err;
  {
    const FileSizeLimit limit(4096);
    err = w->append(std::string(8192, 'x'));
  }
  ASSERT_TRUE(err);
  EXPECT_EQ(err->code, 451);
  EXPECT_EQ(err->text.rfind("write failed: ", 0), 0u) << err->text;
  const auto again = w->append("small");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->text, err->text);
  const auto out = w->commit();
  ASSERT_EQ(out.size(), 2u);
  for (const auto& o : out) EXPECT_EQ(o.text, err->text);
  EXPECT_TRUE(list_dir(md / "new").empty());
  EXPECT_TRUE(list_dir(md / "tmp").empty());
  w->discard();
}

TEST_F(MaildirStoreTest, AcrossFileSystemsCopies) {
  if (!stdfs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  TempDir other("/dev/shm");
  if (stat_of(other.path()).st_dev == stat_of(root()).st_dev)
    GTEST_SKIP() << "/dev/shm is on the same file system";
  // Both Maildirs must lie below the root: "/" (each path is then walked without symlinks from "/").
  auto s = store("/");
  const Envelope e = envelope({mailbox("a@x", root() / "a"), mailbox("b@x", other.path() / "b")});
  const auto out = deliver(s, e, {kBody});
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].delivered()) << out[0].text;
  ASSERT_TRUE(out[1].delivered()) << out[1].text;
  EXPECT_EQ(read_file(out[1].location), read_file(out[0].location));
  EXPECT_EQ(stat_of(out[1].location).st_nlink, 1u);
  EXPECT_TRUE(list_dir(other.path() / "b" / "tmp").empty());
  EXPECT_EQ(stdfs::path(out[1].location).parent_path(), other.path() / "b" / "new");
}

TEST_F(MaildirStoreTest, WithoutFsyncStillDelivers) {
  auto s = store(root(), false);
  const auto out = deliver(s, envelope({mailbox("a@x", root() / "a")}), {kBody});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].delivered());
}

TEST_F(MaildirStoreTest, LargeMessageInChunks) {
  auto s = store(root());
  std::vector<std::string> chunks(40, std::string(64 * 1024, 'y') + "\r\n");
  const Envelope e = envelope({mailbox("a@x", root() / "a")});
  const auto out = deliver(s, e, chunks);
  ASSERT_TRUE(out.at(0).delivered());
  EXPECT_EQ(stdfs::file_size(out[0].location), trace_headers(e).size() + 40 * (64 * 1024 + 2));
}

// Review finding 1: a symlink below mail.root must never carry mail outside it. Each case makes one
// directory of bob's Maildir path a symlink to a directory outside the root and sends to bob and
// alice in one transaction: bob gets 451 4.3.0, alice her copy, and nothing lands outside.
class MaildirStoreSymlinkTest : public MaildirStoreTest {
 protected:
  stdfs::path bob() const { return root() / "example.test" / "bob" / "Maildir"; }
  stdfs::path alice() const { return root() / "example.test" / "alice" / "Maildir"; }

  // Points `link` (below the root) at the outside directory, making its parents first.
  void plant(const stdfs::path& link) {
    stdfs::create_directories(link.parent_path());
    stdfs::create_directory_symlink(outside_.path(), link);
  }

  void expect_bob_refused_alice_delivered(const std::vector<Outcome>& out) {
    ASSERT_EQ(out.size(), 2u);
    EXPECT_FALSE(out[0].delivered());
    EXPECT_EQ(out[0].code, 451);
    EXPECT_EQ(out[0].enhanced, "4.3.0");
    EXPECT_EQ(out[0].text.rfind("Mailbox path contains a symlink: example.test/bob", 0), 0u) << out[0].text;
    EXPECT_TRUE(out[0].location.empty());
    ASSERT_TRUE(out[1].delivered()) << out[1].text;
    EXPECT_EQ(list_dir(alice() / "new").size(), 1u);
    EXPECT_TRUE(list_dir(alice() / "tmp").empty());
    EXPECT_TRUE(list_dir(outside_.path()).empty());
  }

  std::vector<Outcome> send_to_bob_and_alice() {
    auto s = store(root());
    return deliver(s, envelope({mailbox("bob@example.test", bob()), mailbox("alice@example.test", alice())}),
                   {kBody});
  }

  TempDir outside_;
};

TEST_F(MaildirStoreSymlinkTest, NewIsASymlink) {
  stdfs::create_directories(bob() / "tmp");
  stdfs::create_directories(bob() / "cur");
  plant(bob() / "new");
  expect_bob_refused_alice_delivered(send_to_bob_and_alice());
  EXPECT_TRUE(list_dir(bob() / "tmp").empty());
}

TEST_F(MaildirStoreSymlinkTest, UserDirectoryIsASymlink) {
  plant(root() / "example.test" / "bob");
  expect_bob_refused_alice_delivered(send_to_bob_and_alice());
}

TEST_F(MaildirStoreSymlinkTest, TmpIsASymlinkSoTheSpoolGoesElsewhere) {
  stdfs::create_directories(bob() / "new");
  plant(bob() / "tmp");
  auto s = store(root());
  Outcome failure;
  auto w = s.begin(envelope({mailbox("bob@example.test", bob()), mailbox("alice@example.test", alice())}),
                   failure);
  ASSERT_TRUE(w) << failure.text;
  EXPECT_TRUE(list_dir(outside_.path()).empty());  // the spool is not in bob's (symlinked) tmp/
  EXPECT_EQ(list_dir(alice() / "tmp").size(), 1u);
  ASSERT_EQ(w->append(kBody), std::nullopt);
  expect_bob_refused_alice_delivered(w->commit());
  EXPECT_TRUE(list_dir(bob() / "new").empty());
}

TEST_F(MaildirStoreSymlinkTest, OnlyRecipientBehindASymlinkBeginFails) {
  plant(root() / "example.test" / "bob");
  auto s = store(root());
  Outcome failure;
  EXPECT_FALSE(s.begin(envelope({mailbox("bob@example.test", bob())}), failure));
  EXPECT_EQ(failure.code, 451);
  EXPECT_EQ(failure.text, "Mailbox path contains a symlink: example.test/bob");
  EXPECT_TRUE(list_dir(outside_.path()).empty());
}

TEST_F(MaildirStoreTest, MaildirOutsideRootIsNeverWritten) {
  TempDir outside;
  auto s = store(root());
  const auto out =
      deliver(s,
              envelope({mailbox("a@x", root() / "a"), mailbox("b@x", outside.path() / "b"),
                        mailbox("c@x", root() / ".." / stdfs::path(outside.path()).filename() / "c")}),
              {kBody});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].delivered()) << out[0].text;
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(out[i].code, 451);
    EXPECT_EQ(out[i].enhanced, "4.3.0");
    EXPECT_EQ(out[i].text, "Mailbox path is outside mail.root");
  }
  EXPECT_TRUE(list_dir(outside.path()).empty());
}

TEST_F(MaildirStoreTest, RootReachedThroughASymlinkDelivers) {
  TempDir elsewhere;
  const stdfs::path link = elsewhere.path() / "mail";
  stdfs::create_directory_symlink(root(), link);
  auto s = store(link);
  const auto out = deliver(s, envelope({mailbox("a@x", link / "a" / "Maildir")}), {kBody});
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_EQ(list_dir(root() / "a" / "Maildir" / "new").size(), 1u);
}

TEST_F(MaildirStoreTest, ManyMaildirsInOneTransaction) {
  // More distinct Maildirs than new/ directories held open at once (the fsyncs go in batches).
  std::vector<std::shared_ptr<const Mailbox>> rcpts;
  for (int i = 0; i < 150; ++i)
    rcpts.push_back(mailbox("u" + std::to_string(i) + "@x", root() / std::to_string(i)));
  auto s = store(root());
  const auto out = deliver(s, envelope(rcpts), {kBody});
  ASSERT_EQ(out.size(), rcpts.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(out[i].delivered()) << i << ": " << out[i].text;
    EXPECT_EQ(list_dir(rcpts[i]->maildir / "new").size(), 1u);
  }
  EXPECT_EQ(stat_of(out[0].location).st_nlink, rcpts.size());
}

TEST(NullStore, AcceptsEverything) {
  NullStore s;
  Envelope e;
  e.recipients = {mailbox("a@x", "/nonexistent/a"), mailbox("b@x", "/nonexistent/b")};
  Outcome failure;
  auto w = s.begin(e, failure);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->append("12345"), std::nullopt);
  EXPECT_EQ(w->append("678"), std::nullopt);
  const auto out = w->commit();
  ASSERT_EQ(out.size(), 2u);
  for (const auto& o : out) {
    EXPECT_TRUE(o.delivered());
    EXPECT_EQ(o.code, 250);
  }
  w->discard();
}

}  // namespace
}  // namespace mailslot::delivery
