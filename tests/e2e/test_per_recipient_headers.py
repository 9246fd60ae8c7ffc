"""mail.per_recipient_headers (docs/maildir.md "Per-recipient headers"): one LMTP transaction with
three recipients, sent with Python's smtplib.LMTP, stores three files of their own, each with its
recipient's Return-Path, Delivered-To, X-Original-To and "Received: ... for <rcpt>" before the
same body; off (the default), the three copies are one hard-linked file without them."""

import os
import re
import unittest

from harness import DaemonTestCase, lmtp_client, message

SENDER = "alice@example.net"
# As sent: X-Original-To keeps the client's spelling; Delivered-To is the canonical address.
RCPTS = [("ann", "ann@example.test"), ("carol", "Carol@example.test"), ("dan", "dan@example.test")]


def virtual_size(data):
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


class PerRecipientHeaders(DaemonTestCase):
    def send_three(self, d, content):
        s = lmtp_client(d)
        self.addCleanup(s.close)
        self.assertEqual(s.mail(SENDER)[0], 250)
        for _, address in RCPTS:
            self.assertEqual(s.rcpt(address)[0], 250)
        # smtplib.LMTP reads one reply after DATA; RFC 2033 §4.2 sends one per accepted RCPT.
        replies = [s.data(content)] + [s.getreply() for _ in RCPTS[1:]]
        for code, text in replies:
            self.assertEqual(code, 250, text)
        s.quit()

    def test_three_recipients_get_their_own_headers(self):
        d = self.start_daemon({"mail": {"per_recipient_headers": True, "x_original_to": True}})
        content = message("per rcpt", ["one body, three header blocks", "bare\nlf"])
        self.send_three(d, content)
        inodes = set()
        for user, as_sent in RCPTS:
            files = d.files(user)
            self.assertEqual(len(files), 1, d.all_files())
            address = f"{user}@example.test"
            fields = self.assertStored(files[0], content, delivered_to=address, sender=SENDER)
            received = [v for n, v in fields if n.lower() == "received"]
            self.assertEqual(len(received), 1)
            self.assertIn(f"for <{address}>;", received[0])
            self.assertEqual([v.strip() for n, v in fields if n.lower() == "x-original-to"], [as_sent])
            with open(files[0], "rb") as f:
                data = f.read()
            for other, _ in RCPTS:
                if other != user:
                    self.assertNotIn(f"{other}@".encode(), data.lower(), f"{user}'s copy names {other}")
            w = int(re.search(r",W=(\d+)", os.path.basename(files[0])).group(1))
            self.assertEqual(w, virtual_size(data))
            st = os.stat(files[0])
            self.assertEqual(st.st_nlink, 1)
            inodes.add(st.st_ino)
        self.assertEqual(len(inodes), 3)
        self.assertTmpEmpty(d)

    def test_off_by_default_one_shared_file(self):
        d = self.start_daemon({"mail": {"x_original_to": True}})
        content = message("shared", ["one file, three links"])
        self.send_three(d, content)
        inodes = set()
        for user, _ in RCPTS:
            files = d.files(user)
            self.assertEqual(len(files), 1, d.all_files())
            fields = self.assertStored(files[0], content, delivered_to=False, sender=SENDER)
            names = [n.lower() for n, _ in fields]
            self.assertNotIn("x-original-to", names)
            self.assertNotIn("for <", [v for n, v in fields if n.lower() == "received"][0])
            inodes.add(os.stat(files[0]).st_ino)
        self.assertEqual(len(inodes), 1)


if __name__ == "__main__":
    unittest.main()
