"""Dovecot reads what mailslot writes (docs/maildir.md): a private Dovecot instance (no listeners,
its own base_dir) lists every delivered message with the physical size S= promised, the virtual
size (CRLF) W= promised, and the unique name, R field included, as its GUID. Skipped with the
reason when Dovecot is not installed or the test is not root (Dovecot will not read mail as uid 0,
so the Maildirs are given to nobody)."""

import os
import pwd
import shutil
import subprocess
import time
import unittest

from harness import DaemonTestCase, dot_stuff, message

CONF = """\
protocols =
ssl = no
base_dir = {run}/base
state_dir = {run}/state
instance_name = mailslot-e2e-{pid}
log_path = {run}/dovecot.log
first_valid_uid = {uid}
last_valid_uid = 0
first_valid_gid = {gid}
mail_location = maildir:{mail}/%d/%n/Maildir
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%d/%n
}}
passdb {{
  driver = static
  args = nopassword=y
}}
"""


def virtual_size(data):
    """RFC822.SIZE as Dovecot counts it: every line ending as CRLF."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


class DovecotReads(DaemonTestCase):
    @staticmethod
    def stop_dovecot(conf, pid_file):
        subprocess.run(["doveadm", "-c", conf, "stop"], capture_output=True, timeout=30)
        try:  # bounded wait for the master to go, then make sure
            with open(pid_file) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        os.kill(pid, 9)

    def test_dovecot_lists_every_message_with_its_sizes(self):
        self.deliver_and_fetch({}, ["bob"])

    def test_dovecot_reads_per_recipient_copies(self):
        # mail.per_recipient_headers: bob's and carol's copies of "two" are files of their own,
        # with header blocks of different lengths; each must be listed with its own S= and W=.
        self.deliver_and_fetch({"mail": {"per_recipient_headers": True}}, ["bob", "carol"])

    def deliver_and_fetch(self, overrides, users_checked):
        if os.geteuid() != 0:
            self.skipTest("not root: cannot give the Maildirs to an unprivileged owner for Dovecot")
        if not (shutil.which("dovecot") and shutil.which("doveadm")):
            self.skipTest("Dovecot (dovecot-core) is not installed")
        d = self.start_daemon({"server": {"log_level": "info"}, **overrides})
        bare_lf = message("bare lf", ["crlf line"]) + b"bare\nlf\nlines\r\n"
        large = message("large", [f"{i:05d} " + "z" * 100 for i in range(1000)])
        for users, content in ((["bob"], message("plain", ["hello"])), (["bob"], bare_lf),
                               (["bob", "carol"], message("two", ["for two"])), (["bob"], large)):
            with d.connect() as c:
                c.reply()
                c.cmd("LHLO client.test")
                self.assertEqual(c.cmd("MAIL FROM:<alice@example.net>")[0], 250)
                for u in users:
                    self.assertEqual(c.cmd(f"RCPT TO:<{u}@example.test>")[0], 250)
                self.assertEqual(c.cmd("DATA")[0], 354)
                c.send(dot_stuff(content) if b"bare\nlf" not in content else content + b".\r\n")
                for _ in users:
                    self.assertEqual(c.reply()[0], 250)
        files = d.files("bob")
        self.assertEqual(len(files), 4)

        nobody = pwd.getpwnam("nobody")
        # Dovecot runs as nobody: it must be able to pass through the test's private directories.
        p = os.path.abspath(d.mail_root)
        while True:
            p = os.path.dirname(p)
            os.chmod(p, os.stat(p).st_mode | 0o111)
            if p in (os.path.abspath(self.tmp), "/"):
                break
        for dirpath, dirnames, filenames in os.walk(d.mail_root):
            for n in dirnames + filenames:
                os.chown(os.path.join(dirpath, n), nobody.pw_uid, nobody.pw_gid)
        run = os.path.join(self.tmp, "dovecot")
        for sub in ("base", "state"):
            os.makedirs(os.path.join(run, sub))
        conf = os.path.join(run, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(CONF.format(run=run, pid=os.getpid(), uid=nobody.pw_uid, gid=nobody.pw_gid,
                                mail=os.path.abspath(d.mail_root)))
        # The master forks into the background: its output goes to a file, not to a pipe that
        # would stay open as long as it runs.
        with open(os.path.join(run, "start.log"), "w") as out:
            r = subprocess.run(["dovecot", "-c", conf], stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=30)
        self.assertEqual(r.returncode, 0, open(os.path.join(run, "start.log")).read())
        self.addCleanup(self.stop_dovecot, conf, os.path.join(run, "base", "master.pid"))

        for user in users_checked:
            argv = ["doveadm", "-c", conf, "fetch", "-u", f"{user}@example.test",
                    "guid size.physical size.virtual", "mailbox", "INBOX", "all"]
            for _ in range(50):  # bounded: the master's sockets are there at once in practice
                r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                if r.returncode == 0:
                    break
                time.sleep(0.1)
            self.assertEqual(r.returncode, 0, r.stderr)
            seen = {}
            for record in r.stdout.split("\f"):
                fields = dict(line.split(": ", 1) for line in record.strip().splitlines() if ": " in line)
                if fields:
                    seen[fields["guid"]] = (int(fields["size.physical"]), int(fields["size.virtual"]))
            expected = {}
            for path in d.files(user):
                with open(path, "rb") as f:
                    data = f.read()
                expected[os.path.basename(path)] = (len(data), virtual_size(data))
            self.assertEqual(seen, expected, user)
            if user == "bob":
                self.assertTrue(any(p != v for p, v in expected.values()), "the bare-LF message should have W= > S=")


if __name__ == "__main__":
    unittest.main()
