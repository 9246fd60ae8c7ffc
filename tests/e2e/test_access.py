"""Per-listener access control (issue #5): allowed client networks on TCP listeners (554 5.7.1 in
the greeting for the others), and owner, group and mode of UNIX sockets from the config."""

import os
import pwd
import socket
import stat
import unittest

from harness import DaemonTestCase, lmtp_client, message


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class AllowedNetworks(DaemonTestCase):
    def start(self, listen):
        return self.start_daemon({"server": {"listen": listen}})

    def assertDenied(self, d, host=None, port=None):
        c = d.connect() if host is None else None
        if c is None:
            from harness import RawClient
            c = RawClient(socket.create_connection((host, port), timeout=10))
        with c:
            code, text = c.reply()
            self.assertEqual(code, 554, text)
            self.assertTrue(text.startswith(b"5.7.1 "), text)
            self.assertTrue(c.at_eof(), "a refused client must be closed")

    def test_client_outside_allowed_networks_gets_554_and_is_closed(self):
        d = self.start([{"address": "127.0.0.1:0", "allow": ["10.0.0.0/8", "2001:db8::/32"]}])
        self.assertDenied(d)
        self.assertTrue(d.wait_log(r"refused client=127\.0\.0\.1 listener=127\.0\.0\.1:\d+: not in the listener's allowed"),
                        d.log())
        # Nothing was delivered and the daemon still serves (a second refused client, same answer).
        self.assertDenied(d)
        self.assertEqual(d.all_files("new"), [])

    def test_client_inside_allowed_networks_is_served(self):
        d = self.start([{"address": "127.0.0.1:0", "allow": ["10.0.0.0/8", "127.0.0.0/8"]}])
        s = lmtp_client(d)
        try:
            s.sendmail("bob@example.net", ["alice@example.test"], message("allowed", ["hi"]))
        finally:
            s.quit()
        self.assertEqual(len(d.files("alice")), 1)

    def test_listeners_have_their_own_lists(self):
        # A string entry next to a restricted one stays open to everyone (behaviour-neutral).
        d = self.start(["127.0.0.1:0", {"address": "127.0.0.1:0", "allow": ["192.0.2.0/24"]}])
        (h0, p0), (h1, p1) = d.tcp
        with self.connect_raw(h0, p0) as c:
            self.assertEqual(c.reply()[0], 220)
        self.assertDenied(d, h1, p1)

    @unittest.skipUnless(ipv6_loopback(), "no IPv6 loopback")
    def test_ipv6_listener(self):
        d = self.start([{"address": "[::1]:0", "allow": ["127.0.0.0/8", "::2/128"]},
                        {"address": "[::1]:0", "allow": ["::1"]}])
        (h0, p0), (h1, p1) = d.tcp
        self.assertDenied(d, "::1", p0)
        with self.connect_raw("::1", p1) as c:
            self.assertEqual(c.reply()[0], 220)

    def connect_raw(self, host, port):
        from harness import RawClient
        return RawClient(socket.create_connection((host, port), timeout=10))


class UnixSocketPermissions(DaemonTestCase):
    def test_mode_owner_and_group_from_the_listener_table(self):
        if os.geteuid() == 0:
            owner = pwd.getpwnam("nobody")
            entry = {"address": "unix:lmtp.sock", "mode": "0640", "owner": "nobody", "group": str(owner.pw_gid)}
            want_uid, want_gid = owner.pw_uid, owner.pw_gid
        else:  # an unprivileged user may still give the file to itself and one of its groups
            entry = {"address": "unix:lmtp.sock", "mode": "0640", "owner": str(os.geteuid()),
                     "group": str(os.getegid())}
            want_uid, want_gid = os.geteuid(), os.getegid()
        d = self.start_daemon({"server": {"listen": ["127.0.0.1:0", entry]}})
        st = os.stat(d.unix_path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)  # its own mode, not unix_socket_mode 0666
        self.assertEqual((st.st_uid, st.st_gid), (want_uid, want_gid))

    def test_unknown_owner_is_a_clear_start_up_error(self):
        from harness import Daemon, DaemonError
        workdir = os.path.join(self.tmp, "bad")
        os.makedirs(workdir)
        d = Daemon(workdir, {"server": {"listen": [{"address": "unix:lmtp.sock", "owner": "no-such-user-x"}]}})
        with self.assertRaises(DaemonError):
            d.start()
        self.assertIn('owner "no-such-user-x": no such user', d.log())
        self.assertNotEqual(d.wait(), 0)


if __name__ == "__main__":
    unittest.main()
