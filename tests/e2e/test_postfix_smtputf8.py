"""A private Postfix instance (its own config directory and queue, no network listener) delivering
internationalised mail to mailslotd over LMTP with smtputf8_enable = yes. Mail enters through
Postfix's sendmail(1), whose SMTPUTF8 autodetection (smtputf8_autodetect_classes) marks it; the LMTP
client then sends MAIL ... SMTPUTF8 because mailslot announces it. (Postfix's LMTP client never
sends BDAT, so CHUNKING is tested with raw sockets in test_chunking.py.)"""

import os
import shutil
import subprocess
import unittest

from harness import DaemonTestCase, wait_until

POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if os.access("/usr/sbin/postfix", os.X_OK) else None)
SENDMAIL = "/usr/sbin/sendmail"

USER = "\u7528\u6237"  # 用户

# Only the services a pickup → cleanup → qmgr → lmtp delivery needs; none chrooted (the mailslot
# socket lives outside the queue directory) and no inet service (no fixed port).
MASTER_CF = """\
pickup    unix  n       -       n       1       1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       1       1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@unittest.skipUnless(POSTFIX and os.access(SENDMAIL, os.X_OK), "postfix not installed (scripts/deps installs it)")
@unittest.skipUnless(os.geteuid() == 0, "a private Postfix instance needs root")
class PostfixSmtputf8(DaemonTestCase):
    def setUp(self):
        super().setUp()
        # Postfix's daemons run as the postfix user: they must traverse to the queue and the socket.
        os.chmod(self.tmp, 0o755)
        self.d = self.start_daemon()
        os.chmod(self.d.workdir, 0o755)
        sock = self.d.unix_path
        base = os.path.join(self.tmp, "pf")
        self.pf_conf = os.path.join(base, "etc")
        os.makedirs(self.pf_conf)
        os.makedirs(os.path.join(base, "queue"))
        data = os.path.join(base, "data")
        os.makedirs(data)
        shutil.chown(data, "postfix")
        self.maillog = os.path.join(base, "maillog")
        with open(os.path.join(self.pf_conf, "master.cf"), "w") as f:
            f.write(MASTER_CF)
        with open(os.path.join(self.pf_conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {base}/queue
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.test
mydomain = pf.test
myorigin = pf.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
smtputf8_enable = yes
transport_maps = inline:{{ example.test=lmtp:unix:{sock} }}
default_transport = error:no other destinations here
alias_maps =
alias_database =
relayhost =
maillog_file = {self.maillog}
maillog_file_prefixes = {base}
""")
        self.postfix("start")
        self.addCleanup(self.stop_postfix)

    def postfix(self, command):
        r = subprocess.run([POSTFIX, "-c", self.pf_conf, command], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"postfix {command}: {r.stdout}{r.stderr}")

    def stop_postfix(self):
        r = subprocess.run([POSTFIX, "-c", self.pf_conf, "stop"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            subprocess.run([POSTFIX, "-c", self.pf_conf, "abort"], capture_output=True, timeout=60)

    def maillog_text(self):
        try:
            with open(self.maillog, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def test_utf8_recipient_through_postfix_lmtp(self):
        sender = "j\u00f6rg@pf.test"
        rcpt = f"{USER}@example.test"
        msg = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: Gr\u00fc\u00dfe\r\n"
               f"Message-ID: <smtputf8.postfix@pf.test>\r\n\r\nHall\u00f6 via Postfix\r\n").encode()
        r = subprocess.run([SENDMAIL, "-C", self.pf_conf, "-f", sender, "--", rcpt], input=msg,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_until(lambda: self.d.files(USER), 30),
                        f"nothing delivered; postfix log:\n{self.maillog_text()[-3000:]}\nmailslot log:\n"
                        f"{self.d.log()[-2000:]}")
        self.assertTrue(wait_until(lambda: "status=sent" in self.maillog_text(), 10), self.maillog_text()[-3000:])
        files = self.d.files(USER)
        self.assertEqual(len(files), 1)
        with open(files[0], "rb") as f:
            stored = f.read()
        head = stored.split(b"\r\n\r\n", 1)[0].decode("utf-8")
        self.assertIn(f"Return-Path: <{sender}>", head)
        self.assertIn(f"Delivered-To: {rcpt}", head)
        self.assertIn("with UTF8LMTP", head)
        self.assertIn("Hall\u00f6 via Postfix".encode(), stored)
        self.assertIn("status=sent", self.maillog_text())


if __name__ == "__main__":
    unittest.main()
