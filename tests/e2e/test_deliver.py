"""LDA mode: `mailslotd deliver -f SENDER [-a ORIGINAL_RCPT] RECIPIENT... < message` with the same
configuration file as the daemon. Asserted: sysexits statuses (0, 67 EX_NOUSER, 73 EX_CANTCREAT for a
full mailbox, 75 EX_TEMPFAIL with quota_full_tempfail, 65 EX_DATAERR for a message over
max_message_size, 78 EX_CONFIG), one stderr line per recipient with its LMTP-style reply, LF input
stored with CRLF and the same trace headers as LMTP delivery; and through Postfix's pipe(8) transport
with the master.cf entry from docs/postfix.md (run as nobody): delivered (status=sent) and an
unknown recipient bounced."""

import os
import pwd
import re
import subprocess
import unittest

from harness import DaemonTestCase, daemon_binary, default_config, merge_config, render_config, wait_until
import postfix_instance as pf


class Deliver(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "mail")

    def config(self, **mail):
        values = {"root": self.root, "users": ["alice", "bob"]}
        values.update(mail)
        cfg = merge_config(default_config(), {"mail": values, "limits": {"max_message_size": "4k"}})
        path = os.path.join(self.tmp, "mailslot.toml")
        with open(path, "w") as f:
            f.write(render_config(cfg))
        return path

    def deliver(self, config, args, message=b"Subject: lda\n\nhello\n"):
        r = subprocess.run([daemon_binary(), "deliver", "--config", config] + args, input=message,
                           capture_output=True, timeout=30)
        return r.returncode, r.stderr.decode("utf-8", "replace")

    def new(self, user):
        d = os.path.join(self.root, "example.test", user, "Maildir", "new")
        return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []

    def test_delivered_with_crlf_and_trace_headers(self):
        cfg = self.config(x_original_to=True)
        rc, err = self.deliver(cfg, ["-f", "s@example.net", "-a", "Alias@example.test", "alice@example.test"],
                               b"Subject: lda\n\nline one\nline two\n")
        self.assertEqual(rc, 0, err)
        self.assertRegex(err, r"^alice@example\.test: 250 2\.0\.0 .*file=")
        (path,) = self.new("alice")
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.endswith(b"Subject: lda\r\n\r\nline one\r\nline two\r\n"), data)
        head = data.split(b"\r\n\r\n", 1)[0].decode()
        self.assertTrue(head.startswith("Return-Path: <s@example.net>\r\nDelivered-To: alice@example.test\r\n"), head)
        self.assertIn("X-Original-To: Alias@example.test", head)
        self.assertRegex(head, r"Received: from localhost \(unix socket\)\r\n\tby mx\.test \(mailslot\) with LMTP id deliver-\d+")
        self.assertRegex(os.path.basename(path), r",S=%d," % len(data))

    def test_exit_statuses(self):
        cfg = self.config()
        rc, err = self.deliver(cfg, ["-f", "s@example.net", "nobody@example.test"])
        self.assertEqual(rc, 67, err)
        self.assertIn("nobody@example.test: 550 5.1.1", err)
        rc, err = self.deliver(cfg, ["-f", "s@example.net", "alice@elsewhere.test"])
        self.assertEqual(rc, 67, err)
        self.assertIn("550 5.1.2", err)
        # Two recipients, one unknown: one line each; the known one is delivered, the status is 67.
        rc, err = self.deliver(cfg, ["-f", "", "bob@example.test", "nobody@example.test"])
        self.assertEqual(rc, 67, err)
        self.assertEqual(len(err.strip().splitlines()), 2, err)
        self.assertEqual(len(self.new("bob")), 1)
        # Over max_message_size (4k): 65, nothing stored.
        rc, err = self.deliver(cfg, ["-f", "s@example.net", "alice@example.test"], b"Subject: big\n\n" + b"x" * 8000 + b"\n")
        self.assertEqual(rc, 65, err)
        self.assertIn("552 5.3.4", err)
        self.assertEqual(self.new("alice"), [])
        # A broken configuration: 78 EX_CONFIG.
        bad = os.path.join(self.tmp, "bad.toml")
        with open(bad, "w") as f:
            f.write("[mail\n")
        rc, err = self.deliver(bad, ["-f", "s@example.net", "alice@example.test"])
        self.assertEqual(rc, 78, err)

    def test_over_quota_permanent_and_tempfail(self):
        for tempfail, status, reply in ((False, 73, "552 5.2.2"), (True, 75, "452 4.2.2")):
            with self.subTest(quota_full_tempfail=tempfail):
                cfg = self.config(quota_messages=1, quota_full_tempfail=tempfail, users=[f"q{int(tempfail)}"])
                user = f"q{int(tempfail)}@example.test"
                self.assertEqual(self.deliver(cfg, ["-f", "s@example.net", user])[0], 0)
                rc, err = self.deliver(cfg, ["-f", "s@example.net", user])
                self.assertEqual(rc, status, err)
                self.assertIn(reply, err)
                self.assertEqual(len(self.new(f"q{int(tempfail)}")), 1)


@unittest.skipIf(pf.available(), pf.available() or "")
class DeliverThroughPostfixPipe(DaemonTestCase):
    def test_pipe_transport(self):
        os.chmod(self.tmp, 0o755)
        nobody = pwd.getpwnam("nobody")
        root = os.path.join(self.tmp, "mail")
        os.makedirs(root)
        os.chown(root, nobody.pw_uid, nobody.pw_gid)   # the pipe runs mailslotd as nobody
        cfg_path = os.path.join(self.tmp, "mailslot.toml")
        with open(cfg_path, "w") as f:
            f.write(render_config(merge_config(default_config(), {"mail": {"root": root, "users": ["alice"]}})))
        os.chmod(cfg_path, 0o644)
        binary = daemon_binary()
        master = pf.doc_block("postfix.md", "master.cf pipe").replace("/usr/sbin/mailslotd", binary)
        master = master.replace("/etc/mailslot/mailslot.toml", cfg_path)
        main = pf.doc_block("postfix.md", "main.cf pipe").replace("example.net", "example.test")
        p = pf.PostfixInstance(os.path.join(self.tmp, "pf"), main, master_cf_extra=master)
        p.start()
        self.addCleanup(p.stop)
        p.sendmail("s@pf.test", ["alice@example.test", "nobody@example.test"],
                   b"Subject: via pipe\n\nthrough pipe(8)\n")
        why = lambda: f"\npostfix log:\n{p.log()[-3000:]}"
        self.assertTrue(p.wait_log(r"to=<alice@example\.test>.*relay=mailslot.*status=sent"), why())
        self.assertTrue(p.wait_log(r"to=<nobody@example\.test>.*relay=mailslot.*status=bounced.*5\.1\.1"), why())
        d = os.path.join(root, "example.test", "alice", "Maildir", "new")
        self.assertTrue(wait_until(lambda: os.path.isdir(d) and os.listdir(d), 5), why())
        (name,) = os.listdir(d)
        st = os.stat(os.path.join(d, name))
        self.assertEqual(st.st_uid, nobody.pw_uid)
        with open(os.path.join(d, name), "rb") as f:
            data = f.read()
        self.assertEqual(data.count(b"Return-Path:"), 1, data[:500])
        self.assertIn(b"Return-Path: <s@pf.test>\r\nDelivered-To: alice@example.test\r\n", data)
        self.assertTrue(data.endswith(b"through pipe(8)\r\n"))
        self.assertTrue(re.search(rb"Received: from pf\.test", data) or b"by pf.test" in data, data[:800])


if __name__ == "__main__":
    unittest.main()
