"""STARTTLS (RFC 3207), implicit TLS and AUTH (RFC 4954, Cyrus SASL with a sasldb in a temp dir)
against the real mailslotd, with Python's smtplib, swaks and a raw socket (issue #5); and
IGNOREQUOTA honoured only after AUTH with lmtp.ignorequota_authenticated (issue #11)."""

import os
import shutil
import socket
import ssl
import subprocess
import time
import unittest

from harness import DaemonTestCase, default_config, lmtp_client, merge_config, render_config

OPENSSL = shutil.which("openssl")
SASLPASSWD2 = shutil.which("saslpasswd2") or ("/usr/sbin/saslpasswd2" if os.path.exists("/usr/sbin/saslpasswd2") else None)
SWAKS = shutil.which("swaks")
MESSAGE = b"Subject: tls test\r\n\r\nover TLS\r\n"


def make_cert(directory):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-sha256", "-days", "2", "-nodes",
                    "-subj", "/CN=mx.test", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a throwaway self-signed certificate
    return ctx


def read_reply(sock_file):
    """One whole (possibly multi-line) reply as a list of lines."""
    lines = []
    while True:
        line = sock_file.readline()
        if not line:
            raise AssertionError(f"connection closed after {lines!r}")
        lines.append(line.decode().rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            return lines


@unittest.skipUnless(OPENSSL and SASLPASSWD2, "openssl and saslpasswd2 (sasl2-bin) needed: scripts/deps")
class TlsAuth(DaemonTestCase):
    def start(self, listen, extra="", mail=None):
        work = self.tmp
        if not hasattr(self, "cert"):
            self.cert, self.key = make_cert(work)
            self.sasldb = os.path.join(work, "sasldb2")
            subprocess.run([SASLPASSWD2, "-f", self.sasldb, "-p", "-c", "-u", "mx.test", "alice"],
                           input=b"s3cret", check=True, capture_output=True, timeout=30)
        cfg = merge_config(default_config(), {"mail": {"users": ["alice", "bob"], **(mail or {})}})
        server = dict(cfg.pop("server"))
        server.pop("listen")
        text = render_config({"server": server, **cfg})
        entries = ", ".join("{ " + ", ".join(f'{k} = {v}' for k, v in e.items()) + " }" for e in listen)
        text = text.replace("[server]\n", f"[server]\nlisten = [{entries}]\n", 1)
        text += f"""
[tls]
cert = "{self.cert}"
key = "{self.key}"
handshake_timeout = "2s"

[auth]
failure_delay = "100ms"
max_failures = 3

[auth.sasl_options]
pwcheck_method = "auxprop"
auxprop_plugin = "sasldb"
sasldb_path = "{self.sasldb}"
mech_list = "PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-1"
{extra}"""
        return self.start_daemon(config_text=text)

    # ---- STARTTLS ----------------------------------------------------------------------------
    def test_starttls_with_smtplib_then_deliver(self):
        d = self.start([{"address": '"127.0.0.1:0"', "starttls": '"offered"'}])
        s = lmtp_client(d)
        self.assertTrue(s.has_extn("starttls"))
        code, _ = s.starttls(context=client_context())
        self.assertEqual(code, 220)
        code, text = s.ehlo("client.test")  # RFC 3207 §4.2: LHLO again, STARTTLS no longer offered
        self.assertEqual(code, 250)
        self.assertNotIn(b"STARTTLS", text)
        s.sendmail("bob@example.net", ["alice@example.test"], MESSAGE)
        s.quit()
        self.assertEqual(len(d.files("alice")), 1)
        d.wait_log(r"TLS established: TLSv1\.[23]")

    def test_required_refuses_mail_before_starttls(self):
        d = self.start([{"address": '"127.0.0.1:0"', "starttls": '"required"'}])
        with socket.create_connection((d.host, d.port), timeout=10) as sock:
            f = sock.makefile("rb")
            read_reply(f)
            sock.sendall(b"LHLO client.test\r\nMAIL FROM:<bob@example.net>\r\n")
            self.assertIn("STARTTLS", [line[4:] for line in read_reply(f)])
            self.assertEqual(read_reply(f), ["530 5.7.0 Must issue a STARTTLS command first"])

    def test_commands_pipelined_behind_starttls_are_discarded(self):
        # CVE-2011-0411: plaintext behind STARTTLS must not run inside the TLS session.
        d = self.start([{"address": '"127.0.0.1:0"', "starttls": '"offered"'}])
        raw = socket.create_connection((d.host, d.port), timeout=10)
        f = raw.makefile("rb")
        read_reply(f)
        raw.sendall(b"LHLO client.test\r\nSTARTTLS\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<alice@example.test>\r\n")
        read_reply(f)  # LHLO
        self.assertEqual(read_reply(f), ["220 2.0.0 Ready to start TLS"])
        tls = client_context().wrap_socket(raw, server_hostname="mx.test")
        tf = tls.makefile("rb")
        tls.sendall(b"LHLO client.test\r\n")
        lhlo = read_reply(tf)
        self.assertEqual(lhlo[0], "250-mx.test", lhlo)  # not a reply to the injected MAIL
        self.assertNotIn("STARTTLS", [line[4:] for line in lhlo])
        tls.sendall(b"NOOP\r\nRCPT TO:<alice@example.test>\r\n")
        self.assertEqual(read_reply(tf), ["250 2.0.0 OK"])
        self.assertEqual(read_reply(tf), ["503 5.5.1 Need MAIL before RCPT"])  # the MAIL never counted
        tls.close()

    def test_failed_handshake_costs_a_log_line(self):
        d = self.start([{"address": '"127.0.0.1:0"', "starttls": '"offered"'}])
        with socket.create_connection((d.host, d.port), timeout=10) as sock:
            f = sock.makefile("rb")
            read_reply(f)
            sock.sendall(b"STARTTLS\r\n")
            self.assertEqual(read_reply(f), ["220 2.0.0 Ready to start TLS"])
            sock.sendall(b"this is not a TLS ClientHello\r\n" * 4)
            self.assertEqual(f.read(), b"")  # closed without a reply in clear
        d.wait_log(r"TLS handshake failed")
        s = lmtp_client(d)  # the daemon serves on
        s.sendmail("bob@example.net", ["alice@example.test"], MESSAGE)
        s.quit()

    def test_implicit_tls_listener_and_handshake_timeout(self):
        d = self.start([{"address": '"127.0.0.1:0"', "tls": "true"}])
        with client_context().wrap_socket(socket.create_connection((d.host, d.port), timeout=10),
                                          server_hostname="mx.test") as tls:
            f = tls.makefile("rb")
            self.assertTrue(read_reply(f)[0].startswith("220 mx.test"))
            tls.sendall(b"LHLO client.test\r\n")
            self.assertNotIn("STARTTLS", [line[4:] for line in read_reply(f)])
        # A client that never starts the handshake is dropped after tls.handshake_timeout (2 s).
        start = time.monotonic()
        with socket.create_connection((d.host, d.port), timeout=10) as idle:
            self.assertEqual(idle.recv(100), b"")
        self.assertLess(time.monotonic() - start, 8)
        d.wait_log(r"TLS handshake failed: timeout")

    def test_reload_with_a_bad_certificate_is_refused(self):
        d = self.start([{"address": '"127.0.0.1:0"', "starttls": '"offered"'}])
        with open(self.cert, "w") as f:
            f.write("not a certificate\n")
        import signal
        d.send_signal(signal.SIGHUP)
        d.wait_log(r"reload failed")
        s = lmtp_client(d)
        self.assertEqual(s.starttls(context=client_context())[0], 220)  # the old context still serves
        s.quit()

    # ---- AUTH ------------------------------------------------------------------------------
    def test_auth_over_tls_success_and_failure_with_smtplib(self):
        d = self.start([{"address": '"127.0.0.1:0"', "starttls": '"offered"', "auth": '"required"'}])
        s = lmtp_client(d)
        before = s.esmtp_features.get("auth", "")
        self.assertNotIn("PLAIN", before.split())  # RFC 4954 §15: no plaintext mechanism in clear
        self.assertNotIn("LOGIN", before.split())
        code, text = s.mail("bob@example.net")
        self.assertEqual((code, text[:5]), (530, b"5.7.0"))
        s.starttls(context=client_context())
        s.ehlo("client.test")
        self.assertIn("PLAIN", s.esmtp_features.get("auth", "").split())
        import smtplib
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            s.login("alice", "wrong")
        self.assertEqual(cm.exception.smtp_code, 535)
        self.assertTrue(cm.exception.smtp_error.startswith(b"5.7.8"), cm.exception.smtp_error)
        code, _ = s.login("alice", "s3cret")
        self.assertEqual(code, 235)
        s.sendmail("bob@example.net", ["alice@example.test"], MESSAGE)
        s.quit()
        self.assertEqual(len(d.files("alice")), 1)
        d.wait_log(r"authenticated user=alice")
        d.wait_log(r"authentication failed mechanism=\S+ code=535 5\.7\.8 failures=1")

    def test_ignorequota_only_after_auth(self):
        # Issue #11: lmtp.ignorequota_authenticated; loopback is not in ignorequota_from, so only AUTH
        # makes RCPT ... IGNOREQUOTA count. Announced before AUTH (clients read LHLO once).
        d = self.start([{"address": '"127.0.0.1:0"', "starttls": '"offered"', "auth": '"optional"'}],
                       extra="\n[lmtp]\nignorequota_authenticated = true\n", mail={"quota_messages": 1})
        s = lmtp_client(d)
        self.addCleanup(s.close)
        self.assertTrue(s.has_extn("ignorequota"), s.esmtp_features)
        s.sendmail("bob@example.net", ["alice@example.test"], MESSAGE)  # alice is now at her quota
        self.assertEqual(s.mail("bob@example.net")[0], 250)
        code, text = s.rcpt("alice@example.test", options=["IGNOREQUOTA"])
        self.assertEqual((code, text[:5]), (530, b"5.7.0"))
        s.rset()
        s.starttls(context=client_context())
        s.ehlo("client.test")
        self.assertTrue(s.has_extn("ignorequota"), s.esmtp_features)
        self.assertEqual(s.login("alice", "s3cret")[0], 235)
        self.assertEqual(s.mail("bob@example.net")[0], 250)
        self.assertEqual(s.rcpt("alice@example.test")[0], 552)
        self.assertEqual(s.rcpt("alice@example.test", options=["IGNOREQUOTA"])[0], 250)
        self.assertEqual(s.data(MESSAGE)[0], 250)
        self.assertEqual(len(d.files("alice")), 2)
        self.assertTrue(d.wait_log(r"to=<alice@example\.test>.*status=delivered.*ignorequota=yes"), d.log())

    @unittest.skipUnless(SWAKS, "swaks not installed")
    def test_swaks_tls_auth_plain(self):
        d = self.start([{"address": '"127.0.0.1:0"', "starttls": '"required"', "auth": '"required"'}])
        argv = [SWAKS, "--protocol", "LMTP", "--server", d.host, "--port", str(d.port), "--timeout", "20",
                "--helo", "client.test", "--from", "bob@example.net", "--to", "alice@example.test", "--tls",
                "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "s3cret"]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        out = p.stdout.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("235 2.7.0", out)
        self.assertEqual(len(d.files("alice")), 1)
        bad = subprocess.run(argv[:-1] + ["nope"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("535 5.7.8", bad.stdout.decode(errors="replace"))

    def test_repeated_failures_are_slowed_and_close_the_connection(self):
        d = self.start([{"address": '"127.0.0.1:0"', "tls": "true", "auth": '"optional"'}])
        tls = client_context().wrap_socket(socket.create_connection((d.host, d.port), timeout=10),
                                           server_hostname="mx.test")
        f = tls.makefile("rb")
        read_reply(f)
        tls.sendall(b"LHLO client.test\r\n")
        read_reply(f)
        start = time.monotonic()
        bad = b"AUTH PLAIN AGFsaWNlAHdyb25n\r\n"  # \0alice\0wrong
        for i in range(2):
            tls.sendall(bad)
            self.assertEqual(read_reply(f)[0][:9], "535 5.7.8")
        tls.sendall(bad)
        self.assertEqual(read_reply(f)[0][:9], "535 5.7.8")
        self.assertTrue(read_reply(f)[0].startswith("421 4.7.0"))
        self.assertEqual(f.read(), b"")
        # failure_delay 100ms × 1, 2, 3
        self.assertGreaterEqual(time.monotonic() - start, 0.55)
        tls.close()
        d.wait_log(r"failures=3")


if __name__ == "__main__":
    unittest.main()
