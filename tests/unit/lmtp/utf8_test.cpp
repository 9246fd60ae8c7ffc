// RFC 3629 §4 well-formedness, against a straightforward reference decoder on every sequence of
// up to three octets from a set that covers each boundary.
#include "mailslot/lmtp/utf8.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace mailslot::lmtp {
namespace {

// Reference: decode code points, refusing overlongs, surrogates and > U+10FFFF.
bool reference_valid(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + static_cast<std::size_t>(len) > s.size()) return false;
    std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += static_cast<std::size_t>(len);
  }
  return true;
}

TEST(Utf8, KnownSequences) {
  EXPECT_TRUE(utf8::is_valid(""));
  EXPECT_TRUE(utf8::is_valid("ascii"));
  EXPECT_TRUE(utf8::is_valid("J\xc3\xb6rg \xe7\x94\xa8\xe6\x88\xb7 \xf0\x9f\x93\xa8"));
  for (const char* bad : {"\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                          "\xf5\x80\x80\x80", "\xff", "\xc3", "\xe2\x82", "a\xc3(b"}) {
    EXPECT_FALSE(utf8::is_valid(bad)) << bad;
  }
  EXPECT_TRUE(utf8::has_non_ascii("\xc3\xa9"));
  EXPECT_FALSE(utf8::has_non_ascii("plain"));
}

TEST(Utf8, AgreesWithReferenceOnBoundaryOctets) {
  const std::vector<unsigned char> octets = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
                                             0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3,
                                             0xF4, 0xF5, 0xFE, 0xFF};
  std::string s;
  int checked = 0;
  for (unsigned char a : octets) {
    for (unsigned char b : octets) {
      for (unsigned char c : octets) {
        for (unsigned char d : {0x80, 0xBF, 0x41}) {
          s = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)};
          ASSERT_EQ(utf8::is_valid(s), reference_valid(s)) << std::hex << +a << " " << +b << " " << +c << " " << +d;
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 50000);
}

}  // namespace
}  // namespace mailslot::lmtp
