"""Clients that vanish mid-DATA: nothing reaches new/, tmp/ is cleaned, the daemon keeps serving."""

import socket
import struct
import unittest

from harness import DaemonTestCase, lmtp_client, message, wait_until


class Disconnect(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon()

    def start_data(self, rcpts, unix=False):
        c = self.d.connect(unix=unix)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        for r in rcpts:
            self.assertEqual(c.cmd(f"RCPT TO:<{r}@example.test>")[0], 250)
        code, text = c.cmd("DATA")
        self.assertEqual(code, 354, text)
        return c

    def partial_body(self, c, size):
        line = b"x" * 70 + b"\r\n"
        sent = 0
        c.send(b"Subject: never finished\r\n\r\n")
        while sent < size:
            c.send(line * 100)
            sent += len(line) * 100
        c.send(b"a line cut in the midd")  # not even a whole line

    def check_still_serving(self, user):
        before = len(self.d.files(user))
        s = lmtp_client(self.d)
        self.addCleanup(s.close)
        content = message("after disconnect", ["the daemon still delivers"])
        self.assertReply(s.mail("bob@example.net"), 250, "2.1.0")
        self.assertReply(s.rcpt(f"{user}@example.test"), 250, "2.1.5")
        self.assertReply(s.data(content), 250, "2.0.0")
        s.quit()
        files = self.d.files(user)
        self.assertEqual(len(files), before + 1)
        self.assertTmpEmpty(self.d)

    def abandon(self, rcpts, size, reset=False, unix=False):
        c = self.start_data(rcpts, unix=unix)
        self.partial_body(c, size)
        if size > 64 * 1024:
            # Past 64 KiB the body streams to a spool file in tmp/ (smaller messages stay in memory
            # until the final "."): wait until it exists, so the cleanup below is really tested.
            self.assertTrue(wait_until(lambda: self.d.all_files("tmp"), 10.0),
                            f"no spool file in tmp/ for a {size}-byte partial body")
        if reset:
            # SO_LINGER 0: close with RST instead of FIN.
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        left = self.d.wait_tmp_empty(10.0)
        self.assertEqual(left, [], "tmp/ still holds the abandoned spool file 10s after the disconnect")
        self.assertEqual(self.d.all_files("new"), [], "a partial message reached new/")

    def test_close_mid_data_one_recipient(self):
        self.abandon(["alice"], 256 * 1024)
        self.check_still_serving("alice")
        self.assertEqual(len(self.d.all_files("new")), 1)

    def test_close_mid_data_two_recipients(self):
        self.abandon(["alice", "bob"], 1024 * 1024)
        self.check_still_serving("bob")
        self.assertEqual(len(self.d.all_files("new")), 1)

    def test_reset_mid_data(self):
        self.abandon(["carol"], 512 * 1024, reset=True)
        self.check_still_serving("carol")

    def test_close_mid_data_unix(self):
        self.abandon(["dave"], 300 * 1024, unix=True)
        self.check_still_serving("dave")

    def test_close_right_after_354(self):
        c = self.start_data(["alice"])
        c.close()
        self.assertEqual(self.d.wait_tmp_empty(10.0), [])
        self.check_still_serving("alice")
        self.assertEqual(len(self.d.all_files("new")), 1, "only the message of the complete session")

    def test_close_after_cr_of_final_dot(self):
        # "\r\n.\r" is not yet the end of data: closing there must not deliver.
        c = self.start_data(["alice"])
        c.send(b"Subject: almost\r\n\r\nbody\r\n.\r")
        c.close()
        self.assertEqual(self.d.wait_tmp_empty(10.0), [])
        self.check_still_serving("alice")
        self.assertEqual(len(self.d.all_files("new")), 1, "only the message of the complete session")

    def test_many_abandoned_sessions(self):
        clients = []
        for i in range(20):
            c = self.start_data([f"user{i}"])
            c.send(b"Subject: abandoned\r\n\r\n" + b"y" * 70000 + b"\r\n")
            clients.append(c)
        for c in clients:
            c.close()
        self.assertEqual(self.d.wait_tmp_empty(15.0), [])
        self.assertEqual(self.d.all_files("new"), [])
        self.check_still_serving("user0")


if __name__ == "__main__":
    unittest.main()
