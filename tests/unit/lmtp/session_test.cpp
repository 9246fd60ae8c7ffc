// lmtp::Session: states, replies, requests, pipelining and framing (RFC 2033, RFC 5321, RFC 2920).
#include "mailslot/lmtp/session.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <iterator>
#include <string>

#include "session_driver.hpp"

namespace mailslot::lmtp {
namespace {

using test::Driver;
using test::lines;
using State = Session::State;

const std::string kLhloReply =
    lines("250-mx.test", "250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-SIZE 52428800",
          "250-CHUNKING", "250-BINARYMIME", "250 SMTPUTF8");

// A driver past the greeting and LHLO.
Driver ready(SessionOptions o = test::test_options()) {
  Driver d(std::move(o));
  d.send("LHLO client.test\r\n");
  d.take();
  return d;
}

// A driver inside a transaction with the given recipients accepted.
Driver in_mail(std::initializer_list<const char*> rcpts, SessionOptions o = test::test_options()) {
  Driver d = ready(std::move(o));
  d.send("MAIL FROM:<sender@example.test>\r\n");
  for (const char* r : rcpts) d.send(std::string("RCPT TO:<") + r + ">\r\n");
  d.take();
  return d;
}

// ---- greeting and LHLO ---------------------------------------------------------------------

TEST(Session, GreetingOnConstruction) {
  Driver d;
  EXPECT_EQ(d.take(), "220 mx.test LMTP mailslot ready\r\n");
  EXPECT_EQ(d.s.state(), State::greeted);
  EXPECT_FALSE(d.s.closed());
}

TEST(Session, LhloAnnouncesCapabilitiesWithoutEnhancedCodes) {
  Driver d;
  d.take();
  d.send("LHLO client.test\r\n");
  EXPECT_EQ(d.take(), kLhloReply);
  EXPECT_EQ(d.s.state(), State::ready);
  EXPECT_EQ(d.s.client_name(), "client.test");
}

TEST(Session, LhloSizeFollowsTheLimit) {
  SessionOptions o = test::test_options();
  o.limits.max_message_size = 1234;
  Driver d(o);
  d.take();
  d.send("lhlo [192.0.2.1]\r\n");
  EXPECT_NE(d.take().find("250-SIZE 1234\r\n"), std::string::npos);
  EXPECT_EQ(d.s.client_name(), "[192.0.2.1]");
}

TEST(Session, LhloWithoutArgument) {
  Driver d;
  d.take();
  d.send("LHLO\r\n");
  EXPECT_EQ(d.take(), "501 5.5.4 Syntax: LHLO hostname\r\n");
  EXPECT_EQ(d.s.state(), State::greeted);
}

TEST(Session, HeloAndEhloAreRefused) {
  Driver d;
  d.take();
  d.send("HELO client.test\r\nEHLO client.test\r\nEHLO\r\n");
  EXPECT_EQ(d.take(), lines("500 5.5.1 Use LHLO", "500 5.5.1 Use LHLO", "500 5.5.1 Use LHLO"));
  EXPECT_EQ(d.s.state(), State::greeted);
}

TEST(Session, LhloMayBeRepeatedAndResetsTheTransaction) {
  Driver d = in_mail({"bob@example.test"});
  d.send("LHLO other.test\r\n");
  EXPECT_EQ(d.take(), kLhloReply);
  EXPECT_EQ(d.s.state(), State::ready);
  EXPECT_TRUE(d.s.transaction().recipients.empty());
  EXPECT_EQ(d.s.client_name(), "other.test");
  d.send("RCPT TO:<bob@example.test>\r\n");
  EXPECT_EQ(d.take(), "503 5.5.1 Need MAIL before RCPT\r\n");
}

// ---- MAIL ----------------------------------------------------------------------------------

TEST(Session, MailBeforeLhlo) {
  Driver d;
  d.take();
  d.send("MAIL FROM:<a@b.test>\r\n");
  EXPECT_EQ(d.take(), "503 5.5.1 Send LHLO first\r\n");
}

TEST(Session, MailAccepted) {
  Driver d = ready();
  d.send("MAIL FROM:<sender@example.test>\r\n");
  EXPECT_EQ(d.take(), "250 2.1.0 Sender <sender@example.test> OK\r\n");
  EXPECT_EQ(d.s.state(), State::mail);
  EXPECT_EQ(d.s.transaction().reverse_path.mailbox.local_part, "sender");
}

TEST(Session, NullSender) {
  Driver d = ready();
  d.send("MAIL FROM:<>\r\n");
  EXPECT_EQ(d.take(), "250 2.1.0 Sender <> OK\r\n");
  EXPECT_TRUE(d.s.transaction().reverse_path.null);
}

TEST(Session, NestedMail) {
  Driver d = in_mail({});
  d.send("MAIL FROM:<other@example.test>\r\n");
  EXPECT_EQ(d.take(), "503 5.5.1 Nested MAIL command\r\n");
  EXPECT_EQ(d.s.transaction().reverse_path.mailbox.local_part, "sender");
}

TEST(Session, MailBadPath) {
  Driver d = ready();
  d.send("MAIL FROM:<bad path@x.test>\r\nMAIL FROM:a@b.test\r\nMAIL TO:<a@b.test>\r\n");
  EXPECT_EQ(d.take(), lines("501 5.1.7 Bad sender address syntax", "501 5.1.7 Bad sender address syntax",
                            "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]"));
  EXPECT_EQ(d.s.state(), State::ready);
}

TEST(Session, MailParameters) {
  Driver d = ready();
  d.send("MAIL FROM:<a@b.test> SIZE=1000 body=8bitmime\r\n");
  EXPECT_EQ(d.take(), "250 2.1.0 Sender <a@b.test> OK\r\n");
  EXPECT_EQ(d.s.transaction().declared_size, 1000u);
  EXPECT_EQ(d.s.transaction().body, Body::eight_bit_mime);
  d.send("RSET\r\nMAIL FROM:<a@b.test> BODY=7Bit\r\n");
  d.take();
  EXPECT_EQ(d.s.transaction().body, Body::seven_bit);
  EXPECT_FALSE(d.s.transaction().declared_size);
}

TEST(Session, MailParameterErrors) {
  SessionOptions o = test::test_options();
  o.limits.max_message_size = 1000;
  Driver d = ready(o);
  d.send(
      "MAIL FROM:<a@b.test> SIZE=1001\r\n"
      "MAIL FROM:<a@b.test> SIZE=99999999999999999999999999\r\n"
      "MAIL FROM:<a@b.test> SIZE=12k\r\n"
      "MAIL FROM:<a@b.test> SIZE\r\n"
      "MAIL FROM:<a@b.test> SIZE=1 SIZE=2\r\n"
      "MAIL FROM:<a@b.test> BODY=BINARY\r\n"
      "MAIL FROM:<a@b.test> BODY\r\n"
      "MAIL FROM:<a@b.test> SMTPUTF8=yes\r\n"
      "MAIL FROM:<a@b.test> SMTPUTF8 SMTPUTF8\r\n"
      "MAIL FROM:<a@b.test> RET=FULL\r\n"
      "MAIL FROM:<a@b.test> X=1=2\r\n"
      "MAIL FROM:<a@b.test> SIZE=1000\r\n");
  EXPECT_EQ(d.take(), lines("552 5.3.4 Message size exceeds fixed maximum message size",
                            "552 5.3.4 Message size exceeds fixed maximum message size",
                            "501 5.5.4 Bad SIZE parameter", "501 5.5.4 Bad SIZE parameter",
                            "501 5.5.4 Bad SIZE parameter", "501 5.5.4 Unsupported BODY type",
                            "501 5.5.4 Bad BODY parameter", "501 5.5.4 Bad SMTPUTF8 parameter",
                            "501 5.5.4 Bad SMTPUTF8 parameter", "555 5.5.4 Unsupported parameter RET",
                            "501 5.5.4 Bad parameter syntax", "250 2.1.0 Sender <a@b.test> OK"));
}

// ---- RCPT ----------------------------------------------------------------------------------

TEST(Session, RcptBeforeMail) {
  Driver d = ready();
  d.send("RCPT TO:<bob@example.test>\r\n");
  EXPECT_EQ(d.take(), "503 5.5.1 Need MAIL before RCPT\r\n");
  EXPECT_TRUE(d.events.empty());
}

TEST(Session, RcptBadPathNullAndParameters) {
  Driver d = in_mail({});
  d.send("RCPT TO:<>\r\nRCPT TO:<bob@>\r\nRCPT TO:<bob@x.test> NOTIFY=NEVER\r\nRCPT TO:<bob@x.test> =\r\n");
  EXPECT_EQ(d.take(),
            lines("501 5.1.3 Bad recipient address syntax", "501 5.1.3 Bad recipient address syntax",
                  "555 5.5.4 Unsupported parameter NOTIFY", "501 5.5.4 Bad parameter syntax"));
  EXPECT_TRUE(d.events.empty());
}

TEST(Session, RcptWaitsForTheVerdict) {
  Driver d = in_mail({});
  d.auto_answer = false;
  d.send("RCPT TO:<bob@example.test>\r\nNOOP\r\n");
  EXPECT_EQ(d.take(), "");  // RFC 2920: nothing is answered before it is decided
  ASSERT_TRUE(std::holds_alternative<CheckRecipient>(d.s.request()));
  EXPECT_EQ(std::get<CheckRecipient>(d.s.request()).forward_path.to_string(), "<bob@example.test>");
  d.s.recipient_checked({{250, "2.1.5", "Bob OK"}, std::make_shared<int>(7)});
  d.pump();
  EXPECT_EQ(d.take(), lines("250 2.1.5 Bob OK", "250 2.0.0 OK"));
  ASSERT_EQ(d.s.transaction().recipients.size(), 1u);
  EXPECT_EQ(*std::static_pointer_cast<const int>(d.s.transaction().recipients[0].resolved), 7);
}

TEST(Session, RefusedRecipientIsNotAccepted) {
  Driver d = in_mail({});
  d.send("RCPT TO:<unknown@example.test>\r\n");
  EXPECT_EQ(d.take(), "550 5.1.1 User unknown\r\n");
  EXPECT_TRUE(d.s.transaction().recipients.empty());
  d.send("DATA\r\n");
  EXPECT_EQ(d.take(), "503 5.5.1 No valid recipients\r\n");
  EXPECT_EQ(d.s.state(), State::mail);
}

TEST(Session, PostmasterWithoutDomain) {
  Driver d = in_mail({});
  d.send("RCPT TO:<Postmaster>\r\n");
  EXPECT_EQ(d.take(), "250 2.1.5 OK\r\n");
  EXPECT_EQ(d.events.back(), "check <Postmaster>");
}

TEST(Session, TooManyRecipients) {
  SessionOptions o = test::test_options();
  o.limits.max_recipients = 2;
  Driver d = in_mail({}, o);
  d.send("RCPT TO:<unknown@x.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n");
  EXPECT_EQ(d.take(),
            lines("550 5.1.1 User unknown", "250 2.1.5 OK", "250 2.1.5 OK", "452 4.5.3 Too many recipients"));
  EXPECT_EQ(d.s.transaction().recipients.size(), 2u);
  EXPECT_EQ(d.events.size(), 3u);  // no check for the fourth
}

// ---- DATA ----------------------------------------------------------------------------------

TEST(Session, DataBeforeMailAndWithArguments) {
  Driver d = ready();
  d.send("DATA\r\n");
  EXPECT_EQ(d.take(), "503 5.5.1 Need MAIL before DATA\r\n");
  Driver m = in_mail({"bob@x.test"});
  m.send("DATA now\r\n");
  EXPECT_EQ(m.take(), "501 5.5.4 Syntax error, no arguments allowed\r\n");
  EXPECT_EQ(m.s.state(), State::mail);
}

TEST(Session, DataWaitsForTheSpool) {
  Driver d = in_mail({"bob@x.test"});
  d.auto_answer = false;
  d.send("DATA\r\nSubject: x\r\n");
  EXPECT_EQ(d.take(), "");
  ASSERT_TRUE(std::holds_alternative<OpenMessage>(d.s.request()));
  EXPECT_EQ(d.s.state(), State::mail);
  d.s.message_opened(std::nullopt);
  d.pump();
  EXPECT_EQ(d.take(), "354 Start mail input; end with <CRLF>.<CRLF>\r\n");
  EXPECT_EQ(d.s.state(), State::data);
}

TEST(Session, DataOpenFailure) {
  Driver d = in_mail({"bob@x.test"});
  d.open_failure = Reply{451, "4.3.0", "Temporary internal error"};
  d.send("DATA\r\nNOOP\r\n");
  EXPECT_EQ(d.take(), lines("451 4.3.0 Temporary internal error", "250 2.0.0 OK"));
  EXPECT_EQ(d.s.state(), State::ready);
  EXPECT_TRUE(d.s.transaction().recipients.empty());
}

TEST(Session, OneReplyPerAcceptedRecipientInOrder) {
  Driver d = in_mail({});
  d.commit = [](const Transaction& t) {
    std::vector<Reply> r;
    for (const Recipient& rc : t.recipients) {
      if (rc.forward_path.mailbox.local_part == "full") {
        r.push_back({552, "5.2.2", "Mailbox full"});
      } else {
        r.push_back({250, "2.0.0", rc.forward_path.mailbox.local_part + " Saved"});
      }
    }
    return r;
  };
  d.send(
      "RCPT TO:<a@x.test>\r\nRCPT TO:<unknown@x.test>\r\nRCPT TO:<full@x.test>\r\nRCPT TO:<a@x.test>\r\n"
      "DATA\r\nHello\r\n.\r\n");
  // RFC 2033 §4.2: one reply per accepted RCPT, in order, also for the repeated one.
  EXPECT_EQ(d.take(), lines("250 2.1.5 OK", "550 5.1.1 User unknown", "250 2.1.5 OK", "250 2.1.5 OK",
                            "354 Start mail input; end with <CRLF>.<CRLF>", "250 2.0.0 a Saved",
                            "552 5.2.2 Mailbox full", "250 2.0.0 a Saved"));
  ASSERT_EQ(d.delivered.size(), 1u);
  EXPECT_EQ(d.delivered[0], "Hello\r\n");
  EXPECT_EQ(d.s.state(), State::ready);
  EXPECT_TRUE(d.s.transaction().recipients.empty());
  EXPECT_EQ(d.s.messages_committed(), 1u);
}

TEST(Session, CommitRepliesAreExactlyOnePerRecipient) {
  Driver few = in_mail({"a@x.test", "b@x.test", "c@x.test"});
  few.commit = [](const Transaction&) { return std::vector<Reply>{{250, "2.0.0", "one"}}; };
  few.send("DATA\r\n.\r\n");
  EXPECT_EQ(few.take(), lines("354 Start mail input; end with <CRLF>.<CRLF>", "250 2.0.0 one",
                              "451 4.3.0 Temporary internal error", "451 4.3.0 Temporary internal error"));

  Driver many = in_mail({"a@x.test"});
  many.commit = [](const Transaction&) {
    return std::vector<Reply>{{250, "2.0.0", "one"}, {250, "2.0.0", "two"}};
  };
  many.send("DATA\r\n.\r\n");
  EXPECT_EQ(many.take(), lines("354 Start mail input; end with <CRLF>.<CRLF>", "250 2.0.0 one"));
}

TEST(Session, MessagesCommittedCountsOnlyDeliveries) {
  Driver d = in_mail({"a@x.test"});
  d.commit = [](const Transaction&) { return std::vector<Reply>{{451, "4.2.0", "disk"}}; };
  d.send("DATA\r\nx\r\n.\r\n");
  EXPECT_EQ(d.s.messages_committed(), 0u);
}

TEST(Session, BodyIsDecodedAndChunked) {
  SessionOptions o = test::test_options();
  o.limits.body_chunk = 10;
  Driver d = in_mail({"a@x.test"}, o);
  std::string body;
  std::string wire;
  for (int i = 0; i < 30; ++i) {
    const std::string line = (i % 3 == 0 ? ".dot" : "line") + std::to_string(i);
    wire += (i % 3 == 0 ? "." : "") + line + "\r\n";
    body += line + "\r\n";
  }
  d.send("DATA\r\n" + wire + ".\r\n");
  ASSERT_EQ(d.delivered.size(), 1u);
  EXPECT_EQ(d.delivered[0], body);
  EXPECT_EQ(d.s.messages_committed(), 1u);
  EXPECT_GT(d.append_sizes.size(), 10u);
  for (std::size_t n : d.append_sizes) {
    EXPECT_GE(n, 1u);
    EXPECT_LE(n, 11u);  // a chunk, plus at most one held-back CR
  }
}

TEST(Session, MessageSizeIsUnstuffedContent) {
  Driver d = in_mail({"a@x.test"});
  d.auto_answer = false;
  d.send("DATA\r\n");
  d.answer();
  d.send("..ab\r\n");
  EXPECT_EQ(d.s.transaction().message_size, 5u);  // ".ab\r\n"
}

TEST(Session, EmptyMessageIsCommitted) {
  Driver d = in_mail({"a@x.test"});
  d.send("DATA\r\n.\r\n");
  ASSERT_EQ(d.delivered.size(), 1u);
  EXPECT_EQ(d.delivered[0], "");
  EXPECT_EQ(d.events, (std::vector<std::string>{"check <a@x.test>", "open", "commit"}));
}

TEST(Session, MessageTooBigIsReadToTheEndThenRefused) {
  SessionOptions o = test::test_options();
  o.limits.max_message_size = 100;
  o.limits.body_chunk = 16;
  Driver d = in_mail({"a@x.test", "b@x.test"}, o);
  d.send("DATA\r\n" + std::string(200, 'x') + "\r\n.\r\nNOOP\r\n");
  EXPECT_EQ(d.take(), lines("354 Start mail input; end with <CRLF>.<CRLF>",
                            "552 5.3.4 Message size exceeds fixed maximum message size",
                            "552 5.3.4 Message size exceeds fixed maximum message size", "250 2.0.0 OK"));
  EXPECT_TRUE(d.delivered.empty());
  EXPECT_EQ(d.events.back(), "discard");
  EXPECT_LE(d.spool.size(), 100u);  // nothing past the limit was appended
  EXPECT_EQ(d.s.state(), State::ready);
}

TEST(Session, MessageExactlyAtTheLimitIsAccepted) {
  SessionOptions o = test::test_options();
  o.limits.max_message_size = 10;
  Driver d = in_mail({"a@x.test"}, o);
  d.send("DATA\r\n12345678\r\n.\r\n");
  ASSERT_EQ(d.delivered.size(), 1u);
  EXPECT_EQ(d.delivered[0], "12345678\r\n");
}

TEST(Session, DataLineTooLong) {
  SessionOptions o = test::test_options();
  o.limits.max_data_line = 20;
  Driver d = in_mail({"a@x.test"}, o);
  d.send("DATA\r\nshort\r\n" + std::string(30, 'y') + "\r\n.\r\n");
  EXPECT_EQ(d.take(), lines("354 Start mail input; end with <CRLF>.<CRLF>",
                            "554 5.6.0 Line too long in message content"));
  EXPECT_TRUE(d.delivered.empty());
  // The limit does not stick to the next message.
  d.send("MAIL FROM:<>\r\nRCPT TO:<a@x.test>\r\nDATA\r\nok\r\n.\r\n");
  EXPECT_EQ(d.delivered.size(), 1u);
}

TEST(Session, AppendFailureAnswersEveryRecipient) {
  Driver d = in_mail({"a@x.test", "b@x.test"});
  d.append_failure = Reply{451, "4.3.0", "Temporary internal failure"};
  d.send("DATA\r\nbody\r\n.\r\n");
  EXPECT_EQ(d.take(), lines("354 Start mail input; end with <CRLF>.<CRLF>",
                            "451 4.3.0 Temporary internal failure", "451 4.3.0 Temporary internal failure"));
  EXPECT_EQ(d.events.back(), "discard");
  EXPECT_TRUE(d.delivered.empty());
}

TEST(Session, SmugglingInsideDataStaysContent) {
  Driver d = in_mail({"a@x.test"});
  d.send("DATA\r\nfirst\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@x.test>\r\nDATA\r\nfake\r\n.\r\n");
  EXPECT_EQ(d.take(), lines("354 Start mail input; end with <CRLF>.<CRLF>", "250 2.0.0 <a@x.test> Saved"));
  ASSERT_EQ(d.delivered.size(), 1u);
  EXPECT_EQ(d.delivered[0],
            "first\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@x.test>\r\nDATA\r\nfake\r\n");
}

TEST(Session, CommandInTheSameChunkAsTheDotIsKept) {
  Driver d = in_mail({"a@x.test"});
  d.send("DATA\r\nx\r\n.\r\nQUIT\r\n");
  EXPECT_EQ(d.take(), lines("354 Start mail input; end with <CRLF>.<CRLF>", "250 2.0.0 <a@x.test> Saved",
                            "221 2.0.0 mx.test closing connection"));
  EXPECT_TRUE(d.s.closed());
}

// ---- pipelining ----------------------------------------------------------------------------

const std::string kTwoTransactions =
    "LHLO client.test\r\n"
    "MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<unknown@x.test>\r\nRCPT TO:<b@x.test>\r\n"
    "DATA\r\nSubject: one\r\n\r\n..dot\r\n.\r\n"
    "MAIL FROM:<> SIZE=10\r\nRCPT TO:<c@x.test>\r\nDATA\r\ntwo\r\n.\r\n"
    "RSET\r\nNOOP\r\nVRFY a\r\nQUIT\r\nNOOP\r\n";

const std::string kTwoTransactionsReplies =
    "220 mx.test LMTP mailslot ready\r\n" + kLhloReply +
    lines("250 2.1.0 Sender <s@x.test> OK", "250 2.1.5 OK", "550 5.1.1 User unknown", "250 2.1.5 OK",
          "354 Start mail input; end with <CRLF>.<CRLF>", "250 2.0.0 <a@x.test> Saved",
          "250 2.0.0 <b@x.test> Saved", "250 2.1.0 Sender <> OK", "250 2.1.5 OK",
          "354 Start mail input; end with <CRLF>.<CRLF>", "250 2.0.0 <c@x.test> Saved", "250 2.0.0 OK",
          "250 2.0.0 OK", "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery",
          "221 2.0.0 mx.test closing connection");

TEST(Session, TwoPipelinedTransactionsInOneReceive) {
  Driver d;
  d.send(kTwoTransactions);
  EXPECT_EQ(d.take(), kTwoTransactionsReplies);
  EXPECT_EQ(d.delivered, (std::vector<std::string>{"Subject: one\r\n\r\n.dot\r\n", "two\r\n"}));
  EXPECT_EQ(d.s.messages_committed(), 2u);
  EXPECT_TRUE(d.s.closed());
}

TEST(Session, OneByteAtATimeGivesTheSameOutput) {
  Driver d;
  d.send_bytewise(kTwoTransactions);
  EXPECT_EQ(d.take(), kTwoTransactionsReplies);
  EXPECT_EQ(d.delivered, (std::vector<std::string>{"Subject: one\r\n\r\n.dot\r\n", "two\r\n"}));
}

TEST(Session, EverySplitPointGivesTheSameOutput) {
  for (std::size_t cut = 0; cut <= kTwoTransactions.size(); ++cut) {
    Driver d;
    d.send(std::string_view(kTwoTransactions).substr(0, cut));
    d.send(std::string_view(kTwoTransactions).substr(cut));
    ASSERT_EQ(d.take(), kTwoTransactionsReplies) << "cut " << cut;
    ASSERT_EQ(d.delivered.size(), 2u) << "cut " << cut;
  }
}

TEST(Session, SmallChunksGiveTheSameOutput) {
  SessionOptions o = test::test_options();
  o.limits.body_chunk = 3;
  for (std::size_t piece : {1u, 2u, 7u}) {
    Driver d(o);
    for (std::size_t i = 0; i < kTwoTransactions.size(); i += piece) {
      d.send(std::string_view(kTwoTransactions).substr(i, piece));
    }
    EXPECT_EQ(d.take(), kTwoTransactionsReplies) << piece;
    EXPECT_EQ(d.delivered, (std::vector<std::string>{"Subject: one\r\n\r\n.dot\r\n", "two\r\n"}));
  }
}

TEST(Session, BareLfCommandLines) {
  Driver d;
  d.take();
  d.send("LHLO c\nNOOP\n");
  EXPECT_EQ(d.take(), kLhloReply + "250 2.0.0 OK\r\n");
}

// ---- command line framing ------------------------------------------------------------------

TEST(Session, OverlongLineWithItsEnding) {
  SessionOptions o = test::test_options();
  o.limits.max_command_line = 20;
  Driver d(o);
  d.take();
  // 18 characters + CRLF = 20 fits; 19 + CRLF = 21 does not.
  d.send("NOOP 4567890123456\r\nNOOP 45678901234567\r\nNOOP\r\n");
  EXPECT_EQ(d.take(), lines("250 2.0.0 OK", "500 5.5.2 Line too long", "250 2.0.0 OK"));
}

TEST(Session, OverlongLineWithoutLfIsDroppedAsItArrives) {
  SessionOptions o = test::test_options();
  o.limits.max_command_line = 100;
  Driver d(o);
  d.take();
  for (int i = 0; i < 1000; ++i) d.send(std::string(1000, 'A'));  // 1 MB and never a LF
  EXPECT_EQ(d.take(), "500 5.5.2 Line too long\r\n");             // once
  d.send("still the same line\r\nNOOP\r\n");
  EXPECT_EQ(d.take(), "250 2.0.0 OK\r\n");
}

TEST(Session, InputBufferStaysBounded) {
  SessionOptions o = test::test_options();
  o.limits.max_command_line = 100;
  Driver d(o);
  for (int i = 0; i < 100; ++i) {
    d.send(std::string(99, 'A'));  // a client that never sends LF
    EXPECT_LT(d.s.buffered_input(), 100u);
  }
  d.send("\r\nNOOP\r\nNOOP");
  EXPECT_EQ(d.s.buffered_input(), 4u);  // processed lines are gone, the partial one is kept
  // In DATA the body is handed out in chunks and consumed input is released.
  Driver m = in_mail({"a@x.test"});
  m.send("DATA\r\n");
  for (int i = 0; i < 200; ++i) {
    m.send(std::string(998, 'b') + "\r\n");
    EXPECT_EQ(m.s.buffered_input(), 0u);
  }
  m.send(".\r\n");
  ASSERT_EQ(m.delivered.size(), 1u);
  EXPECT_EQ(m.delivered[0].size(), 200'000u);
}

TEST(Session, OverlongLineSplitAnywhereGivesTheSameOutput) {
  SessionOptions o = test::test_options();
  o.limits.max_command_line = 12;
  // 10 + CRLF fits; 11 + CRLF does not; 11 + bare LF fits; 12 + LF does not; then an empty line.
  const std::string in = "NOOP 12345\r\nNOOP 123456\r\nNOOP 123456\nNOOP 1234567\n\r\nNOOP\r\n";
  Driver whole(o);
  whole.send(in);
  const std::string expected = whole.take();
  EXPECT_EQ(expected, "220 mx.test LMTP mailslot ready\r\n" +
                          lines("250 2.0.0 OK", "500 5.5.2 Line too long", "250 2.0.0 OK",
                                "500 5.5.2 Line too long", "500 5.5.2 Command unrecognized", "250 2.0.0 OK"));
  for (std::size_t cut = 0; cut <= in.size(); ++cut) {
    Driver d(o);
    d.send(in.substr(0, cut));
    d.send(in.substr(cut));
    EXPECT_EQ(d.take(), expected) << "cut " << cut;
  }
  Driver bytes(o);
  bytes.send_bytewise(in);
  EXPECT_EQ(bytes.take(), expected);
}

TEST(Session, NulAndBareCrInCommandLine) {
  Driver d;
  d.take();
  static constexpr char kIn[] = "NOOP a\0b\r\nNOOP a\rb\r\nNOOP\r\r\n";
  d.send(std::string(kIn, sizeof kIn - 1));
  EXPECT_EQ(d.take(), lines("500 5.5.2 Syntax error: NUL or bare CR in command line",
                            "500 5.5.2 Syntax error: NUL or bare CR in command line",
                            "500 5.5.2 Syntax error: NUL or bare CR in command line"));
}

TEST(Session, EmptyUnknownAndNotImplemented) {
  Driver d;
  d.take();
  d.send("\r\nFOO bar\r\nEXPN staff\r\nSTARTTLS\r\nONEX\r\n");
  EXPECT_EQ(d.take(), lines("500 5.5.2 Command unrecognized", "500 5.5.2 Command unrecognized",
                            "502 5.5.1 Command not implemented", "502 5.5.1 Command not implemented",
                            "502 5.5.1 Command not implemented"));
}

TEST(Session, GarbageNeverBreaksTheSession) {
  Driver d;
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 7919) % 256));
  d.send(junk);
  d.send("\r\nLHLO x\r\nQUIT\r\n");
  const std::string out = d.take();
  EXPECT_NE(out.find("221 2.0.0 mx.test closing connection\r\n"), std::string::npos);
  EXPECT_TRUE(d.s.closed());
}

// Random sessions from protocol fragments: the output and the delivered bodies must not depend
// on how the input is cut into packets (nghttp2 habit: feed one byte per call).
TEST(Session, RandomSessionsAreIndependentOfPacketBoundaries) {
  using namespace std::string_view_literals;
  static constexpr std::string_view kFragments[] = {"LHLO c\r\n",
                                                    "MAIL FROM:<s@x.test>\r\n",
                                                    "MAIL FROM:<> SIZE=40\r\n",
                                                    "RCPT TO:<a@x.test>\r\n",
                                                    "RCPT TO:<unknown@x.test>\r\n",
                                                    "DATA\r\n",
                                                    ".\r\n",
                                                    "..x\r\n",
                                                    "\r\n",
                                                    "\n",
                                                    "\r",
                                                    ".",
                                                    "text ",
                                                    "RSET\r\n",
                                                    "NOOP\r\n",
                                                    "\n.\n",
                                                    "\r\n.\r\n",
                                                    "0123456789abcdef0123456789abcdef",
                                                    "\0"sv,
                                                    "\xff",
                                                    "VRFY\r\n",
                                                    "BDAT 1\r\n",
                                                    "RCPT TO:<b@x.test> X=1\r\n"};
  SessionOptions o = test::test_options();
  o.limits.max_command_line = 40;
  o.limits.max_data_line = 50;
  o.limits.max_message_size = 120;
  o.limits.max_recipients = 3;
  o.limits.body_chunk = 7;
  std::uint32_t seed = 12345;
  auto next = [&seed]() {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
  };
  for (int round = 0; round < 300; ++round) {
    std::string in;
    const int n = 5 + static_cast<int>(next() % 40);
    for (int i = 0; i < n; ++i) {
      in += kFragments[next() % std::size(kFragments)];
    }
    Driver whole(o);
    whole.send(in);
    whole.eof();
    const std::string expected = whole.take();

    Driver bytes(o);
    bytes.send_bytewise(in);
    bytes.eof();
    ASSERT_EQ(bytes.take(), expected) << testing::PrintToString(in);
    ASSERT_EQ(bytes.delivered, whole.delivered) << testing::PrintToString(in);

    Driver chunks(o);
    for (std::size_t i = 0; i < in.size();) {
      const std::size_t len = 1 + next() % 23;
      chunks.send(std::string_view(in).substr(i, len));
      i += len;
    }
    chunks.eof();
    ASSERT_EQ(chunks.take(), expected) << testing::PrintToString(in);
    ASSERT_EQ(chunks.delivered, whole.delivered) << testing::PrintToString(in);
    EXPECT_TRUE(whole.s.closed());
    EXPECT_FALSE(whole.spool_open);  // every opened spool was committed or discarded

    // Every reply line is "ddd" followed by SP, "-" or the line end.
    std::size_t pos = 0;
    while (pos < expected.size()) {
      const std::size_t end = expected.find("\r\n", pos);
      ASSERT_NE(end, std::string::npos);
      const std::string line = expected.substr(pos, end - pos);
      ASSERT_GE(line.size(), 3u);
      EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(line[0])) &&
                  std::isdigit(static_cast<unsigned char>(line[1])) &&
                  std::isdigit(static_cast<unsigned char>(line[2])))
          << line;
      pos = end + 2;
    }
  }
}

// ---- RSET NOOP VRFY HELP QUIT --------------------------------------------------------------

TEST(Session, RsetMidTransaction) {
  Driver d = in_mail({"a@x.test"});
  d.send("RSET\r\nRCPT TO:<a@x.test>\r\nMAIL FROM:<x@y.test>\r\n");
  EXPECT_EQ(d.take(),
            lines("250 2.0.0 OK", "503 5.5.1 Need MAIL before RCPT", "250 2.1.0 Sender <x@y.test> OK"));
  EXPECT_EQ(d.s.state(), State::mail);
  EXPECT_TRUE(d.s.transaction().recipients.empty());
}

TEST(Session, RsetBeforeLhloKeepsWaitingForLhlo) {
  Driver d;
  d.take();
  d.send("RSET\r\nRSET x\r\n");
  EXPECT_EQ(d.take(), lines("250 2.0.0 OK", "501 5.5.4 Syntax error, no arguments allowed"));
  EXPECT_EQ(d.s.state(), State::greeted);
}

TEST(Session, NoopVrfyHelp) {
  Driver d;
  d.take();
  d.send("NOOP\r\nnoop with text\r\nVRFY bob\r\nVRFY\r\nHELP\r\nHELP DATA\r\n");
  EXPECT_EQ(d.take(), lines("250 2.0.0 OK", "250 2.0.0 OK",
                            "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery",
                            "501 5.5.4 Syntax: VRFY address",
                            "214 2.0.0 Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
                            "214 2.0.0 Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"));
}

TEST(Session, QuitClosesAndIgnoresFurtherInput) {
  Driver d;
  d.take();
  EXPECT_FALSE(d.s.quit_answered());
  d.send("QUIT\r\nNOOP\r\n");
  EXPECT_EQ(d.take(), "221 2.0.0 mx.test closing connection\r\n");
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.s.state(), State::closed);
  EXPECT_TRUE(d.s.quit_answered());  // --stdio mode's exit status 0
  d.send("NOOP\r\n");
  d.eof();
  d.s.timeout();
  d.s.shutdown();
  d.pump();
  EXPECT_EQ(d.take(), "");
}

// ---- timeout, shutdown, eof ----------------------------------------------------------------

TEST(Session, TimeoutInCommandState) {
  Driver d = ready();
  d.s.timeout();
  d.pump();
  EXPECT_EQ(d.take(), "421 4.4.2 mx.test Timeout, closing connection\r\n");
  EXPECT_TRUE(d.s.closed());
  EXPECT_FALSE(d.s.quit_answered());
  d.send("QUIT\r\n");  // after the close: not answered
  EXPECT_FALSE(d.s.quit_answered());
}

TEST(Session, ShutdownReply) {
  Driver d = in_mail({"a@x.test"});
  d.s.shutdown();
  d.pump();
  EXPECT_EQ(d.take(), "421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.events.back(), "check <a@x.test>");  // no message was open: nothing to discard
}

TEST(Session, DrainWhenIdleClosesAtOnce) {
  Driver d = in_mail({"a@x.test"});
  d.s.drain();
  d.pump();
  EXPECT_EQ(d.take(), "421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_TRUE(d.s.closed());
}

// SIGTERM in the middle of DATA: the message finishes and is answered; what the client pipelined
// behind the "." is not taken, so no new transaction starts during shutdown.
TEST(Session, DrainLetsDataFinishButTakesNoNewTransaction) {
  Driver d = in_mail({"a@x.test", "b@x.test"});
  d.send("DATA\r\nhello\r\n");
  d.take();
  d.s.drain();
  d.pump();
  EXPECT_EQ(d.take(), "");  // still in DATA: nothing said yet
  EXPECT_FALSE(d.s.closed());
  d.send(".\r\nMAIL FROM:<c@y.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n");
  EXPECT_EQ(d.take(),
            "250 2.0.0 <a@x.test> Saved\r\n250 2.0.0 <b@x.test> Saved\r\n"
            "421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_EQ(d.delivered.size(), 1u);
  EXPECT_TRUE(d.s.closed());
  d.s.drain();  // idempotent
  EXPECT_EQ(d.take(), "");
}

TEST(Session, DrainWhileRecipientCheckPendingClosesAfterTheAnswer) {
  Driver d = in_mail({"a@x.test"});
  d.auto_answer = false;
  d.send("RCPT TO:<b@x.test>\r\n");
  d.take();
  d.s.drain();
  EXPECT_EQ(d.take(), "");
  d.answer();
  d.pump();
  EXPECT_EQ(d.take(), "250 2.1.5 OK\r\n421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_TRUE(d.s.closed());
}

TEST(Session, TimeoutInDataDiscardsTheMessage) {
  Driver d = in_mail({"a@x.test"});
  d.send("DATA\r\npartial");
  d.take();
  d.auto_answer = false;
  d.s.timeout();
  EXPECT_TRUE(std::holds_alternative<DiscardMessage>(d.s.request()));
  EXPECT_FALSE(d.s.closed());  // not before the spool is gone
  d.answer();
  EXPECT_EQ(d.take(), "421 4.4.2 mx.test Timeout, closing connection\r\n");
  EXPECT_TRUE(d.s.closed());
  EXPECT_TRUE(d.delivered.empty());
}

TEST(Session, TimeoutWhileAnAppendIsPendingDiscardsAfterIt) {
  SessionOptions o = test::test_options();
  o.limits.body_chunk = 4;
  Driver d = in_mail({"a@x.test"}, o);
  d.send("DATA\r\n");
  d.auto_answer = false;
  d.send("123456789\r\n");
  ASSERT_TRUE(std::holds_alternative<AppendBody>(d.s.request()));
  d.take();
  d.s.timeout();
  EXPECT_TRUE(std::holds_alternative<AppendBody>(d.s.request()));  // the owner's request stays
  d.answer();
  EXPECT_TRUE(std::holds_alternative<DiscardMessage>(d.s.request()));
  d.answer();
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.take(), "421 4.4.2 mx.test Timeout, closing connection\r\n");
  EXPECT_EQ(d.events.back(), "discard");
}

TEST(Session, TimeoutWhileCommitPendingSendsNoPerRecipientReplies) {
  Driver d = in_mail({"a@x.test"});
  d.send("DATA\r\n");
  d.auto_answer = false;
  d.send("x\r\n.\r\n");
  d.answer();  // the last AppendBody
  ASSERT_TRUE(std::holds_alternative<CommitMessage>(d.s.request()));
  d.take();
  d.s.timeout();
  d.answer();
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.take(), "421 4.4.2 mx.test Timeout, closing connection\r\n");
}

TEST(Session, TimeoutWhileRecipientCheckPending) {
  Driver d = in_mail({});
  d.auto_answer = false;
  d.send("RCPT TO:<a@x.test>\r\n");
  d.s.timeout();
  EXPECT_FALSE(d.s.closed());
  d.answer();
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.take(), "421 4.4.2 mx.test Timeout, closing connection\r\n");
}

TEST(Session, EofMidDataDiscardsWithoutReply) {
  Driver d = in_mail({"a@x.test"});
  d.send("DATA\r\nhalf a mess");
  d.take();
  d.auto_answer = false;
  d.eof();
  EXPECT_TRUE(std::holds_alternative<DiscardMessage>(d.s.request()));
  EXPECT_FALSE(d.s.closed());
  d.answer();
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.take(), "");
  EXPECT_TRUE(d.delivered.empty());
}

TEST(Session, EofProcessesBufferedCommandsFirst) {
  Driver d = ready();
  d.auto_answer = false;
  d.send("MAIL FROM:<>\r\nRCPT TO:<a@x.test>\r\nNOOP\r\nNOOP partial");
  d.eof();
  EXPECT_FALSE(d.s.closed());  // the recipient check is still with the owner
  d.auto_answer = true;
  d.pump();
  EXPECT_EQ(d.take(), lines("250 2.1.0 Sender <> OK", "250 2.1.5 OK", "250 2.0.0 OK"));
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.s.state(), State::closed);
}

TEST(Session, EofAfterCompleteMessageStillCommits) {
  Driver d = in_mail({"a@x.test"});
  d.auto_answer = false;
  d.send("DATA\r\n");
  d.answer();
  d.send("x\r\n.\r\n");
  d.eof();
  ASSERT_TRUE(std::holds_alternative<AppendBody>(d.s.request()));
  d.answer();
  ASSERT_TRUE(std::holds_alternative<CommitMessage>(d.s.request()));
  d.answer();
  EXPECT_TRUE(d.s.closed());
  EXPECT_EQ(d.delivered.size(), 1u);
}

// ---- answers that do not match the request -------------------------------------------------

TEST(Session, MismatchedAnswersAreIgnored) {
  Driver d = in_mail({});
  d.auto_answer = false;
  d.send("RCPT TO:<a@x.test>\r\n");
  d.s.message_opened(std::nullopt);
  d.s.body_appended(std::nullopt);
  d.s.message_committed({});
  d.s.message_discarded();
  d.pump();
  EXPECT_TRUE(std::holds_alternative<CheckRecipient>(d.s.request()));
  EXPECT_EQ(d.take(), "");
  d.s.recipient_checked({{250, "2.1.5", "OK"}, nullptr});
  d.s.recipient_checked({{250, "2.1.5", "again"}, nullptr});  // nothing pending any more
  d.pump();
  EXPECT_EQ(d.take(), "250 2.1.5 OK\r\n");
  EXPECT_EQ(d.s.transaction().recipients.size(), 1u);
}

TEST(Session, OnlyA2xxVerdictAcceptsTheRecipient) {
  Driver d = in_mail({});
  d.verdict = [](const Path&) { return Reply{450, "4.2.1", "Try later"}; };
  d.send("RCPT TO:<a@x.test>\r\nDATA\r\n");
  EXPECT_EQ(d.take(), lines("450 4.2.1 Try later", "503 5.5.1 No valid recipients"));
}

}  // namespace
}  // namespace mailslot::lmtp
