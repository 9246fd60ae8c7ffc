"""A private Exim 4.96 (Debian's exim4-daemon-light, unpacked: tests/e2e/exim_instance.py) delivers
through mailslot with the router and transports of docs/exim.md: the `lmtp` transport over the
UNIX socket and the `smtp` transport with `protocol = lmtp` over TCP. Per recipient, from Exim's
log and the Maildirs: one message to four recipients; the known ones delivered once (=> with
C="250 2.0.0 ..."), the unknown one bounced (** ... 550 5.1.1) and the bounce, read from the
sender's mailslot mailbox, names only it (X-Failed-Recipients); the over-quota one deferred
(== ... 452 4.2.2, quota_full_tempfail) and delivered by a queue run (-qff) once the quota is
raised, without a second copy to the others.

The same with the `lmtp` transport's `command =` running `mailslotd --stdio` (issue #11) as an
unprivileged user (nobody, who owns the Maildirs): one process per delivery, no daemon."""

import os
import pwd
import re
import unittest

from harness import daemon_binary, wait_until
from virtual_users import VirtualUsersTestCase
import exim_instance as ex


@unittest.skipIf(ex.available(), ex.available() or "")
class EximDelivery(VirtualUsersTestCase):
    def exim(self, transport):
        body = ex.documented_config(self.d, self.d.config_path, daemon_binary())
        return ex.EximInstance(os.path.join(self.tmp, "exim"), body, {"MAILSLOT_TRANSPORT": transport})

    def why(self, e):
        return f"\nexim log:\n{e.log()[-3000:]}\nmailslot log:\n{self.d.log()[-3000:]}"

    def per_recipient(self, transport, daemon_log=True):
        e = self.exim(transport)
        r = e.sendmail("sender@virt.test", ["carol@virt.test"], b"Subject: fill\n\nfill\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_until(lambda: len(self.new("carol")) == 1, 10), "carol not filled" + self.why(e))

        msg = (b"From: sender@virt.test\nTo: alice@virt.test, bob@virt.test, carol@virt.test, nobody@virt.test\n"
               b"Subject: four\nMessage-ID: <four@exim.test>\n\nfour recipients\n")
        r = e.sendmail("sender@virt.test", [f"{u}@virt.test" for u in ("alice", "bob", "carol", "nobody")], msg)
        self.assertEqual(r.returncode, 0, r.stderr)
        for u in ("alice", "bob"):
            self.assertTrue(e.wait_log(rf"[=-]> (?:{u} <)?{u}@virt\.test>? .*T={transport} .*C=\"250 2\.0\.0 "), u + self.why(e))
        self.assertTrue(e.wait_log(r"== carol@virt\.test .*452 4\.2\.2"), self.why(e))
        self.assertTrue(e.wait_log(r"\*\* nobody@virt\.test .*550 5\.1\.1"), self.why(e))
        msgid = re.search(r"^\S+ \S+ (\S+) [=-]> (?:alice <)?alice@virt\.test", e.log(), re.M).group(1)
        if daemon_log:  # --stdio under Exim logs to syslog (its stderr is the LMTP stream)
            self.assertTrue(self.d.wait_log(rf"to=<alice@virt\.test> .*status=delivered .*queue_id={re.escape(msgid)}"),
                            self.why(e))

        # The bounce, delivered through the same router to the sender's mailbox, names nobody only.
        self.assertTrue(wait_until(lambda: self.new("sender"), 20), "no bounce" + self.why(e))
        with open(self.new("sender")[0], "rb") as f:
            bounce = f.read().decode("utf-8", "replace")
        self.assertEqual(re.findall(r"^X-Failed-Recipients: (.*?)\r?$", bounce, re.M), ["nobody@virt.test"], bounce[:2000])

        # Raise carol's quota; a forced queue run delivers her copy, nobody else gets a second one.
        self.write_users(carol_messages=100)
        self.assertTrue(wait_until(lambda: (e.queue_run() and False) or len(self.new("carol")) == 2, 20, 1.0),
                        "carol not delivered after the quota was raised" + self.why(e))
        self.assertTrue(e.wait_log(rf"[=-]> (?:carol <)?carol@virt\.test>? .*T={transport} .*C=\"250 2\.0\.0 "), self.why(e))
        self.assertEqual([len(self.new(u)) for u in ("alice", "bob", "carol")], [1, 1, 2])

    def test_lmtp_transport_unix_socket(self):
        self.per_recipient("mailslot_lmtp")

    def test_smtp_transport_protocol_lmtp_tcp(self):
        self.per_recipient("mailslot_tcp")

    def test_lmtp_transport_command_stdio(self):
        # Exim runs the command as the transport's user; the Maildirs are that user's.
        nobody = pwd.getpwnam("nobody")
        for top in (self.home, os.path.join(self.d.workdir, "mail")):
            for path, dirs, files in os.walk(top):
                for n in [path] + [os.path.join(path, f) for f in dirs + files]:
                    os.chown(n, nobody.pw_uid, nobody.pw_gid)
        sessions_before = self.d.log().count(" connect client=")
        self.per_recipient("mailslot_stdio", daemon_log=False)
        # Every delivery went through mailslotd --stdio, none through the daemon's listeners.
        self.assertEqual(self.d.log().count(" connect client="), sessions_before)
        for u in ("alice", "bob", "carol", "sender"):
            for f in self.new(u):
                self.assertEqual(os.stat(f).st_uid, nobody.pw_uid, f)
                with open(f, "rb") as fh:
                    self.assertRegex(fh.read(4096), rb"Received: from exim\.test \(stdio\)", f)


if __name__ == "__main__":
    unittest.main()
