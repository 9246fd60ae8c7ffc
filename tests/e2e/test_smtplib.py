"""Python's smtplib.LMTP against mailslotd: per-recipient replies, stored bytes, hard links."""

import os
import smtplib
import unittest

from harness import CRLF, DaemonTestCase, lmtp_client, message

USERS = ["alice", "bob", "carol"]


class SmtplibRestrictedUsers(DaemonTestCase):
    """users = [alice, bob, carol]: anyone else is 550 5.1.1."""

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon({"mail": {"users": USERS}})

    def lmtp(self, unix=False):
        c = lmtp_client(self.d, unix=unix)
        self.addCleanup(c.close)
        return c

    def test_greeting_and_lhlo(self):
        c = smtplib.LMTP(timeout=30)
        self.addCleanup(c.close)
        code, text = c.connect(self.d.host, self.d.port)
        self.assertEqual(code, 220)
        self.assertTrue(text.startswith(b"mx.test "), text)
        self.assertIn(b"LMTP", text)
        code, text = c.ehlo("client.test")  # LMTP.ehlo sends LHLO
        self.assertEqual(code, 250, text)
        for ext in ("pipelining", "enhancedstatuscodes", "8bitmime", "size"):
            self.assertTrue(c.has_extn(ext), f"LHLO does not advertise {ext}: {text!r}")
        # max_message_size = "50M": binary or decimal mega, either reading is defensible.
        self.assertIn(c.esmtp_features["size"], (str(50 * 1024 * 1024), str(50 * 1000 * 1000)),
                      "SIZE should advertise max_message_size = 50M")

    def test_three_valid_one_unknown(self):
        c = self.lmtp()
        content = message("three recipients", ["Hello all three.", "", "Second paragraph.", "-- ", "Bob"])
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("alice@example.test"), 250, "2.1.5")
        self.assertReply(c.rcpt("nobody@example.test"), 550, "5.1.1")
        self.assertReply(c.rcpt("bob@example.test"), 250, "2.1.5")
        self.assertReply(c.rcpt("carol@example.test"), 250, "2.1.5")
        # RFC 2033 §4.2: after the final dot, one reply per accepted RCPT, in order.
        replies = [c.data(content)] + [c.getreply() for _ in range(2)]
        for r in replies:
            self.assertReply(r, 250, "2.0.0")
        # The session is in step afterwards: the next command gets its own reply.
        self.assertReply(c.noop(), 250)
        self.assertReply(c.quit(), 221, "2.0.0")

        inodes = set()
        for user in ("alice", "bob", "carol"):
            files = self.d.files(user)
            self.assertEqual(len(files), 1, f"{user}: {files}")
            self.assertStored(files[0], content, delivered_to=False, sender="bob@example.net")
            inodes.add(os.stat(files[0]).st_ino)
        self.assertEqual(len(inodes), 1, "the three copies should be hard links of one file")
        self.assertEqual(self.d.files("nobody"), [])
        self.assertFalse(os.path.exists(self.d.maildir("nobody")), "a Maildir was created for an unknown user")
        self.assertTmpEmpty(self.d)

    def test_single_recipient_has_delivered_to(self):
        c = self.lmtp(unix=True)
        content = message("single", ["Just for Carol."])
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("carol@example.test"), 250, "2.1.5")
        self.assertReply(c.data(content), 250, "2.0.0")
        files = self.d.files("carol")
        self.assertEqual(len(files), 1)
        fields = self.assertStored(files[0], content, delivered_to="carol@example.test", sender="bob@example.net")
        received = [v for n, v in fields if n.lower() == "received"]
        self.assertEqual(len(received), 1)
        self.assertIn("mx.test", received[0], "Received names this host")
        self.assertIn("LMTP", received[0])

    def test_null_sender(self):
        c = self.lmtp()
        content = message("bounce", ["A delivery status notification."])
        self.assertReply(c.mail("<>"), 250, "2.1.0")
        self.assertReply(c.rcpt("alice@example.test"), 250, "2.1.5")
        self.assertReply(c.data(content), 250, "2.0.0")
        [f] = self.d.files("alice")
        self.assertStored(f, content, sender="")

    def test_8bit_and_leading_dots_round_trip(self):
        c = self.lmtp()
        content = (b"From: bob@example.net\r\nTo: alice@example.test\r\nSubject: 8bit\r\n"
                   b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                   b".starts with a dot\r\n"
                   b"..starts with two dots\r\n"
                   b".\r\n"                       # a lone dot inside the body
                   b"Gr\xc3\xbc\xc3\x9fe, \xe2\x82\xac 100, \xff\xfe raw high bytes\r\n"
                   b"trailing spaces   \r\n"
                   b"\ttab-led line\r\n"
                   b"\r\n"
                   b"last line\r\n")
        self.assertReply(c.mail("bob@example.net", ["BODY=8BITMIME"]), 250, "2.1.0")
        self.assertReply(c.rcpt("alice@example.test"), 250, "2.1.5")
        self.assertReply(c.data(content), 250, "2.0.0")  # smtplib dot-stuffs; the daemon must unstuff
        [f] = self.d.files("alice")
        self.assertStored(f, content, delivered_to="alice@example.test")

    def test_helo_and_ehlo_refused(self):
        c = self.lmtp()
        self.assertReply(c.docmd("HELO", "client.test"), 500, "5.5.1")
        self.assertReply(c.docmd("EHLO", "client.test"), 500, "5.5.1")
        # LHLO still works afterwards.
        self.assertReply(c.docmd("LHLO", "client.test"), 250)

    def test_unknown_domain(self):
        c = self.lmtp()
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("alice@example.org"), 550, "5.1.2")
        self.assertReply(c.rcpt("alice@sub.example.test"), 550, "5.1.2")
        # No valid recipient: DATA is refused.
        self.assertReply(c.docmd("DATA"), 503, "5.5.1")
        self.assertFalse(os.path.exists(os.path.join(self.d.mail_root, "example.org")))

    def test_bad_syntax(self):
        c = self.lmtp()
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(c.docmd("RCPT TO:<alice@example.test"), 501)
        self.assertReply(c.rcpt("alice@example.test"), 250, "2.1.5")

    def test_fold_case(self):
        c = self.lmtp()
        content = message("case", ["Upper-case address."])
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(c.rcpt("Alice@Example.TEST"), 250, "2.1.5")
        self.assertReply(c.data(content), 250, "2.0.0")
        self.assertEqual(len(self.d.files("alice")), 1, os.listdir(self.d.mail_root))


class SmtplibTooManyRecipients(DaemonTestCase):
    def test_max_recipients(self):
        d = self.start_daemon({"limits": {"max_recipients": 3}})
        c = lmtp_client(d)
        self.addCleanup(c.close)
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        # A refused recipient does not count towards the limit.
        self.assertReply(c.rcpt("x@elsewhere.test"), 550, "5.1.2")
        for u in ("u1", "u2", "u3"):
            self.assertReply(c.rcpt(f"{u}@example.test"), 250, "2.1.5")
        self.assertReply(c.rcpt("u4@example.test"), 452, "4.5.3")
        self.assertReply(c.rcpt("u5@example.test"), 452, "4.5.3")
        content = message("three of five", ["only three"])
        replies = [c.data(content)] + [c.getreply() for _ in range(2)]
        for r in replies:
            self.assertReply(r, 250, "2.0.0")
        self.assertReply(c.noop(), 250)
        self.assertEqual([len(d.files(u)) for u in ("u1", "u2", "u3", "u4", "u5")], [1, 1, 1, 0, 0])
        # The limit is per transaction: the next one may have three again.
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        for u in ("u4", "u5", "u1"):
            self.assertReply(c.rcpt(f"{u}@example.test"), 250, "2.1.5")


class SmtplibAnyUser(DaemonTestCase):
    """users = []: every safe local part of example.test exists."""

    def setUp(self):
        super().setUp()
        self.d = self.start_daemon()

    def test_unsafe_local_parts(self):
        c = lmtp_client(self.d)
        self.addCleanup(c.close)
        self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
        # A quoted local part is valid syntax (RFC 5321 §4.1.2), so this is the mailbox check: 550 5.1.3.
        self.assertReply(c.docmd('RCPT TO:<"../x"@example.test>'), 550, "5.1.3")
        # Unquoted, these are not dot-atoms either; the spec answers 550 5.1.3, a parser may say 501 5.1.3.
        for addr in ("../x@example.test", ".hidden@example.test", "..@example.test"):
            code, text = c.docmd(f"RCPT TO:<{addr}>")
            self.assertIn(code, (550, 501), f"{addr}: {code} {text!r}")
            self.assertTrue(text.startswith(b"5.1.3"), f"{addr}: {code} {text!r}")
        # Nothing was created for them, inside or outside the mail root.
        self.assertLessEqual(set(os.listdir(self.d.workdir)), {"cwd", "mail", "mailslot.toml", "lmtp.sock"})
        for dirpath, dirnames, filenames in os.walk(self.d.workdir):
            for n in dirnames + filenames:
                self.assertFalse(n == "x" or n.startswith("."), f"created {os.path.join(dirpath, n)}")
        # A good recipient in the same transaction still works.
        self.assertReply(c.rcpt("dave@example.test"), 250, "2.1.5")
        content = message("after unsafe", ["ok"])
        self.assertReply(c.data(content), 250, "2.0.0")
        [f] = self.d.files("dave")
        self.assertStored(f, content)

    def test_many_messages_one_session(self):
        c = lmtp_client(self.d, unix=True)
        self.addCleanup(c.close)
        sent = {}
        for i in range(25):
            content = message(f"msg {i}", [f"number {i}"])
            user = f"user{i % 5}"
            self.assertReply(c.mail("bob@example.net"), 250, "2.1.0")
            self.assertReply(c.rcpt(f"{user}@example.test"), 250, "2.1.5")
            self.assertReply(c.data(content), 250, "2.0.0")
            sent.setdefault(user, []).append(content)
        for user, contents in sent.items():
            files = self.d.files(user)
            self.assertEqual(len(files), len(contents))
            stored = set()
            for f in files:
                with open(f, "rb") as fh:
                    data = fh.read()
                stored.update(c for c in contents if data.endswith(c))
            self.assertEqual(stored, set(contents), user)
        self.assertEqual(len(set(os.path.basename(f) for f in self.d.all_files())), 25, "unique names")
        self.assertTmpEmpty(self.d)


if __name__ == "__main__":
    unittest.main()
