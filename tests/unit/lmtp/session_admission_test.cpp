// lmtp::Session::refuse_new_transactions: the owner's load shedding (a full disk queue) refuses
// MAIL with its reply and nothing else.
#include <gtest/gtest.h>

#include "mailslot/lmtp/session.hpp"
#include "session_driver.hpp"

namespace mailslot::lmtp {
namespace {

using test::Driver;
using State = Session::State;

const Reply kBusy{451, "4.3.2", "Disk busy, try again later"};

Driver ready() {
  Driver d;
  d.send("LHLO client.test\r\n");
  d.take();
  return d;
}

TEST(SessionAdmission, RefusedMailGetsTheOwnersReplyAndOtherCommandsGoOn) {
  Driver d = ready();
  d.s.refuse_new_transactions(kBusy);
  d.send("MAIL FROM:<a@example.test>\r\n");
  EXPECT_EQ(d.take(), "451 4.3.2 Disk busy, try again later\r\n");
  EXPECT_EQ(d.s.state(), State::ready);
  d.send("NOOP\r\nLHLO again.test\r\n");
  const std::string out = d.take();
  EXPECT_EQ(out.rfind("250 2.0.0", 0), 0u) << out;
  EXPECT_NE(out.find("250 SIZE"), std::string::npos) << out;
  d.s.refuse_new_transactions(std::nullopt);
  d.send("MAIL FROM:<a@example.test>\r\n");
  EXPECT_EQ(d.take().substr(0, 3), "250");
  EXPECT_EQ(d.s.state(), State::mail);
}

TEST(SessionAdmission, ATransactionUnderWayIsNotCutOff) {
  Driver d = ready();
  d.send("MAIL FROM:<a@example.test>\r\n");
  d.take();
  d.s.refuse_new_transactions(kBusy);
  d.send("RCPT TO:<b@example.test>\r\n");
  EXPECT_EQ(d.take().substr(0, 3), "250");  // the driver accepts every recipient
  EXPECT_EQ(d.s.state(), State::mail);
}

TEST(SessionAdmission, PipelinedRcptAndDataAfterARefusedMailAreOutOfSequence) {
  Driver d = ready();
  d.s.refuse_new_transactions(kBusy);
  d.send("MAIL FROM:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n");
  EXPECT_EQ(d.take(),
            "451 4.3.2 Disk busy, try again later\r\n503 5.5.1 Need MAIL before RCPT\r\n"
            "503 5.5.1 Need MAIL before DATA\r\n");
}

}  // namespace
}  // namespace mailslot::lmtp
