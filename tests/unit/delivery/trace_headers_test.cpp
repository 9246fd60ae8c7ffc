#include "mailslot/delivery/trace_headers.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "mailslot/lmtp/utf8.hpp"

namespace mailslot::delivery {
namespace {

using std::chrono::system_clock;

std::shared_ptr<const Mailbox> mailbox(std::string address) {
  auto m = std::make_shared<Mailbox>();
  m->address = std::move(address);
  m->maildir = "/var/mail/x";
  return m;
}

Envelope sample() {
  Envelope e;
  e.reverse_path = "alice@example.org";
  e.recipients = {mailbox("bob@example.test")};
  e.client_helo = "mx.example.org";
  e.client_address = "192.0.2.1";
  e.session_id = "abc123";
  e.hostname = "mail.example.test";
  e.received_at = system_clock::from_time_t(1795440358);  // Mon, 23 Nov 2026 13:25:58 UTC
  return e;
}

bool lmtp_valid_utf8(const std::string& s) { return lmtp::utf8::is_valid(s); }

std::vector<std::string> lines(const std::string& h) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t crlf; (crlf = h.find("\r\n", start)) != std::string::npos; start = crlf + 2)
    out.push_back(h.substr(start, crlf - start));
  EXPECT_EQ(start, h.size()) << "headers must end with CRLF";
  return out;
}

TEST(TraceHeaders, OneRecipientExactText) {
  EXPECT_EQ(trace_headers(sample()),
            "Return-Path: <alice@example.org>\r\n"
            "Delivered-To: bob@example.test\r\n"
            "Received: from mx.example.org ([192.0.2.1])\r\n"
            "\tby mail.example.test (mailslot) with LMTP id abc123\r\n"
            "\tfor <bob@example.test>; Mon, 23 Nov 2026 13:25:58 +0000\r\n");
}

// XFORWARD/XCLIENT NAME from a trusted client (issue #8): "(name [addr])" as Postfix writes it; a
// name trying to add a clause loses its whitespace like any token.
TEST(TraceHeaders, ForwardedClientName) {
  Envelope e = sample();
  e.client_name = "mail.example.org";
  EXPECT_NE(trace_headers(e).find("Received: from mx.example.org (mail.example.org [192.0.2.1])\r\n"), std::string::npos);
  e.client_address.clear();
  EXPECT_NE(trace_headers(e).find("Received: from mx.example.org (mail.example.org)\r\n"), std::string::npos);
  e.client_name = "evil by fake.example";
  EXPECT_EQ(trace_headers(e).find("by fake"), std::string::npos);
}

TEST(TraceHeaders, TwoRecipientsRevealNeither) {
  Envelope e = sample();
  e.recipients.push_back(mailbox("carol@example.test"));
  const std::string h = trace_headers(e);
  EXPECT_EQ(h,
            "Return-Path: <alice@example.org>\r\n"
            "Received: from mx.example.org ([192.0.2.1])\r\n"
            "\tby mail.example.test (mailslot) with LMTP id abc123; Mon, 23 Nov 2026 13:25:58 +0000\r\n");
  EXPECT_EQ(h.find("bob@"), std::string::npos);
  EXPECT_EQ(h.find("carol@"), std::string::npos);
}

TEST(TraceHeaders, NullSender) {
  Envelope e = sample();
  e.reverse_path.clear();
  EXPECT_EQ(lines(trace_headers(e)).front(), "Return-Path: <>");
}

TEST(TraceHeaders, UnixSocketAndIpv6Peers) {
  Envelope e = sample();
  e.client_address.clear();
  EXPECT_EQ(lines(trace_headers(e))[2], "Received: from mx.example.org (unix socket)");
  e.client_address = "2001:db8::1";
  EXPECT_EQ(lines(trace_headers(e))[2], "Received: from mx.example.org ([IPv6:2001:db8::1])");
}

TEST(TraceHeaders, InjectionInHeloIsNeutralised) {
  Envelope e = sample();
  e.client_helo = "evil\r\nX-Injected: yes\r\n\r\nbody";
  e.reverse_path = "a@b\r\nX-Also: no";
  e.session_id = "id\nX-Id: 1";
  const std::string h = trace_headers(e);
  const auto ls = lines(h);
  ASSERT_EQ(ls.size(), 5u) << h;
  for (const auto& l : ls) {
    EXPECT_TRUE(l.rfind("Return-Path: ", 0) == 0 || l.rfind("Delivered-To: ", 0) == 0 ||
                l.rfind("Received: ", 0) == 0 || l.rfind("\t", 0) == 0)
        << l;
    EXPECT_EQ(l.find_first_of("\r\n"), std::string::npos) << l;
  }
  EXPECT_EQ(ls[2], "Received: from evilX-Injected:yesbody ([192.0.2.1])");
}

TEST(TraceHeaders, LongValuesStayBelow998OctetsPerLine) {
  Envelope e = sample();
  e.client_helo = std::string(5000, 'h');
  e.hostname = std::string(5000, 'n');
  e.session_id = std::string(5000, 'i');
  e.reverse_path = std::string(5000, 'r');
  e.recipients = {mailbox(std::string(5000, 'b'))};
  for (const auto& l : lines(trace_headers(e))) EXPECT_LT(l.size() + 2, 998u);
}

TEST(TraceHeaders, ControlBytesAndDelRemoved) {
  Envelope e = sample();
  e.client_helo = std::string("a\x01\x7f\tb\0c", 7);
  EXPECT_EQ(lines(trace_headers(e))[2], "Received: from abc ([192.0.2.1])");
}

// RFC 5322 §2.2: header fields are US-ASCII. A non-ASCII LHLO name or address (UTF-8 or raw bytes)
// must not reach the stored message as 8-bit header bytes.
TEST(TraceHeaders, NonAsciiBecomesQuestionMarks) {
  Envelope e = sample();
  e.client_helo = "ex\xc3\xa4mple.org\xff";
  e.reverse_path = "j\xc3\xb6rg@example.org";
  e.recipients = {
      mailbox("b\xe9"
              "b@example.test")};
  const std::string h = trace_headers(e);
  for (const char c : h) EXPECT_LT(static_cast<unsigned char>(c), 0x80u) << h;
  const auto ls = lines(h);
  ASSERT_EQ(ls.size(), 5u) << h;
  EXPECT_EQ(ls[0], "Return-Path: <j??rg@example.org>");
  EXPECT_EQ(ls[1], "Delivered-To: b?b@example.test");
  EXPECT_EQ(ls[2], "Received: from ex??mple.org? ([192.0.2.1])");
  EXPECT_EQ(ls[4].rfind("\tfor <b?b@example.test>;", 0), 0u) << ls[4];
}

TEST(Rfc5322Date, KnownInstants) {
  EXPECT_EQ(rfc5322_date(system_clock::from_time_t(0)), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(system_clock::from_time_t(1795440358)), "Mon, 23 Nov 2026 13:25:58 +0000");
  EXPECT_EQ(rfc5322_date(system_clock::from_time_t(951782400)), "Tue, 29 Feb 2000 00:00:00 +0000");
}

TEST(Rfc5322Date, NowHasTheShape) {
  const std::regex re(
      R"(^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d \+0000$)");
  EXPECT_TRUE(std::regex_match(rfc5322_date(system_clock::now()), re));
}


// ---- SMTPUTF8 and X-Original-To ---------------------------------------------------------------

TEST(TraceHeaders, Smtputf8KeepsUtf8AddressesAndSaysUtf8Lmtp) {
  Envelope e = sample();
  e.reverse_path = "j\xc3\xb6rg@b\xc3\xbc" "cher.test";
  e.recipients = {mailbox("\xe7\x94\xa8\xe6\x88\xb7@example.test")};
  e.client_helo = "h\xc3\xa9lo";
  e.smtputf8 = true;
  EXPECT_EQ(trace_headers(e),
            "Return-Path: <j\xc3\xb6rg@b\xc3\xbc" "cher.test>\r\n"
            "Delivered-To: \xe7\x94\xa8\xe6\x88\xb7@example.test\r\n"
            "Received: from h??lo ([192.0.2.1])\r\n"  // the LHLO argument is never trusted as UTF-8
            "\tby mail.example.test (mailslot) with UTF8LMTP id abc123\r\n"
            "\tfor <\xe7\x94\xa8\xe6\x88\xb7@example.test>; Mon, 23 Nov 2026 13:25:58 +0000\r\n");
  e.smtputf8 = false;  // without SMTPUTF8, RFC 5322 §2.2: ASCII only
  EXPECT_EQ(trace_headers(e).find('\xc3'), std::string::npos);
}

TEST(TraceHeaders, Utf8IsNeverCutInsideACharacter) {
  Envelope e = sample();
  e.smtputf8 = true;
  std::string local;
  for (int i = 0; i < 400; ++i) local += "\xe2\x82\xac";  // 1200 octets of euro signs
  e.recipients = {mailbox(local + "@example.test")};
  for (const std::string& line : lines(trace_headers(e))) {
    EXPECT_LE(line.size(), 998u);
    EXPECT_TRUE(lmtp_valid_utf8(line)) << line.substr(0, 40);
  }
}

TEST(TraceHeaders, XOriginalToFromOrcptOrTheRcptAsSent) {
  Envelope e = sample();
  e.x_original_to = true;
  e.forward_paths = {"Bob@Example.TEST"};
  e.original_recipients = {"alias@example.test"};
  EXPECT_NE(trace_headers(e).find("Delivered-To: bob@example.test\r\nX-Original-To: alias@example.test\r\n"),
            std::string::npos);
  e.original_recipients = {""};
  EXPECT_NE(trace_headers(e).find("X-Original-To: Bob@Example.TEST\r\n"), std::string::npos);
  e.original_recipients = {"evil\r\nBcc: x@y"};
  EXPECT_NE(trace_headers(e).find("X-Original-To: evilBcc: x@y\r\n"), std::string::npos);
  e.x_original_to = false;
  EXPECT_EQ(trace_headers(e).find("X-Original-To"), std::string::npos);
  // A copy shared by several recipients (hard links) carries none: it could name only one.
  e.x_original_to = true;
  e.recipients.push_back(mailbox("carol@example.test"));
  e.forward_paths.push_back("carol@example.test");
  e.original_recipients = {"alias@example.test", "other@example.test"};
  EXPECT_EQ(trace_headers(e).find("X-Original-To"), std::string::npos);
}

}  // namespace
}  // namespace mailslot::delivery
