"""Postfix's smtp-source load generator in LMTP mode (-L) against mailslotd."""

import os
import re
import shutil
import subprocess
import time
import unittest

from harness import DaemonTestCase

SMTP_SOURCE = shutil.which("smtp-source") or ("/usr/sbin/smtp-source"
                                               if os.access("/usr/sbin/smtp-source", os.X_OK) else None)


@unittest.skipUnless(SMTP_SOURCE, "smtp-source not installed (Debian package postfix; scripts/deps installs it)")
class SmtpSource(DaemonTestCase):
    def setUp(self):
        super().setUp()
        # info: debug logging of 1,000 sessions only slows the daemon down.
        self.d = self.start_daemon({"server": {"log_level": "info"}})

    def run_source(self, *args, target, timeout=240):
        argv = [SMTP_SOURCE, "-L", "-M", "client.test", "-f", "sender@example.net"] + list(args) + [target]
        t0 = time.monotonic()
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        elapsed = time.monotonic() - t0
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, f"{' '.join(argv)} exited {p.returncode}:\n{out}\n"
                                          f"daemon log tail:\n{self.d.log()[-3000:]}")
        print(f"\n{' '.join(argv)}: {elapsed:.1f}s")
        return out

    def check_files(self, user, count, payload):
        files = self.d.files(user)
        self.assertEqual(len(files), count, f"{user}: expected {count} files")
        for f in files:
            size = os.path.getsize(f)
            self.assertEqual(int(re.search(r",S=(\d+)", f).group(1)), size, f)
            self.assertGreater(size, payload, f)
        # Spot-check contents of a few.
        for f in files[:: max(1, count // 10)]:
            with open(f, "rb") as fh:
                data = fh.read()
            self.assertTrue(data.startswith(b"Return-Path: <sender@example.net>\r\n"), data[:120])
            self.assertIn(b"\r\nDelivered-To: ", data)
            self.assertNotIn(b"\n", data.replace(b"\r\n", b""), f"{f}: bare LF")

    def test_tcp_1000_messages_10_sessions(self):
        self.run_source("-s", "10", "-m", "1000", "-l", "4096", "-t", "rcpt@example.test",
                        target=f"127.0.0.1:{self.d.port}")
        self.check_files("rcpt", 1000, 4096)
        self.assertTmpEmpty(self.d)

    def test_unix_1000_messages_10_sessions(self):
        self.run_source("-s", "10", "-m", "1000", "-l", "4096", "-t", "rcpt@example.test",
                        target=f"unix:{self.d.unix_path}")
        self.check_files("rcpt", 1000, 4096)
        self.assertTmpEmpty(self.d)

    def test_reused_connections_several_recipients(self):
        # -d: many transactions per connection; -r 3: three recipients each (one LMTP reply each).
        self.run_source("-d", "-s", "5", "-m", "200", "-r", "3", "-l", "1000", "-t", "rcpt@example.test",
                        target=f"127.0.0.1:{self.d.port}")
        # smtp-source names the recipients rcpt, 2rcpt, 3rcpt (a number prepended from the second on).
        files = self.d.all_files("new")
        by_user = {}
        for f in files:
            by_user.setdefault(f.split(os.sep)[-4], []).append(f)
        self.assertEqual({u: len(v) for u, v in by_user.items()}, {"rcpt": 200, "2rcpt": 200, "3rcpt": 200})
        # Three recipients of one transaction share one file (hard links): 200 inodes, 3 names each.
        inodes = {}
        for f in files:
            inodes.setdefault(os.stat(f).st_ino, []).append(f)
        self.assertEqual(len(inodes), 200)
        self.assertEqual({len(v) for v in inodes.values()}, {3})
        for f in files[:20]:
            with open(f, "rb") as fh:
                head = fh.read(4096)
            self.assertNotIn(b"\r\nDelivered-To:", b"\r\n" + head.split(b"\r\n\r\n")[0])
        self.assertTmpEmpty(self.d)


if __name__ == "__main__":
    unittest.main()
