// Runs every tests/unit/lmtp/transcripts/*.lmtp against lmtp::Session, twice: as written (each
// block of client lines in one receive) and one byte at a time. STYLE.md: one readable scenario
// file per behaviour, the same files can drive the real daemon in e2e tests.
//
// Format, one directive per line:
//   # ...            comment
//   @limit KEY=N     set a Limits field (max_command_line, max_data_line, max_message_size,
//                    max_recipients, body_chunk) before the session starts
//   @option KEY=0|1  switch an extension of SessionOptions (chunking, smtputf8, dsn)
//   C: text          client sends text + CRLF; consecutive C:/R: lines form one packet
//   R: text          client sends text with escapes (\r \n \t \0 \\ \xHH), nothing appended
//   E:               client closes its side (receive_eof)
//   S: text          the next line the server writes (CRLF appended)
//   M: text          the next delivered message body (escapes as in R:)
//   X:               the session is closed at this point
// Recipient policy (test::Driver): local parts starting with "unknown" get 550 5.1.1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "session_driver.hpp"

namespace mailslot::lmtp {
namespace {

struct Step {
  std::string client;  // bytes to send ("" = none)
  bool eof = false;
  std::string expect;  // server output expected after this step
  bool expect_closed = false;
};

struct Transcript {
  SessionOptions options = test::test_options();
  std::string greeting;  // S: lines before any client input
  std::vector<Step> steps;
  std::vector<std::string> messages;
  std::string error;  // parse error
};

std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out.push_back(s[i]);
      continue;
    }
    const char e = s[++i];
    switch (e) {
      case 'r':
        out.push_back('\r');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case '0':
        out.push_back('\0');
        break;
      case 'x':
        if (i + 2 < s.size()) {
          out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
          i += 2;
        }
        break;
      default:
        out.push_back(e);
        break;
    }
  }
  return out;
}

Transcript load(const std::filesystem::path& file) {
  Transcript t;
  std::ifstream in(file, std::ios::binary);
  std::string line;
  int lineno = 0;
  bool in_client = false;  // the last step is still collecting client lines
  auto step = [&]() -> Step& {
    if (!in_client) {
      t.steps.emplace_back();
      in_client = true;
    }
    return t.steps.back();
  };
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::string tag = line.substr(0, 2);
    const std::string body = line.size() > 3 ? line.substr(3) : "";
    if (line.rfind("@limit ", 0) == 0) {
      const std::string kv = line.substr(7);
      const auto eq = kv.find('=');
      const std::string key = kv.substr(0, eq);
      const auto value = std::stoull(kv.substr(eq + 1));
      Limits& l = t.options.limits;
      if (key == "max_command_line")
        l.max_command_line = value;
      else if (key == "max_data_line")
        l.max_data_line = value;
      else if (key == "max_message_size")
        l.max_message_size = value;
      else if (key == "max_recipients")
        l.max_recipients = value;
      else if (key == "body_chunk")
        l.body_chunk = value;
      else
        t.error = "line " + std::to_string(lineno) + ": unknown limit " + key;
    } else if (line.rfind("@option ", 0) == 0) {
      // Extension switches of SessionOptions: chunking, smtputf8, dsn, xforward, ignorequota (0 or 1).
      const std::string kv = line.substr(8);
      const auto eq = kv.find('=');
      const std::string key = kv.substr(0, eq);
      const bool on = eq != std::string::npos && kv.substr(eq + 1) == "1";
      if (key == "chunking")
        t.options.chunking = on;
      else if (key == "smtputf8")
        t.options.smtputf8 = on;
      else if (key == "dsn")
        t.options.dsn = on;
      else if (key == "xforward")  // the client is in lmtp.xforward_from (issue #8)
        t.options.xforward = on;
      else if (key == "ignorequota")  // the client is in lmtp.ignorequota_from (issue #11)
        t.options.ignorequota = on;
      else
        t.error = "line " + std::to_string(lineno) + ": unknown option " + key;
    } else if (tag == "C:") {
      step().client += body + "\r\n";
    } else if (tag == "R:") {
      step().client += unescape(body);
    } else if (tag == "E:") {
      step().eof = true;
      in_client = false;
    } else if (tag == "S:") {
      if (t.steps.empty()) {
        t.greeting += body + "\r\n";
      } else {
        t.steps.back().expect += body + "\r\n";
        in_client = false;
      }
    } else if (tag == "M:") {
      t.messages.push_back(unescape(body));
    } else if (tag == "X:") {
      if (t.steps.empty()) t.steps.emplace_back();
      t.steps.back().expect_closed = true;
      in_client = false;
    } else {
      t.error = "line " + std::to_string(lineno) + ": cannot parse: " + line;
    }
  }
  return t;
}

std::vector<std::string> transcript_files() {
  std::vector<std::string> files;
  const std::filesystem::path dir = std::filesystem::path(MAILSLOT_TEST_DATA_DIR) / "transcripts";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".lmtp") files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class TranscriptTest : public testing::TestWithParam<std::string> {
 protected:
  Transcript t = load(std::filesystem::path(MAILSLOT_TEST_DATA_DIR) / "transcripts" / GetParam());
};

TEST_P(TranscriptTest, AsWritten) {
  ASSERT_EQ(t.error, "");
  test::Driver d(t.options);
  EXPECT_EQ(d.take(), t.greeting);
  for (std::size_t i = 0; i < t.steps.size(); ++i) {
    const Step& s = t.steps[i];
    if (!s.client.empty()) d.send(s.client);
    if (s.eof) d.eof();
    EXPECT_EQ(d.take(), s.expect) << "step " << i << " sent " << testing::PrintToString(s.client);
    if (s.expect_closed) {
      EXPECT_TRUE(d.s.closed()) << "step " << i;
    }
  }
  EXPECT_EQ(d.delivered, t.messages);
}

TEST_P(TranscriptTest, OneByteAtATime) {
  ASSERT_EQ(t.error, "");
  test::Driver d(t.options);
  std::string expected = t.greeting;
  for (const Step& s : t.steps) {
    d.send_bytewise(s.client);
    if (s.eof) d.eof();
    expected += s.expect;
  }
  EXPECT_EQ(d.take(), expected);
  EXPECT_EQ(d.delivered, t.messages);
}

TEST_P(TranscriptTest, AllInOnePacket) {
  ASSERT_EQ(t.error, "");
  // Only meaningful when the client never waits for a reply it needs (RFC 2920 allows it
  // everywhere in LMTP as the server answers in order); the output must not change.
  test::Driver d(t.options);
  std::string all;
  std::string expected = t.greeting;
  bool eof = false;
  for (const Step& s : t.steps) {
    all += s.client;
    expected += s.expect;
    eof = eof || s.eof;
  }
  d.send(all);
  if (eof) d.eof();
  EXPECT_EQ(d.take(), expected);
  EXPECT_EQ(d.delivered, t.messages);
}

INSTANTIATE_TEST_SUITE_P(Transcripts, TranscriptTest, testing::ValuesIn(transcript_files()),
                         [](const testing::TestParamInfo<std::string>& param_info) {
                           std::string name = param_info.param.substr(0, param_info.param.find('.'));
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(Transcripts, ThereAreSome) { EXPECT_GE(transcript_files().size(), 5u); }

}  // namespace
}  // namespace mailslot::lmtp
