"""PROXY protocol v1/v2 on TCP listeners (issue #11): mailslot behind a load balancer.

A private HAProxy (Debian's `haproxy`, its own config file in the test's temp dir, foreground
`-db`, no system service) forwards smtplib.LMTP clients with `send-proxy` (v1) and `send-proxy-v2`.
HAProxy connects from 127.0.0.1; the clients bind 127.0.0.2 (all of 127.0.0.0/8 is loopback on
Linux), so the address in the PROXY header differs from the connection's and the test can tell
which one mailslot used. The negative cases use raw sockets.
"""

import os
import re
import shutil
import smtplib
import socket
import subprocess
import time
import unittest

from harness import DaemonTestCase, RawClient, message

REAL_CLIENT = "127.0.0.2"


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def listening(port):
    """True when some socket listens on TCP `port` (from /proc, without connecting to it)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except FileNotFoundError:
            continue
    return False


def raw(port, source="127.0.0.1", host="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect((host, port))
    return RawClient(s)


def v1(src, dst="127.0.0.1", sport=40000, dport=24):
    return f"PROXY TCP4 {src} {dst} {sport} {dport}\r\n".encode()


class HAProxy:
    """A private haproxy in TCP mode: one frontend per backend line."""

    def __init__(self, workdir, server_port):
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("v1", "v2")}
        cfg = [
            "global",
            "    maxconn 100",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 30s",
            "    timeout server 30s",
        ]
        for name, option in (("v1", "send-proxy"), ("v2", "send-proxy-v2")):
            cfg += [f"listen {name}",
                    f"    bind 127.0.0.1:{self.ports[name]}",
                    f"    server mailslot 127.0.0.1:{server_port} {option}"]
        # Health checks through the PROXY protocol: v2 sends the LOCAL command (no client).
        cfg += ["listen checked",
                f"    bind 127.0.0.1:{free_port()}",
                f"    server mailslot 127.0.0.1:{server_port} send-proxy-v2 check inter 300ms"]
        self.config = os.path.join(workdir, "haproxy.cfg")
        with open(self.config, "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.log = open(os.path.join(workdir, "haproxy.log"), "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=workdir)
        deadline = time.monotonic() + 15
        while not all(listening(p) for p in self.ports.values()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"haproxy did not start; log:\n{self.output()}")
            time.sleep(0.05)

    def output(self):
        with open(os.path.join(self.workdir, "haproxy.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


def proxy_listener(**extra):
    return {"address": "127.0.0.1:0", "proxy_protocol": True, "proxy_from": ["127.0.0.1/32"], **extra}


class ProxyProtocol(DaemonTestCase):
    def start(self, listener, **server):
        return self.start_daemon({"server": {"listen": [listener], **server},
                                  "limits": {"command_timeout": "3s"}})

    @unittest.skipUnless(shutil.which("haproxy"), "haproxy not installed (scripts/deps)")
    def test_haproxy_v1_and_v2_name_the_real_client(self):
        d = self.start(proxy_listener())
        hap = HAProxy(self.tmp, d.port)
        self.addCleanup(hap.stop)
        for version in ("v1", "v2"):
            with self.subTest(version=version):
                before = set(d.files("alice"))
                s = smtplib.LMTP("127.0.0.1", hap.ports[version], source_address=(REAL_CLIENT, 0), timeout=30)
                try:
                    self.assertEqual(s.ehlo("client.test")[0], 250)
                    s.sendmail("bob@example.net", ["alice@example.test"], message(f"via haproxy {version}", ["hi"]))
                finally:
                    s.quit()
                new = sorted(set(d.files("alice")) - before)
                self.assertEqual(len(new), 1, d.log())
                with open(new[0], "rb") as f:
                    head = f.read().split(b"\r\n\r\n", 1)[0].decode()
                received = re.search(r"^Received: from .*$", head, re.M)
                self.assertIsNotNone(received, head)
                self.assertIn(f"[{REAL_CLIENT}]", received.group(0), head)
                self.assertNotIn("[127.0.0.1]", received.group(0), head)
                n = version[1]
                self.assertTrue(d.wait_log(rf"proxy client={re.escape(REAL_CLIENT)} via=127\.0\.0\.1 version={n}"),
                                d.log())
        # The delivery lines name the real client too.
        self.assertEqual(len(re.findall(rf"client={re.escape(REAL_CLIENT)} .*status=delivered", d.log())), 2, d.log())
        # HAProxy's health checks carry the v2 LOCAL command: the proxy's own address is kept.
        self.assertTrue(d.wait_log(r"proxy client=127\.0\.0\.1 via=127\.0\.0\.1 version=2 header=local"),
                        d.log() + hap.output())
        self.assertNotIn("bad PROXY header", d.log())

    def test_connection_without_header_gets_no_greeting(self):
        d = self.start(proxy_listener())
        # An LMTP client that speaks first: closed at once, nothing said.
        with raw(d.port) as c:
            c.send(b"LHLO client.test\r\n")
            self.assertTrue(c.at_eof(), "a connection without a PROXY header must be closed")
            self.assertEqual(c.buf, b"", "no greeting without a PROXY header")
        self.assertTrue(d.wait_log(r"bad PROXY header client=127\.0\.0\.1 .*not a PROXY header"), d.log())
        # A client that says nothing: closed when the header's time is up (timeouts.command, 3 s).
        with raw(d.port) as c:
            t0 = time.monotonic()
            self.assertTrue(c.at_eof(timeout=15))
            self.assertEqual(c.buf, b"")
            self.assertGreater(time.monotonic() - t0, 2.0)
        self.assertTrue(d.wait_log(r"bad PROXY header client=127\.0\.0\.1 .*none within 3000 ms"), d.log())
        # A malformed header (port out of range).
        with raw(d.port) as c:
            c.send(b"PROXY TCP4 127.0.0.2 127.0.0.1 70000 24\r\n")
            self.assertTrue(c.at_eof())
            self.assertEqual(c.buf, b"")
        self.assertTrue(d.wait_log(r"bad PROXY header .*v1 bad source port"), d.log())
        self.assertEqual(d.all_files("new"), [])

    def test_peer_outside_proxy_from_is_refused(self):
        d = self.start(proxy_listener(proxy_from=["127.0.0.3/32"]))
        with raw(d.port, source="127.0.0.1") as c:
            c.send(v1(REAL_CLIENT))  # a header from a peer not trusted to send one changes nothing
            code, text = c.reply()
            self.assertEqual(code, 554, text)
            self.assertTrue(text.startswith(b"5.7.1 "), text)
            self.assertTrue(c.at_eof())
        self.assertTrue(d.wait_log(r"refused client=127\.0\.0\.1 listener=\S+: not in the listener's proxy_from"),
                        d.log())
        with raw(d.port, source="127.0.0.3") as c:
            c.send(v1(REAL_CLIENT))
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(d.wait_log(r"proxy client=127\.0\.0\.2 via=127\.0\.0\.3 version=1"), d.log())

    def test_allow_list_applies_to_the_real_client(self):
        # The proxy itself (127.0.0.1) is not in `allow`; the clients it names are judged instead.
        d = self.start(proxy_listener(allow=["127.0.0.2/32"]))
        with raw(d.port) as c:
            c.send(v1("127.0.0.2"))
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        with raw(d.port) as c:
            c.send(v1("192.0.2.9"))
            code, text = c.reply()
            self.assertEqual(code, 554, text)
            self.assertTrue(text.startswith(b"5.7.1 "), text)
            self.assertTrue(c.at_eof())
        self.assertTrue(d.wait_log(r"refused client=192\.0\.2\.9 via=127\.0\.0\.1 listener=\S+: not in the listener's allowed"),
                        d.log())
        # LOCAL/UNKNOWN keep the proxy's own address, which `allow` then judges.
        with raw(d.port) as c:
            c.send(b"PROXY UNKNOWN\r\n")
            self.assertEqual(c.reply()[0], 554)

    def test_bytes_after_the_header_stay_the_clients(self):
        d = self.start(proxy_listener())
        with raw(d.port) as c:
            # One write: the header, then commands pipelined before the greeting was read.
            c.send(v1(REAL_CLIENT) + b"LHLO client.test\r\nMAIL FROM:<bob@example.net>\r\n")
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(message("pipelined", ["hi"]) + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        files = d.files("alice")
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            self.assertIn(b"[127.0.0.2]", f.read().split(b"\r\n\r\n", 1)[0])

    def test_per_client_limit_counts_the_real_client(self):
        d = self.start(proxy_listener(), max_connections_per_client=1)
        with raw(d.port) as first:
            first.send(v1("127.0.0.2"))
            self.assertEqual(first.reply()[0], 220)
            with raw(d.port) as second:  # same real client, same proxy: over the limit
                second.send(v1("127.0.0.2"))
                code, text = second.reply()
                self.assertEqual(code, 421, text)
                self.assertTrue(second.at_eof())
            with raw(d.port) as other:  # another real client through the same proxy: served
                other.send(v1("127.0.0.5"))
                self.assertEqual(other.reply()[0], 220)
                self.assertEqual(other.cmd("QUIT")[0], 221)
            self.assertEqual(first.cmd("QUIT")[0], 221)

    def test_unix_listener_takes_a_v2_header(self):
        # HAProxy can also reach mailslot through a UNIX socket (`server s1 /path send-proxy-v2`).
        d = self.start_daemon({"server": {"listen": ["127.0.0.1:0", {"address": "unix:lmtp.sock",
                                                                     "proxy_protocol": True}]}})
        header = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + socket.inet_aton("192.0.2.7")
                  + socket.inet_aton("192.0.2.1") + (40000).to_bytes(2, "big") + (24).to_bytes(2, "big"))
        with d.connect(unix=True) as c:
            c.send(header)
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("LHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(message("over unix", ["hi"]) + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(d.wait_log(r"proxy client=192\.0\.2\.7 via=unix version=2"), d.log())
        with open(d.files("alice")[0], "rb") as f:
            self.assertIn(b"[192.0.2.7]", f.read().split(b"\r\n\r\n", 1)[0])
        # The plain TCP listener beside it still greets at once.
        with d.connect() as c:
            self.assertEqual(c.reply()[0], 220)

    def test_xforward_trust_is_decided_for_the_real_client(self):
        d = self.start_daemon({"server": {"listen": [proxy_listener()]},
                               "lmtp": {"xforward_from": ["127.0.0.2"]}})
        for client, trusted in (("127.0.0.2", True), ("127.0.0.9", False)):
            with raw(d.port) as c:
                c.send(v1(client))
                self.assertEqual(c.reply()[0], 220)
                code, text = c.cmd("LHLO client.test")
                self.assertEqual(code, 250)
                self.assertEqual(b"XFORWARD" in text, trusted, (client, text))
                self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_sigterm_while_waiting_for_the_header(self):
        d = self.start_daemon({"server": {"listen": [proxy_listener()]}, "limits": {"command_timeout": "60s"}})
        with raw(d.port) as c:
            self.assertTrue(d.wait_log(r"session=\S+ connect client=127\.0\.0\.1"), d.log())
            t0 = time.monotonic()
            d.stop()  # must not wait for the 10 s header deadline
            self.assertLess(time.monotonic() - t0, 5.0, d.log())
            self.assertTrue(c.at_eof())
            self.assertEqual(c.buf, b"")
        self.assertIn("bad PROXY header client=127.0.0.1", d.log())
        self.assertIn("shutting down", d.log())


if __name__ == "__main__":
    unittest.main()
