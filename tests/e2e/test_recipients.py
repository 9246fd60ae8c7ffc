"""Recipients and mailboxes through the real daemon (issue #4).

One daemon serves example.test (static template, default quota of 3 messages) and virt.test (a
Dovecot-format passwd-file), with an aliases file, recipient_delimiter "+-" and +detail folders
created on demand. Asserted: passwd-file users, unknown users, postmaster; an alias with several
targets gets one reply and one copy per target; +detail lands in its Maildir++ folder (subscribed),
a detail trying to climb out stays inside the Maildir; quota refuses at RCPT (with and without MAIL
SIZE=) and at commit (552 5.2.2, and 452 4.2.2 with quota_full_tempfail); a changed passwd-file is
picked up without dropping the session, a broken one is logged with file:line and the old users stay.
"""

import os
import re
import unittest

from harness import DaemonTestCase, lmtp_client, merge_config, default_config, render_config, message, wait_until


class Recipients(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(os.path.join(self.home, "bob"))
        self.users = os.path.join(self.tmp, "users")
        self.aliases = os.path.join(self.tmp, "aliases")
        self.write(self.users,
                   "# virt.test users\n"
                   f"bob@virt.test:{{PLAIN}}x:::: {self.home}/bob::userdb_mail=maildir:~/Maildir "
                   "userdb_quota_rule=*:messages=100\n".replace(":::: ", "::::"))
        self.write(self.aliases, "team: alice, bob@virt.test\nsales@virt.test: bob\nevil: \"../../../x\"\n")

    def write(self, path, text):
        with open(path, "w") as f:
            f.write(text)

    def start(self, **mail):
        values = {"recipient_delimiter": "+-", "detail_folders": "create", "aliases": self.aliases,
                  "quota_messages": 3}
        values.update(mail)
        cfg = merge_config(default_config(), {"mail": values})
        text = render_config(cfg) + (
            '\n[domains."virt.test"]\nresolver = "passwd-file"\n'
            f'passwd_file = "{self.users}"\n')
        return self.start_daemon(config_text=text, name=f"d{len(os.listdir(self.tmp))}")

    def client(self, d):
        c = lmtp_client(d)
        self.addCleanup(c.close)
        return c

    def bob_maildir(self):
        return os.path.join(self.home, "bob", "Maildir")

    def test_users_aliases_and_detail_folders(self):
        d = self.start()
        c = self.client(d)
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("Bob+News@VIRT.test"), 250, "2.1.5")   # passwd-file, folded, +detail
        self.assertReply(c.rcpt("team@example.test"), 250, "2.1.5")    # alias: alice and bob
        self.assertReply(c.rcpt('"bob-x/../../y"@virt.test'), 250, "2.1.5")  # detail climbing out
        self.assertReply(c.rcpt("nobody-here@virt.test"), 550, "5.1.1")
        self.assertReply(c.rcpt("postmaster@virt.test"), 250, "2.1.5")   # RFC 5321 §4.5.1
        self.assertReply(c.rcpt("evil@example.test"), 550)                # alias to an unsafe name
        self.assertReply(c.rcpt("carol@elsewhere.test"), 550, "5.1.2")
        content = message("aliases and folders", ["one reply per RCPT"])
        replies = [c.data(content)] + [c.getreply() for _ in range(3)]  # four accepted RCPTs
        for r in replies:
            self.assertReply(r, 250, "2.0.0")
        self.assertReply(c.noop(), 250)  # still in step: exactly one reply per RCPT

        news = os.path.join(self.bob_maildir(), ".News")
        self.assertEqual(len(os.listdir(os.path.join(news, "new"))), 1)
        self.assertTrue(os.path.exists(os.path.join(news, "maildirfolder")))
        with open(os.path.join(self.bob_maildir(), "subscriptions")) as f:
            self.assertIn("News", f.read().split("\n"))
        # The team alias put one copy in bob's INBOX, the climbing detail another (sanitised folder
        # inside bob's Maildir at most); nothing appeared outside the home or the mail root.
        self.assertEqual(len(d.files("alice")), 1)
        bob_all = [p for dp, _, fs in os.walk(self.bob_maildir()) for p in fs if "/new" in dp or dp.endswith("new")]
        self.assertEqual(len(bob_all), 3, bob_all)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "y")))
        self.assertFalse(os.path.exists(os.path.join(self.home, "y")))
        for dp, dirs, _ in os.walk(self.bob_maildir()):
            for name in dirs:
                self.assertNotIn("..", name)
        self.assertEqual(len(d.files("postmaster", domain="virt.test")), 1)

    def test_quota_at_rcpt_and_at_commit(self):
        d = self.start()
        c = self.client(d)
        for i in range(3):
            self.assertReply(c.mail("s@example.net"), 250)
            self.assertReply(c.rcpt("carol@example.test"), 250)
            self.assertReply(c.data(message(f"q{i}", ["fill"])), 250, "2.0.0")
        with open(os.path.join(d.maildir("carol"), "maildirsize")) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "3C")
        self.assertEqual(sum(int(l.split()[1]) for l in lines[1:]), 3)
        # Full: refused at RCPT already, with and without SIZE=.
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("carol@example.test"), 552, "5.2.2")
        c.rset()
        self.assertReply(c.docmd("MAIL FROM:<s@example.net> SIZE=100"), 250)
        self.assertReply(c.rcpt("carol@example.test"), 552, "5.2.2")
        self.assertReply(c.rcpt("dave@example.test"), 250)
        self.assertReply(c.data(message("dave", ["ok"])), 250)

        # Byte quota with SIZE=: refused at RCPT only when this message would not fit.
        d2 = self.start(quota="2K", quota_messages=0)
        c2 = self.client(d2)
        self.assertReply(c2.docmd("MAIL FROM:<s@example.net> SIZE=5000"), 250)
        self.assertReply(c2.rcpt("erin@example.test"), 552, "5.2.2")
        c2.rset()
        self.assertReply(c2.docmd("MAIL FROM:<s@example.net> SIZE=500"), 250)
        self.assertReply(c2.rcpt("erin@example.test"), 250)
        self.assertReply(c2.data(message("small", ["x" * 300])), 250)

        # At commit (the RCPT check off): 552 5.2.2, and 452 4.2.2 with quota_full_tempfail.
        for tempfail, code, enhanced in ((False, 552, "5.2.2"), (True, 452, "4.2.2")):
            dn = self.start(rcpt_check_quota=False, quota_full_tempfail=tempfail)
            cn = self.client(dn)
            for i in range(3):
                self.assertReply(cn.mail("s@example.net"), 250)
                self.assertReply(cn.rcpt("frank@example.test"), 250)
                self.assertReply(cn.data(message(f"f{i}", ["fill"])), 250)
            self.assertReply(cn.mail("s@example.net"), 250)
            self.assertReply(cn.rcpt("frank@example.test"), 250)   # not checked at RCPT
            self.assertReply(cn.rcpt("gina@example.test"), 250)
            over, ok = cn.data(message("over", ["one too many"])), cn.getreply()
            self.assertReply(over, code, enhanced)
            self.assertReply(ok, 250, "2.0.0")                     # the other recipient is unaffected
            self.assertEqual(len(dn.files("frank")), 3)
            self.assertTmpEmpty(dn)

    def test_passwd_file_reload_keeps_sessions(self):
        d = self.start()
        c = self.client(d)
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("dave@virt.test"), 550, "5.1.1")
        os.makedirs(os.path.join(self.home, "dave"))
        with open(self.users, "a") as f:
            f.write(f"dave:::::{self.home}/dave::userdb_mail=maildir:~/Maildir\n")
        # The file is checked at most once a second, off the event loop, in the same session.
        self.assertTrue(wait_until(lambda: c.rcpt("dave@virt.test")[0] == 250, 10, 0.2),
                        "the new user was not picked up")
        self.assertReply(c.data(message("reloaded", ["hi dave"])), 250, "2.0.0")
        self.assertEqual(len(os.listdir(os.path.join(self.home, "dave", "Maildir", "new"))), 1)

        # A syntax error: logged with file and line, the users loaded before stay.
        with open(self.users, "a") as f:
            f.write("erin::notanumber:1::/h\n")
        def poke():  # a change is noticed when an RCPT comes along (at most once a second)
            c.rset()
            c.mail("s@example.net")
            c.rcpt("bob@virt.test")
            return d.wait_log(r"recipients: " + re.escape(self.users) + r":4: ", 0.2)
        self.assertTrue(wait_until(poke, 10, 0.2), d.log())
        c.rset()
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("dave@virt.test"), 250)
        self.assertReply(c.rcpt("bob@virt.test"), 250)
        self.assertReply(c.rcpt("erin@virt.test"), 550, "5.1.1")

    def test_broken_passwd_file_at_start_is_a_config_error(self):
        with open(self.users, "a") as f:
            f.write("zed:x:oops\n")
        cfg = merge_config(default_config(), {"mail": {"aliases": self.aliases}})
        text = render_config(cfg) + f'\n[domains."virt.test"]\nresolver = "passwd-file"\npasswd_file = "{self.users}"\n'
        conf = os.path.join(self.tmp, "broken.toml")
        with open(conf, "w") as f:
            f.write(text)
        import subprocess
        from harness import daemon_binary
        r = subprocess.run([daemon_binary(), "--config", conf, "--check-config"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 78, r.stderr)  # EX_CONFIG
        self.assertIn(f"{self.users}:3: ", r.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "per-user identity needs root")
    def test_system_users_and_ownership(self):
        import pwd
        nobody = pwd.getpwnam("nobody")
        os.chmod(self.tmp, 0o755)
        cfg = merge_config(default_config(), {"mail": {}})
        text = render_config(cfg) + ('\n[domains."sys.test"]\nresolver = "system"\n'
                                     'mailbox = "{domain}/{user}/Maildir"\n')
        d = self.start_daemon(config_text=text, name="sys")
        os.chmod(os.path.join(d.workdir), 0o755)
        os.chmod(d.mail_root, 0o755)
        c = self.client(d)
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("nobody@sys.test"), 250, "2.1.5")      # getpwnam
        self.assertReply(c.rcpt("root@sys.test"), 550, "5.1.1")        # uid 0: alias it instead
        self.assertReply(c.rcpt("no-such-user-4@sys.test"), 550, "5.1.1")
        self.assertReply(c.data(message("system user", ["as nobody"])), 250, "2.0.0")
        files = d.files("nobody", domain="sys.test")
        self.assertEqual(len(files), 1)
        st = os.stat(files[0])
        self.assertEqual((st.st_uid, st.st_gid), (nobody.pw_uid, nobody.pw_gid))
        self.assertEqual(os.stat(d.maildir("nobody", "sys.test")).st_uid, nobody.pw_uid)

        # A Maildir owned by someone else than the identity it would be written as: 451, logged.
        alice_md = d.maildir("alice")
        os.makedirs(os.path.join(alice_md, "new"))
        os.chown(alice_md, nobody.pw_uid, nobody.pw_gid)
        self.assertReply(c.mail("s@example.net"), 250)
        self.assertReply(c.rcpt("alice@example.test"), 250)
        self.assertReply(c.rcpt("bob@example.test"), 250)
        alice, bob = c.data(message("not alice's", ["x"])), c.getreply()
        self.assertReply(alice, 451, "4.3.0")
        self.assertIn(b"owned by uid", alice[1])
        self.assertReply(bob, 250, "2.0.0")
        self.assertEqual(os.listdir(os.path.join(alice_md, "new")), [])
        self.assertTrue(d.wait_log(r"to=<alice@example\.test>.*code=451 dsn=4\.3\.0.*owned by uid", 5), d.log())


if __name__ == "__main__":
    unittest.main()
