"""A private Postfix instance (its own config directory and queue, no network listener) delivering
internationalised mail to mailslotd over LMTP with smtputf8_enable = yes. Mail enters through
Postfix's sendmail(1), whose SMTPUTF8 autodetection (smtputf8_autodetect_classes) marks it; the LMTP
client then sends MAIL ... SMTPUTF8 because mailslot announces it. (Postfix's LMTP client never
sends BDAT, so CHUNKING is tested with raw sockets in test_chunking.py.)"""

import os
import subprocess
import unittest

from harness import DaemonTestCase, wait_until
import postfix_instance as pf

USER = "\u7528\u6237"  # 用户


@unittest.skipIf(pf.available(), pf.available() or "")
class PostfixSmtputf8(DaemonTestCase):
    def setUp(self):
        super().setUp()
        # Postfix's daemons run as the postfix user: they must traverse to the queue and the socket.
        os.chmod(self.tmp, 0o755)
        self.d = self.start_daemon()
        os.chmod(self.d.workdir, 0o755)
        self.pf = pf.PostfixInstance(os.path.join(self.tmp, "pf"), f"""smtputf8_enable = yes
transport_maps = inline:{{ example.test=lmtp:unix:{self.d.unix_path} }}
""")
        self.pf.start()
        self.addCleanup(self.pf.stop)

    def maillog_text(self):
        return self.pf.log()

    def test_utf8_recipient_through_postfix_lmtp(self):
        sender = "j\u00f6rg@pf.test"
        rcpt = f"{USER}@example.test"
        msg = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: Gr\u00fc\u00dfe\r\n"
               f"Message-ID: <smtputf8.postfix@pf.test>\r\n\r\nHall\u00f6 via Postfix\r\n").encode()
        r = subprocess.run([pf.SENDMAIL, "-C", self.pf.conf, "-f", sender, "--", rcpt], input=msg,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_until(lambda: self.d.files(USER), 30),
                        f"nothing delivered; postfix log:\n{self.maillog_text()[-3000:]}\nmailslot log:\n"
                        f"{self.d.log()[-2000:]}")
        self.assertTrue(wait_until(lambda: "status=sent" in self.maillog_text(), 10), self.maillog_text()[-3000:])
        files = self.d.files(USER)
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            stored = f.read()
        head = stored.split(b"\r\n\r\n", 1)[0].decode("utf-8")
        self.assertIn(f"Return-Path: <{sender}>", head)
        self.assertIn(f"Delivered-To: {rcpt}", head)
        self.assertIn("with UTF8LMTP", head)
        self.assertIn("Hall\u00f6 via Postfix".encode(), stored)
        self.assertIn("status=sent", self.maillog_text())


if __name__ == "__main__":
    unittest.main()
