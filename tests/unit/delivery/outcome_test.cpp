#include "mailslot/delivery/outcome.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

namespace mailslot::delivery {
namespace {

TEST(Outcome, OkIsDelivered250WithLocation) {
  const Outcome o = Outcome::ok("/var/mail/x/new/1.M2P3Q4.host");
  EXPECT_TRUE(o.delivered());
  EXPECT_EQ(o.kind, Outcome::Kind::delivered);
  EXPECT_EQ(o.code, 250);
  EXPECT_EQ(o.enhanced, "2.0.0");
  EXPECT_EQ(o.text, "Saved");
  EXPECT_EQ(o.location, "/var/mail/x/new/1.M2P3Q4.host");
}

TEST(Outcome, DefaultIsNotDelivered) {
  const Outcome o;
  EXPECT_FALSE(o.delivered());
  EXPECT_EQ(o.code, 451);
}

struct ErrnoCase {
  int err;
  int code;
  const char* enhanced;
  std::string text;
};

TEST(OutcomeFromErrno, Table) {
  const auto failed = [](const char* what, int err) {
    return std::string(what) + " failed: " + std::strerror(err);
  };
  const ErrnoCase cases[] = {
      {EDQUOT, 452, "4.2.2", "Mailbox full"},          {ENOSPC, 452, "4.3.1", "Mail system full"},
      {EIO, 451, "4.3.0", failed("fsync", EIO)},       {EROFS, 451, "4.3.0", failed("fsync", EROFS)},
      {EACCES, 451, "4.3.0", failed("fsync", EACCES)}, {EPERM, 451, "4.3.0", failed("fsync", EPERM)},
      {ENOENT, 451, "4.3.0", failed("fsync", ENOENT)}, {ENOTDIR, 451, "4.3.0", failed("fsync", ENOTDIR)},
      {EMFILE, 451, "4.3.0", failed("fsync", EMFILE)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.err);
    const Outcome o = outcome_from_errno(c.err, "fsync");
    EXPECT_EQ(o.kind, Outcome::Kind::temporary);
    EXPECT_FALSE(o.delivered());
    EXPECT_EQ(o.code, c.code);
    EXPECT_EQ(o.enhanced, c.enhanced);
    EXPECT_EQ(o.text, c.text);
    EXPECT_TRUE(o.location.empty());
  }
}

TEST(OutcomeFromErrno, NamesTheStep) {
  EXPECT_EQ(outcome_from_errno(EIO, "link").text.rfind("link failed: ", 0), 0u);
  EXPECT_EQ(outcome_from_errno(EIO, "write").text.rfind("write failed: ", 0), 0u);
}

}  // namespace
}  // namespace mailslot::delivery
