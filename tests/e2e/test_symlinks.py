"""Symlinks below mail.root never carry mail outside it.

A directory on bob's Maildir path (his user directory, Maildir/new, Maildir/tmp) is made a symlink to a
directory outside the mail root. One transaction to bob and alice: bob gets 451 4.3.0 ("Mailbox path
contains a symlink"), alice gets 250 and her copy, nothing appears outside the root, tmp/ is empty, and
the daemon logs why bob was deferred.
"""

import os
import unittest

from harness import DaemonTestCase, lmtp_client, message


class SymlinksBelowRoot(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon()
        self.outside = os.path.join(self.tmp, "outside")
        os.makedirs(self.outside)

    def plant(self, *below_root):
        """Makes mail/<below_root...> a symlink to the outside directory (parents created first)."""
        link = os.path.join(self.d.mail_root, *below_root)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(self.outside, link)
        return link

    def send_to_bob_and_alice(self, subject):
        c = lmtp_client(self.d)
        self.addCleanup(c.close)
        content = message(subject, ["bob's path holds a symlink; alice's does not."])
        self.assertReply(c.mail("sender@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("bob@example.test"), 250, "2.1.5")
        self.assertReply(c.rcpt("alice@example.test"), 250, "2.1.5")
        # RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
        bob, alice = c.data(content), c.getreply()
        self.assertReply(c.noop(), 250)  # still in step
        return content, bob, alice

    def check(self, content, bob, alice):
        self.assertReply(bob, 451, "4.3.0", "bob's path holds a symlink")
        self.assertIn(b"symlink", bob[1])
        self.assertReply(alice, 250, "2.0.0", "alice is unaffected")
        files = self.d.files("alice")
        self.assertEqual(len(files), 1, files)
        self.assertStored(files[0], content, delivered_to=False, sender="sender@example.net")
        leaked = [os.path.join(dp, n) for dp, _, names in os.walk(self.outside) for n in names]
        self.assertEqual(leaked, [], "mail was written outside mail.root")
        self.assertTmpEmpty(self.d)
        self.assertIsNotNone(self.d.wait_log(r"to=<bob@example\.test>.*status=deferred.*symlink"),
                             f"no log line says why bob was deferred:\n{self.d.log()[-3000:]}")

    def test_new_is_a_symlink(self):
        md = self.d.maildir("bob")
        for sub in ("tmp", "cur"):
            os.makedirs(os.path.join(md, sub))
        self.plant("example.test", "bob", "Maildir", "new")
        self.check(*self.send_to_bob_and_alice("new is a symlink"))
        self.assertEqual(os.listdir(os.path.join(md, "tmp")), [])

    def test_user_directory_is_a_symlink(self):
        self.plant("example.test", "bob")
        self.check(*self.send_to_bob_and_alice("user dir is a symlink"))
        self.assertEqual(os.listdir(self.outside), [], "a Maildir was created outside mail.root")

    def test_tmp_is_a_symlink(self):
        md = self.d.maildir("bob")
        for sub in ("new", "cur"):
            os.makedirs(os.path.join(md, sub))
        self.plant("example.test", "bob", "Maildir", "tmp")
        self.check(*self.send_to_bob_and_alice("tmp is a symlink"))
        self.assertEqual(os.listdir(os.path.join(md, "new")), [])

    def test_bob_delivered_once_the_symlink_is_gone(self):
        link = self.plant("example.test", "bob")
        self.check(*self.send_to_bob_and_alice("first try"))
        os.unlink(link)  # the operator removes it; the MTA retries the 451 later
        c = lmtp_client(self.d)
        self.addCleanup(c.close)
        content = message("retry", ["now bob's path is clean"])
        self.assertReply(c.mail("sender@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("bob@example.test"), 250, "2.1.5")
        self.assertReply(c.data(content), 250, "2.0.0")
        files = self.d.files("bob")
        self.assertEqual(len(files), 1, files)
        self.assertStored(files[0], content, delivered_to="bob@example.test")
        self.assertEqual(os.listdir(self.outside), [])


if __name__ == "__main__":
    unittest.main()
