"""SIGHUP reload: a good config is applied to new sessions, a bad one is refused with its error logged
and the running one kept, sessions already open finish on the snapshot they started with, and
settings that need a restart are named in the log and kept."""

import os
import re
import signal
import unittest

from harness import DaemonTestCase, default_config, dot_stuff, lmtp_client, merge_config, message, render_config


class Reload(DaemonTestCase):
    def rewrite(self, d, overrides=None, text=None):
        if text is None:
            text = render_config(merge_config(default_config(), overrides))
        tmp = d.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, d.config_path)  # atomic, as an editor or config manager would

    def reload(self, d, expect):
        n = len(re.findall(expect, d.log()))
        d.send_signal(signal.SIGHUP)
        # Wait for one more occurrence than before this SIGHUP.
        m = d.wait_log(rf"(?s)(?:.*?{expect}){{{n + 1}}}", timeout=15)
        self.assertIsNotNone(m, f"no {expect!r} after SIGHUP:\n{d.log()[-3000:]}")

    def session(self, d):
        c = d.connect(timeout=20)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        return c

    def deliver(self, c, rcpt, subject):
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        code, text = c.cmd(f"RCPT TO:<{rcpt}>")
        if code != 250:
            c.cmd("RSET")
            return code, text
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(dot_stuff(message(subject, ["reload test"])))
        return c.reply()

    def test_good_reload_applies_to_new_sessions(self):
        # Two io threads: the swap must be safe while accept loops and sessions run elsewhere.
        d = self.start_daemon({"server": {"io_threads": 2}, "mail": {"domains": ["example.test"]}})
        c = self.session(d)
        self.assertReply(self.deliver(c, "alice@example.test", "before"), 250, "2.0.0")
        self.rewrite(d, {"server": {"hostname": "mx2.test", "io_threads": 2}, "mail": {"domains": ["other.test"]}})
        self.reload(d, r"configuration reloaded")
        c2 = self.session(d)
        self.assertReply(self.deliver(c2, "alice@example.test", "old domain"), 550, "5.1.2")
        self.assertReply(self.deliver(c2, "carol@other.test", "new domain"), 250, "2.0.0")
        [f] = d.files("carol", domain="other.test")
        with open(f, "rb") as fh:
            self.assertIn(b"by mx2.test", fh.read(), "the new hostname is in the new session's Received")
        self.assertIsNone(d.proc.poll())

    def test_session_in_progress_keeps_its_snapshot(self):
        d = self.start_daemon({"mail": {"domains": ["example.test"]}})
        old = self.session(d)
        self.assertEqual(old.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        self.rewrite(d, {"server": {"hostname": "mx2.test"}, "mail": {"domains": ["other.test"]}})
        self.reload(d, r"configuration reloaded")
        # The open session still resolves with the recipients and hostname it started with ...
        self.assertEqual(old.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(old.cmd("DATA")[0], 354)
        old.send(dot_stuff(message("old snapshot", ["x"])))
        self.assertReply(old.reply(), 250, "2.0.0")
        # ... for its next transaction too: a session keeps one snapshot for its whole life.
        self.assertReply(self.deliver(old, "bob@example.test", "old snapshot again"), 250, "2.0.0")
        for user in ("alice", "bob"):
            [f] = d.files(user)
            with open(f, "rb") as fh:
                data = fh.read()
            self.assertIn(b"by mx.test", data)
            self.assertNotIn(b"mx2.test", data)
        # A session opened after the reload uses the new snapshot.
        new = self.session(d)
        self.assertReply(self.deliver(new, "alice@example.test", "new snapshot"), 550, "5.1.2")

    def test_bad_reload_is_refused_and_old_config_kept(self):
        d = self.start_daemon({"mail": {"domains": ["example.test"]}})
        with open(d.config_path) as f:
            good = f.read()
        bad = good.replace("[limits]", "[limits]\nmax_recipents = 5", 1)
        self.rewrite(d, text=bad)
        self.reload(d, r"reload failed")
        log = d.log()
        # The error names the key and file:line, like --check-config does.
        self.assertRegex(log, r"mailslot\.toml:\d+:\d+: limits\.max_recipents: unknown key")
        self.assertIsNone(d.proc.poll(), "a bad reload stopped the daemon")
        c = self.session(d)
        self.assertReply(self.deliver(c, "alice@example.test", "after bad reload"), 250, "2.0.0")
        # A TOML syntax error is refused the same way; then a good file is taken again.
        self.rewrite(d, text="[server\nlisten = 1\n")
        self.reload(d, r"reload failed")
        self.rewrite(d, {"mail": {"domains": ["other.test"]}})
        self.reload(d, r"configuration reloaded")
        c2 = self.session(d)
        self.assertReply(self.deliver(c2, "carol@other.test", "good again"), 250, "2.0.0")

    def test_restart_only_settings_are_named_and_kept(self):
        d = self.start_daemon({"server": {"listen": ["127.0.0.1:0"], "io_threads": 1}})
        port = d.port
        self.rewrite(d, {"server": {"listen": ["127.0.0.1:0", "unix:other.sock"], "io_threads": 2},
                         "mail": {"domains": ["example.test", "other.test"]}})
        self.reload(d, r"configuration reloaded")
        log = d.log()
        self.assertRegex(log, r"reload: server\.listen .*changed; it takes effect only after a restart")
        self.assertRegex(log, r"reload: server\.io_threads changed; it takes effect only after a restart")
        self.assertFalse(os.path.exists(os.path.join(d.workdir, "other.sock")), "a listener was added by a reload")
        self.assertEqual(d.port, port)
        # The rest of the file was applied.
        c = self.session(d)
        self.assertReply(self.deliver(c, "carol@other.test", "restart-only kept"), 250, "2.0.0")

    def test_reload_changes_log_level(self):
        d = self.start_daemon({"server": {"log_level": "info"}})
        self.rewrite(d, {"server": {"log_level": "warn"}})
        self.reload(d, r"configuration reloaded")
        before = len(d.log())
        c = self.session(d)
        self.assertReply(self.deliver(c, "alice@example.test", "quiet"), 250, "2.0.0")
        c.cmd("QUIT")
        self.assertTrue(c.at_eof(5))
        # At warn, the info lines of a delivery (connect, delivered, disconnect) are not written.
        self.assertNotRegex(d.log()[before:], r"status=delivered")


if __name__ == "__main__":
    unittest.main()
