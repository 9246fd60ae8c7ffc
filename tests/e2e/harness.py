"""End-to-end harness: start the real mailslotd, talk to it, look at the Maildirs it writes.

Only the standard library. Every wait has a deadline and every socket a timeout, so a misbehaving
daemon makes a test fail, never hang. Synchronisation is on what the daemon says (its "ready" log
line, its replies), not on sleeps.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

READY_TIMEOUT = 20.0     # seconds from exec to "ready"
STOP_TIMEOUT = 15.0      # seconds from SIGTERM to exit
SOCKET_TIMEOUT = 30.0    # default timeout on every client socket

CRLF = b"\r\n"


def daemon_binary():
    """The mailslotd to test: $MAILSLOTD (what CTest sets), else a build in the usual places."""
    path = os.environ.get("MAILSLOTD")
    if path:
        return os.path.abspath(path)
    for sub in ("build/ci", "build/h-e2e", "build/release", "build/debug"):
        cand = os.path.join(REPO, sub, "mailslotd")
        if os.access(cand, os.X_OK):
            return cand
    raise unittest.SkipTest("no mailslotd: set MAILSLOTD=/path/to/mailslotd")


# ---------------------------------------------------------------------------------------------
# Configuration

def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table: per-listener settings in server.listen
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {v!r}")


def default_config():
    return {
        "server": {
            "hostname": "mx.test",
            "listen": ["127.0.0.1:0", "unix:lmtp.sock"],
            "unix_socket_mode": "0666",
            "log_level": "debug",
            # Started as root (CI), mailslotd refuses to deliver as root unless told (issue #5):
            # the tests' Maildirs belong to whoever runs them.
            **({"allow_root": True} if os.geteuid() == 0 else {}),
        },
        "limits": {
            "max_message_size": "50M",
            "max_recipients": 1000,
            "command_timeout": "5m",
            "data_timeout": "10m",
            "shutdown_timeout": "30s",
        },
        "mail": {
            "root": "mail",
            "mailbox": "{domain}/{user}/Maildir",
            "domains": ["example.test"],
            "users": [],
            "fold_case": True,
            "fsync": True,
        },
    }


def render_config(cfg):
    out = ["# written by tests/e2e/harness.py"]
    for section, values in cfg.items():
        out.append(f"[{section}]")
        for k, v in values.items():
            out.append(f"{k} = {_toml_value(v)}")
        out.append("")
    return "\n".join(out)


def merge_config(base, overrides):
    cfg = {s: dict(v) for s, v in base.items()}
    for section, values in (overrides or {}).items():
        cfg.setdefault(section, {}).update(values)
    return cfg


# ---------------------------------------------------------------------------------------------
# The daemon

LISTEN_RE = re.compile(r"listening on (unix:(?P<path>\S+)|\[?(?P<host>[0-9a-fA-F.:]+?)\]?:(?P<port>\d+))\s*$")


class DaemonError(AssertionError):
    pass


class Daemon:
    """One mailslotd process with its own directory (config, mail root, sockets)."""

    def __init__(self, workdir, overrides=None, extra_args=(), config_text=None):
        self.workdir = workdir
        self.config_path = os.path.join(workdir, "mailslot.toml")
        self.cfg = merge_config(default_config(), overrides)
        text = config_text if config_text is not None else render_config(self.cfg)
        with open(self.config_path, "w") as f:
            f.write(text)
        self.mail_root = os.path.join(workdir, self.cfg["mail"]["root"])
        self.extra_args = list(extra_args)
        self.proc = None
        self.tcp = []            # [(host, port)]
        self.unix = []           # [path]
        self._log = []
        self._log_lock = threading.Lock()
        self._log_cond = threading.Condition(self._log_lock)
        self._eof = False
        self._reader = None

    # -- process --------------------------------------------------------------------------------
    def start(self):
        cwd = os.path.join(self.workdir, "cwd")  # not the config dir: relative paths must follow the config
        os.makedirs(cwd, exist_ok=True)
        argv = [daemon_binary(), "--config", self.config_path] + self.extra_args
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + READY_TIMEOUT
        with self._log_cond:
            while True:
                text = "".join(self._log)
                if re.search(r"mailslotd \S+ ready", text):
                    break
                if self._eof:
                    raise DaemonError(f"mailslotd exited before ready (status {self.proc.wait(5)}); log:\n{text}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DaemonError(f"mailslotd not ready after {READY_TIMEOUT}s; log:\n{text}")
                self._log_cond.wait(left)
        for line in text.splitlines():
            m = LISTEN_RE.search(line)
            if not m:
                continue
            if m.group("path"):
                self.unix.append(m.group("path"))
            else:
                self.tcp.append((m.group("host"), int(m.group("port"))))
        return self

    def _drain(self):
        f = self.proc.stderr
        while True:
            line = f.readline()
            if not line:
                break
            with self._log_cond:
                self._log.append(line.decode("utf-8", "replace"))
                self._log_cond.notify_all()
        f.close()
        with self._log_cond:
            self._eof = True
            self._log_cond.notify_all()

    def log(self):
        with self._log_lock:
            return "".join(self._log)

    def wait_log(self, pattern, timeout=10.0):
        """Wait until the log matches the regex; returns the match or None at the deadline."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        with self._log_cond:
            while True:
                m = rx.search("".join(self._log))
                if m or self._eof:
                    return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._log_cond.wait(left)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Exit status, or raises DaemonError after timeout (and kills the process)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise DaemonError(f"mailslotd still running {timeout}s after the signal; log:\n{self.log()}")
        if self._reader:
            self._reader.join(5)
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.send_signal(sig)
        return self.wait(timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    # -- addresses ------------------------------------------------------------------------------
    @property
    def port(self):
        if not self.tcp:
            raise DaemonError(f"no TCP listener logged; log:\n{self.log()}")
        return self.tcp[0][1]

    @property
    def host(self):
        return self.tcp[0][0]

    @property
    def unix_path(self):
        if not self.unix:
            raise DaemonError(f"no UNIX listener logged; log:\n{self.log()}")
        return self.unix[0]

    def connect(self, unix=False, timeout=SOCKET_TIMEOUT):
        """A RawClient connected to the first TCP (or UNIX) listener, greeting not yet read."""
        if unix:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(self.unix_path)
        else:
            s = socket.create_connection((self.host, self.port), timeout=timeout)
        return RawClient(s)

    # -- Maildirs -------------------------------------------------------------------------------
    def maildir(self, user, domain="example.test"):
        return os.path.join(self.mail_root, domain, user, "Maildir")

    def files(self, user, sub="new", domain="example.test"):
        d = os.path.join(self.maildir(user, domain), sub)
        try:
            return sorted(os.path.join(d, n) for n in os.listdir(d))
        except FileNotFoundError:
            return []

    def all_files(self, sub="new"):
        """Every file in every <sub>/ directory below the mail root."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.mail_root):
            if os.path.basename(dirpath) == sub:
                out.extend(os.path.join(dirpath, n) for n in filenames)
        return sorted(out)

    def wait_tmp_empty(self, timeout=10.0):
        """Poll until no tmp/ below the mail root holds a file; returns what is left at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.all_files("tmp")
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.05)


class DaemonTestCase(unittest.TestCase):
    """A test case with a fresh temp dir; start_daemon() starts mailslotd and stops it at cleanup,
    failing the test if it does not exit 0 on SIGTERM."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mailslot-e2e-")
        self.addCleanup(self._cleanup_tmp)

    def _cleanup_tmp(self):
        if os.environ.get("MAILSLOT_E2E_KEEP"):
            print(f"\nkept {self.tmp}")
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_daemon(self, overrides=None, extra_args=(), name="d", config_text=None):
        workdir = os.path.join(self.tmp, name)
        os.makedirs(workdir, exist_ok=True)
        d = Daemon(workdir, overrides, extra_args, config_text)
        self.addCleanup(self._stop_daemon, d)
        d.start()
        return d

    def _stop_daemon(self, d):
        if d.proc is None or d.proc.poll() is not None:
            return
        try:
            rc = d.stop()
        except DaemonError:
            d.kill()
            raise
        if rc != 0:
            raise DaemonError(f"mailslotd exited with status {rc} on SIGTERM; log tail:\n{d.log()[-4000:]}")

    # -- assertions -----------------------------------------------------------------------------
    def assertReply(self, reply, code, enhanced=None, msg=None):
        got_code, text = reply
        detail = f"{msg + ': ' if msg else ''}expected {code} {enhanced or ''}, got {got_code} {text!r}"
        self.assertEqual(got_code, code, detail)
        if enhanced is not None:
            first = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            self.assertTrue(first.startswith(enhanced), detail)

    def assertStored(self, path, content, delivered_to=None, sender=None):
        """The file at path is trace headers followed by exactly content; returns the header fields.
        delivered_to: None = not checked, False = must be absent, "a@b" = exactly that one."""
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.endswith(content),
                        f"{path}: stored content differs from what was sent "
                        f"(stored {len(data)} bytes, sent {len(content)}); first difference near "
                        f"{first_difference(data[-len(content):] if len(data) >= len(content) else data, content)}")
        headers = data[:len(data) - len(content)]
        fields = parse_trace_headers(self, headers, path)
        names = [n.lower() for n, _ in fields]
        self.assertEqual(names[:1], ["return-path"], f"{path}: Return-Path is not first in {headers!r}")
        self.assertIn("received", names, f"{path}: no Received in {headers!r}")
        if sender is not None:
            rp = [v.strip() for n, v in fields if n.lower() == "return-path"]
            self.assertEqual(rp, [f"<{sender}>"], f"{path}: Return-Path")
        dt = [v.strip().strip("<>") for n, v in fields if n.lower() == "delivered-to"]
        if delivered_to is False:
            self.assertEqual(dt, [], f"{path}: Delivered-To present on a multi-recipient message")
        elif delivered_to is not None:
            self.assertEqual(dt, [delivered_to], f"{path}: Delivered-To")
        # S= is the exact file size (the Maildir convention Dovecot relies on).
        m = re.search(r",S=(\d+)", os.path.basename(path))
        self.assertIsNotNone(m, f"{path}: no ,S= in the file name")
        self.assertEqual(int(m.group(1)), len(data), f"{path}: S= is not the file size")
        m = re.search(r",W=(\d+)", os.path.basename(path))
        self.assertIsNotNone(m, f"{path}: no ,W= in the file name")
        self.assertRegex(os.path.basename(path), MAILDIR_NAME_RE, f"{path}: not a Maildir unique name")
        return fields

    def assertTmpEmpty(self, d, timeout=10.0):
        left = d.wait_tmp_empty(timeout)
        self.assertEqual(left, [], f"tmp/ not empty {timeout}s later: {left}")


MAILDIR_NAME_RE = re.compile(r"^\d+\.M\d+P\d+Q\d+R[0-9a-f]{16}\.[^/,:]+,S=\d+,W=\d+$")


def parse_trace_headers(tc, headers, where=""):
    """Split trace header bytes into (name, value) fields; asserts CRLF endings and folding."""
    tc.assertTrue(headers.endswith(CRLF), f"{where}: trace headers do not end with CRLF: {headers[-80:]!r}")
    lines = headers[:-2].split(CRLF)
    fields = []
    for line in lines:
        tc.assertNotIn(b"\n", line, f"{where}: bare LF inside trace headers {headers!r}")
        if line[:1] in (b" ", b"\t"):
            tc.assertTrue(fields, f"{where}: continuation line first in {headers!r}")
            fields[-1] = (fields[-1][0], fields[-1][1] + "\r\n" + line.decode())
            continue
        name, sep, value = line.decode("utf-8", "replace").partition(":")
        tc.assertTrue(sep and re.fullmatch(r"[A-Za-z-]+", name), f"{where}: not a header line {line!r}")
        fields.append((name, value))
    return fields


def first_difference(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return f"offset {i}: stored {a[max(0, i - 20):i + 20]!r} sent {b[max(0, i - 20):i + 20]!r}"
    return f"offset {n} (lengths {len(a)} vs {len(b)})"


# ---------------------------------------------------------------------------------------------
# A raw LMTP client: exact bytes out, replies parsed but not interpreted.

class RawClient:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed by the server; unread: {self.buf!r}")
        self.buf += chunk

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 100000:
                raise AssertionError(f"reply line too long: {self.buf[:200]!r}")
            self._fill()
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def reply(self):
        """One (possibly multi-line) reply: (code, text) with text the lines joined by '\\n'
        (without codes), like smtplib. Asserts every line ends with CRLF and carries the same code."""
        lines = []
        while True:
            line = self.readline()
            if not line.endswith(CRLF):
                raise AssertionError(f"reply line without CRLF: {line!r}")
            if len(line) < 5 or not line[:3].isdigit() or line[3:4] not in (b" ", b"-", b"\r"):
                raise AssertionError(f"malformed reply line: {line!r}")
            lines.append(line)
            if line[3:4] != b"-":
                break
        codes = {l[:3] for l in lines}
        if len(codes) != 1:
            raise AssertionError(f"multi-line reply with different codes: {lines!r}")
        return int(lines[0][:3]), b"\n".join(l[4:].rstrip(b"\r\n") for l in lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        self.send(line.encode() + CRLF if isinstance(line, str) else line + CRLF)
        return self.reply()

    def at_eof(self, timeout=5.0):
        """True when the server closes the connection (after any unread bytes) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def lmtp_client(d, unix=False, timeout=SOCKET_TIMEOUT):
    """smtplib.LMTP connected to d and past LHLO (smtplib's mail() does not send LHLO by itself)."""
    import smtplib
    s = smtplib.LMTP(d.unix_path, timeout=timeout) if unix else smtplib.LMTP(d.host, d.port, timeout=timeout)
    code, text = s.ehlo("client.test")
    if code != 250:
        s.close()
        raise AssertionError(f"LHLO refused: {code} {text!r}")
    return s


def dot_stuff(content):
    """Transparency (RFC 5321 §4.5.2) for CRLF content: a '.' is doubled at every line start."""
    assert content.endswith(CRLF)
    stuffed = re.sub(rb"(?:(?<=\r\n)|^)\.", b"..", content)
    return stuffed + b".\r\n"


def message(subject, body_lines, extra_headers=()):
    """A simple RFC 5322 message with CRLF line ends, as bytes."""
    head = [b"From: Bob <bob@example.net>", b"To: Alice <alice@example.test>",
            b"Subject: " + subject.encode(), b"Message-ID: <" + subject.replace(" ", ".").encode() + b"@e2e.test>"]
    head += [h if isinstance(h, bytes) else h.encode() for h in extra_headers]
    body = [l if isinstance(l, bytes) else l.encode() for l in body_lines]
    return CRLF.join(head) + CRLF + CRLF + CRLF.join(body) + CRLF


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)
