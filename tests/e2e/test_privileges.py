"""Privilege drop (issue #5): started as root with server.user, mailslotd binds and then runs as
that user for good (ids, groups, capabilities, NoNewPrivs checked in /proc), and still delivers.
Started as root with neither user nor allow_root, it refuses to run (exit 78)."""

import os
import pwd
import unittest

from harness import Daemon, DaemonError, DaemonTestCase, lmtp_client, message


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class PrivilegeDrop(DaemonTestCase):
    def test_runs_as_user_after_binding_and_delivers(self):
        nobody = pwd.getpwnam("nobody")
        workdir = os.path.join(self.tmp, "d")
        os.makedirs(os.path.join(workdir, "mail"))
        os.chown(os.path.join(workdir, "mail"), nobody.pw_uid, nobody.pw_gid)
        for p in (self.tmp, workdir):
            os.chmod(p, 0o755)
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
