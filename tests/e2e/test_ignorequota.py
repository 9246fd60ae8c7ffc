"""IGNOREQUOTA on RCPT (issue #11; Cyrus lmtpd, Exim's lmtp transport `ignore_quota`).

A mailbox at its quota (mail.quota_messages = 1, one message in it). From a client in
lmtp.ignorequota_from (TCP from loopback), LHLO lists IGNOREQUOTA, `RCPT ... IGNOREQUOTA` is
accepted and the message lands in new/ past the quota, with maildirsize still counting it and the
delivery line saying ignorequota=yes; without the parameter the same RCPT gets 552 5.2.2. The
quota check at commit is skipped too (rcpt_check_quota = false). From a client outside the list
(the UNIX socket; or a daemon with the list empty) IGNOREQUOTA is not announced and the parameter
gets 555 5.5.4.

Through a private Exim (tests/e2e/exim_instance.py) with docs/exim.md's transports plus
`ignore_quota = true` (lmtp transport, UNIX socket) or `lmtp_ignore_quota = true` (smtp transport,
protocol = lmtp, TCP): carol, at her one-message quota, still gets the second message (Exim logs
=> with 250, mailslot logs ignorequota=yes) where test_exim_delivery sees a 452 deferral.
"""

import os
import unittest

from harness import DaemonTestCase, daemon_binary, lmtp_client, message, wait_until
from virtual_users import VirtualUsersTestCase
import exim_instance as ex


class IgnoreQuota(DaemonTestCase):
    def start(self, ignorequota_from, **mail):
        values = {"quota_messages": 1}
        values.update(mail)
        return self.start_daemon({"mail": values, "lmtp": {"ignorequota_from": ignorequota_from}},
                                 name=f"d{len(os.listdir(self.tmp))}")

    def client(self, d, unix=False):
        c = lmtp_client(d, unix=unix)
        self.addCleanup(c.close)
        return c

    def fill(self, d, user):
        c = self.client(d)
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt(f"{user}@example.test"), 250)
        self.assertReply(c.data(message("fill", ["the one message the quota allows"])), 250, "2.0.0")
        c.quit()
        self.assertEqual(len(d.files(user)), 1)

    def counted(self, d, user):
        """Messages maildirsize counts (the lines after the header)."""
        with open(os.path.join(d.maildir(user), "maildirsize")) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "1C")
        return sum(int(line.split()[1]) for line in lines[1:])

    def test_trusted_client_delivers_past_the_quota(self):
        d = self.start(["127.0.0.0/8", "::1"])
        self.fill(d, "carol")
        c = self.client(d)
        self.assertTrue(c.has_extn("ignorequota"), c.esmtp_features)
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("carol@example.test"), 552, "5.2.2")  # at the quota: refused as before
        self.assertReply(c.rcpt("carol@example.test", options=["IGNOREQUOTA"]), 250, "2.1.5")
        self.assertReply(c.rcpt("carol@example.test", options=["IGNOREQUOTA=1"]), 501, "5.5.4")
        self.assertReply(c.data(message("past the quota", ["IGNOREQUOTA"])), 250, "2.0.0")
        self.assertEqual(len(d.files("carol")), 2)
        self.assertEqual(self.counted(d, "carol"), 2)  # the usage stays right
        self.assertTrue(d.wait_log(r"to=<carol@example\.test>.*status=delivered.*ignorequota=yes"), d.log())
        # The next message without the parameter is still refused: the copy was counted.
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("carol@example.test"), 552, "5.2.2")
        c.rset()
        self.assertTmpEmpty(d)

    def test_quota_check_at_commit_is_skipped_too(self):
        d = self.start(["127.0.0.0/8", "::1"], rcpt_check_quota=False)
        self.fill(d, "dave")
        c = self.client(d)
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("dave@example.test"), 250)  # not checked at RCPT
        self.assertReply(c.data(message("over", ["refused at commit"])), 552, "5.2.2")
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("dave@example.test", options=["IGNOREQUOTA"]), 250)
        self.assertReply(c.data(message("over", ["delivered past the quota"])), 250, "2.0.0")
        self.assertEqual(len(d.files("dave")), 2)
        self.assertEqual(self.counted(d, "dave"), 2)

    def test_untrusted_client_gets_555(self):
        # The UNIX socket is not in the list; a second daemon trusts nobody (the default).
        d = self.start(["127.0.0.0/8"])
        self.fill(d, "erin")
        d2 = self.start([])
        self.fill(d2, "erin")
        for daemon, unix in ((d, True), (d2, False)):
            with self.subTest(unix=unix):
                c = self.client(daemon, unix=unix)
                self.assertFalse(c.has_extn("ignorequota"), c.esmtp_features)
                self.assertReply(c.mail("s@example.net"), 250)
                self.assertReply(c.rcpt("erin@example.test", options=["IGNOREQUOTA"]), 555, "5.5.4")
                self.assertReply(c.rcpt("erin@example.test"), 552, "5.2.2")
                c.rset()
                self.assertEqual(len(daemon.files("erin")), 1)


@unittest.skipIf(ex.available(), ex.available() or "")
class EximIgnoreQuota(VirtualUsersTestCase):
    extra_config = {"lmtp": {"ignorequota_from": ["unix", "127.0.0.0/8"]}}

    def exim(self, transport):
        body = ex.documented_config(self.d, self.d.config_path, daemon_binary())
        # Exim's two spellings of the option; each adds IGNOREQUOTA when LHLO announced it.
        body = body.replace("  driver = lmtp\n", "  driver = lmtp\n  ignore_quota = true\n")
        body = body.replace("  protocol = lmtp\n", "  protocol = lmtp\n  lmtp_ignore_quota = true\n")
        self.assertIn("lmtp_ignore_quota", body)
        return ex.EximInstance(os.path.join(self.tmp, "exim"), body, {"MAILSLOT_TRANSPORT": transport})

    def why(self, e):
        return f"\nexim log:\n{e.log()[-3000:]}\nmailslot log:\n{self.d.log()[-3000:]}"

    def past_the_quota(self, transport):
        e = self.exim(transport)
        for n in (1, 2):   # carol's quota is one message: the second one is past it
            r = e.sendmail("sender@virt.test", ["carol@virt.test"], f"Subject: m{n}\n\nmessage {n}\n".encode())
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(wait_until(lambda: len(self.new("carol")) == n, 10), f"carol has not {n}" + self.why(e))
        self.assertNotRegex(e.log(), r"== carol@virt\.test")
        self.assertTrue(self.d.wait_log(r"to=<carol@virt\.test>.*status=delivered.*ignorequota=yes"), self.why(e))

    def test_lmtp_transport_ignore_quota(self):
        self.past_the_quota("mailslot_lmtp")

    def test_smtp_transport_lmtp_ignore_quota(self):
        self.past_the_quota("mailslot_tcp")


if __name__ == "__main__":
    unittest.main()
