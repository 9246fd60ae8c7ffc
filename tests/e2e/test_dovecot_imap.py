"""Dovecot IMAP reads what mailslot delivered (issue #4).

mailslot (running as root, as CI does) delivers through LMTP to alice@dove.test, a passwd-file user
with the uid/gid of `nobody` (Dovecot will not access mail as uid 0), and to a root-owned static
mailbox in the same transaction. A private Dovecot (dovecot -c FILE, its own base_dir and state_dir
in the test's temp dir, imap on a free loopback port) uses the same passwd-file as its passdb and
userdb. Python's imaplib logs in as alice and checks: the message count, every body byte for byte,
RFC822.SIZE equal to the W= in the file name (also for a message with bare LFs, where W= != S=), the
+detail message in its folder (subscribed), and Dovecot's quota figures (`doveadm quota get` and IMAP
GETQUOTAROOT) agreeing with mailslot's maildirsize, also for a message delivered after Dovecot has
opened the Maildir (moved new/ to cur/, written its index). Skipped, saying why, only when
Dovecot's imap cannot run here.
"""

import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
import unittest

from harness import DaemonTestCase, default_config, lmtp_client, merge_config, message, render_config

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
IMAP_BINARY = "/usr/lib/dovecot/imap"
PASSWORD = "secret"
USER = "alice@dove.test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dovecot_config(tmp, users, port):
    return f"""# written by tests/e2e/test_dovecot_imap.py
instance_name = mailslot-e2e-{os.getpid()}
base_dir = {tmp}/dovecot-run
state_dir = {tmp}/dovecot-state
log_path = {tmp}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~/Maildir
mail_plugins = quota
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}
}}
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}
plugin {{
  quota = maildir:User quota
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def maildir_files(md):
    """{path: bytes} of every message in new/ and cur/ of the Maildir and its folders."""
    out = {}
    for dirpath, _, names in os.walk(md):
        if os.path.basename(dirpath) in ("new", "cur"):
            for n in names:
                with open(os.path.join(dirpath, n), "rb") as f:
                    out[os.path.join(dirpath, n)] = f.read()
    return out


def name_size(path, key):
    m = re.search(r"," + key + r"=(\d+)", os.path.basename(path))
    return int(m.group(1)) if m else None


class DovecotReadsMailslot(DaemonTestCase):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root: mailslot must create alice's files as another uid (Dovecot refuses uid 0)")
        if not (os.access(DOVECOT, os.X_OK) and os.access(IMAP_BINARY, os.X_OK)):
            self.skipTest(f"Dovecot IMAP not installed ({DOVECOT}, {IMAP_BINARY}): apt-get install dovecot-imapd")
        os.chmod(self.tmp, 0o755)  # nobody must reach alice's home below it
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        self.home = os.path.join(self.tmp, "home", "alice")
        os.makedirs(self.home)
        os.chown(self.home, self.uid, self.gid)
        self.users = os.path.join(self.tmp, "users")
        with open(self.users, "w") as f:
            f.write(f"{USER}:{{PLAIN}}{PASSWORD}:{self.uid}:{self.gid}::{self.home}::"
                    "userdb_mail=maildir:~/Maildir userdb_quota_rule=*:storage=1M\n")
        self.md = os.path.join(self.home, "Maildir")

    def start_mailslot(self):
        cfg = merge_config(default_config(), {"mail": {"recipient_delimiter": "+", "detail_folders": "create"}})
        text = render_config(cfg) + f'\n[domains."dove.test"]\nresolver = "passwd-file"\npasswd_file = "{self.users}"\n'
        return self.start_daemon(config_text=text)

    def start_dovecot(self):
        for attempt in range(3):  # a free port can be taken between the probe and Dovecot's bind
            port = free_port()
            conf = os.path.join(self.tmp, "dovecot.conf")
            with open(conf, "w") as f:
                f.write(dovecot_config(self.tmp, self.users, port))
            # The master daemonizes and keeps its descriptors: output to a file, not a pipe.
            out_path = os.path.join(self.tmp, "dovecot.out")
            with open(out_path, "w") as out:
                rc = subprocess.run([DOVECOT, "-c", conf], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    timeout=30).returncode
            if rc != 0:
                if attempt == 2:
                    self.skipTest(f"dovecot cannot start here: {open(out_path).read().strip()}")
                continue
            self.addCleanup(self.stop_dovecot, conf)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:  # readiness: the IMAP port accepts
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    return conf, port
                except OSError:
                    time.sleep(0.05)
            log = open(os.path.join(self.tmp, "dovecot.log")).read() if os.path.exists(os.path.join(self.tmp, "dovecot.log")) else ""
            if "Address already in use" not in log:
                self.fail(f"Dovecot's IMAP port never opened; log:\n{log}")
        self.skipTest("no free port for Dovecot after 3 attempts")

    def stop_dovecot(self, conf):
        subprocess.run([DOVEADM, "-c", conf, "stop"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
        pidfile = os.path.join(self.tmp, "dovecot-run", "master.pid")
        deadline = time.monotonic() + 10
        while os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)

    def test_imap_sees_every_message_as_delivered(self):
        d = self.start_mailslot()
        c = lmtp_client(d)
        self.addCleanup(c.close)
        crlf = message("crlf message", ["CRLF body line", "..leading dot", "8-bit: \xe9t\xe9".encode("latin-1")])
        bare_lf = b"From: x@example.net\nSubject: bare LF message\nMessage-ID: <lf@e2e.test>\n\nline one\nline two\r\n"
        detail = message("for the Lists folder", ["alice+lists"])
        # One transaction for alice (nobody's uid) and bob (root's static mailbox): alice gets a copy
        # of her own, not a link to root's file.
        self.assertReply(c.mail("sender@example.net"), 250)
        self.assertReply(c.rcpt(USER), 250, "2.1.5")
        self.assertReply(c.rcpt("bob@example.test"), 250, "2.1.5")
        self.assertReply(c.data(crlf), 250, "2.0.0")
        self.assertReply(c.getreply(), 250, "2.0.0")
        for content, rcpt in ((bare_lf, USER), (detail, "alice+Lists@dove.test")):
            self.assertReply(c.mail("sender@example.net"), 250)
            self.assertReply(c.rcpt(rcpt), 250, "2.1.5")
            self.assertReply(c.data(content), 250, "2.0.0")

        files = maildir_files(self.md)
        self.assertEqual(len(files), 3, files.keys())
        for p in files:
            st = os.stat(p)
            self.assertEqual((st.st_uid, st.st_gid), (self.uid, self.gid), p)
            self.assertEqual(st.st_nlink, 1, p)
            self.assertEqual(name_size(p, "S"), st.st_size, p)
        inbox = {p: b for p, b in files.items() if "/.Lists/" not in p}
        lists = {p: b for p, b in files.items() if "/.Lists/" in p}
        self.assertEqual(len(inbox), 2)
        self.assertEqual(len(lists), 1)
        sizes_w = sorted(name_size(p, "W") for p in inbox)
        with open(os.path.join(self.md, "maildirsize")) as f:
            ms = f.read().splitlines()
        ms_bytes = sum(int(l.split()[0]) for l in ms[1:])
        ms_msgs = sum(int(l.split()[1]) for l in ms[1:])
        self.assertEqual(ms[0], "1048576S")
        self.assertEqual(ms_bytes, sum(os.stat(p).st_size for p in files))
        self.assertEqual(ms_msgs, 3)

        conf, port = self.start_dovecot()
        imap = imaplib.IMAP4("127.0.0.1", port)
        self.addCleanup(imap.logout)
        self.assertEqual(imap.login(USER, PASSWORD)[0], "OK")
        typ, data = imap.select("INBOX", readonly=True)
        self.assertEqual(typ, "OK", data)
        self.assertEqual(int(data[0]), 2)
        typ, data = imap.fetch("1:*", "(RFC822.SIZE RFC822)")
        self.assertEqual(typ, "OK", data)
        fetched = [(int(re.search(rb"RFC822\.SIZE (\d+)", meta).group(1)), body)
                   for meta, body in (x for x in data if isinstance(x, tuple))]
        self.assertEqual(len(fetched), 2)
        # IMAP always sends CRLF: a stored bare LF comes out as CRLF, everything else byte for byte.
        expected = sorted(re.sub(rb"(?<!\r)\n", b"\r\n", b) for b in inbox.values())
        self.assertEqual(sorted(b for _, b in fetched), expected)
        self.assertEqual(sorted(s for s, _ in fetched), sizes_w)  # RFC822.SIZE is W=
        self.assertIn(b"8-bit: \xe9t\xe9", b"".join(b for _, b in fetched))
        self.assertNotEqual(min(sizes_w), min(name_size(p, "S") for p in inbox))  # the bare-LF one differs

        typ, data = imap.lsub('""', "*")
        self.assertTrue(any(b"Lists" in x for x in data), data)
        typ, data = imap.select("Lists", readonly=True)
        self.assertEqual((typ, int(data[0])), ("OK", 1), data)
        typ, data = imap.fetch("1", "(RFC822)")
        self.assertEqual(data[0][1], next(iter(lists.values())))

        typ, data = imap.getquotaroot("INBOX")
        self.assertEqual(typ, "OK", data)
        m = re.search(rb"STORAGE (\d+) (\d+)", b" ".join(x if isinstance(x, bytes) else b" ".join(x) for x in data[1]))
        self.assertIsNotNone(m, data)
        kib = (ms_bytes + 1023) // 1024  # Dovecot reports storage in KiB, rounded up
        self.assertEqual(int(m.group(1)), kib)
        self.assertEqual(int(m.group(2)), 1024)
        self.assertEqual(self.doveadm_quota(conf), (kib, ms_msgs))

        # Dovecot has now opened the Maildir (files moved to cur/, its own index files, maybe its
        # own maildirsize): one more delivery still lands where it reads it, and the figures agree.
        imap.select("INBOX")  # read-write: Dovecot moves new/ to cur/
        big = message("after dovecot", ["y" * 700, "z" * 700])
        self.assertReply(c.mail("sender@example.net"), 250)
        self.assertReply(c.rcpt(USER), 250, "2.1.5")
        self.assertReply(c.data(big), 250, "2.0.0")
        typ, data = imap.select("INBOX", readonly=True)
        self.assertEqual(int(data[0]), 3)
        typ, data = imap.fetch("3", "(RFC822)")
        now = maildir_files(self.md)
        self.assertEqual([data[0][1]], [b for b in now.values() if b"after dovecot" in b])
        with open(os.path.join(self.md, "maildirsize")) as f:
            ms = f.read().splitlines()
        total = sum(int(l.split()[0]) for l in ms[1:])
        self.assertEqual(total, sum(len(b) for b in now.values()))
        self.assertEqual(self.doveadm_quota(conf), ((total + 1023) // 1024, 4))

    def doveadm_quota(self, conf):
        """(storage KiB, messages) as `doveadm quota get` reports them."""
        r = subprocess.run([DOVEADM, "-c", conf, "-f", "tab", "quota", "get", "-u", USER],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = {l.split("\t")[1]: l.split("\t") for l in r.stdout.splitlines()[1:]}
        return int(rows["STORAGE"][2]), int(rows["MESSAGE"][2])


if __name__ == "__main__":
    unittest.main()
