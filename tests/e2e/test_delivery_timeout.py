"""limits.delivery_timeout (issue #11): a commit that cannot finish in time answers 451 4.3.0 for
every recipient without waiting for the disk, the session goes on, and once the stuck disk call
returns nothing of the message is left in new/ or tmp/ (docs/reliability.md "Delivery timeout").
The disk is slowed down with MAILSLOT_TEST_FS_FAULTS (a test-only switch); the tests wait for the
daemon's "timed-out delivery undone" line, not for a fixed time."""

import os
import re
import signal
import time
import unittest

from harness import DaemonTestCase, dot_stuff, lmtp_client, message

TIMEOUT = "1s"  # the smallest delivery_timeout the config accepts
UNDO_WAIT = 30.0


class DeliveryTimeout(DaemonTestCase):
    def start_with_faults(self, faults, limits=None):
        old = os.environ.get("MAILSLOT_TEST_FS_FAULTS")
        os.environ["MAILSLOT_TEST_FS_FAULTS"] = faults
        try:
            d = self.start_daemon({"limits": limits or {"delivery_timeout": TIMEOUT}})
        finally:
            if old is None:
                os.environ.pop("MAILSLOT_TEST_FS_FAULTS")
            else:
                os.environ["MAILSLOT_TEST_FS_FAULTS"] = old
        self.assertIsNotNone(d.wait_log(r"injecting file-system faults", 5), d.log())
        return d

    def lmtp(self, d):
        c = lmtp_client(d)
        self.addCleanup(c.close)
        return c

    def assertNothingLeft(self, d, users):
        for u in users:
            self.assertEqual(d.files(u, "new"), [], f"{u}: a timed-out copy is still in new/")
            self.assertEqual(d.files(u, "cur"), [], u)
        self.assertTmpEmpty(d, timeout=1.0)

    def test_hung_fsync_answers_451_to_every_recipient_and_leaves_nothing(self):
        # Every fsync takes 0.4 s; the first delivery to a new Maildir makes several (the mkdirs,
        # the spool, new/), so the commit runs well past the 1 s deadline.
        d = self.start_with_faults("fsync:delay=400")
        c = self.lmtp(d)
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("alice@example.test"), 250, "2.1.5")
        self.assertReply(c.rcpt("carol@example.test"), 250, "2.1.5")
        t0 = time.monotonic()
        replies = [c.data(message("hung fsync", ["The disk hangs."]))] + [c.getreply()]
        waited = time.monotonic() - t0
        for (code, text), rcpt in zip(replies, ("alice", "carol")):
            self.assertReply((code, text), 451, "4.3.0")
            self.assertIn(f"<{rcpt}@example.test> Delivery timed out".encode(), text)
        self.assertLess(waited, 3.0, "the replies waited for the disk instead of the deadline")
        # The session goes on while the disk job is still running.
        self.assertEqual(c.noop()[0], 250)
        self.assertIsNotNone(d.wait_log(r"delivery timed out after 1(\.\d+)?s: 451 4\.3\.0 for 2 recipient", 1), d.log())

        undone = d.wait_log(r"timed-out delivery undone: .*?(\d+) copies removed from new/, (\d+) already taken "
                            r"from new/ by a reader, (\d+) not removable; spool removed", UNDO_WAIT)
        self.assertIsNotNone(undone, d.log())
        self.assertEqual((undone.group(2), undone.group(3)), ("0", "0"), undone.group(0))
        self.assertNothingLeft(d, ["alice", "carol"])
        # Both recipients were logged as deferred with the reason.
        self.assertEqual(len(re.findall(r"status=deferred code=451 dsn=4\.3\.0 .*reason=\"Delivery timed out\"",
                                        d.log())), 2, d.log())

    def test_link_made_after_the_deadline_is_removed_again(self):
        # The link into new/ is entered before the deadline (creating the Maildir takes far less
        # than 2 s) and lands 4 s later, after the 451: the copy is visible for a moment, then the
        # job removes it.
        d = self.start_with_faults("link:delay=4000", {"delivery_timeout": "2s"})
        c = self.lmtp(d)
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("alice@example.test"), 250, "2.1.5")
        code, text = c.data(message("late link", ["Linked too late."]))
        self.assertReply((code, text), 451, "4.3.0")
        self.assertIn(b"Delivery timed out", text)
        undone = d.wait_log(r"timed-out delivery undone: .*? (\d+) copies removed from new/", UNDO_WAIT)
        self.assertIsNotNone(undone, d.log())
        self.assertEqual(undone.group(1), "1", undone.group(0))
        self.assertNothingLeft(d, ["alice"])

    def test_shutdown_bound_answers_451_instead_of_dropping_the_commit(self):
        # SIGTERM while the commit hangs: at the shutdown bound (1 s) the commit's deadline moves
        # forward, so the MTA gets 451s rather than a lost connection, and the process exits once
        # the disk call returns, having removed the copy.
        d = self.start_with_faults("link:delay=5000",
                                   {"delivery_timeout": "60s", "shutdown_timeout": "1s"})
        c = self.lmtp(d)
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("alice@example.test"), 250, "2.1.5")
        c.putcmd("DATA")
        self.assertEqual(c.getreply()[0], 354)
        # In DATA the drain lets the message finish; its commit is then what the bound cuts.
        c.send(dot_stuff(message("shutdown", ["Stuck at shutdown."])))
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        code, text = c.getreply()
        waited = time.monotonic() - t0
        self.assertReply((code, text), 451, "4.3.0")
        self.assertIn(b"Delivery timed out", text)
        # 1 s bound + 0.5 s grace; the disk call takes 5 s, and without the grace the server's
        # force bound would drop the connection (no reply at all) at 2 s.
        self.assertLess(waited, 4.0, "the 451 should come at the shutdown bound, not after the disk")
        self.assertIsNotNone(d.wait_log(r"shutdown bound reached during a commit", 1), d.log())
        self.assertEqual(d.wait(UNDO_WAIT), 0, d.log())
        self.assertNothingLeft(d, ["alice"])

    def test_delay_under_the_deadline_delivers(self):
        # Control: the same fault, well within the deadline (with room for a loaded CI machine):
        # a normal 250 and one file in new/.
        d = self.start_with_faults("link:delay=300", {"delivery_timeout": "5s"})
        c = self.lmtp(d)
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("alice@example.test"), 250, "2.1.5")
        self.assertReply(c.data(message("slow but in time", ["Made it."])), 250, "2.0.0")
        self.assertEqual(len(d.files("alice")), 1)
        self.assertTmpEmpty(d)
        self.assertIsNone(re.search(r"timed out|undone", d.log()), d.log())


if __name__ == "__main__":
    unittest.main()
