"""systemd integration: socket activation through systemd-socket-activate (a message delivered over
the TCP and the UNIX socket systemd bound), sd_notify to a NOTIFY_SOCKET this test listens on
(READY, STATUS, WATCHDOG, RELOADING, STOPPING), and `systemd-analyze verify` on the unit files."""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest
from unittest import mock

from harness import (REPO, DaemonTestCase, daemon_binary, default_config, dot_stuff, lmtp_client, merge_config,
                     message, render_config)

SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")
ANALYZE = shutil.which("systemd-analyze")


def free_port():
    # systemd-socket-activate cannot bind port 0 ("Invalid argument"): ask the kernel for a free
    # port and hand it over. The window between close and rebind is tiny on loopback.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Lines:
    """Collects a process's stderr lines in a thread; wait() for a regex with a deadline."""

    def __init__(self, stream):
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace"))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def text(self):
        with self.cond:
            return "".join(self.lines)

    def wait(self, pattern, timeout=15.0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search("".join(self.lines))
                if m or self.eof:
                    return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


@unittest.skipUnless(SOCKET_ACTIVATE, "systemd-socket-activate not installed (Debian package systemd; scripts/deps)")
class SocketActivation(DaemonTestCase):
    def test_delivers_over_tcp_and_unix_sockets_passed_by_systemd(self):
        workdir = os.path.join(self.tmp, "sa")
        os.makedirs(workdir)
        sock_path = os.path.join(workdir, "lmtp.sock")
        port = free_port()
        # The config names both listeners (port 0 matches the port systemd bound on that address).
        cfg = merge_config(default_config(), {"server": {"listen": ["127.0.0.1:0", "unix:lmtp.sock"]}})
        config_path = os.path.join(workdir, "mailslot.toml")
        with open(config_path, "w") as f:
            f.write(render_config(cfg))
        argv = [SOCKET_ACTIVATE, "-l", f"127.0.0.1:{port}", "-l", sock_path, "--fdname=lmtp-tcp:lmtp-unix",
                daemon_binary(), "--config", config_path]
        proc = subprocess.Popen(argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(5)))
        log = Lines(proc.stderr)
        # systemd-socket-activate binds both, then execs mailslotd at the first connection.
        self.assertIsNotNone(log.wait(r"Listening on .*lmtp\.sock as 4"), log.text())

        class D:  # what lmtp_client needs
            host, unix_path = "127.0.0.1", sock_path
        D.port = port
        for unix in (False, True):
            s = lmtp_client(D, unix=unix, timeout=20)
            s.sendmail("bob@example.net", ["alice@example.test"], message(f"activated unix={unix}", ["hello"]))
            s.quit()
        text = log.text()
        self.assertRegex(text, rf"socket 127\.0\.0\.1:{port} passed by systemd \(FileDescriptorName=lmtp-tcp\)")
        self.assertRegex(text, rf"socket unix:{re.escape(sock_path)} passed by systemd \(FileDescriptorName=lmtp-unix\)")
        self.assertNotIn("matches no server.listen", text)
        new = os.path.join(workdir, "mail", "example.test", "alice", "Maildir", "new")
        self.assertEqual(len(os.listdir(new)), 2, text)
        # The daemon is the exec'd process: SIGTERM drains and exits 0; systemd's socket file stays
        # (systemd owns it and removes it, not mailslotd).
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(15), 0, log.text())
        self.assertTrue(os.path.exists(sock_path), "mailslotd removed a socket file that systemd owns")


class Notify(DaemonTestCase):
    def listen_notify(self):
        path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(10)
        self.addCleanup(s.close)
        return s, path

    def next_with(self, s, key, timeout=10.0):
        """Datagrams until one contains key (e.g. 'READY=1'); returns it and everything seen."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                msg = s.recv(4096).decode()
            except socket.timeout:
                break
            seen.append(msg)
            if key in msg.split("\n"):
                return msg, seen
        self.fail(f"no {key} from mailslotd within {timeout}s; got {seen}")

    def test_ready_status_watchdog_reload_stopping(self):
        s, path = self.listen_notify()
        # WATCHDOG_USEC 400 ms: pings every 200 ms from the event loop.
        with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}):
            d = self.start_daemon()
        ready, _ = self.next_with(s, "READY=1")
        self.assertRegex(ready, r"STATUS=0 connections open")
        t0 = time.monotonic()
        pings = 0
        while pings < 3:
            msg, _ = self.next_with(s, "WATCHDOG=1", timeout=2)
            self.assertRegex(msg, r"STATUS=\d+ connections open, \d+ in DATA; since start: \d+ delivered")
            pings += 1
        self.assertLess(time.monotonic() - t0, 2.5, "three watchdog pings at 200 ms should take well under 2.5 s")
        # The figures are live: after a delivery STATUS says so.
        c = lmtp_client(d)
        c.sendmail("bob@example.net", ["alice@example.test"], message("counted", ["x"]))
        c.quit()
        deadline = time.monotonic() + 5
        while True:
            msg, _ = self.next_with(s, "WATCHDOG=1", timeout=2)
            if "1 delivered" in msg or time.monotonic() > deadline:
                break
        self.assertIn("1 delivered", msg)
        d.send_signal(signal.SIGHUP)
        _, seen = self.next_with(s, "READY=1")
        self.assertTrue(any(re.search(r"^RELOADING=1$", m, re.M) and re.search(r"^MONOTONIC_USEC=\d+$", m, re.M)
                            for m in seen), seen)
        d.send_signal(signal.SIGTERM)
        msg, _ = self.next_with(s, "STOPPING=1")
        self.assertIn("STATUS=draining", msg)
        self.assertEqual(d.wait(15), 0)

    def test_no_watchdog_without_watchdog_usec(self):
        s, path = self.listen_notify()
        env = {k: v for k, v in os.environ.items() if k not in ("WATCHDOG_USEC", "WATCHDOG_PID")}
        env["NOTIFY_SOCKET"] = path
        with mock.patch.dict(os.environ, env, clear=True):
            d = self.start_daemon()
        self.next_with(s, "READY=1")
        # STATUS= every 5 s, never WATCHDOG=1 (systemd would not expect it).
        msg, _ = self.next_with(s, "STATUS=" + "0 connections open, 0 in DATA; since start: 0 delivered, 0 deferred, 0 rejected",
                                timeout=8)
        self.assertNotIn("WATCHDOG=1", msg)
        d.stop()


@unittest.skipUnless(ANALYZE, "systemd-analyze not installed (Debian package systemd)")
class UnitFiles(unittest.TestCase):
    def test_systemd_analyze_verify(self):
        import tempfile
        tmp = tempfile.mkdtemp(prefix="mailslot-units-")
        self.addCleanup(shutil.rmtree, tmp, True)
        # verify insists that ExecStart= exists: point it at the binary under test.
        for name in ("mailslotd.service", "mailslotd.socket"):
            with open(os.path.join(REPO, "systemd", name)) as f:
                text = f.read().replace("/usr/local/sbin/mailslotd", daemon_binary())
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        p = subprocess.run([ANALYZE, "verify", os.path.join(tmp, "mailslotd.socket"),
                            os.path.join(tmp, "mailslotd.service")],
                           capture_output=True, timeout=60, cwd=tmp)
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        if p.returncode != 0 and re.search(r"(?i)system has not been booted with systemd|failed to (connect|initialize)", out):
            self.skipTest(f"systemd-analyze cannot run here: {out.strip()[:300]}")
        self.assertEqual(p.returncode, 0, out)
        # Unknown keys and bad values are only warnings: none may be printed.
        self.assertNotRegex(out, r"(?i)unknown|ignoring|invalid|failed", out)
        with open(os.path.join(REPO, "systemd", "mailslotd.service")) as f:
            unit = f.read()
        for key in ("Type=notify", "ProtectSystem=strict", "ReadWritePaths=", "NoNewPrivileges=yes", "PrivateTmp=yes",
                    "CapabilityBoundingSet=", "User=", "Group=", "WatchdogSec=", "ExecReload="):
            self.assertIn(key, unit)
