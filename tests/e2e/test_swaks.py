"""swaks (a real SMTP/LMTP client written by someone else) against mailslotd over TCP and UNIX."""

import os
import shutil
import subprocess
import unittest

from harness import DaemonTestCase, dot_stuff

SWAKS = shutil.which("swaks")


@unittest.skipUnless(SWAKS, "swaks not installed (scripts/deps installs it)")
class Swaks(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon({"mail": {"users": ["alice", "bob"]}})

    def swaks(self, *args, timeout=60):
        argv = [SWAKS, "--protocol", "LMTP", "--timeout", "20", "--helo", "client.test",
                "--from", "bob@example.net"] + list(args)
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")

    def check_delivered(self, user, marker, delivered_to):
        files = self.d.files(user)
        self.assertEqual(len(files), 1, f"{user}: {files}")
        with open(files[0], "rb") as f:
            data = f.read()
        self.assertIn(marker.encode(), data)
        self.assertTrue(data.startswith(b"Return-Path: <bob@example.net>\r\n"), data[:200])
        header_end = data.index(b"\r\n\r\n")
        if delivered_to:
            self.assertIn(f"\r\nDelivered-To: ".encode(), data[:header_end])
            self.assertIn(delivered_to.encode(), data[:header_end])
        else:
            self.assertNotIn(b"\nDelivered-To:", data[:header_end])
        self.assertNotIn(b"\n", data.replace(b"\r\n", b""), "swaks sends CRLF lines; none may be lost")
        return files[0]

    def test_tcp(self):
        marker = "swaks-over-tcp-4711"
        rc, out = self.swaks("--server", "127.0.0.1", "--port", str(self.d.port),
                             "--to", "alice@example.test", "--header", f"Subject: {marker}",
                             "--body", f"Body of {marker}")
        self.assertEqual(rc, 0, out)
        self.assertIn("250 2.0.0", out)
        self.check_delivered("alice", marker, "alice@example.test")
        self.assertTmpEmpty(self.d)

    def test_unix_socket(self):
        marker = "swaks-over-unix-0815"
        rc, out = self.swaks("--socket", self.d.unix_path, "--to", "bob@example.test",
                             "--header", f"Subject: {marker}", "--body", f"Body of {marker}")
        self.assertEqual(rc, 0, out)
        self.check_delivered("bob", marker, "bob@example.test")

    def test_two_recipients_one_reply_each(self):
        marker = "swaks-two-recipients"
        rc, out = self.swaks("--server", "127.0.0.1", "--port", str(self.d.port),
                             "--to", "alice@example.test,bob@example.test",
                             "--header", f"Subject: {marker}", "--body", marker)
        self.assertEqual(rc, 0, out)
        # swaks prints every server line it reads, prefixed "<~ " or "<- ".
        self.assertEqual(out.count(" 250 2.0.0"), 2, out)
        a = self.check_delivered("alice", marker, None)
        b = self.check_delivered("bob", marker, None)
        self.assertEqual(os.stat(a).st_ino, os.stat(b).st_ino)

    def test_data_file_byte_exact(self):
        # --no-data-fixup: swaks sends the file as it is, so it holds the wire form (CRLF, dot-stuffed,
        # final dot). Without it swaks rewrites line ends and adds a CRLF before the dot.
        content = (b"From: bob@example.net\r\nTo: alice@example.test\r\nSubject: data file\r\n\r\n"
                   b"line one\r\n.dot line\r\n\r\nline with trailing space \r\n\xc3\xa9t\xc3\xa9\r\nend\r\n")
        path = os.path.join(self.tmp, "msg.eml")
        with open(path, "wb") as f:
            f.write(dot_stuff(content))
        rc, out = self.swaks("--server", "127.0.0.1", "--port", str(self.d.port),
                             "--to", "alice@example.test", "--no-data-fixup", "--data", "@" + path)
        self.assertEqual(rc, 0, out)
        [f] = self.d.files("alice")
        self.assertStored(f, content, delivered_to="alice@example.test", sender="bob@example.net")

    def test_unknown_user_fails(self):
        rc, out = self.swaks("--server", "127.0.0.1", "--port", str(self.d.port),
                             "--to", "mallory@example.test", "--body", "nope")
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(rc, 24, f"swaks exit 24 = no RCPTs accepted\n{out}")
        self.assertIn("550 5.1.1", out)
        self.assertEqual(self.d.all_files(), [])

    def test_unknown_domain_fails_over_unix(self):
        rc, out = self.swaks("--socket", self.d.unix_path, "--to", "alice@elsewhere.test", "--body", "nope")
        self.assertEqual(rc, 24, out)
        self.assertIn("550 5.1.2", out)
        self.assertEqual(self.d.all_files(), [])


if __name__ == "__main__":
    unittest.main()
