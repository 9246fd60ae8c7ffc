"""--stdio mode (issue #11): `mailslotd --config F --stdio` serves exactly one LMTP session on
stdin/stdout and exits; the status says how the session ended (docs/operations.md, "stdio mode").

Driven by swaks (--pipe: a real client spawning the command), by a scripted session on pipes and
from a file, and inetd-style with one socket as stdin, stdout and stderr (where a log line on
stderr would corrupt the stream). Exim's lmtp transport with `command =` is in
test_exim_delivery.py."""

import os
import pwd
import re
import signal
import smtplib
import socket
import subprocess
import threading
import unittest

from harness import DaemonTestCase, daemon_binary, default_config, merge_config, render_config

RUN_TIMEOUT = 30   # seconds for one whole session
REPLY_RE = re.compile(rb"^\d{3}[ -]")


def session(*lines, body=None):
    """A scripted LMTP session (sent at once: the server answers in order, RFC 2920)."""
    out = b"".join(l.encode() + b"\r\n" for l in lines)
    if body is not None:
        out += body + b".\r\n"
    return out


class StdioMode(DaemonTestCase):
    def write_config(self, overrides=None, text=None):
        self.workdir = os.path.join(self.tmp, "stdio")
        os.makedirs(self.workdir, exist_ok=True)
        self.config = os.path.join(self.workdir, "mailslot.toml")
        self.mail_root = os.path.join(self.workdir, "mail")
        with open(self.config, "w") as f:
            f.write(text if text is not None else render_config(merge_config(default_config(), overrides)))
        return self.config

    def run_stdio(self, stdin_bytes, args=(), stderr=subprocess.PIPE, timeout=RUN_TIMEOUT):
        return subprocess.run([daemon_binary(), "--config", self.config, "--stdio"] + list(args),
                              input=stdin_bytes, stdout=subprocess.PIPE, stderr=stderr, timeout=timeout)

    def new(self, user):
        d = os.path.join(self.mail_root, "example.test", user, "Maildir", "new")
        return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []

    def tmp_files(self):
        return [os.path.join(p, n) for p, _, names in os.walk(self.mail_root) if os.path.basename(p) == "tmp"
                for n in names]

    def assert_only_replies(self, out):
        lines = out.split(b"\r\n")
        self.assertEqual(lines[-1], b"", out)  # every reply ends with CRLF
        for line in lines[:-1]:
            self.assertRegex(line, REPLY_RE, f"not an LMTP reply on stdout: {line!r}\nstdout: {out!r}")

    def codes(self, out):
        """The final line's code of each reply, in order."""
        return [int(l[:3]) for l in out.split(b"\r\n") if re.match(rb"^\d{3} ", l)]

    # -- a real client: swaks spawns mailslotd --stdio and speaks LMTP over its stdin/stdout ----------
    def test_swaks_pipe_two_recipients(self):
        self.write_config()
        cmd = f"{daemon_binary()} --config {self.config} --stdio"
        r = subprocess.run(["swaks", "--protocol", "LMTP", "--pipe", cmd, "--from", "sender@example.net",
                            "--to", "alice@example.test,bob@example.test", "--helo", "client.test",
                            "--header", "Subject: via --stdio", "--body", "one session on a pipe"],
                           capture_output=True, timeout=RUN_TIMEOUT)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, out + r.stderr.decode())
        # RFC 2033 §4.2: one reply per recipient after the final "."
        after_dot = out[out.index("<-  354"):]
        self.assertEqual(len(re.findall(r"^<-  250 2\.0\.0 <(alice|bob)@example\.test> ", after_dot, re.M)), 2, out)
        self.assertRegex(out, r"<-  221 ")
        for user in ("alice", "bob"):
            files = self.new(user)
            self.assertEqual(len(files), 1, f"{user}: {files}\n{out}")
            with open(files[0], "rb") as f:
                stored = f.read()
            self.assertIn(b"Subject: via --stdio", stored)
            self.assertRegex(stored, rb"Received: from client\.test \(stdio\)")

    # -- a scripted session: stdout carries replies only, stderr the log, exit 0 after QUIT -----------
    def scripted(self, stdin_from_file):
        self.write_config()
        script = session("LHLO client.test", "MAIL FROM:<sender@example.net>", "RCPT TO:<alice@example.test>",
                         "RCPT TO:<carol@elsewhere.test>", "RCPT TO:<bob@example.test>", "DATA",
                         body=b"Subject: scripted\r\n\r\nhello\r\n") + session("QUIT")
        if stdin_from_file:  # a regular file cannot be polled: it is read directly
            path = os.path.join(self.tmp, "script")
            with open(path, "wb") as f:
                f.write(script)
            with open(path, "rb") as stdin:
                r = subprocess.run([daemon_binary(), "--config", self.config, "--stdio"], stdin=stdin,
                                   capture_output=True, timeout=RUN_TIMEOUT)
        else:
            r = self.run_stdio(script)
        log = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, f"stdout: {r.stdout!r}\nstderr: {log}")
        self.assert_only_replies(r.stdout)
        self.assertEqual(self.codes(r.stdout), [220, 250, 250, 250, 550, 250, 354, 250, 250, 221], r.stdout)
        self.assertIn(b"550 5.1.2 <carol@elsewhere.test>", r.stdout)
        self.assertRegex(log, r"session=\S+ connect client=stdio listener=stdio")
        self.assertRegex(log, r"to=<alice@example\.test> .*status=delivered")
        self.assertRegex(log, r"to=<bob@example\.test> .*status=delivered")
        self.assertNotRegex(log, r"listening on")
        self.assertEqual([len(self.new(u)) for u in ("alice", "bob")], [1, 1])

    def test_scripted_session_on_pipes(self):
        self.scripted(stdin_from_file=False)

    def test_scripted_session_from_a_file(self):
        self.scripted(stdin_from_file=True)

    def test_eof_in_data_discards_and_exits_74(self):
        self.write_config()
        r = self.run_stdio(session("LHLO client.test", "MAIL FROM:<s@example.net>", "RCPT TO:<alice@example.test>",
                                   "DATA") + b"Subject: cut\r\n\r\nno end")
        self.assertEqual(r.returncode, 74, r.stderr.decode())  # EX_IOERR: stdin ended before QUIT
        self.assert_only_replies(r.stdout)
        self.assertEqual(self.codes(r.stdout)[-1], 354)
        self.assertEqual(self.new("alice"), [])
        self.assertEqual(self.tmp_files(), [])

    def test_duplicates_across_stdio_processes(self):
        # One process per delivery (Exim's command transport) still shares [duplicates]: the MTA's
        # retry of a message already stored is suppressed by the next process.
        self.write_config({"duplicates": {"enabled": True, "window": "24h"}})
        script = session("LHLO client.test", "MAIL FROM:<s@example.net>", "RCPT TO:<alice@example.test>", "DATA",
                         body=b"Message-ID: <once@example.net>\r\nSubject: twice\r\n\r\nx\r\n") + session("QUIT")
        first, second = self.run_stdio(script), self.run_stdio(script)
        self.assertEqual((first.returncode, second.returncode), (0, 0), second.stderr.decode())
        self.assertNotIn(b"duplicate suppressed", first.stdout)
        self.assertRegex(second.stdout, rb"250 2\.0\.0 <alice@example\.test> \S+ duplicate suppressed\r\n")
        self.assertEqual(len(self.new("alice")), 1)

    # -- inetd: one socket is stdin, stdout and stderr; the log must not reach the client -----------
    def test_inetd_one_tcp_socket_as_stdin_stdout_stderr(self):
        self.write_config()
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        client = socket.create_connection(listener.getsockname(), timeout=RUN_TIMEOUT)
        self.addCleanup(client.close)
        server_side, _ = listener.accept()
        proc = subprocess.Popen([daemon_binary(), "--config", self.config, "--stdio"],
                                stdin=server_side, stdout=server_side, stderr=server_side)
        server_side.close()
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        lmtp = smtplib.LMTP()
        lmtp.sock = client
        code, msg = lmtp.getreply()
        self.assertEqual(code, 220, msg)
        code, msg = lmtp.ehlo("client.test")  # smtplib.LMTP sends LHLO
        self.assertEqual(code, 250, msg)
        self.assertEqual(lmtp.mail("sender@example.net")[0], 250)
        self.assertEqual(lmtp.rcpt("alice@example.test")[0], 250)
        code, msg = lmtp.data(b"Subject: inetd\r\n\r\nover one socket\r\n")
        self.assertEqual(code, 250, msg)
        self.assertEqual(lmtp.quit()[0], 221)
        self.assertEqual(proc.wait(RUN_TIMEOUT), 0)
        files = self.new("alice")
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            stored = f.read()
        # A TCP peer on stdin is the client, as for a listener's connection.
        self.assertRegex(stored, rb"Received: from client\.test \(\[?127\.0\.0\.1\]?\)")

    @staticmethod
    def collect(sock, lines, stop):
        """Datagrams from sock until `stop` is set and nothing more is waiting."""
        sock.settimeout(0.1)
        while True:
            try:
                lines.append(sock.recv(65536).decode("utf-8", "replace"))
            except socket.timeout:
                if stop.is_set():
                    return

    @unittest.skipUnless(os.geteuid() == 0, "a private /dev/log needs a mount namespace (root)")
    def test_log_goes_to_syslog_when_stderr_is_the_stream(self):
        # Exim's command transport: stderr is a copy of stdout. The log must go to syslog (facility
        # mail), here a datagram socket of ours mounted over /dev in a private mount namespace.
        self.write_config()
        dev = os.path.join(self.tmp, "dev")
        os.makedirs(dev)
        open(os.path.join(dev, "null"), "w").close()
        syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(syslog.close)
        syslog.bind(os.path.join(dev, "log"))
        script = ('mount --bind /dev/null "$1/null" && mount --bind "$1" /dev && shift && exec "$@"')
        script_in = session("LHLO client.test", "MAIL FROM:<s@example.net>", "RCPT TO:<alice@example.test>",
                            "DATA", body=b"Subject: syslog\r\n\r\nx\r\n") + session("QUIT")
        # Read while it runs: a UNIX datagram socket queues only a few messages (max_dgram_qlen)
        # before the sender blocks.
        lines, stop = [], threading.Event()
        reader = threading.Thread(target=self.collect, args=(syslog, lines, stop), daemon=True)
        reader.start()
        r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", dev, daemon_binary(), "--config", self.config,
                            "--stdio"], input=script_in, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=RUN_TIMEOUT)
        stop.set()
        reader.join(RUN_TIMEOUT)
        if r.returncode != 0 and b"mount" in r.stdout[:200]:
            self.skipTest(f"mount namespace not permitted: {r.stdout[:200]!r}")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assert_only_replies(r.stdout)
        self.assertEqual(self.codes(r.stdout), [220, 250, 250, 250, 354, 250, 221])
        text = "\n".join(lines)
        # <22>: facility mail (2) * 8 + info (6); ident mailslotd[pid].
        self.assertRegex(text, r"<22>.*mailslotd\[\d+\]: \[info\] session=\S+ connect client=stdio", text)
        self.assertRegex(text, r"to=<alice@example\.test> .*status=delivered", text)

    # -- timeouts and signals end the session with 421 and EX_TEMPFAIL ---------------------------------
    def test_command_timeout_421_exit_75(self):
        self.write_config({"limits": {"command_timeout": "1s"}})
        proc = subprocess.Popen([daemon_binary(), "--config", self.config, "--stdio"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        greeting = proc.stdout.readline()
        self.assertTrue(greeting.startswith(b"220 "), greeting)
        # Say nothing: the command timeout answers 421 4.4.2 and closes (stdin stays open).
        rest = proc.stdout.read()
        self.assertEqual(proc.wait(RUN_TIMEOUT), 75, proc.stderr.read().decode())
        self.assertRegex(rest, rb"^421 4\.4\.2 ")
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()

    def test_sigterm_421_exit_75(self):
        self.write_config()
        proc = subprocess.Popen([daemon_binary(), "--config", self.config, "--stdio"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.assertTrue(proc.stdout.readline().startswith(b"220 "))
        proc.stdin.write(b"LHLO client.test\r\n")
        proc.stdin.flush()
        line = b"250-"
        while line.startswith(b"250-"):
            line = proc.stdout.readline()
        self.assertTrue(line.startswith(b"250 "), line)
        proc.send_signal(signal.SIGTERM)
        rest = proc.stdout.read()
        self.assertEqual(proc.wait(RUN_TIMEOUT), 75, proc.stderr.read().decode())
        self.assertRegex(rest, rb"^421 4\.3\.2 ")
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()

    # -- start-up failures: the status, the reason on stderr, and a 421 greeting for the client -------
    def test_bad_config_exit_78(self):
        self.write_config(text="[server]\nno_such_key = 1\n")
        r = self.run_stdio(session("LHLO client.test", "QUIT"))
        self.assertEqual(r.returncode, 78, r.stderr.decode())  # EX_CONFIG, like the daemon
        self.assertRegex(r.stderr.decode(), r"configuration error(.|\n)*no_such_key")
        self.assertRegex(r.stdout, rb"^421 4\.3\.0 \S+ Service not available: configuration error\r\n$")

    def test_stdio_excludes_listen_and_check_config(self):
        self.write_config()
        for extra in (["--listen", "127.0.0.1:0"], ["--check-config"]):
            r = self.run_stdio(b"", args=extra)
            self.assertEqual(r.returncode, 64, (extra, r.stderr))  # EX_USAGE
            self.assertIn(b"excludes", r.stderr)
            self.assertEqual(r.stdout, b"")

    @unittest.skipUnless(os.geteuid() == 0, "privilege rules apply when started as root")
    def test_root_follows_the_daemons_privilege_rules(self):
        # Root with neither server.user nor allow_root: refused, exactly as the daemon.
        cfg = default_config()
        cfg["server"].pop("allow_root", None)
        self.write_config(text=render_config(cfg))
        r = self.run_stdio(session("QUIT"))
        self.assertEqual(r.returncode, 78, r.stderr.decode())
        self.assertIn(b"server.allow_root", r.stderr)
        self.assertTrue(r.stdout.startswith(b"421 "), r.stdout)

        # server.user: nothing to bind, the session runs as that user from the start.
        nobody = pwd.getpwnam("nobody")
        cfg["server"]["user"] = "nobody"
        self.write_config(text=render_config(cfg))
        os.makedirs(self.mail_root, exist_ok=True)
        os.chown(self.mail_root, nobody.pw_uid, nobody.pw_gid)
        os.chmod(self.tmp, 0o755)
        r = self.run_stdio(session("LHLO client.test", "MAIL FROM:<s@example.net>", "RCPT TO:<alice@example.test>",
                                   "DATA", body=b"Subject: as nobody\r\n\r\nx\r\n") + session("QUIT"))
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertRegex(r.stderr.decode(), rf"dropped privileges: uid {nobody.pw_uid} \(nobody\)")
        files = self.new("alice")
        self.assertEqual(len(files), 1, r.stdout)
        self.assertEqual(os.stat(files[0]).st_uid, nobody.pw_uid)


if __name__ == "__main__":
    unittest.main()
