"""PIPELINING (RFC 2920) over a raw socket: many commands per write, replies in order."""

import os
import re
import unittest

from harness import CRLF, DaemonTestCase, dot_stuff, message


def codes(replies):
    return [c for c, _ in replies]


class Pipelining(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon({"mail": {"users": ["alice", "bob", "carol"]}})

    def session(self, unix=False):
        c = self.d.connect(unix=unix)
        self.addCleanup(c.close)
        code, text = c.reply()
        self.assertEqual(code, 220, text)
        return c

    def assertCodes(self, replies, expected):
        got = [(c, t.split(b" ", 1)[0].decode()) for c, t in replies]
        want = [(e, None) if isinstance(e, int) else (int(e.split()[0]), e.split()[1]) for e in expected]
        # Compare the basic codes, and the enhanced codes where the expectation names one.
        self.assertEqual([g[0] for g in got], [w[0] for w in want], replies)
        for g, w, r in zip(got, want, replies):
            if w[1] is not None:
                self.assertEqual(g[1], w[1], r)

    def test_two_transactions_pipelined_through_the_dot(self):
        for unix in (False, True):
            with self.subTest(unix=unix):
                self._two_transactions(unix)

    def _two_transactions(self, unix):
        before = {u: len(self.d.files(u)) for u in ("alice", "bob", "carol")}
        c = self.session(unix)
        first = message("pipelined one", ["First message.", ".a dot line", "end"])
        second = message("pipelined two", ["Second message.", "..two dots"])

        # Write 1: everything up to the first sync point (DATA).
        c.send(b"LHLO client.test\r\nMAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.test>\r\n"
               b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        lhlo = c.reply()
        self.assertEqual(lhlo[0], 250)
        self.assertIn(b"PIPELINING", lhlo[1].upper())
        self.assertCodes(c.replies(5), ["250 2.1.0", "250 2.1.5", "550 5.1.1", "250 2.1.5", 354])

        # Write 2: the first content, its dot, and the whole second transaction up to DATA, in one write.
        c.send(dot_stuff(first) + b"MAIL FROM:<carol@example.net>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n")
        self.assertCodes(c.replies(5), ["250 2.0.0", "250 2.0.0", "250 2.1.0", "250 2.1.5", 354])

        # Write 3: the second content, its dot, then RSET, NOOP and QUIT.
        c.send(dot_stuff(second) + b"RSET\r\nNOOP\r\nQUIT\r\n")
        self.assertCodes(c.replies(4), ["250 2.0.0", 250, 250, "221 2.0.0"])
        self.assertTrue(c.at_eof(), "the server should close after 221")

        self.assertEqual(len(self.d.files("alice")), before["alice"] + 1)
        self.assertEqual(len(self.d.files("bob")), before["bob"] + 1)
        self.assertEqual(len(self.d.files("carol")), before["carol"] + 1)
        newest = lambda u: max(self.d.files(u), key=os.path.getmtime)
        self.assertStored(newest("alice"), first, delivered_to=False, sender="bob@example.net")
        self.assertStored(newest("bob"), first, delivered_to=False)
        self.assertStored(newest("carol"), second, delivered_to="carol@example.test", sender="carol@example.net")
        self.assertTmpEmpty(self.d)

    def test_many_commands_one_write(self):
        c = self.session()
        c.send(b"LHLO client.test\r\nNOOP\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<nosuch@example.test>\r\n"
               b"RCPT TO:<alice@example.test>\r\nMAIL FROM:<again@example.net>\r\nRSET\r\n"
               b"RCPT TO:<alice@example.test>\r\nDATA\r\nVRFY alice\r\nBOGUS\r\nNOOP\r\n")
        self.assertEqual(c.reply()[0], 250)  # LHLO
        replies = c.replies(12)
        got = codes(replies)
        self.assertEqual(got[:5], [250, 250, 250, 550, 250], replies)
        self.assertEqual(got[5], 503, f"MAIL inside a transaction: {replies[5]}")
        self.assertEqual(got[6], 250, replies)
        self.assertEqual(got[7], 503, f"RCPT without MAIL: {replies[7]}")
        self.assertEqual(got[8], 503, f"DATA without MAIL: {replies[8]}")
        self.assertIn(got[9], (252, 502, 550, 250), f"VRFY: {replies[9]}")
        self.assertEqual(got[10], 500, f"unknown command: {replies[10]}")
        self.assertEqual(got[11], 250, replies)
        self.assertTrue(replies[3][1].startswith(b"5.1.1"), replies[3])
        # Still in step: one more command, one more reply.
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_one_byte_at_a_time(self):
        c = self.session()
        content = message("bytewise", ["sent one byte per write"])
        data = (b"LHLO client.test\r\nMAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        for i in range(len(data)):
            c.send(data[i:i + 1])
        self.assertEqual(c.reply()[0], 250)
        self.assertCodes(c.replies(3), ["250 2.1.0", "250 2.1.5", 354])
        body = dot_stuff(content)
        for i in range(len(body)):
            c.send(body[i:i + 1])
        self.assertCodes([c.reply()], ["250 2.0.0"])
        [f] = self.d.files("alice")
        self.assertStored(f, content)

    def test_line_too_long_then_continue(self):
        c = self.session()
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        long_mail = b"MAIL FROM:<" + b"a" * 1100 + b"@example.net>"
        self.assertCodes([c.cmd(long_mail)], ["500 5.5.2"])
        # The over-long MAIL was not accepted: a new MAIL is fine and the transaction works.
        self.assertCodes([c.cmd("MAIL FROM:<bob@example.net>")], ["250 2.1.0"])
        # An over-long line split over several writes, inside a pipelined batch: exactly one 500 for it.
        c.send(b"RCPT TO:<alice@example.test>\r\nNOOP " + b"x" * 3000)
        c.send(b"y" * 3000)
        c.send(b"z" * 3000 + b"\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        self.assertCodes(c.replies(4), ["250 2.1.5", "500 5.5.2", "250 2.1.5", 354])
        content = message("after long line", ["still works"])
        c.send(dot_stuff(content))
        self.assertCodes(c.replies(2), ["250 2.0.0", "250 2.0.0"])
        # A very long line (256 KiB) without CRLF for a while: still one reply, memory bounded.
        c.send(b"NOOP " + b"q" * (256 * 1024) + b"\r\nNOOP\r\n")
        self.assertCodes(c.replies(2), ["500 5.5.2", 250])
        self.assertEqual(c.cmd("QUIT")[0], 221)
        for u in ("alice", "bob"):
            [f] = self.d.files(u)
            self.assertStored(f, content, delivered_to=False)

    def test_bare_lf_kept_and_counted_in_w(self):
        c = self.session()
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        c.send(b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        self.assertCodes(c.replies(3), ["250 2.1.0", "250 2.1.5", 354])
        content = b"Subject: bare LF\r\n\r\none\ntwo\nthree\r\nfour\n\r\n"
        c.send(content + b".\r\n")
        self.assertCodes([c.reply()], ["250 2.0.0"])
        [f] = self.d.files("alice")
        self.assertStored(f, content)
        with open(f, "rb") as fh:
            data = fh.read()
        bare_lf = data.count(b"\n") - data.count(b"\r\n")
        self.assertEqual(bare_lf, 3)
        w = int(re.search(r",W=(\d+)", f).group(1))
        self.assertEqual(w, len(data) + bare_lf, "W= is the size with every line ending as CRLF")

    def test_bare_lf_dot_does_not_end_data(self):
        # SMTP smuggling (Dec 2023): only <CRLF>.<CRLF> ends DATA; <LF>.<LF> and <LF>.<CRLF> are content.
        c = self.session()
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        c.send(b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        self.assertCodes(c.replies(3), ["250 2.1.0", "250 2.1.5", 354])
        content = (b"Subject: smuggle\r\n\r\nfirst\n.\nMAIL FROM:<evil@example.net>\n"
                   b"RCPT TO:<bob@example.test>\n.\r\nDATA\r\nhidden\r\r.\r\rend\r\n")
        c.send(content + b".\r\n")
        self.assertCodes([c.reply()], ["250 2.0.0"])
        self.assertEqual(c.cmd("NOOP")[0], 250, "exactly one reply for the one message")
        [f] = self.d.files("alice")
        self.assertStored(f, content)
        self.assertEqual(self.d.files("bob"), [])


if __name__ == "__main__":
    unittest.main()
