"""Large messages: 20 MiB byte-exact, and the max_message_size limit (552 5.3.4)."""

import hashlib
import os
import smtplib
import time
import unittest

from harness import CRLF, DaemonTestCase, dot_stuff, lmtp_client, message

MiB = 1024 * 1024


def big_content(size):
    """About size bytes of 76-character lines; every 7th line starts with '.', some with '..'."""
    head = (b"From: bob@example.net\r\nTo: alice@example.test\r\nSubject: large\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n")
    parts = [head]
    total = len(head)
    n = 0
    while total < size:
        if n % 7 == 0:
            line = b"." + (b"%09d" % n) + b"d" * 64 + b"\xc3\xa9"
        elif n % 97 == 0:
            line = b".." + b"e" * 74
        elif n % 113 == 0:
            line = b"."
        else:
            line = (b"%09d" % n) + b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ+/="[:67]
        parts.append(line + CRLF)
        total += len(line) + 2
        n += 1
    return b"".join(parts)


class Large(DaemonTestCase):
    def test_20_mib_byte_exact(self):
        d = self.start_daemon({"server": {"log_level": "info"}})
        content = big_content(20 * MiB)
        self.assertGreaterEqual(len(content), 20 * MiB)
        c = d.connect(timeout=120)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        self.assertEqual(c.cmd(f"MAIL FROM:<bob@example.net> SIZE={len(content)}")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        t0 = time.monotonic()
        c.send(dot_stuff(content))
        replies = c.replies(2)
        elapsed = time.monotonic() - t0
        for r in replies:
            self.assertReply(r, 250, "2.0.0")
        self.assertEqual(c.cmd("QUIT")[0], 221)
        files = [d.files("alice"), d.files("bob")]
        self.assertEqual([len(f) for f in files], [1, 1])
        self.assertStored(files[0][0], content, delivered_to=False, sender="bob@example.net")
        self.assertEqual(os.stat(files[0][0]).st_ino, os.stat(files[1][0]).st_ino)
        self.assertTmpEmpty(d)
        self.assertLess(elapsed, 60, "20 MiB over loopback should take seconds")

    def test_20_mib_with_smtplib(self):
        # smtplib dot-stuffs with its own code: a second, independent encoder.
        d = self.start_daemon({"server": {"log_level": "info"}})
        content = big_content(20 * MiB).replace(b"Subject: large", b"Subject: large via smtplib")
        s = lmtp_client(d, unix=True, timeout=120)
        self.addCleanup(s.close)
        self.assertReply(s.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(s.rcpt("carol@example.test"), 250, "2.1.5")
        self.assertReply(s.data(content), 250, "2.0.0")
        [f] = d.files("carol")
        with open(f, "rb") as fh:
            data = fh.read()
        self.assertEqual(hashlib.sha256(data[-len(content):]).hexdigest(), hashlib.sha256(content).hexdigest())
        self.assertStored(f, content, delivered_to="carol@example.test")


class SizeLimit(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon({"limits": {"max_message_size": "1M"}})

    def session(self):
        c = self.d.connect(timeout=60)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        lhlo = c.cmd("LHLO client.test")
        self.assertEqual(lhlo[0], 250)
        return c, lhlo

    def test_size_advertised(self):
        c, (code, text) = self.session()
        sizes = [l.split()[1] for l in text.upper().split(b"\n") if l.startswith(b"SIZE ")]
        self.assertIn(sizes, ([b"1048576"], [b"1000000"]), text)

    def test_too_big_message_is_refused_per_recipient(self):
        c, _ = self.session()
        content = message("too big", [b"z" * 76] * (2 * MiB // 78))
        self.assertGreater(len(content), 2 * MiB - 1000)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<bob@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(dot_stuff(content))
        # RFC 2033: still one reply per accepted recipient, each 552 5.3.4.
        for r in c.replies(2):
            self.assertReply(r, 552, "5.3.4")
        self.assertEqual(self.d.all_files("new"), [])
        self.assertTmpEmpty(self.d)
        # The session is usable afterwards: a small message goes through.
        small = message("small after big", ["fits"])
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(dot_stuff(small))
        self.assertReply(c.reply(), 250, "2.0.0")
        [f] = self.d.files("alice")
        self.assertStored(f, small)

    def test_just_under_the_limit_is_accepted(self):
        c, _ = self.session()
        content = message("under", [b"u" * 76] * (900 * 1000 // 78))
        self.assertLess(len(content), 1000 * 1000)
        self.assertEqual(c.cmd(f"MAIL FROM:<bob@example.net> SIZE={len(content)}")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(dot_stuff(content))
        self.assertReply(c.reply(), 250, "2.0.0")
        [f] = self.d.files("alice")
        self.assertStored(f, content)

    def test_size_parameter_over_limit(self):
        c, _ = self.session()
        self.assertReply(c.cmd("MAIL FROM:<bob@example.net> SIZE=2000000"), 552, "5.3.4")
        # 20 digits (RFC 1870 allows 1*20DIGIT) but beyond 2^64: too big, or at worst a syntax error.
        code, text = c.cmd("MAIL FROM:<bob@example.net> SIZE=99999999999999999999")
        self.assertIn(code, (552, 501), text)
        # Refused MAIL leaves no transaction: RCPT is out of sequence.
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 503)
        self.assertReply(c.cmd("MAIL FROM:<bob@example.net> SIZE=1000"), 250, "2.1.0")

    def test_smtplib_size_over_limit(self):
        s = smtplib.LMTP(self.d.host, self.d.port, timeout=60)
        self.addCleanup(s.close)
        s.ehlo("client.test")
        self.assertReply(s.mail("bob@example.net", ["SIZE=5000000"]), 552, "5.3.4")


if __name__ == "__main__":
    unittest.main()
