"""A private Postfix (tests/e2e/postfix_instance.py) delivers through mailslot with the configuration
docs/postfix.md gives: virtual_transport = lmtp:unix:<socket> and lmtp:inet:127.0.0.1:<port>, mail
injected with Postfix's sendmail and over SMTP. Asserted per recipient, from both sides' logs and
the Maildirs: one message to four recipients is one LMTP transaction; the known ones are delivered
once (Postfix logs status=sent (250 2.0.0 ...)); the unknown one is bounced and the bounce, read
from the sender's own mailslot mailbox, names only that recipient; the over-quota one (452 4.2.2
with quota_full_tempfail) is deferred, then delivered once the quota is raised and the queue
flushed, without a second copy to the others. Postfix's connection cache carries several messages
in one LMTP session."""

import os
import re
import smtplib
import unittest

from harness import wait_until
from virtual_users import VirtualUsersTestCase
import postfix_instance as pf


@unittest.skipIf(pf.available(), pf.available() or "")
class PostfixDelivery(VirtualUsersTestCase):
    def postfix(self, transport_block, main_extra="", smtp=False):
        main = pf.doc_block("postfix.md", transport_block)
        main = main.replace("example.net", "virt.test").replace("/run/mailslot/lmtp", self.d.unix_path)
        main = main.replace("127.0.0.1:24", f"127.0.0.1:{self.d.port}")
        p = pf.PostfixInstance(os.path.join(self.tmp, "pf"), main + main_extra,
                               smtp_port=pf.free_port() if smtp else None)
        p.start()
        self.addCleanup(p.stop)
        return p

    def why(self, p):
        return f"\npostfix log:\n{p.log()[-4000:]}\nmailslot log:\n{self.d.log()[-4000:]}"

    def per_recipient(self, p, inject):
        # Fill carol's quota (one message) first.
        p.sendmail("sender@virt.test", ["carol@virt.test"], b"Subject: fill\r\n\r\nfill\r\n")
        self.assertTrue(wait_until(lambda: len(self.new("carol")) == 1, 20), "carol not filled" + self.why(p))

        msg = (b"From: sender@virt.test\r\nTo: alice@virt.test, bob@virt.test, carol@virt.test, "
               b"nobody@virt.test\r\nSubject: four\r\nMessage-ID: <four@pf.test>\r\n\r\nfour recipients\r\n")
        rcpts = [f"{u}@virt.test" for u in ("alice", "bob", "carol", "nobody")]
        inject(p, "sender@virt.test", rcpts, msg)

        for u in ("alice", "bob"):
            self.assertTrue(p.wait_log(rf"to=<{u}@virt\.test>.*status=sent \(250 2\.0\.0 "), f"{u}" + self.why(p))
        self.assertTrue(p.wait_log(r"to=<carol@virt\.test>.*status=deferred \(.*452 4\.2\.2"), self.why(p))
        self.assertTrue(p.wait_log(r"to=<nobody@virt\.test>.*status=bounced \(.*550 5\.1\.1"), self.why(p))
        # One LMTP transaction for the message: alice's and bob's deliveries share a session.N id.
        ids = {u: self.d.wait_log(rf"session=(\S+) .*to=<{u}@virt\.test> .*status=delivered .*queue_id=(\w+)")
               for u in ("alice", "bob")}
        self.assertTrue(all(ids.values()), self.why(p))
        self.assertEqual(ids["alice"].group(1), ids["bob"].group(1))
        queue_id = ids["alice"].group(2)
        self.assertRegex(p.log(), rf"{queue_id}: to=<alice@virt\.test>.*status=sent")

        # The bounce reaches the sender's mailslot mailbox and names only nobody@virt.test.
        self.assertTrue(wait_until(lambda: self.new("sender"), 20), "no bounce" + self.why(p))
        with open(self.new("sender")[0], "rb") as f:
            bounce = f.read().decode("utf-8", "replace")
        finals = re.findall(r"^Final-Recipient: rfc822;\s*(\S+)", bounce, re.M)
        self.assertEqual(finals, ["nobody@virt.test"], bounce[:3000])

        # Raise carol's quota, flush: carol gets the message, nobody else a second copy.
        self.write_users(carol_messages=100)
        self.assertTrue(wait_until(lambda: (p.flush() and False) or len(self.new("carol")) == 2, 20, 1.0),
                        "carol not delivered after the quota was raised" + self.why(p))
        self.assertTrue(p.wait_log(r"to=<carol@virt\.test>.*status=sent \(250 2\.0\.0 "), self.why(p))
        self.assertEqual(p.wait_queue_empty(), [], self.why(p))
        self.assertEqual([len(self.new(u)) for u in ("alice", "bob", "carol")], [1, 1, 2])
        for u in ("alice", "bob"):
            with open(self.new(u)[0], "rb") as f:
                head = f.read().split(b"\r\n\r\n", 1)[0].decode()
            self.assertIn("Return-Path: <sender@virt.test>", head)
            self.assertRegex(head, rf"id {queue_id}")   # Postfix's own Received header is kept

    @staticmethod
    def by_sendmail(p, sender, rcpts, msg):
        p.sendmail(sender, rcpts, msg)

    @staticmethod
    def by_smtp(p, sender, rcpts, msg):
        with smtplib.SMTP("127.0.0.1", p.smtp_port, timeout=30) as s:
            refused = s.sendmail(sender, rcpts, msg)
            if refused:
                raise AssertionError(f"Postfix smtpd refused {refused}")

    def test_unix_socket_sendmail(self):
        self.per_recipient(self.postfix("main.cf unix"), self.by_sendmail)

    def test_inet_smtp(self):
        p = self.postfix("main.cf inet", smtp=True)
        # smtpd is up once master has bound the port; wait for it to answer.
        self.assertTrue(wait_until(lambda: self.smtp_ready(p), 20), self.why(p))
        self.per_recipient(p, self.by_smtp)

    @staticmethod
    def smtp_ready(p):
        try:
            with smtplib.SMTP("127.0.0.1", p.smtp_port, timeout=5) as s:
                return s.noop()[0] == 250
        except OSError:
            return False

    def test_connection_cache_several_messages_per_session(self):
        # Hold the messages back (defer_transports) so that they are all in the queue, then let
        # them go with one connection at a time: the cache reuses the session for the backlog.
        p = self.postfix("main.cf unix", "lmtp_destination_concurrency_limit = 1\ndefer_transports = lmtp\n")
        n = 4
        for i in range(n):
            p.sendmail("sender@virt.test", ["alice@virt.test"], f"Subject: c{i}\r\n\r\ncache {i}\r\n".encode())
        self.assertTrue(wait_until(lambda: len(p.queue_ids()) == n, 20), self.why(p))
        p.set(defer_transports="")
        p.postfix("reload")
        p.flush()
        self.assertTrue(wait_until(lambda: len(self.new("alice")) == n, 30), self.why(p))
        self.assertTrue(p.wait_log(r"to=<alice@virt\.test>.*status=sent \(250 2\.0\.0 ", count=n), self.why(p))
        # mailslot's disconnect line counts the messages of the session: at least one carried several.
        counts = [int(m) for m in re.findall(r"disconnect .*messages=(\d+)", self.d.log())]
        self.assertTrue(wait_until(
            lambda: any(int(m) >= 2 for m in re.findall(r"disconnect .*messages=(\d+)", self.d.log())), 20),
            f"no session carried two messages: {counts}" + self.why(p))
        self.assertEqual(p.wait_queue_empty(), [], self.why(p))


if __name__ == "__main__":
    unittest.main()
