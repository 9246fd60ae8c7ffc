"""Duplicate suppression (issue #11): a connection cut after the final "." is retried by the MTA;
the retry is answered 250 "duplicate suppressed" and the mailbox keeps exactly one copy."""

import unittest

from harness import DaemonTestCase, dot_stuff, lmtp_client, message


class Duplicates(DaemonTestCase):
    def start(self, enabled=True):
        overrides = {"duplicates": {"enabled": enabled, "window": "24h"}} if enabled else None
        return self.start_daemon(overrides)

    def deliver_and_cut(self, d, content, rcpts):
        """Sends a whole transaction and closes before reading any reply after DATA."""
        c = d.connect()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        for r in rcpts:
            self.assertEqual(c.cmd(f"RCPT TO:<{r}@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(dot_stuff(content))
        # "lost connection after end of data": closed right after the final ".", the replies are
        # never read. (A close with RST here could make the kernel drop the daemon's unread data,
        # and then nothing is delivered: that is test_disconnect's case, not this one.)
        c.close()

    def redeliver(self, d, content, rcpts):
        s = lmtp_client(d)
        self.addCleanup(s.close)
        self.assertReply(s.mail("bob@example.net"), 250)
        for r in rcpts:
            self.assertReply(s.rcpt(f"{r}@example.test"), 250)
        replies = [s.data(content)] + [s.getreply() for _ in rcpts[1:]]
        s.quit()
        return replies

    def test_cut_after_final_dot_then_redelivered_gives_one_copy(self):
        d = self.start()
        content = message("lost connection", ["delivered once, whatever the MTA retries"])
        self.deliver_and_cut(d, content, ["alice", "carol"])
        # The delivery line is logged once the commit job returned: the copies are durable and
        # recorded (the file alone shows up in new/ a moment before its record).
        self.assertTrue(d.wait_log(r"to=<carol@example\.test>.*status=delivered", 10.0), d.log())
        self.assertEqual((len(d.files("alice")), len(d.files("carol"))), (1, 1), "the first attempt was not stored")
        replies = self.redeliver(d, content, ["alice", "carol"])
        for code, text in replies:
            self.assertEqual(code, 250, text)
            self.assertIn(b"duplicate suppressed", text)
        self.assertEqual(len(d.files("alice")), 1)
        self.assertEqual(len(d.files("carol")), 1)
        self.assertTrue(d.wait_log(r"to=<alice@example\.test>.*duplicate=suppressed", 5.0), d.log())
        self.assertTmpEmpty(d)

    def test_new_recipient_in_the_retry_still_gets_its_copy(self):
        d = self.start()
        content = message("partly new", ["one recipient had it already"])
        self.deliver_and_cut(d, content, ["alice"])
        self.assertTrue(d.wait_log(r"to=<alice@example\.test>.*status=delivered", 10.0), d.log())
        self.assertEqual(len(d.files("alice")), 1)
        replies = self.redeliver(d, content, ["alice", "dave"])
        self.assertIn(b"duplicate suppressed", replies[0][1])
        self.assertEqual(replies[1][0], 250)
        self.assertNotIn(b"duplicate suppressed", replies[1][1])
        self.assertEqual(len(d.files("alice")), 1)
        self.assertEqual(len(d.files("dave")), 1)

    def test_no_message_id_is_never_suppressed(self):
        d = self.start()
        content = b"Subject: no id\r\n\r\nsame bytes twice\r\n"
        self.redeliver(d, content, ["alice"])
        code, text = self.redeliver(d, content, ["alice"])[0]
        self.assertEqual(code, 250)
        self.assertNotIn(b"duplicate suppressed", text)
        self.assertEqual(len(d.files("alice")), 2)

    def test_off_by_default(self):
        d = self.start(enabled=False)
        content = message("twice when off", ["the default stores every attempt"])
        self.redeliver(d, content, ["alice"])
        self.redeliver(d, content, ["alice"])
        self.assertEqual(len(d.files("alice")), 2)

    def test_suppression_survives_a_restart(self):
        d = self.start()
        content = message("across restarts", ["the record is on disk"])
        self.redeliver(d, content, ["alice"])
        self._stop_daemon(d)
        d = self.start()  # the same work directory: same config, mail root and database
        code, text = self.redeliver(d, content, ["alice"])[0]
        self.assertEqual(code, 250)
        self.assertIn(b"duplicate suppressed", text)
        self.assertEqual(len(d.files("alice")), 1)


if __name__ == "__main__":
    unittest.main()
