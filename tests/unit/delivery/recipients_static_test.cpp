#include <gtest/gtest.h>

#include <stdexcept>

#include "mailslot/delivery/recipients.hpp"

namespace mailslot::delivery {
namespace {

using Status = Resolution::Status;

StaticRecipientsOptions options() {
  StaticRecipientsOptions o;
  o.root = "/var/mail";
  o.domains = {"Example.TEST", "other.test"};
  return o;
}

lmtp::Mailbox addr(std::string local, std::string domain) {
  return lmtp::Mailbox{std::move(local), std::move(domain)};
}

TEST(IsSafePathComponent, AcceptsOrdinaryNames) {
  EXPECT_TRUE(is_safe_path_component("bob"));
  EXPECT_TRUE(is_safe_path_component("bob.smith+tag"));
  EXPECT_TRUE(is_safe_path_component("b..b"));
  EXPECT_TRUE(is_safe_path_component("j\xc3\xb6rg"));  // UTF-8 (SMTPUTF8) bytes are fine
  EXPECT_TRUE(is_safe_path_component(std::string(255, 'a')));
}

TEST(IsSafePathComponent, RefusesUnsafeNames) {
  for (const std::string& s :
       {std::string(""), std::string("."), std::string(".."), std::string(".hidden"), std::string("../x"),
        std::string("a/b"), std::string("/"),
        std::string("a\x01"
                    "b"),
        std::string("a\nb"), std::string("a\x7f"), std::string("a\0b", 3), std::string(256, 'a')}) {
    EXPECT_FALSE(is_safe_path_component(s)) << "'" << s << "'";
  }
}

TEST(StaticRecipients, ResolvesWithTemplateAndFolding) {
  const StaticRecipients r(options());
  const Resolution res = r.resolve(addr("Bob.Smith", "EXAMPLE.test"));
  ASSERT_EQ(res.status, Status::ok) << res.reason;
  ASSERT_TRUE(res.mailbox);
  EXPECT_EQ(res.mailbox->address, "bob.smith@example.test");
  EXPECT_EQ(res.mailbox->maildir, "/var/mail/example.test/bob.smith/Maildir");
}

TEST(StaticRecipients, WithoutFoldingKeepsCaseOfLocalPart) {
  auto o = options();
  o.fold_case = false;
  const Resolution res = StaticRecipients(o).resolve(addr("Bob", "EXAMPLE.TEST"));
  ASSERT_EQ(res.status, Status::ok);
  EXPECT_EQ(res.mailbox->address, "Bob@example.test");
  EXPECT_EQ(res.mailbox->maildir, "/var/mail/example.test/Bob/Maildir");
}

TEST(StaticRecipients, UnknownDomain) {
  const StaticRecipients r(options());
  EXPECT_EQ(r.resolve(addr("bob", "example.org")).status, Status::unknown_domain);
  EXPECT_EQ(r.resolve(addr("bob", "sub.example.test")).status, Status::unknown_domain);
  EXPECT_EQ(r.resolve(addr("bob", "")).status, Status::unknown_domain);  // only <postmaster> may omit it
  auto o = options();
  o.domains.clear();
  EXPECT_EQ(StaticRecipients(o).resolve(addr("bob", "example.test")).status, Status::unknown_domain);
}

TEST(StaticRecipients, UsersListAfterFolding) {
  auto o = options();
  o.users = {"Alice", "bob"};
  const StaticRecipients r(o);
  EXPECT_EQ(r.resolve(addr("alice", "example.test")).status, Status::ok);
  EXPECT_EQ(r.resolve(addr("BOB", "example.test")).status, Status::ok);
  const Resolution res = r.resolve(addr("carol", "example.test"));
  EXPECT_EQ(res.status, Status::unknown_user);
  EXPECT_FALSE(res.mailbox);
  EXPECT_FALSE(res.reason.empty());
}

TEST(StaticRecipients, PostmasterAlwaysAccepted) {
  auto o = options();
  o.users = {"alice"};
  o.fold_case = false;
  const StaticRecipients r(o);
  for (const char* local : {"postmaster", "PostMaster", "POSTMASTER"}) {
    const Resolution res = r.resolve(addr(local, "other.test"));
    ASSERT_EQ(res.status, Status::ok) << local;
    EXPECT_EQ(res.mailbox->address, "postmaster@other.test");
    EXPECT_EQ(res.mailbox->maildir, "/var/mail/other.test/postmaster/Maildir");
  }
  // RFC 5321 §4.1.1.3: <postmaster> without a domain goes to the first served domain.
  const Resolution bare = r.resolve(addr("postmaster", ""));
  ASSERT_EQ(bare.status, Status::ok);
  EXPECT_EQ(bare.mailbox->address, "postmaster@example.test");
  EXPECT_EQ(r.resolve(addr("postmaster", "example.org")).status, Status::unknown_domain);
}

TEST(StaticRecipients, UnsafeLocalPartsAreBadMailbox) {
  const StaticRecipients r(options());
  for (const std::string& local : {std::string("../x"), std::string(".hidden"), std::string("a/b"),
                                   std::string("a\x01"
                                               "b"),
                                   std::string(""), std::string("a\0b", 3), std::string(".."),
                                   std::string("."), std::string("..\\..")}) {
    const Resolution res = r.resolve(addr(local, "example.test"));
    EXPECT_EQ(res.status, Status::bad_mailbox) << "'" << local << "'";
    EXPECT_FALSE(res.mailbox);
  }
}

TEST(StaticRecipients, UnsafeCheckComesBeforeUsersList) {
  auto o = options();
  o.users = {"alice"};
  EXPECT_EQ(StaticRecipients(o).resolve(addr("../alice", "example.test")).status, Status::bad_mailbox);
}

TEST(StaticRecipients, TemplateWithUnknownPlaceholderThrows) {
  auto o = options();
  o.mailbox_template = "{domain}/{login}/Maildir";
  EXPECT_THROW(StaticRecipients{o}, std::invalid_argument);
  o.mailbox_template = "{domain}/{user";
  EXPECT_THROW(StaticRecipients{o}, std::invalid_argument);
  o.mailbox_template = "{domain}/user}";
  EXPECT_THROW(StaticRecipients{o}, std::invalid_argument);
}

TEST(StaticRecipients, TemplateMustStayBelowRoot) {
  auto o = options();
  for (const char* t : {"../{user}", "/etc/{user}", "{user}/../..", "", "."}) {
    o.mailbox_template = t;
    EXPECT_THROW(StaticRecipients{o}, std::invalid_argument) << t;
  }
  o.mailbox_template = "{user}";
  o.root = "relative/root";
  EXPECT_THROW(StaticRecipients{o}, std::invalid_argument);
}

TEST(StaticRecipients, ResultIsAlwaysBelowRoot) {
  auto o = options();
  o.root = "/srv/mail/";
  o.mailbox_template = "{user}/../{user}@{domain}";  // odd but legal: normalised, still below root
  const StaticRecipients r(o);
  const Resolution res = r.resolve(addr("bob", "example.test"));
  ASSERT_EQ(res.status, Status::ok);
  EXPECT_EQ(res.mailbox->maildir, "/srv/mail/bob@example.test");
  const auto rel = res.mailbox->maildir.lexically_relative("/srv/mail");
  EXPECT_NE(*rel.begin(), "..");
}

TEST(MaildirBelow, PlainAndOddPaths) {
  using std::filesystem::path;
  EXPECT_EQ(maildir_below("/srv/mail", "example.test/bob/Maildir"), path("/srv/mail/example.test/bob/Maildir"));
  EXPECT_EQ(maildir_below("/", "bob"), path("/bob"));
  EXPECT_EQ(maildir_below("/srv/mail/", "bob"), path("/srv/mail/bob"));  // a root not in normal form
  EXPECT_EQ(maildir_below("/srv/mail", "./bob//Maildir"), path("/srv/mail/bob/Maildir"));
  EXPECT_EQ(maildir_below("/srv/mail", "bob/../alice"), path("/srv/mail/alice"));
  for (const char* rel : {"", ".", "..", "../bob", "bob/../..", "/etc/bob", "bob/.."}) {
    EXPECT_EQ(maildir_below("/srv/mail", rel), std::nullopt) << rel;
  }
}

TEST(StaticRecipients, DomainOnlyTemplateIsCatchAll) {
  auto o = options();
  o.mailbox_template = "{domain}";
  const StaticRecipients r(o);
  EXPECT_EQ(r.resolve(addr("a", "example.test")).mailbox->maildir, "/var/mail/example.test");
  EXPECT_EQ(r.resolve(addr("b", "example.test")).mailbox->maildir, "/var/mail/example.test");
}

TEST(StaticRecipients, AddressLiteralDomainWhenServed) {
  auto o = options();
  o.domains = {"[192.0.2.1]"};
  const Resolution res = StaticRecipients(o).resolve(addr("bob", "[192.0.2.1]"));
  ASSERT_EQ(res.status, Status::ok);
  EXPECT_EQ(res.mailbox->maildir, "/var/mail/[192.0.2.1]/bob/Maildir");
}


// ---- SMTPUTF8 (RFC 6531) -------------------------------------------------------------------

TEST(StaticRecipients, InternationalDomainsCompareAsALabels) {
  StaticRecipientsOptions o = options();
  o.domains = {"b\xc3\xbc" "cher.test"};
  const StaticRecipients r(o);
  for (const char* domain : {"b\xc3\xbc" "cher.test", "bu\xcc\x88" "cher.test", "B\xc3\x9c" "CHER.TEST",
                             "xn--bcher-kva.test"}) {
    const Resolution res = r.resolve(addr("j\xc3\xb6rg", domain));
    ASSERT_EQ(res.status, Status::ok) << domain << ": " << res.reason;
    // One Maildir whatever the spelling: {domain} is the A-label.
    EXPECT_EQ(res.mailbox->maildir, "/var/mail/xn--bcher-kva.test/j\xc3\xb6rg/Maildir") << domain;
  }
  EXPECT_EQ(r.resolve(addr("j\xc3\xb6rg", "bu\xcc\x88" "cher.test")).mailbox->address,
            "j\xc3\xb6rg@b\xc3\xbc" "cher.test");
  EXPECT_EQ(r.resolve(addr("a", "other.test")).status, Status::unknown_domain);
  EXPECT_EQ(r.resolve(addr("a", "xn--zz.test")).status, Status::unknown_domain);
}

TEST(StaticRecipients, Utf8LocalPartsCompareAndMapInNfc) {
  StaticRecipientsOptions o = options();
  o.users = {"jo\xcc\x88rg"};  // listed in NFD
  const StaticRecipients r(o);
  for (const char* local : {"j\xc3\xb6rg", "jo\xcc\x88rg", "J\xc3\xb6rg"}) {  // NFC, NFD, ASCII upper case
    const Resolution res = r.resolve(addr(local, "example.test"));
    ASSERT_EQ(res.status, Status::ok) << local << ": " << res.reason;
    EXPECT_EQ(res.mailbox->maildir, "/var/mail/example.test/j\xc3\xb6rg/Maildir") << local;
    EXPECT_EQ(res.mailbox->address, "j\xc3\xb6rg@example.test") << local;
  }
  EXPECT_EQ(r.resolve(addr("jorg", "example.test")).status, Status::unknown_user);
}

TEST(StaticRecipients, InvalidIdnaDomainInConfigIsAnError) {
  StaticRecipientsOptions o = options();
  o.domains = {"xn--zz.test"};
  EXPECT_THROW(StaticRecipients{o}, std::invalid_argument);
}

// Whatever bytes a local part holds, the mailbox is refused or is a Maildir strictly below the root
// whose components are safe names (the lmtp parser refuses most of these before; this layer must
// not rely on it).
TEST(StaticRecipients, EveryByteSequenceMapsSafelyOrIsRefused) {
  const StaticRecipients r(options());
  std::uint32_t seed = 7;
  auto next = [&seed]() {
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return seed;
  };
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string local;
    const std::size_t n = 1 + next() % 12;
    for (std::size_t k = 0; k < n; ++k) {
      // Mostly the dangerous bytes: '.', '/', NUL, controls, and UTF-8 lead/continuation octets.
      static const unsigned char kPick[] = {'.', '/', 0, 1, 0x7f, 0x80, 0xbf, 0xc3, 0xa9, 0xe2, 0x82, 0xac,
                                            0xed, 0xa0, 0xf0, 0x9f, 0xff, 'a', 'B', '\\'};
      local.push_back(static_cast<char>(next() % 3 == 0 ? next() % 256 : kPick[next() % sizeof kPick]));
    }
    const Resolution res = r.resolve(addr(local, "example.test"));
    if (res.status != Status::ok) continue;
    ++accepted;
    const auto rel = res.mailbox->maildir.lexically_relative("/var/mail");
    ASSERT_FALSE(rel.empty());
    for (const auto& part : rel) {
      ASSERT_TRUE(is_safe_path_component(part.string())) << part;
    }
    ASSERT_EQ(*rel.begin(), "example.test");
  }
  EXPECT_GT(accepted, 100);
}

TEST(IsSafePathComponent, RefusesMalformedUtf8) {
  for (const std::string& s : {std::string("j\xc3"), std::string("\xc0\xaf"), std::string("a\xed\xa0\x80"),
                               std::string("\xff"), std::string("\x80x")}) {
    EXPECT_FALSE(is_safe_path_component(s)) << s;
  }
}

}  // namespace
}  // namespace mailslot::delivery
