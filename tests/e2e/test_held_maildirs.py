"""Maildirs held open between deliveries (docs/maildir.md, "Maildirs held open for 2 seconds").

The daemon keeps a Maildir's tmp/ and new/ open for 2 s after walking to it. These tests drive the
real daemon over one LMTP connection and check what docs/maildir.md and docs/operations.md promise
an operator: a Maildir removed between two deliveries is made again for the second one at once; a
Maildir replaced by a symlink keeps its mail inside the root while held and is refused once the 2 s
have passed; nothing is ever written outside the root.
"""

import os
import shutil
import time
import unittest

from harness import DaemonTestCase, lmtp_client, message

HELD_SECONDS = 2.0  # app/resources.cpp: open_maildir_ttl


class HeldMaildirs(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon()
        self.c = lmtp_client(self.d)
        self.addCleanup(self.c.close)

    def send(self, subject, rcpt="bob@example.test"):
        content = message(subject, ["held or walked"])
        self.assertReply(self.c.mail("sender@example.net"), 250, "2.1.0")
        self.assertReply(self.c.rcpt(rcpt), 250, "2.1.5")
        reply = self.c.data(content)
        return reply, content

    def test_removed_maildir_is_made_again_at_once(self):
        reply, _ = self.send("first")
        self.assertReply(reply, 250, "2.0.0")
        md = self.d.maildir("bob")
        shutil.rmtree(md)  # well within the 2 s: its tmp/ and new/ are still held
        reply, content = self.send("second")
        self.assertReply(reply, 250, "2.0.0")
        files = self.d.files("bob")
        self.assertEqual(len(files), 1, files)
        self.assertStored(files[0], content, delivered_to="bob@example.test")
        for sub in ("tmp", "new", "cur"):
            self.assertTrue(os.path.isdir(os.path.join(md, sub)), sub)
        self.assertTmpEmpty(self.d)

    def test_maildir_replaced_by_a_symlink_is_refused_once_no_longer_held(self):
        outside = os.path.join(self.tmp, "outside")
        os.makedirs(outside)
        reply, _ = self.send("first")
        self.assertReply(reply, 250, "2.0.0")
        held_since = time.monotonic()
        md = self.d.maildir("bob")
        moved = md + ".old"
        os.rename(md, moved)
        os.symlink(outside, md)
        reply, _ = self.send("while held")
        if time.monotonic() - held_since < HELD_SECONDS - 0.5:
            # Still held: the real directory, in its new place inside the root.
            self.assertReply(reply, 250, "2.0.0")
            self.assertEqual(len(os.listdir(os.path.join(moved, "new"))), 2)
        time.sleep(max(0.0, HELD_SECONDS + 0.3 - (time.monotonic() - held_since)))  # the hold expires
        reply, _ = self.send("after the hold")
        self.assertReply(reply, 451, "4.3.0")
        self.assertIn(b"symlink", reply[1])
        self.assertEqual(os.listdir(outside), [], "mail was written outside mail.root")


if __name__ == "__main__":
    unittest.main()
