// mail.per_recipient_headers: with several recipients in one transaction, every copy is a file of
// its own with its recipient's Return-Path, Delivered-To, X-Original-To and "Received: ... for
// <rcpt>" (the body spooled once, copied after each header block); off, one hard-linked file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "envelope_util.hpp"
#include "mailslot/delivery/duplicates.hpp"
#include "mailslot/delivery/fs_faults.hpp"
#include "mailslot/delivery/maildir_store.hpp"
#include "mailslot/delivery/trace_headers.hpp"
#include "test_util.hpp"

namespace mailslot::delivery {
namespace {

using fs::FaultyFileSystem;
using fs::Op;
using testing::list_dir;
using testing::mailbox;
using testing::read_file;
using testing::stat_of;
using testing::TempDir;
namespace stdfs = std::filesystem;

// Bare LFs in the body: W= must count them as CRLF, in each copy's own size.
const std::string kBody = "Message-ID: <prh1@example.org>\r\nSubject: three\r\n\r\nbody line\nanother\r\n";

class PerRecipientHeadersTest : public ::testing::Test {
 protected:
  std::shared_ptr<FaultyFileSystem> faulty_ = std::make_shared<FaultyFileSystem>();

  MaildirStore store(std::shared_ptr<DuplicateDb> duplicates = nullptr) {
    MaildirStoreOptions o{"mail.example.test", true, tmp_.path(), faulty_};
    o.duplicates = std::move(duplicates);
    return MaildirStore(o);
  }
  stdfs::path md(const std::string& user) const { return tmp_.path() / "example.test" / user / "Maildir"; }
  std::shared_ptr<const Mailbox> rcpt(const std::string& user) const {
    return mailbox(user + "@example.test", md(user));
  }

  Envelope three(bool per_recipient) const {
    Envelope e = testing::envelope({rcpt("ann"), rcpt("ben"), rcpt("cat")});
    e.per_recipient_headers = per_recipient;
    e.x_original_to = true;
    e.forward_paths = {"Ann@example.test", "ben@EXAMPLE.test", "cat@example.test"};
    e.original_recipients = {"", "", "alias@example.test"};  // cat's ORCPT
    return e;
  }

  std::vector<Outcome> deliver(MailStore& s, const Envelope& e, const std::string& body = kBody) {
    Outcome failure;
    auto w = s.begin(e, failure);
    if (!w) return std::vector<Outcome>(e.recipients.size(), failure);
    if (auto f = w->append(body)) return std::vector<Outcome>(e.recipients.size(), *f);
    return w->commit();
  }

  // The one file in new/ of `user`.
  stdfs::path only_file(const std::string& user) const {
    const auto names = list_dir(md(user) / "new");
    EXPECT_EQ(names.size(), 1u) << user;
    return names.empty() ? stdfs::path() : md(user) / "new" / names.front();
  }

  TempDir tmp_;
};

std::string size_suffix(std::uint64_t size, std::uint64_t vsize) {
  return ",S=" + std::to_string(size) + ",W=" + std::to_string(vsize);
}

std::uint64_t crlf_size(const std::string& s) {
  std::uint64_t n = s.size();
  for (std::size_t i = 0; i < s.size(); ++i) n += s[i] == '\n' && (i == 0 || s[i - 1] != '\r');
  return n;
}

TEST_F(PerRecipientHeadersTest, ThreeRecipientsEachGetTheirOwnHeadersAndFile) {
  auto s = store();
  const Envelope e = three(true);
  const auto out = deliver(s, e);
  ASSERT_EQ(out.size(), 3u);
  std::set<ino_t> inodes;
  const std::vector<std::string> users = {"ann", "ben", "cat"};
  const std::vector<std::string> original = {"Ann@example.test", "ben@EXAMPLE.test", "alias@example.test"};
  for (std::size_t i = 0; i < users.size(); ++i) {
    ASSERT_TRUE(out[i].delivered()) << out[i].text;
    const stdfs::path file = only_file(users[i]);
    const std::string text = read_file(file);
    const std::string address = users[i] + "@example.test";
    const std::string headers = trace_headers(e, i);
    // Exactly this recipient's block, then the body as sent.
    EXPECT_EQ(text, headers + kBody) << users[i];
    EXPECT_EQ(text.rfind("Return-Path: <alice@example.org>\r\n", 0), 0u);
    EXPECT_NE(text.find("Delivered-To: " + address + "\r\n"), std::string::npos) << text;
    EXPECT_NE(text.find("X-Original-To: " + original[i] + "\r\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\tfor <" + address + ">;"), std::string::npos) << text;
    for (const auto& other : users) {
      if (other == users[i]) continue;
      EXPECT_EQ(text.find(other + "@"), std::string::npos) << "copy reveals " << other;
    }
    // S= and W= are this copy's own (its header block differs in length from the others').
    const auto st = stat_of(file);
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), text.size());
    EXPECT_TRUE(file.filename().string().ends_with(size_suffix(text.size(), crlf_size(text)))) << file;
    EXPECT_EQ(st.st_nlink, 1u);
    inodes.insert(st.st_ino);
    EXPECT_TRUE(list_dir(md(users[i]) / "tmp").empty()) << users[i];  // the spool and the copies are gone
  }
  EXPECT_EQ(inodes.size(), 3u);
}

TEST_F(PerRecipientHeadersTest, OffSharesOneInodeWithoutPerRecipientHeaders) {
  auto s = store();
  const auto out = deliver(s, three(false));
  std::set<ino_t> inodes;
  for (const char* u : {"ann", "ben", "cat"}) {
    const stdfs::path file = only_file(u);
    const std::string text = read_file(file);
    EXPECT_EQ(text, trace_headers(three(false)) + kBody);
    EXPECT_EQ(text.find("Delivered-To:"), std::string::npos);
    EXPECT_EQ(text.find("X-Original-To:"), std::string::npos);
    EXPECT_EQ(text.find("\tfor <"), std::string::npos);
    const auto st = stat_of(file);
    EXPECT_EQ(st.st_nlink, 3u);
    inodes.insert(st.st_ino);
  }
  EXPECT_EQ(inodes.size(), 1u);
  for (const auto& o : out) EXPECT_TRUE(o.delivered()) << o.text;
}

TEST_F(PerRecipientHeadersTest, OneRecipientTakesTheSingleInstancePathUnchanged) {
  auto s = store();
  Envelope on = testing::envelope({rcpt("ann")});
  on.per_recipient_headers = true;
  ASSERT_TRUE(deliver(s, on)[0].delivered());
  EXPECT_EQ(read_file(only_file("ann")), trace_headers(on) + kBody);
  EXPECT_EQ(trace_headers(on), trace_headers(on, 0));
}

TEST_F(PerRecipientHeadersTest, ABodyOfMegabytesIsCopiedWhole) {
  auto s = store();
  std::string body = "Subject: big\r\n\r\n";
  for (int i = 0; body.size() < (3u << 20); ++i) body += "line " + std::to_string(i) + "\r\n";
  const Envelope e = three(true);
  const auto out = deliver(s, e, body);
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(out[i].delivered()) << out[i].text;
    EXPECT_EQ(read_file(only_file(std::vector<std::string>{"ann", "ben", "cat"}[i])),
              trace_headers(e, i) + body);
  }
}

// copy_file_range refused (a kernel or file system without it): the read/write fallback makes the
// same files.
TEST_F(PerRecipientHeadersTest, CopyFallsBackToReadWrite) {
  for (const int err : {EXDEV, EOPNOTSUPP, ENOSYS}) {
    TempDir fresh;
    auto s = MaildirStore(MaildirStoreOptions{"mail.example.test", true, fresh.path(), faulty_});
    faulty_->fail(Op::copy, err, 1, FaultyFileSystem::kForever);
    Envelope e = three(true);
    for (auto& r : e.recipients) {
      auto m = std::make_shared<Mailbox>(*r);
      m->maildir = fresh.path() / stdfs::path(r->maildir).lexically_relative(tmp_.path());
      r = m;
    }
    const std::uint64_t refused = faulty_->failures(Op::copy);
    const auto out = deliver(s, e);
    faulty_->clear();
    EXPECT_EQ(faulty_->failures(Op::copy) - refused, 3u);  // one refusal per copy, then read/write
    for (std::size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(out[i].delivered()) << err << ": " << out[i].text;
      const auto names = list_dir(e.recipients[i]->maildir / "new");
      ASSERT_EQ(names.size(), 1u);
      EXPECT_EQ(read_file(e.recipients[i]->maildir / "new" / names[0]), trace_headers(e, i) + kBody);
    }
  }
}

// A fault while making one recipient's copy fails that recipient alone (451, nothing of it left in
// tmp/ or new/); the others are delivered.
TEST_F(PerRecipientHeadersTest, AFaultOnOneCopyFailsOnlyThatRecipient) {
  auto s = store();
  // Warm up: every Maildir exists, so the calls below are the copies' own.
  ASSERT_TRUE(deliver(s, three(true))[0].delivered());
  for (const char* u : {"ann", "ben", "cat"}) stdfs::remove(only_file(u));
  // Each copy: copy_file_range until it returns 0, i.e. two calls; the third is ben's first.
  faulty_->fail(Op::copy, EIO, 3);
  auto out = deliver(s, three(true));
  EXPECT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_EQ(out[1].code, 451);
  EXPECT_EQ(out[1].enhanced, "4.3.0");
  EXPECT_NE(out[1].text.find("copy failed"), std::string::npos) << out[1].text;
  EXPECT_TRUE(out[2].delivered()) << out[2].text;
  EXPECT_TRUE(list_dir(md("ben") / "new").empty());
  for (const char* u : {"ann", "ben", "cat"}) EXPECT_TRUE(list_dir(md(u) / "tmp").empty()) << u;

  // ENOSPC on cat's fsync: 452 4.3.1 for cat alone.
  for (const char* u : {"ann", "cat"}) stdfs::remove(only_file(u));
  faulty_->clear();
  // One fsync per copy (the spool itself is never linked, so it needs none), then the new/
  // directories together at the end: the third is cat's file.
  faulty_->fail(Op::fsync, ENOSPC, 3);
  out = deliver(s, three(true));
  EXPECT_TRUE(out[0].delivered()) << out[0].text;
  EXPECT_TRUE(out[1].delivered()) << out[1].text;
  EXPECT_EQ(out[2].code, 452) << out[2].text;
  EXPECT_EQ(out[2].enhanced, "4.3.1");
  EXPECT_TRUE(list_dir(md("cat") / "new").empty());
}

// maildirsize counts each copy's own size (the second delivery: the first creates the Maildirs,
// and maildirsize is built when a Maildir that exists is read).
TEST_F(PerRecipientHeadersTest, QuotaCountsEachCopysOwnSize) {
  auto s = store();
  Envelope e = three(true);
  for (auto& r : e.recipients) {
    auto m = std::make_shared<Mailbox>(*r);
    m->quota = {1 << 20, 0};
    r = m;
  }
  const std::vector<std::string> users = {"ann", "ben", "cat"};
  for (const auto& o : deliver(s, e)) ASSERT_TRUE(o.delivered()) << o.text;
  std::vector<std::vector<std::string>> before;
  for (const auto& u : users) before.push_back(list_dir(md(u) / "new"));
  const auto out = deliver(s, e);
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(out[i].delivered()) << out[i].text;
    std::string added;
    for (const auto& n : list_dir(md(users[i]) / "new")) {
      if (std::find(before[i].begin(), before[i].end(), n) == before[i].end()) added = n;
    }
    ASSERT_FALSE(added.empty());
    const std::string size = std::to_string(stat_of(md(users[i]) / "new" / added).st_size);
    const std::string text = read_file(md(users[i]) / "maildirsize");
    EXPECT_TRUE(text.ends_with("\n" + size + " 1\n")) << users[i] << ": " << text;
  }
}

// [duplicates] keeps working: a retry is suppressed per Maildir, a new recipient still gets its copy.
TEST_F(PerRecipientHeadersTest, DuplicatesAreStillSuppressed) {
  auto s = store(DuplicateDb::open(tmp_.path() / "dup.sqlite", std::chrono::hours(24)));
  Envelope first = testing::envelope({rcpt("ann"), rcpt("ben")});
  first.per_recipient_headers = true;
  for (const auto& o : deliver(s, first)) ASSERT_TRUE(o.delivered()) << o.text;
  const Envelope retry = three(true);
  const auto out = deliver(s, retry);
  EXPECT_TRUE(out[0].duplicate);
  EXPECT_TRUE(out[1].duplicate);
  ASSERT_TRUE(out[2].delivered());
  EXPECT_FALSE(out[2].duplicate);
  EXPECT_EQ(list_dir(md("ann") / "new").size(), 1u);
  EXPECT_EQ(read_file(only_file("cat")), trace_headers(retry, 2) + kBody);
}

}  // namespace
}  // namespace mailslot::delivery
