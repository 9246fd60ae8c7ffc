#include "mailslot/delivery/dsn_report.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "envelope_util.hpp"
#include "mailslot/delivery/dsn_spool.hpp"

namespace mailslot::delivery {
namespace {

using std::chrono::system_clock;

std::shared_ptr<const Mailbox> mailbox(const std::string& address) { return testing::mailbox(address, "/var/mail/x"); }

Envelope sample() {
  Envelope e;
  e.reverse_path = "alice@example.org";
  e.recipients = {mailbox("bob@example.test"), mailbox("carol@example.test")};
  e.forward_paths = {"bob@example.test", "carol@example.test"};
  e.original_recipients = {"alias@example.test", ""};
  e.dsn_notify = {lmtp::dsn_notify::success | lmtp::dsn_notify::failure, lmtp::dsn_notify::success};
  e.dsn_envid = "QQ314159";
  e.session_id = "abc-000001.1";
  e.hostname = "mail.example.test";
  e.received_at = system_clock::from_time_t(1795440358);  // Mon, 23 Nov 2026 13:25:58 UTC
  return e;
}

std::vector<Outcome> delivered(std::size_t n) { return std::vector<Outcome>(n, Outcome::ok("/nonexistent")); }

std::string whole(const DsnReport& r, std::string_view content) {
  return r.head + std::string(content) + r.tail;
}

TEST(DsnReport, StructureAndHeaders) {
  const Envelope e = sample();
  const auto which = success_dsn_recipients(e, delivered(2));
  ASSERT_EQ(which, (std::vector<std::size_t>{0, 1}));
  const std::string m = whole(success_dsn(success_dsn_input(e, which)), "Subject: hi\r\n\r\n");
  const std::string head = m.substr(0, m.find("\r\n\r\n"));
  EXPECT_NE(head.find("From: Mail Delivery System <MAILER-DAEMON@mail.example.test>\r\n"), std::string::npos);
  EXPECT_NE(head.find("To: <alice@example.org>\r\n"), std::string::npos);
  EXPECT_NE(head.find("Auto-Submitted: auto-replied\r\n"), std::string::npos);
  EXPECT_NE(head.find("Message-ID: <abc-000001.1.dsn@mail.example.test>\r\n"), std::string::npos);
  EXPECT_TRUE(std::regex_search(head, std::regex("Date: \\w{3}, \\d\\d \\w{3} \\d{4} ")));
  std::smatch b;
  ASSERT_TRUE(std::regex_search(
      head, b,
      std::regex("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"([^\"]+)\"")));
  const std::string boundary = b[1];
  // Three parts and the closing delimiter, in order.
  const auto p1 = m.find("--" + boundary + "\r\nContent-Type: text/plain");
  const auto p2 = m.find("--" + boundary + "\r\nContent-Type: message/delivery-status");
  const auto p3 = m.find("--" + boundary + "\r\nContent-Type: text/rfc822-headers");
  const auto end = m.find("\r\n--" + boundary + "--\r\n");
  ASSERT_NE(p1, std::string::npos);
  ASSERT_NE(p2, std::string::npos);
  ASSERT_NE(p3, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  EXPECT_TRUE(p1 < p2 && p2 < p3 && p3 < end);
  EXPECT_EQ(end + boundary.size() + 8, m.size());

  const std::string status = m.substr(p2, p3 - p2);
  EXPECT_NE(status.find("\r\n\r\nReporting-MTA: dns; mail.example.test\r\n"
                        "Original-Envelope-Id: QQ314159\r\n"
                        "Arrival-Date: Mon, 23 Nov 2026 13:25:58 +0000\r\n"
                        "\r\n"
                        "Original-Recipient: rfc822;alias@example.test\r\n"
                        "Final-Recipient: rfc822;bob@example.test\r\n"
                        "Action: delivered\r\n"
                        "Status: 2.0.0\r\n"
                        "\r\n"
                        "Final-Recipient: rfc822;carol@example.test\r\n"  // no ORCPT: no Original-Recipient
                        "Action: delivered\r\n"
                        "Status: 2.0.0\r\n"),
            std::string::npos)
      << status;
  EXPECT_NE(m.find("<bob@example.test> (originally addressed to <alias@example.test>): delivery successful"),
            std::string::npos);
}

TEST(DsnReport, RetFullReturnsTheMessageHdrsAndDefaultTheHeaders) {
  Envelope e = sample();
  e.dsn_ret = lmtp::DsnRet::full;
  auto r = success_dsn(success_dsn_input(e, {0}));
  EXPECT_TRUE(r.full);
  EXPECT_NE(r.head.find("Content-Type: message/rfc822\r\n"), std::string::npos);
  e.dsn_ret = lmtp::DsnRet::hdrs;
  r = success_dsn(success_dsn_input(e, {0}));
  EXPECT_FALSE(r.full);
  EXPECT_NE(r.head.find("Content-Type: text/rfc822-headers\r\n"), std::string::npos);
  e.dsn_ret = lmtp::DsnRet::unspecified;
  r = success_dsn(success_dsn_input(e, {0}));
  EXPECT_FALSE(r.full);
  EXPECT_EQ(r.head.find("message/rfc822"), std::string::npos);
  // Without content the third part is left out (RFC 3464 §2: it is optional).
  EXPECT_EQ(r.head_without_content.find("rfc822-headers"), std::string::npos);
  EXPECT_NE(r.head_without_content.find("Action: delivered"), std::string::npos);
  // No ENVID: no Original-Envelope-Id.
  e.dsn_envid.reset();
  EXPECT_EQ(success_dsn(success_dsn_input(e, {0})).head.find("Original-Envelope-Id"), std::string::npos);
}

TEST(DsnReport, HeaderBlock) {
  EXPECT_EQ(header_block("A: 1\r\nB: 2\r\n\r\nbody\r\n"), "A: 1\r\nB: 2\r\n\r\n");
  EXPECT_EQ(header_block("A: 1\nB: 2\n\nbody\n"), "A: 1\nB: 2\n\n");
  EXPECT_EQ(header_block("A: 1\r\n"), "A: 1\r\n");
  EXPECT_EQ(header_block("\r\nbody"), "\r\n");
}

TEST(DsnReport, WhoGetsAReport) {
  Envelope e = sample();
  std::vector<Outcome> o = delivered(2);
  // Only NOTIFY containing SUCCESS.
  e.dsn_notify = {lmtp::dsn_notify::failure, 0};
  EXPECT_TRUE(success_dsn_recipients(e, o).empty());
  e.dsn_notify = {lmtp::dsn_notify::failure, lmtp::dsn_notify::success | lmtp::dsn_notify::delay};
  EXPECT_EQ(success_dsn_recipients(e, o), (std::vector<std::size_t>{1}));
  // Not for a failed delivery, nor for a duplicate suppressed (its first delivery was the one).
  e.dsn_notify = {lmtp::dsn_notify::success, lmtp::dsn_notify::success};
  o[0] = Outcome::temporary("disk");
  o[1] = Outcome::duplicate_suppressed();
  EXPECT_TRUE(success_dsn_recipients(e, o).empty());
  // Never for MAIL FROM:<> (RFC 3461 §5.2.1).
  e.reverse_path.clear();
  EXPECT_TRUE(success_dsn_recipients(e, delivered(2)).empty());
}

TEST(DsnReport, Utf8UsesTheGlobalTypes) {
  Envelope e = sample();
  e.smtputf8 = true;
  e.reverse_path = "ålice@example.org";
  e.forward_paths = {"bøb@example.test", "carol@example.test"};
  e.dsn_ret = lmtp::DsnRet::full;
  const auto r = success_dsn(success_dsn_input(e, {0, 1}));
  EXPECT_NE(r.head.find("To: <ålice@example.org>\r\n"), std::string::npos);
  EXPECT_NE(r.head.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(r.head.find("Content-Type: message/global-delivery-status\r\n"), std::string::npos);
  EXPECT_NE(r.head.find("Final-Recipient: utf-8;bøb@example.test\r\n"), std::string::npos);  // RFC 6533 §3
  EXPECT_NE(r.head.find("Final-Recipient: rfc822;carol@example.test\r\n"), std::string::npos);
  EXPECT_NE(r.head.find("Content-Type: message/global\r\n"), std::string::npos);
  EXPECT_NE(r.head.find("Content-Transfer-Encoding: 8bit\r\n"), std::string::npos);
}

TEST(DsnReport, ControlCharactersNeverBreakALine) {
  Envelope e = sample();
  e.reverse_path = "a\r\nBcc: x@evil.test";
  e.dsn_envid = "id\r\nX-Evil: 1";
  const auto r = success_dsn(success_dsn_input(e, {0}));
  EXPECT_EQ(r.head.find("\r\nBcc:"), std::string::npos);
  EXPECT_EQ(r.head.find("\r\nX-Evil:"), std::string::npos);
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(DsnSpool, WritesTheReportWithTheDeliveredCopy) {
  const auto dir = std::filesystem::temp_directory_path() / ("dsn_spool_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  prepare_dsn_spool(dir / "spool");
  const auto copy = dir / "copy";
  {
    std::ofstream(copy, std::ios::binary)
        << "Return-Path: <alice@example.org>\r\nSubject: caf\xc3\xa9\r\n\r\nbody line\r\n";
  }
  Envelope e = sample();
  std::vector<Outcome> o = {Outcome::ok(copy.string()), Outcome::temporary("no")};
  std::string error;
  // RET unspecified: the headers only.
  auto file = spool_success_dsn(dir / "spool", e, o, error);
  ASSERT_TRUE(file) << error;
  EXPECT_TRUE(file->string().ends_with(kDsnSuffix));
  std::string text = slurp(*file);
  EXPECT_TRUE(text.starts_with("alice@example.org\nFrom: "));
  EXPECT_NE(text.find("Subject: caf\xc3\xa9\r\n\r\n\r\n--"), std::string::npos);
  EXPECT_EQ(text.find("body line"), std::string::npos);
  EXPECT_EQ(text.find("carol@"), std::string::npos);  // carol's delivery failed: not reported
  auto header = read_spooled_dsn_header(*file);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->recipient, "alice@example.org");
  EXPECT_EQ(header->offset, std::string("alice@example.org\n").size());
  // RET=FULL: the whole copy.
  e.dsn_ret = lmtp::DsnRet::full;
  e.session_id = "abc-000001.2";
  file = spool_success_dsn(dir / "spool", e, o, error);
  ASSERT_TRUE(file) << error;
  text = slurp(*file);
  EXPECT_NE(text.find("Content-Type: message/rfc822\r\nContent-Description: Delivered message\r\n"
                      "Content-Transfer-Encoding: 8bit\r\n\r\nReturn-Path: <alice@example.org>\r\n"),
            std::string::npos);
  EXPECT_NE(text.find("body line\r\n\r\n--"), std::string::npos);
  // Nothing to report: no file.
  e.reverse_path.clear();
  EXPECT_FALSE(spool_success_dsn(dir / "spool", e, o, error));
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir / "spool")) ++files;
  EXPECT_EQ(files, 2u);  // and no temporary left behind
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mailslot::delivery
