// IDNA2008 comparison of domains (RFC 6531 §3.2) through libidn2.
#include "mailslot/delivery/domain_name.hpp"

#include <gtest/gtest.h>

namespace mailslot::delivery {
namespace {

TEST(NormalizeDomain, AsciiIsOnlyLowercased) {
  const auto d = normalize_domain("Example.TEST");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->ascii, "example.test");
  EXPECT_EQ(d->display, "example.test");
  EXPECT_EQ(normalize_domain("[192.0.2.1]")->ascii, "[192.0.2.1]");
}

TEST(NormalizeDomain, SpellingsOfOneNameAgree) {
  // "bücher.example": NFC (U+00FC), NFD (u + U+0308), upper case, and the A-label.
  const auto nfc = normalize_domain("b\xc3\xbc" "cher.example");
  const auto nfd = normalize_domain("bu\xcc\x88" "cher.example");
  const auto upper = normalize_domain("B\xc3\x9c" "CHER.Example");
  const auto alabel = normalize_domain("XN--BCHER-KVA.example");
  ASSERT_TRUE(nfc && nfd && upper && alabel);
  EXPECT_EQ(nfc->ascii, "xn--bcher-kva.example");
  EXPECT_EQ(nfd->ascii, nfc->ascii);
  EXPECT_EQ(upper->ascii, nfc->ascii);
  EXPECT_EQ(alabel->ascii, nfc->ascii);
  // Shown as the client wrote it: U-labels in NFC, an ASCII spelling as ASCII.
  EXPECT_EQ(nfd->display, "b\xc3\xbc" "cher.example");
  EXPECT_EQ(alabel->display, "xn--bcher-kva.example");
}

TEST(NormalizeDomain, InvalidNamesRefused) {
  EXPECT_FALSE(normalize_domain("a\xc3.example"));              // malformed UTF-8
  EXPECT_FALSE(normalize_domain("xn--zz.example"));             // a broken A-label
  EXPECT_FALSE(normalize_domain("\xe2\x98\x83\xe2\x80\x8d.example"));  // ZWJ without context (RFC 5892)
}

}  // namespace
}  // namespace mailslot::delivery
