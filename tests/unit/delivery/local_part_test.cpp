// NFC of SMTPUTF8 local parts (ICU).
#include "mailslot/delivery/local_part.hpp"

#include <gtest/gtest.h>

namespace mailslot::delivery {
namespace {

TEST(NfcLocalPart, AsciiUnchangedUnicodeComposed) {
  EXPECT_EQ(nfc_local_part("Bob.Smith+tag"), "Bob.Smith+tag");
  EXPECT_EQ(nfc_local_part("jo\xcc\x88rg"), "j\xc3\xb6rg");        // o + U+0308 → U+00F6
  EXPECT_EQ(nfc_local_part("j\xc3\xb6rg"), "j\xc3\xb6rg");          // already NFC
  EXPECT_EQ(nfc_local_part("\xe2\x84\xab"), "\xc3\x85");            // ANGSTROM SIGN → Å (canonical)
  EXPECT_EQ(nfc_local_part("\xef\xac\x81"), "\xef\xac\x81");        // ligature fi: compatibility only, kept
}

TEST(NfcLocalPart, MalformedRefused) {
  EXPECT_FALSE(nfc_local_part("j\xc3"));
  EXPECT_FALSE(nfc_local_part("\xed\xa0\x80"));
}

}  // namespace
}  // namespace mailslot::delivery
