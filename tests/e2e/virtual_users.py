"""A mailslot daemon serving virt.test from a Dovecot-style passwd-file, with quota_full_tempfail,
for the tests that put a real MTA in front of it (test_postfix_delivery, test_exim_delivery).

carol has a message quota that write_users() can raise, so a deferred recipient can be delivered
on the MTA's retry."""
import os

from harness import DaemonTestCase, default_config, merge_config, render_config

USERS = ("alice", "bob", "carol", "sender")


class VirtualUsersTestCase(DaemonTestCase):
    extra_config = {}   # merged into the daemon's configuration (e.g. {"lmtp": {...}})

    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)   # the MTA's delivery agent (an unprivileged user) reaches the socket
        self.home = os.path.join(self.tmp, "home")
        self.users = os.path.join(self.tmp, "users")
        self.write_users(carol_messages=1)
        cfg = merge_config(default_config(), {"mail": {"quota_full_tempfail": True}})
        cfg = merge_config(cfg, self.extra_config)
        text = render_config(cfg) + (
            '\n[domains."virt.test"]\nresolver = "passwd-file"\n'
            f'passwd_file = "{self.users}"\n')
        self.d = self.start_daemon(config_text=text)
        os.chmod(self.d.workdir, 0o755)

    def write_users(self, carol_messages):
        """Writes the passwd-file atomically (mailslot re-reads it when it changes)."""
        lines = []
        for u in USERS:
            os.makedirs(os.path.join(self.home, u), exist_ok=True)
            quota = f" userdb_quota_rule=*:messages={carol_messages}" if u == "carol" else ""
            lines.append(f"{u}@virt.test:::::{self.home}/{u}::userdb_mail=maildir:~/Maildir{quota}\n")
        with open(self.users + ".new", "w") as f:
            f.writelines(lines)
        os.replace(self.users + ".new", self.users)

    def new(self, user):
        """The files in user's new/, sorted; [] before the Maildir exists."""
        d = os.path.join(self.home, user, "Maildir", "new")
        return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []
