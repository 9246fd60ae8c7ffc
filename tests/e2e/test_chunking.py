"""CHUNKING / BINARYMIME (RFC 3030) against the real daemon over a raw socket. Postfix's LMTP client
never sends BDAT (PEERS.md §2, point 10), so no Postfix test here: docs/conformance.md says so."""

import os
import random
import unittest

from harness import CRLF, DaemonTestCase, message, wait_until


def bdat(chunk, last=False):
    return b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"") + chunk


class Chunking(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon({"mail": {"users": ["alice", "bob", "carol"]},
                                    "limits": {"max_message_size": "4M"}})

    def session(self, unix=False):
        c = self.d.connect(unix=unix)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        lhlo = c.cmd("LHLO client.test")
        self.assertEqual(lhlo[0], 250)
        caps = lhlo[1].upper().split(b"\n")
        self.assertIn(b"CHUNKING", caps)
        self.assertIn(b"BINARYMIME", caps)
        return c

    def test_pipelined_binary_chunks_stored_exactly(self):
        for unix in (False, True):
            with self.subTest(unix=unix):
                before = {u: set(self.d.files(u)) for u in ("alice", "bob")}
                c = self.session(unix)
                # Binary content: NUL, bare LF and CR, a lone "." line and one starting with ".",
                # which BDAT carries as they are (no dot-stuffing, no end-of-data search).
                content = message("binary chunks", [b"\x00\x01\xff", b"bare\nlf and bare\rcr", b".",
                                                    b"..two dots", b"\r\n.\r\n"])
                parts = [content[:7], content[7:8], content[8:]]
                # One write: the whole transaction, the chunks and a NOOP behind LAST.
                c.send(b"MAIL FROM:<bob@example.net> BODY=BINARYMIME\r\nRCPT TO:<alice@example.test>\r\n"
                       b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
                       + bdat(parts[0]) + bdat(parts[1]) + bdat(parts[2]) + bdat(b"", last=True) + b"NOOP\r\n")
                r = c.replies(10)
                self.assertEqual([x[0] for x in r], [250, 250, 550, 250, 250, 250, 250, 250, 250, 250], r)
                self.assertTrue(r[4][1].startswith(b"2.0.0 7 octets"), r[4])
                self.assertTrue(r[7][1].startswith(b"2.0.0 <alice@example.test>"), r[7])
                self.assertTrue(r[8][1].startswith(b"2.0.0 <bob@example.test>"), r[8])
                for u in ("alice", "bob"):
                    new = set(self.d.files(u)) - before[u]
                    self.assertEqual(len(new), 1, u)
                    self.assertStored(new.pop(), content, delivered_to=False, sender="bob@example.net")
                self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_large_message_in_uneven_chunks_written_at_odd_boundaries(self):
        # Over the 64 KiB held in memory, so the spool path; chunk headers and octets are split
        # across writes at random points.
        rng = random.Random(9)
        content = bytes(rng.getrandbits(8) for _ in range(3 * 1024 * 1024 + 17))
        sizes, pos = [], 0
        while pos < len(content):
            n = min(rng.choice([1, 100, 65535, 65536, 65537, 700000]), len(content) - pos)
            sizes.append(n)
            pos += n
        stream, pos = b"", 0
        for i, n in enumerate(sizes):
            stream += bdat(content[pos:pos + n], last=i == len(sizes) - 1)
            pos += n
        before = set(self.d.files("carol"))
        c = self.session()
        c.send(b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<carol@example.test>\r\n")
        self.assertEqual([x[0] for x in c.replies(2)], [250, 250])
        i = 0
        while i < len(stream):
            n = rng.randint(1, 200000)
            c.send(stream[i:i + n])
            i += n
        r = c.replies(len(sizes))
        self.assertTrue(all(x[0] == 250 for x in r), r[-3:])
        self.assertTrue(r[-1][1].startswith(b"2.0.0 <carol@example.test>"), r[-1])
        new = set(self.d.files("carol")) - before
        self.assertEqual(len(new), 1)
        self.assertStored(new.pop(), content, delivered_to="carol@example.test")
        self.assertTmpEmpty(self.d)

    def test_refused_chunks_consume_their_octets(self):
        c = self.session()
        big = b"x" * (4 * 1024 * 1024 + 1)
        # Too big, without MAIL, with BINARYMIME and DATA: each chunk's octets are read, never taken
        # as commands (they hold "QUIT").
        c.send(b"BDAT 6\r\nQUIT\r\n")
        self.assertEqual(c.reply()[0], 503)
        c.send(b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.test>\r\n" + bdat(big, last=True))
        r = c.replies(3)
        self.assertEqual([x[0] for x in r], [250, 250, 552], r)
        self.assertTrue(r[2][1].startswith(b"5.3.4"), r[2])
        c.send(b"MAIL FROM:<bob@example.net> BODY=BINARYMIME\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
               + bdat(b"QUIT\r\n") + b"DATA\r\nRSET\r\n")
        r = c.replies(6)
        self.assertEqual([x[0] for x in r], [250, 250, 503, 250, 503, 250], r)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertTmpEmpty(self.d)

    def test_rset_between_chunks_abandons_the_message(self):
        before = set(self.d.all_files("new"))
        c = self.session()
        c.send(b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.test>\r\n" + bdat(b"x" * 70000) + b"RSET\r\n")
        self.assertEqual([x[0] for x in c.replies(4)], [250, 250, 250, 250])
        self.assertTrue(wait_until(lambda: "message abandoned by the client" in self.d.log(), 10), self.d.log()[-2000:])
        # The session goes on: a new transaction by BDAT is delivered.
        c.send(b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.test>\r\n" + bdat(b"after\r\n", last=True))
        self.assertEqual([x[0] for x in c.replies(3)], [250, 250, 250])
        self.assertEqual(len(set(self.d.all_files("new")) - before), 1)
        self.assertTmpEmpty(self.d)

    def test_client_gone_mid_chunk_leaves_nothing(self):
        before = set(self.d.all_files("new"))
        c = self.session()
        c.send(b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<alice@example.test>\r\n")
        self.assertEqual([x[0] for x in c.replies(2)], [250, 250])
        c.send(bdat(b"a" * 100000) + b"BDAT 200000 LAST\r\n" + b"b" * 1000)
        self.assertEqual(c.reply()[0], 250)
        c.close()
        self.assertTrue(wait_until(lambda: "disconnect" in self.d.log(), 10))
        self.assertTmpEmpty(self.d)
        self.assertEqual(set(self.d.all_files("new")), before)


if __name__ == "__main__":
    unittest.main()
