"""XFORWARD from Postfix's LMTP client (lmtp_send_xforward_command = yes, docs/postfix.md) to a
mailslot that trusts it (lmtp.xforward_from from docs/postfix.md): mail submitted over SMTP to the
private Postfix reaches the Maildir with a Received: header naming the original client (its HELO
and address, not Postfix), and mailslot's log line carries orig_client=, orig_helo= and Postfix's
queue id from XFORWARD IDENT, the same id Postfix logs status=sent with. Without the trust,
mailslot does not announce XFORWARD and Postfix sends none."""

import os
import re
import smtplib
import unittest

from harness import DaemonTestCase, default_config, render_config, wait_until
import postfix_instance as pf


@unittest.skipIf(pf.available(), pf.available() or "")
class PostfixXforward(DaemonTestCase):
    def run_case(self, trusted):
        os.chmod(self.tmp, 0o755)
        extra = pf.doc_block("postfix.md", "mailslot.toml xforward") if trusted else ""
        d = self.start_daemon(config_text=render_config(default_config()) + "\n" + extra)
        os.chmod(d.workdir, 0o755)
        main = pf.doc_block("postfix.md", "main.cf unix").replace("example.net", "example.test")
        main = main.replace("/run/mailslot/lmtp", d.unix_path) + pf.doc_block("postfix.md", "main.cf xforward")
        p = pf.PostfixInstance(os.path.join(self.tmp, "pf"), main, smtp_port=pf.free_port())
        p.start()
        self.addCleanup(p.stop)

        def send():
            try:
                with smtplib.SMTP("127.0.0.1", p.smtp_port, timeout=10, local_hostname="origin.client.test") as s:
                    s.sendmail("s@pf.test", ["alice@example.test"], b"Subject: xforward\r\n\r\nhello\r\n")
                return True
            except OSError:
                return False
        self.assertTrue(wait_until(send, 20, 0.2), p.log()[-2000:])
        why = f"\npostfix log:\n{p.log()[-3000:]}\nmailslot log:\n{d.log()[-3000:]}"
        sent = p.wait_log(r"(\w+): to=<alice@example\.test>.*status=sent \(250 2\.0\.0 ")
        self.assertTrue(sent, why)
        self.assertTrue(wait_until(lambda: d.files("alice"), 10), why)
        with open(d.files("alice")[0], "rb") as f:
            head = f.read().split(b"\r\n\r\n", 1)[0].decode()
        ours = head.split("Received: ")[1]   # the first Received: is mailslot's
        line = d.wait_log(r".*to=<alice@example\.test>.*status=delivered.*")
        self.assertTrue(line, why)
        if trusted:
            self.assertRegex(ours, r"^from origin\.client\.test \(localhost \[127\.0\.0\.1\]\)\r\n\tby mx\.test")
            self.assertIn(f"queue_id={sent[0]}", line.group(0))
            self.assertIn('orig_client="localhost[127.0.0.1]"', line.group(0))
            self.assertIn('orig_helo="origin.client.test"', line.group(0))
        else:
            self.assertRegex(ours, r"^from pf\.test \(unix socket\)")
            self.assertNotIn("orig_client", line.group(0))
            self.assertIn(f"queue_id={sent[0]}", line.group(0))   # still found in Postfix's Received:

    def test_trusted_postfix_forwards_the_original_client(self):
        self.run_case(trusted=True)

    def test_untrusted_gets_no_xforward(self):
        self.run_case(trusted=False)


if __name__ == "__main__":
    unittest.main()
