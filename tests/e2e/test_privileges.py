"""Privilege drop (issue #5): started as root with server.user, mailslotd binds and then runs as
that user for good (ids, groups, capabilities, NoNewPrivs checked in /proc), and still delivers.
Started as root with neither user nor allow_root, it refuses to run (exit 78)."""

import os
import pwd
import unittest

from harness import (Daemon, DaemonError, DaemonTestCase, default_config, lmtp_client, merge_config, message,
                     render_config)


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class PrivilegeDrop(DaemonTestCase):
    def mail_root_for_nobody(self, name):
        """The mail root of the daemon started as `name`, owned by nobody (who it will run as)."""
        nobody = pwd.getpwnam("nobody")
        workdir = os.path.join(self.tmp, name)
        os.makedirs(os.path.join(workdir, "mail"))
        os.chown(os.path.join(workdir, "mail"), nobody.pw_uid, nobody.pw_gid)
        for p in (self.tmp, workdir):
            os.chmod(p, 0o755)
        return nobody

    def test_runs_as_user_after_binding_and_delivers(self):
        nobody = self.mail_root_for_nobody("d")
        d = self.start_daemon({"server": {"listen": ["127.0.0.1:0"], "user": "nobody", "allow_root": False}})
        self.assertTrue(d.wait_log(rf"dropped privileges: uid {nobody.pw_uid} \(nobody\)"), d.log())
        st = proc_status(d.proc.pid)
        self.assertEqual(st["Uid"], [str(nobody.pw_uid)] * 4, st["Uid"])
        self.assertEqual(st["Gid"], [str(nobody.pw_gid)] * 4, st["Gid"])
        self.assertEqual(st["Groups"], [str(nobody.pw_gid)], st.get("Groups"))
        self.assertEqual(int(st["CapEff"][0], 16), 0)
        self.assertEqual(int(st["CapPrm"][0], 16), 0)
        self.assertEqual(st["NoNewPrivs"], ["1"])
        # Every thread (the disk pool existed before the drop) runs as nobody too.
        for tid in os.listdir(f"/proc/{d.proc.pid}/task"):
            t = proc_status(f"{d.proc.pid}/task/{tid}")
            self.assertEqual(t["Uid"], [str(nobody.pw_uid)] * 4, f"thread {tid}")
            self.assertEqual(int(t["CapEff"][0], 16), 0, f"thread {tid}")
        s = lmtp_client(d)
        try:
            s.sendmail("bob@example.net", ["alice@example.test"], message("as nobody", ["hello"]))
        finally:
            s.quit()
        files = d.files("alice")
        self.assertEqual(len(files), 1)
        self.assertEqual(os.stat(files[0]).st_uid, nobody.pw_uid)

    def test_per_user_delivery_keeps_only_identity_capabilities(self):
        # A passwd-file user with its own uid: the daemon runs as nobody but must still create
        # that user's files as that user: it keeps the four capabilities that needs and nothing else.
        uid, gid = 54321, 54321
        home = os.path.join(self.tmp, "home", "carol")
        os.makedirs(home)
        os.chown(home, uid, gid)
        os.chmod(os.path.join(self.tmp, "home"), 0o755)
        users = os.path.join(self.tmp, "users")
        with open(users, "w") as f:
            f.write(f"carol@virt.test:{{PLAIN}}x:{uid}:{gid}::{home}::userdb_mail=maildir:~/Maildir\n")
        os.chmod(users, 0o644)
        nobody = self.mail_root_for_nobody("p")
        cfg = merge_config(default_config(), {"server": {"listen": ["127.0.0.1:0"], "user": "nobody",
                                                         "allow_root": False}})
        text = render_config(cfg) + f'\n[domains."virt.test"]\nresolver = "passwd-file"\npasswd_file = "{users}"\n'
        d = self.start_daemon(config_text=text, name="p")
        self.assertTrue(d.wait_log(r"capabilities kept: CAP_SETUID, CAP_SETGID, CAP_CHOWN, CAP_DAC_OVERRIDE only"), d.log())
        want = (1 << 0) | (1 << 1) | (1 << 6) | (1 << 7)  # CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_SETGID, CAP_SETUID
        for tid in os.listdir(f"/proc/{d.proc.pid}/task"):
            t = proc_status(f"{d.proc.pid}/task/{tid}")
            self.assertEqual(t["Uid"], [str(nobody.pw_uid)] * 4, f"thread {tid}")
            self.assertEqual(int(t["CapEff"][0], 16) & ~want, 0, f"thread {tid}: {t['CapEff']}")
            self.assertEqual(int(t["CapPrm"][0], 16) & ~want, 0, f"thread {tid}: {t['CapPrm']}")
        st = proc_status(d.proc.pid)
        self.assertEqual(int(st["CapEff"][0], 16), want)
        self.assertEqual(st["NoNewPrivs"], ["1"])
        s = lmtp_client(d)
        try:
            s.sendmail("bob@example.net", ["carol@virt.test"], message("per user", ["hello"]))
        finally:
            s.quit()
        new = os.path.join(home, "Maildir", "new")
        files = os.listdir(new)
        self.assertEqual(len(files), 1)
        self.assertEqual(os.stat(os.path.join(new, files[0])).st_uid, uid)

    def test_root_without_user_is_refused(self):
        workdir = os.path.join(self.tmp, "r")
        os.makedirs(workdir)
        d = Daemon(workdir, {"server": {"allow_root": False}})
        with self.assertRaises(DaemonError):
            d.start()
        self.assertEqual(d.wait(), 78)
        self.assertIn("started as root with no server.user", d.log())

    def test_unknown_user_is_a_config_error(self):
        workdir = os.path.join(self.tmp, "u")
        os.makedirs(workdir)
        d = Daemon(workdir, {"server": {"user": "no-such-user-mailslot"}})
        with self.assertRaises(DaemonError):
            d.start()
        self.assertEqual(d.wait(), 78)
        self.assertIn('server.user: no such user "no-such-user-mailslot"', d.log())


if __name__ == "__main__":
    unittest.main()
