// BDAT (RFC 3030) in lmtp::Session, beyond what transcripts/chunking*.lmtp show: failures of the
// owner, the life cycle between chunks, the switch, and framing at every byte boundary.
#include <gtest/gtest.h>

#include <string>

#include "session_driver.hpp"

namespace mailslot::lmtp {
namespace {

using test::Driver;
using test::lines;
using State = Session::State;

Driver in_transaction(SessionOptions o = test::test_options(), int recipients = 1) {
  Driver d(std::move(o));
  d.send("LHLO client.test\r\nMAIL FROM:<s@x.test>\r\n");
  for (int i = 0; i < recipients; ++i) d.send("RCPT TO:<r" + std::to_string(i) + "@x.test>\r\n");
  d.take();
  return d;
}

TEST(Chunking, ChunksAreAppendedInBoundedPiecesAndCommittedAtLast) {
  SessionOptions o = test::test_options();
  o.limits.body_chunk = 4;
  Driver d = in_transaction(o);
  d.send("BDAT 10\r\n0123456789BDAT 3 LAST\r\nabc");
  EXPECT_EQ(d.take(), lines("250 2.0.0 10 octets received", "250 2.0.0 <r0@x.test> Saved"));
  ASSERT_EQ(d.delivered.size(), 1u);
  EXPECT_EQ(d.delivered[0], "0123456789abc");
  for (std::size_t n : d.append_sizes) EXPECT_LE(n, 4u);
  EXPECT_EQ(d.events.front(), "check <r0@x.test>");
  EXPECT_EQ(d.events[1], "open");
  EXPECT_EQ(d.events.back(), "commit");
}

TEST(Chunking, EveryByteBoundaryGivesTheSameResult) {
  const std::string in =
      "LHLO c\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"
      "BDAT 5\r\n\r\n.\r\nBDAT 0\r\nBDAT 4 LAST\r\nDATANOOP\r\nQUIT\r\n";
  Driver whole;
  whole.send(in);
  Driver bytes;
  bytes.send_bytewise(in);
  EXPECT_EQ(whole.take(), bytes.take());
  EXPECT_EQ(whole.delivered, bytes.delivered);
  ASSERT_EQ(bytes.delivered.size(), 1u);
  EXPECT_EQ(bytes.delivered[0], "\r\n.\r\nDATA");
  EXPECT_TRUE(bytes.s.closed());
  // Every split point in two pieces too.
  for (std::size_t cut = 1; cut < in.size(); ++cut) {
    Driver d;
    d.send(in.substr(0, cut));
    d.send(in.substr(cut));
    Driver ref;
    ref.send(in);
    ASSERT_EQ(d.take(), ref.take()) << cut;
  }
}

TEST(Chunking, OpenFailureFailsTheChunkAndLastAnswersEachRecipient) {
  Driver d = in_transaction(test::test_options(), 2);
  d.open_failure = Reply{452, "4.3.1", "Insufficient system storage"};
  d.send("BDAT 3\r\nabcBDAT 2 LAST\r\nxyNOOP\r\n");
  EXPECT_EQ(d.take(), lines("452 4.3.1 Insufficient system storage", "452 4.3.1 Insufficient system storage",
                            "452 4.3.1 Insufficient system storage", "250 2.0.0 OK"));
  EXPECT_TRUE(d.delivered.empty());
  EXPECT_EQ(d.s.state(), State::ready);
}

TEST(Chunking, AppendFailureIsReportedAndTheMessageDiscarded) {
  SessionOptions o = test::test_options();
  o.limits.body_chunk = 2;
  Driver d = in_transaction(o, 2);
  d.append_failure = Reply{452, "4.2.2", "Mailbox full"};
  d.send("BDAT 3\r\nabcBDAT 3\r\ndefBDAT 1 LAST\r\ng");
  EXPECT_EQ(d.take(), lines("452 4.2.2 Mailbox full", "452 4.2.2 Mailbox full", "452 4.2.2 Mailbox full",
                            "452 4.2.2 Mailbox full"));
  EXPECT_TRUE(d.delivered.empty());
  EXPECT_EQ(d.events.back(), "discard");
  EXPECT_FALSE(d.spool_open);
}

TEST(Chunking, RsetAndLhloBetweenChunksDiscardWithOneReply) {
  Driver d = in_transaction();
  d.send("BDAT 2\r\nabRSET\r\n");
  EXPECT_EQ(d.take(), lines("250 2.0.0 2 octets received", "250 2.0.0 OK"));
  EXPECT_EQ(d.events.back(), "discard");
  EXPECT_FALSE(d.spool_open);
  d.send("MAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\nBDAT 1\r\nxLHLO again\r\nMAIL FROM:<>\r\n");
  const std::string out = d.take();
  EXPECT_EQ(out.rfind("250 2.1.0 Sender <> OK\r\n"), out.size() - 24) << out;
  EXPECT_EQ(d.events.back(), "discard");
  EXPECT_TRUE(d.delivered.empty());
}

TEST(Chunking, QuitEofAndTimeoutMidMessageDiscard) {
  {
    Driver d = in_transaction();
    d.send("BDAT 2\r\nabQUIT\r\n");
    EXPECT_EQ(d.take(), lines("250 2.0.0 2 octets received", "221 2.0.0 mx.test closing connection"));
    EXPECT_EQ(d.events.back(), "discard");
    EXPECT_TRUE(d.s.closed());
  }
  {
    Driver d = in_transaction();
    d.send("BDAT 10 LAST\r\nabc");
    EXPECT_EQ(d.s.state(), State::bdat);
    EXPECT_TRUE(d.s.reading_content());
    d.eof();
    EXPECT_EQ(d.take(), "");
    EXPECT_EQ(d.events.back(), "discard");
    EXPECT_TRUE(d.delivered.empty());
    EXPECT_TRUE(d.s.closed());
  }
  {
    Driver d = in_transaction();
    d.send("BDAT 10 LAST\r\nabc");
    d.s.timeout();
    d.pump();
    EXPECT_EQ(d.take(), "421 4.4.2 mx.test Timeout, closing connection\r\n");
    EXPECT_EQ(d.events.back(), "discard");
    EXPECT_TRUE(d.s.closed());
  }
}

TEST(Chunking, DrainLetsTheLastChunkFinish) {
  Driver d = in_transaction();
  d.send("BDAT 4 LAST\r\nab");
  d.s.drain();
  d.pump();
  EXPECT_EQ(d.take(), "");
  d.send("cdNOOP\r\n");
  EXPECT_EQ(d.take(), lines("250 2.0.0 <r0@x.test> Saved", "421 4.3.2 mx.test Service shutting down"));
  ASSERT_EQ(d.delivered.size(), 1u);
  EXPECT_EQ(d.delivered[0], "abcd");
}

TEST(Chunking, HugeChunkSizeIsRefusedWithoutStoringAnything) {
  Driver d = in_transaction();
  d.send("BDAT 99999999999999999999999999 LAST\r\n");
  d.send(std::string(100000, 'x'));
  EXPECT_EQ(d.take(), "");
  EXPECT_EQ(d.s.state(), State::bdat);
  EXPECT_EQ(d.s.transaction().message_size, 0u);
  EXPECT_LT(d.s.buffered_input(), 1024u);
  d.eof();
  EXPECT_TRUE(d.s.closed());
  EXPECT_TRUE(d.delivered.empty());
}

TEST(Chunking, BdatSyntax) {
  for (const char* line : {"BDAT\r\n", "BDAT x\r\n", "BDAT 1 FIRST\r\n", "BDAT -1\r\n", "BDAT 1 LAST x\r\n"}) {
    Driver d = in_transaction();
    d.send(line);
    EXPECT_EQ(d.take(), "501 5.5.4 Syntax: BDAT chunk-size [LAST]; closing connection\r\n") << line;
    EXPECT_TRUE(d.s.closed()) << line;
  }
  Driver d = in_transaction();
  d.send("bdat 1 last\r\nz");
  EXPECT_EQ(d.take(), "250 2.0.0 <r0@x.test> Saved\r\n");
}

TEST(Chunking, SwitchedOffIsNotOffered) {
  SessionOptions o = test::test_options();
  o.chunking = false;
  Driver d(o);
  d.send("LHLO c\r\n");
  const std::string lhlo = d.take();
  EXPECT_EQ(lhlo.find("CHUNKING"), std::string::npos);
  EXPECT_EQ(lhlo.find("BINARYMIME"), std::string::npos);
  d.send("MAIL FROM:<s@x.test> BODY=BINARYMIME\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<a@x.test>\r\nBDAT 1 LAST\r\n");
  EXPECT_EQ(d.take(), lines("501 5.5.4 Unsupported BODY type", "250 2.1.0 Sender <s@x.test> OK", "250 2.1.5 OK",
                            "502 5.5.1 Command not implemented"));
}

}  // namespace
}  // namespace mailslot::lmtp
