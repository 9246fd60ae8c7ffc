// DATA transparency (RFC 5321 §4.5.2) and end of data (§4.1.1.4), including the
// "SMTP smuggling" variants that must stay content.
#include "mailslot/lmtp/data_decoder.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mailslot::lmtp {
namespace {

struct Decoded {
  std::string out;
  std::size_t consumed = 0;
  bool done = false;
  bool too_long = false;
};

Decoded decode_whole(std::string_view in, std::size_t max_line = 0) {
  DataDecoder d(max_line);
  Decoded r;
  const auto res = d.feed(in, r.out);
  r.consumed = res.consumed;
  r.done = res.done;
  r.too_long = d.line_too_long();
  return r;
}

// Feeds the pieces in order, stopping at the terminator like the session does.
Decoded decode_pieces(const std::vector<std::string_view>& pieces, std::size_t max_line = 0) {
  DataDecoder d(max_line);
  Decoded r;
  for (std::string_view p : pieces) {
    const auto res = d.feed(p, r.out);
    r.consumed += res.consumed;
    if (res.done) {
      r.done = true;
      break;
    }
    EXPECT_EQ(res.consumed, p.size());  // not done: everything is used
  }
  r.too_long = d.line_too_long();
  return r;
}

TEST(DataDecoder, PlainMessage) {
  const std::string in = "Subject: hi\r\n\r\nbody\r\n.\r\n";
  const Decoded r = decode_whole(in);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(r.out, "Subject: hi\r\n\r\nbody\r\n");
}

TEST(DataDecoder, StopsRightAfterTerminator) {
  const Decoded r = decode_whole("a\r\n.\r\nQUIT\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.consumed, 6u);
  EXPECT_EQ(r.out, "a\r\n");
}

TEST(DataDecoder, EmptyMessageEndsImmediately) {
  // The CRLF ending the DATA command line counts as the first CRLF of the terminator.
  const Decoded r = decode_whole(".\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.consumed, 3u);
  EXPECT_EQ(r.out, "");
}

TEST(DataDecoder, EmptyInputIsNotDone) {
  const Decoded r = decode_whole("");
  EXPECT_FALSE(r.done);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(DataDecoder, DotUnstuffing) {
  EXPECT_EQ(decode_whole("..\r\n.\r\n").out, ".\r\n");
  EXPECT_EQ(decode_whole("...x\r\n.\r\n").out, "..x\r\n");
  EXPECT_EQ(decode_whole("a\r\n..b\r\n.\r\n").out, "a\r\n.b\r\n");
  EXPECT_EQ(decode_whole(".x\r\n.\r\n").out, "x\r\n");     // RFC 5321 §4.5.2: the first "." is deleted
  EXPECT_EQ(decode_whole("a.b\r\n.\r\n").out, "a.b\r\n");  // not at line start: kept
  EXPECT_EQ(decode_whole("a\r\n.. \r\n.\r\n").out, "a\r\n. \r\n");
}

TEST(DataDecoder, SmugglingVariantsAreContent) {
  // None of these ends the data (SMTP smuggling, December 2023).
  for (const char* in : {"a\n.\nb", "a\r.\rb", "a\n.\r\nb", "a\r\n.\nb", "a\r\n.\rb", "a\r.\r\nb", "a\n.\n",
                         "a\r\n.\r", "a\r\n. \r\n"}) {
    const Decoded r = decode_whole(in);
    EXPECT_FALSE(r.done) << testing::PrintToString(std::string(in));
    EXPECT_EQ(r.consumed, std::string_view(in).size());
  }
  // What they decode to: the dot is unstuffed only after CRLF, bare CR/LF kept as sent.
  EXPECT_EQ(decode_whole("a\n.\nb").out, "a\n.\nb");
  EXPECT_EQ(decode_whole("a\r.\rb").out, "a\r.\rb");
  EXPECT_EQ(decode_whole("a\n.\r\nb").out, "a\n.\r\nb");
  EXPECT_EQ(decode_whole("a\r\n.\nb").out, "a\r\n\nb");
  EXPECT_EQ(decode_whole("a\r\n.\rb").out, "a\r\n\rb");
  EXPECT_EQ(decode_whole("a\r\n.\r\rb").out, "a\r\n\r\rb");
}

TEST(DataDecoder, SmuggledMessageThenRealEnd) {
  const std::string in = "one\n.\nMAIL FROM:<evil@x>\r\n.\r\nNEXT";
  const Decoded r = decode_whole(in);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.out, "one\n.\nMAIL FROM:<evil@x>\r\n");
  EXPECT_EQ(in.substr(r.consumed), "NEXT");
}

TEST(DataDecoder, DotCrCrLfIsNotTheEnd) {
  // "<CRLF>.<CR><CR><LF>": the stuffing dot goes, both CRs stay, the CRLF starts a new line.
  const Decoded r = decode_whole("x\r\n.\r\r\n.\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.out, "x\r\n\r\r\n");
}

TEST(DataDecoder, BareLfAndCrPreserved) {
  const Decoded r = decode_whole("a\nb\rc\r\r\nd\n\r\n.\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.out, "a\nb\rc\r\r\nd\n\r\n");
}

TEST(DataDecoder, EightBitAndNulPreserved) {
  std::string in = "caf\xc3\xa9 \xff\x80";
  in.push_back('\0');
  in += "z\r\n";
  const std::string expected = in;
  in += ".\r\n";
  const Decoded r = decode_whole(in);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.out, expected);
}

TEST(DataDecoder, TerminatorAfterBareLfLineIsNotStart) {
  // "\n.\r\n" is not "<CRLF>.<CRLF>"; the following real terminator is.
  const Decoded r = decode_whole("a\n.\r\n.\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.out, "a\n.\r\n");
}

TEST(DataDecoder, ResetStartsAfresh) {
  DataDecoder d(5);
  std::string out;
  d.feed("abcdefgh", out);
  EXPECT_TRUE(d.line_too_long());
  d.reset();
  EXPECT_FALSE(d.line_too_long());
  out.clear();
  const auto r = d.feed(".\r\n", out);  // at line start again
  EXPECT_TRUE(r.done);
  EXPECT_EQ(out, "");
}

TEST(DataDecoder, AppendsToOutput) {
  DataDecoder d;
  std::string out = "prefix:";
  d.feed("abc", out);
  EXPECT_EQ(out, "prefix:abc");
}

TEST(DataDecoder, LineLimitCountsLineEnding) {
  // max 10: 8 characters + CRLF = 10 fits, 9 + CRLF = 11 does not.
  EXPECT_FALSE(decode_whole("12345678\r\n.\r\n", 10).too_long);
  EXPECT_TRUE(decode_whole("123456789\r\n.\r\n", 10).too_long);
  // Counted between any LFs: a bare LF resets the count too.
  EXPECT_FALSE(decode_whole("123456789\n12345678\r\n.\r\n", 10).too_long);
  // The dot added for transparency is not counted (RFC 5321 §4.5.3.1.6): the 10-octet line
  // ".2345678" CRLF is 11 octets on the wire and still fits; one more character does not.
  EXPECT_FALSE(decode_whole("..2345678\r\n.\r\n", 10).too_long);
  EXPECT_TRUE(decode_whole("..23456789\r\n.\r\n", 10).too_long);
  EXPECT_FALSE(decode_whole(".2345678\r\n.\r\n", 10).too_long);
  // What Postfix sends: a 998-octet line starting with "." (1001 octets stuffed, with CRLF).
  EXPECT_FALSE(decode_whole(".." + std::string(997, 'x') + "\r\n.\r\n", 1000).too_long);
  // An unterminated long line is detected before its end arrives.
  EXPECT_TRUE(decode_whole(std::string(11, 'x'), 10).too_long);
  // 0 = unlimited.
  EXPECT_FALSE(decode_whole(std::string(100000, 'x'), 0).too_long);
}

TEST(DataDecoder, LongLineContentStillDecoded) {
  const std::string line(5000, 'q');
  const Decoded r = decode_whole(line + "\r\n.\r\n", 1000);
  EXPECT_TRUE(r.too_long);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.out, line + "\r\n");
}

const std::vector<std::string> kSplitInputs = {
    ".\r\n",
    "a\r\n.\r\n",
    "..\r\n...\r\n.x\r\n.\r\nTAIL",
    "a\n.\nb\r.\rc\r\n.\r\rd\r\n.\nX\r\n.\r\n",
    "x\r\n.\r\r\n.\r\n",
    "\r\r\n\n\r\n..\r\n\r\n.\r\nRSET\r\n",
    std::string("bin\0\xff\r\n.\0\r\n", 11) + ".\r\n",
    "no terminator\r\n.\r",
    "abcdefghijkl\r\nabc\r\n.\r\n",
};

TEST(DataDecoder, EverySplitPointGivesTheSameResult) {
  for (const std::string& in : kSplitInputs) {
    for (std::size_t max_line : {std::size_t{0}, std::size_t{5}}) {
      const Decoded whole = decode_whole(in, max_line);
      for (std::size_t cut = 0; cut <= in.size(); ++cut) {
        const std::string_view v(in);
        const Decoded split = decode_pieces({v.substr(0, cut), v.substr(cut)}, max_line);
        EXPECT_EQ(split.out, whole.out) << testing::PrintToString(in) << " cut " << cut;
        EXPECT_EQ(split.consumed, whole.consumed) << testing::PrintToString(in) << " cut " << cut;
        EXPECT_EQ(split.done, whole.done) << testing::PrintToString(in) << " cut " << cut;
        EXPECT_EQ(split.too_long, whole.too_long) << testing::PrintToString(in) << " cut " << cut;
      }
    }
  }
}

TEST(DataDecoder, EveryPairOfSplitPointsGivesTheSameResult) {
  for (const std::string& in : kSplitInputs) {
    const Decoded whole = decode_whole(in);
    const std::string_view v(in);
    for (std::size_t a = 0; a <= in.size(); ++a) {
      for (std::size_t b = a; b <= in.size(); ++b) {
        const Decoded split = decode_pieces({v.substr(0, a), v.substr(a, b - a), v.substr(b)});
        ASSERT_EQ(split.out, whole.out) << testing::PrintToString(in) << " cuts " << a << "," << b;
        ASSERT_EQ(split.consumed, whole.consumed);
        ASSERT_EQ(split.done, whole.done);
      }
    }
  }
}

TEST(DataDecoder, OneByteAtATimeGivesTheSameResult) {
  for (const std::string& in : kSplitInputs) {
    for (std::size_t max_line : {std::size_t{0}, std::size_t{5}}) {
      const Decoded whole = decode_whole(in, max_line);
      std::vector<std::string_view> bytes;
      for (std::size_t i = 0; i < in.size(); ++i) bytes.push_back(std::string_view(in).substr(i, 1));
      const Decoded split = decode_pieces(bytes, max_line);
      EXPECT_EQ(split.out, whole.out) << testing::PrintToString(in);
      EXPECT_EQ(split.consumed, whole.consumed) << testing::PrintToString(in);
      EXPECT_EQ(split.done, whole.done) << testing::PrintToString(in);
      EXPECT_EQ(split.too_long, whole.too_long) << testing::PrintToString(in);
    }
  }
}

TEST(DataDecoder, LargeBodyDecodesExactly) {
  std::string in;
  std::string expected;
  for (int i = 0; i < 20000; ++i) {
    const std::string line = (i % 7 == 0 ? "." : "") + std::string(70, static_cast<char>('a' + i % 26));
    in += (i % 7 == 0 ? "." : "") + line + "\r\n";
    expected += line + "\r\n";
  }
  in += ".\r\n";
  const Decoded r = decode_whole(in, 1000);
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.too_long);
  EXPECT_EQ(r.consumed, in.size());
  EXPECT_EQ(r.out, expected);
}

}  // namespace
}  // namespace mailslot::lmtp
