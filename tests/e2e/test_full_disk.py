"""A real full filesystem: one user's Maildir lives on a small tmpfs that is filled up. That
recipient gets 452 4.3.1 (RFC 3463 X.3.1 mail system full); the other recipients of the same
message are delivered; nothing partial stays on either filesystem; the daemon keeps serving, and
delivers to that user again once space is freed. Needs root (mount); skipped with a reason if not."""

import errno
import os
import subprocess
import unittest

from harness import DaemonTestCase, dot_stuff, message

TMPFS_SIZE = "256k"


def mount_tmpfs(path, size):
    """Mounts a tmpfs of `size` at path; returns None or the reason it cannot be done here."""
    if os.geteuid() != 0:
        return "not root: cannot mount a small filesystem"
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", path],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return f"mount -t tmpfs failed: {r.stderr.strip()}"
    return None


def read(path):
    with open(path, "rb") as f:
        return f.read()


def unmount(path):
    if subprocess.run(["umount", path], capture_output=True, timeout=30).returncode != 0:
        subprocess.run(["umount", "-l", path], capture_output=True, timeout=30)


def fill(path):
    """Writes into `path` until the filesystem says ENOSPC; returns the file written."""
    filler = os.path.join(path, "filler")
    with open(filler, "wb", buffering=0) as f:  # unbuffered: close() must not write again
        chunk = b"\0" * 4096
        for _ in range(100000):  # bounded: 400 MB, far beyond the tmpfs size
            try:
                f.write(chunk)
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    return filler
                raise
    raise AssertionError("the tmpfs never filled up")


class FullDisk(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon({"server": {"log_level": "info"}})
        self.full_home = os.path.join(self.d.mail_root, "example.test", "full")
        os.makedirs(self.full_home)
        why = mount_tmpfs(self.full_home, TMPFS_SIZE)
        if why:
            self.skipTest(why)
        self.addCleanup(unmount, self.full_home)
        # A first message makes full's Maildir while there is room; then the disk fills up.
        self.assertEqual(self.send(["full"], "before")[0], (250, "2.0.0"))
        self.filler = fill(self.full_home)

    def send(self, users, subject, body_lines=("hello",)):
        """One transaction over a raw connection; returns [(code, enhanced)] per recipient, and the content."""
        content = message(subject, list(body_lines))
        with self.d.connect() as c:
            c.reply()
            c.cmd("LHLO client.test")
            self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
            for u in users:
                self.assertEqual(c.cmd(f"RCPT TO:<{u}@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(dot_stuff(content))
            replies = c.replies(len(users))
            self.assertEqual(c.cmd("NOOP")[0], 250)  # the session itself carries on
            c.cmd("QUIT")
        self.content = content
        return [(code, text.split(b" ")[0].decode()) for code, text in replies]

    def assertStoredOnce(self, user, subject_content, count):
        files = self.d.files(user)
        self.assertEqual(len(files), count, f"{user}: {files}")
        matching = [f for f in files if read(f).endswith(subject_content)]
        self.assertEqual(len(matching), 1, f"{user}: no single exact copy")

    def assertNothingPartial(self, user, delivered):
        self.assertEqual(len(self.d.files(user)), delivered, user)
        self.assertEqual(self.d.files(user, "tmp"), [], f"{user}: tmp/ not empty")

    def test_full_mailbox_gets_452_others_delivered(self):
        # The full mailbox first: the spool cannot live there, so it moves to the next recipient's.
        self.assertEqual(self.send(["full", "alice", "carol"], "small"),
                         [(452, "4.3.1"), (250, "2.0.0"), (250, "2.0.0")])
        small = self.content
        # A large message is spooled while it arrives (past 64 KiB): the same outcome.
        big_lines = [f"line {i:06d} " + "x" * 90 for i in range(2000)]
        self.assertEqual(self.send(["alice", "full"], "large", big_lines), [(250, "2.0.0"), (452, "4.3.1")])
        large = self.content
        self.assertEqual(self.send(["full"], "alone"), [(452, "4.3.1")])

        self.assertNothingPartial("full", 1)  # only the message from before the disk filled up
        self.assertStoredOnce("alice", small, 2)
        self.assertStoredOnce("alice", large, 2)
        self.assertStoredOnce("carol", small, 1)
        self.assertNothingPartial("alice", 2)
        self.assertTmpEmpty(self.d)
        self.assertIsNotNone(self.d.wait_log(r"to=<full@example\.test>.*code=452 4\.3\.1", 5), self.d.log())

        # Space comes back: the same daemon delivers to that mailbox again.
        os.unlink(self.filler)
        self.assertEqual(self.send(["full", "alice"], "after"), [(250, "2.0.0"), (250, "2.0.0")])
        self.assertStoredOnce("full", self.content, 2)


if __name__ == "__main__":
    unittest.main()
