"""The daemon's life: --check-config, --version, --listen, SIGTERM drain, timeouts."""

import os
import re
import signal
import socket
import subprocess
import time
import unittest

from harness import (Daemon, DaemonError, DaemonTestCase, daemon_binary, default_config, dot_stuff, merge_config, message,
                     render_config)


def run(argv, timeout=30):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


class CommandLine(DaemonTestCase):
    def write(self, text, name="mailslot.toml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_version(self):
        rc, out = run([daemon_binary(), "--version"])
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"\b\d+\.\d+\.\d+\b")

    def test_check_config_good(self):
        path = self.write(render_config(merge_config(default_config(), {"server": {"hostname": "checked.test"}})))
        rc, out = run([daemon_binary(), "--config", path, "--check-config"])
        self.assertEqual(rc, 0, out)
        self.assertIn("checked.test", out, "the effective configuration is printed")
        # Relative paths appear resolved against the config file's directory.
        self.assertIn(os.path.join(self.tmp, "mail"), out)
        # Checking does not bind or create anything.
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "lmtp.sock")))

    def check_bad(self, text, key, line):
        path = self.write(text)
        rc, out = run([daemon_binary(), "--config", path, "--check-config"])
        self.assertNotEqual(rc, 0, f"--check-config accepted:\n{text}\n{out}")
        self.assertIn(key, out, f"the error names the key:\n{out}")
        self.assertRegex(out, re.escape(os.path.basename(path)) + rf":{line}(:\d+)?:",
                         f"the error names file:line ({line}):\n{out}")
        # Starting the daemon with it fails the same way, without listening.
        try:
            rc2, out2 = run([daemon_binary(), "--config", path], timeout=10)
        except subprocess.TimeoutExpired:
            self.fail(f"mailslotd started with a bad configuration:\n{text}")
        self.assertNotEqual(rc2, 0, out2)
        self.assertNotRegex(out2, r"mailslotd \S+ ready")
        return out

    def test_check_config_unknown_key(self):
        text = ("[server]\nhostname = \"mx.test\"\nlisten = [\"127.0.0.1:0\"]\n\n"
                "[limits]\nmax_recipents = 5\n\n[mail]\nroot = \"mail\"\ndomains = [\"example.test\"]\n")
        self.check_bad(text, "max_recipents", 6)

    def test_check_config_wrong_type(self):
        text = ("[server]\nhostname = \"mx.test\"\nlisten = [\"127.0.0.1:0\"]\n\n[limits]\n"
                "max_message_size = \"50M\"\nmax_recipients = \"lots\"\n\n[mail]\nroot = \"mail\"\n"
                "domains = [\"example.test\"]\n")
        self.check_bad(text, "max_recipients", 7)

    def test_check_config_bad_size_and_duration(self):
        text = ("[server]\nlisten = [\"127.0.0.1:0\"]\n[limits]\nmax_message_size = \"50Q\"\n"
                "[mail]\nroot = \"mail\"\ndomains = [\"example.test\"]\n")
        self.check_bad(text, "max_message_size", 4)
        text = ("[server]\nlisten = [\"127.0.0.1:0\"]\n[limits]\ncommand_timeout = \"5 fortnights\"\n"
                "[mail]\nroot = \"mail\"\ndomains = [\"example.test\"]\n")
        self.check_bad(text, "command_timeout", 4)

    def test_check_config_toml_syntax_error(self):
        path = self.write("[server]\nhostname = \"mx.test\nlisten = []\n")
        rc, out = run([daemon_binary(), "--config", path, "--check-config"])
        self.assertNotEqual(rc, 0, out)
        self.assertIn(os.path.basename(path) + ":", out)

    def test_missing_config_file(self):
        rc, out = run([daemon_binary(), "--config", os.path.join(self.tmp, "nope.toml"), "--check-config"])
        self.assertNotEqual(rc, 0, out)
        self.assertIn("nope.toml", out)

    def test_listen_flag_replaces_listeners(self):
        d = self.start_daemon(extra_args=["--listen", "127.0.0.1:0", "--log-level", "info"])
        self.assertEqual(len(d.tcp), 1, d.log())
        self.assertEqual(d.unix, [], "--listen replaces the config's listeners, including the UNIX one")
        self.assertFalse(os.path.exists(os.path.join(d.workdir, "lmtp.sock")))
        c = d.connect()
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)


class Listeners(DaemonTestCase):
    def test_unix_socket_mode(self):
        d = self.start_daemon({"server": {"unix_socket_mode": "0660"}})
        self.assertEqual(os.stat(d.unix_path).st_mode & 0o777, 0o660)
        d2 = self.start_daemon({"server": {"unix_socket_mode": "0666"}}, name="d2")
        self.assertEqual(os.stat(d2.unix_path).st_mode & 0o777, 0o666)

    def test_unix_socket_removed_on_exit(self):
        d = self.start_daemon()
        path = d.unix_path
        self.assertTrue(os.path.exists(path))
        self.assertEqual(d.stop(), 0)
        self.assertFalse(os.path.exists(path), "the UNIX socket file is left behind")
        # A stale socket file from a previous run does not stop the next start.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()
        d2 = self.start_daemon(name="d")
        c = d2.connect(unix=True)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)

    def test_ipv6_loopback(self):
        try:
            probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            probe.bind(("::1", 0))
            probe.close()
        except OSError:
            self.skipTest("no IPv6 loopback here")
        d = self.start_daemon({"server": {"listen": ["[::1]:0", "127.0.0.1:0"]}})
        hosts = sorted(h for h, _ in d.tcp)
        self.assertEqual(hosts, ["127.0.0.1", "::1"], d.log())
        port6 = [p for h, p in d.tcp if h == "::1"][0]
        s = socket.create_connection(("::1", port6), timeout=10)
        self.addCleanup(s.close)
        from harness import RawClient
        c = RawClient(s)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        content = message("over IPv6", ["hello from ::1"])
        c.send(dot_stuff(content))
        self.assertReply(c.reply(), 250, "2.0.0")
        [f] = d.files("alice")
        fields = self.assertStored(f, content)
        received = [v for n, v in fields if n.lower() == "received"][0]
        self.assertIn("::1", received)

    def test_port_in_use_fails_cleanly(self):
        d = self.start_daemon({"server": {"listen": ["127.0.0.1:0"]}})
        os.makedirs(os.path.join(self.tmp, "d2"))
        d2 = Daemon(os.path.join(self.tmp, "d2"), {"server": {"listen": [f"127.0.0.1:{d.port}"]}})
        self.addCleanup(d2.kill)
        with self.assertRaises(DaemonError) as cm:
            d2.start()
        self.assertIn(str(d.port), str(cm.exception))
        self.assertIsNotNone(d2.proc.poll())
        self.assertNotEqual(d2.proc.returncode, 0)


class Signals(DaemonTestCase):
    def session(self, d, unix=False):
        c = d.connect(unix=unix, timeout=20)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        return c

    def test_sigterm_idle_session_gets_421(self):
        d = self.start_daemon()
        tcp = self.session(d)
        unix = self.session(d, unix=True)
        # A session in the middle of a transaction (not in DATA) is idle too.
        self.assertEqual(tcp.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        for c in (tcp, unix):
            self.assertReply(c.reply(), 421, "4.3.2")
            self.assertTrue(c.at_eof(10), "the server closes after 421")
        rc = d.wait(15)
        self.assertEqual(rc, 0, d.log()[-2000:])
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(d.all_files("new"), [])

    def test_sigint_exits_0(self):
        d = self.start_daemon()
        c = self.session(d)
        d.send_signal(signal.SIGINT)
        self.assertReply(c.reply(), 421, "4.3.2")
        self.assertEqual(d.wait(15), 0)

    def test_sigterm_lets_data_finish(self):
        d = self.start_daemon()
        c = self.session(d)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        content = message("in flight at SIGTERM", ["first half"] + ["more"] * 1000 + ["second half"])
        wire = dot_stuff(content)
        half = len(wire) // 2
        c.send(wire[:half])
        d.send_signal(signal.SIGTERM)
        # The listener closes: new connections are refused within a bound while DATA is still open.
        refused = False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                s = socket.create_connection((d.host, d.port), timeout=2)
            except ConnectionRefusedError:
                refused = True
                break
            except ConnectionResetError:
                # Queued in the backlog as the listener closed: the kernel resets it. Try again.
                continue
            s.close()
            time.sleep(0.05)
        self.assertTrue(refused, "the TCP listener still accepts after SIGTERM")
        self.assertIsNone(d.proc.poll(), "the daemon exited before the session in DATA finished")
        c.send(wire[half:])
        self.assertReply(c.reply(), 250, "2.0.0")
        # After the transaction the session ends: 421 to the next command, or a close.
        try:
            code, text = c.cmd("NOOP")
            self.assertEqual(code, 421, text)
        except (EOFError, ConnectionResetError, BrokenPipeError):
            pass
        self.assertEqual(d.wait(15), 0, d.log()[-2000:])
        [f] = d.files("alice")
        self.assertStored(f, content)
        self.assertEqual(d.all_files("tmp"), [])

    def test_shutdown_timeout_bounds_a_stuck_data_session(self):
        d = self.start_daemon({"limits": {"shutdown_timeout": "1s"}})
        c = self.session(d)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: stuck\r\n\r\nthis client never finishes\r\n")
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        rc = d.wait(15)
        self.assertLess(time.monotonic() - t0, 10, "shutdown_timeout = 1s should bound the drain")
        # The exit status after a forced drain is not specified; that it exits, in bound, is.
        print(f"\nexit status after the forced drain: {rc}")
        self.assertEqual(d.all_files("new"), [])
        self.assertEqual(d.all_files("tmp"), [], "the abandoned spool file is removed on shutdown")


    def in_data(self, d, rcpt="alice@example.test"):
        c = self.session(d)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        self.assertEqual(c.cmd(f"RCPT TO:<{rcpt}>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        return c

    def test_drain_takes_no_transaction_pipelined_behind_the_dot(self):
        d = self.start_daemon()
        c = self.in_data(d)
        content = message("last one", ["delivered during the drain"])
        c.send(b"Subject: last one\r\n")
        d.send_signal(signal.SIGTERM)
        self.assertIsNotNone(d.wait_log(r"shutting down"), d.log())
        # The rest of the message, the "." and a whole new transaction in one write.
        c.send(dot_stuff(content)[len(b"Subject: last one\r\n"):] +
               b"MAIL FROM:<bob@example.net>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n")
        self.assertReply(c.reply(), 250, "2.0.0")
        self.assertReply(c.reply(), 421, "4.3.2")
        self.assertTrue(c.at_eof(10))
        self.assertEqual(d.wait(15), 0, d.log()[-2000:])
        self.assertEqual(len(d.files("alice")), 1)
        self.assertEqual(d.files("carol"), [], "a transaction started during the drain")

    def test_second_sigterm_closes_at_once(self):
        d = self.start_daemon({"limits": {"shutdown_timeout": "60s"}})
        c = self.in_data(d)
        c.send(b"Subject: stuck\r\n\r\nthis client never finishes\r\n")
        d.send_signal(signal.SIGTERM)
        self.assertIsNotNone(d.wait_log(r"shutting down"), d.log())
        self.assertIsNone(d.proc.poll(), "the first SIGTERM must wait for the session in DATA")
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0, d.log()[-2000:])
        self.assertLess(time.monotonic() - t0, 5, "a second SIGTERM should not wait for shutdown_timeout")
        self.assertEqual(d.all_files("new"), [])
        self.assertEqual(d.all_files("tmp"), [])

    def test_sighup_does_not_stop_the_daemon(self):
        d = self.start_daemon()
        d.send_signal(signal.SIGHUP)
        self.assertIsNotNone(d.wait_log(r"SIGHUP"), d.log())
        self.assertIsNone(d.proc.poll(), "SIGHUP killed the daemon")
        c = self.in_data(d)
        content = message("after SIGHUP", ["still serving"])
        c.send(dot_stuff(content))
        self.assertReply(c.reply(), 250, "2.0.0")


class Connections(DaemonTestCase):
    def test_max_connections(self):
        d = self.start_daemon({"server": {"max_connections": 2}})
        first = [d.connect(timeout=10) for _ in range(2)]
        for c in first:
            self.addCleanup(c.close)
            self.assertEqual(c.reply()[0], 220)
        extra = d.connect(timeout=10)
        self.addCleanup(extra.close)
        self.assertReply(extra.reply(), 421, "4.7.0")
        self.assertTrue(extra.at_eof(5))
        self.assertIsNotNone(d.wait_log(r"refused client=.*max_connections"), d.log())
        # Once one leaves, a new client is served again.
        self.assertEqual(first[0].cmd("QUIT")[0], 221)
        self.assertTrue(first[0].at_eof(5))
        deadline = time.monotonic() + 10
        while True:
            c = d.connect(timeout=10)
            self.addCleanup(c.close)
            code = c.reply()[0]
            if code == 220 or time.monotonic() > deadline:
                break
            time.sleep(0.05)  # the server counts the QUIT session as gone only after its close
        self.assertEqual(code, 220)


class Timeouts(DaemonTestCase):
    def test_command_timeout(self):
        d = self.start_daemon({"limits": {"command_timeout": "1s"}})
        c = d.connect(timeout=15)
        self.addCleanup(c.close)
        t0 = time.monotonic()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        # Now say nothing: the server's timer fires.
        self.assertReply(c.reply(), 421, "4.4.2")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 10)
        self.assertTrue(c.at_eof(5))
        # Activity resets the timer: a session sending a NOOP every 0.4s for 2s is not cut.
        c2 = d.connect(timeout=15)
        self.addCleanup(c2.close)
        self.assertEqual(c2.reply()[0], 220)
        for _ in range(5):
            time.sleep(0.4)  # the thing under test is the gap between commands
            self.assertEqual(c2.cmd("NOOP")[0], 250)

    def test_data_timeout(self):
        d = self.start_daemon({"limits": {"data_timeout": "1s", "command_timeout": "30s"}})
        c = d.connect(timeout=15)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: slow\r\n\r\n" + b"s" * 100000 + b"\r\n")
        t0 = time.monotonic()
        code, text = c.reply()
        self.assertEqual(code, 421, text)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertTrue(c.at_eof(5))
        self.assertEqual(d.wait_tmp_empty(10), [])
        self.assertEqual(d.all_files("new"), [])


if __name__ == "__main__":
    unittest.main()
