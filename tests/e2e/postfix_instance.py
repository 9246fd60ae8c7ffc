"""A private Postfix instance for e2e tests: its own config_directory, queue_directory and
data_directory in a temp dir, loopback only, its log in a file (maillog_file) instead of syslog.

Facts it relies on (ARCHITECTURE.md): `postfix -c DIR start` runs an instance from DIR when the
queue directory is owned by root and data_directory by postfix; maillog_file_prefixes must cover
maillog_file. Nothing is chrooted: the mailslot socket lives outside the queue directory.

Every wait polls Postfix's log or queue with a deadline; nothing sleeps for a fixed time.
"""

import os
import re
import shutil
import socket
import subprocess
import time

POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if os.access("/usr/sbin/postfix", os.X_OK) else None)
POSTCONF = "/usr/sbin/postconf"
POSTQUEUE = "/usr/sbin/postqueue"
POSTSUPER = "/usr/sbin/postsuper"
SENDMAIL = "/usr/sbin/sendmail"
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "docs")


def available():
    """None when a private Postfix can run here, else the reason for a skip."""
    if not POSTFIX or not os.access(SENDMAIL, os.X_OK):
        return "postfix not installed (scripts/deps installs it)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    return None


# Only the services a pickup → cleanup → qmgr → lmtp delivery (and bounces) needs; none chrooted.
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

# Queue manager delays made short so a test sees a deferred message retried within seconds.
FAST_QUEUE = """\
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
delay_warning_time = 0
lmtp_connection_cache_time_limit = 5s
"""


def free_port():
    """A loopback port that was free a moment ago (Postfix's smtpd needs a number in master.cf)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def doc_block(name, tag):
    """The fenced block in docs/<name> that follows the marker `<!-- tag -->` (the tests use the
    documented configuration, so the docs cannot drift from what is tested)."""
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- " + re.escape(tag) + r" -->\s*```[a-z]*\n(.*?)```", text, re.S)
    if not m:
        raise AssertionError(f"docs/{name}: no block marked <!-- {tag} -->")
    return m.group(1)


class PostfixInstance:
    def __init__(self, base, main_cf="", master_cf_extra="", smtp_port=None):
        self.base = base
        self.conf = os.path.join(base, "etc")
        self.queue = os.path.join(base, "queue")
        data = os.path.join(base, "data")
        for d in (self.conf, self.queue, data):
            os.makedirs(d, exist_ok=True)
        shutil.chown(data, "postfix")
        self.maillog = os.path.join(base, "maillog")
        self.smtp_port = smtp_port
        master = MASTER_CF
        if smtp_port:
            master += f"127.0.0.1:{smtp_port} inet n - n - - smtpd\n"
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(master + master_cf_extra)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.test
mydomain = pf.test
myorigin = pf.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
default_transport = error:no other destinations here
alias_maps =
alias_database =
relayhost =
maillog_file = {self.maillog}
maillog_file_prefixes = {base}
{FAST_QUEUE}{main_cf}
""")
        self.started = False

    # -- control ---------------------------------------------------------------------------------
    def run(self, argv, input=None, check=True):
        r = subprocess.run(argv, input=input, capture_output=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {r.returncode}: {r.stdout!r} {r.stderr!r}\n"
                                 f"postfix log:\n{self.log()[-3000:]}")
        return r

    def postfix(self, command):
        return self.run([POSTFIX, "-c", self.conf, command])

    def start(self):
        self.postfix("start")
        self.started = True
        return self

    def stop(self):
        if not self.started:
            return
        r = self.run([POSTFIX, "-c", self.conf, "stop"], check=False)
        if r.returncode != 0:
            self.run([POSTFIX, "-c", self.conf, "abort"], check=False)
        self.started = False

    def set(self, **params):
        """postconf -e name=value ...; the caller reloads if Postfix is running."""
        self.run([POSTCONF, "-c", self.conf, "-e"] + [f"{k} = {v}" for k, v in params.items()])

    def flush(self):
        """postqueue -f: retry every deferred message now."""
        self.run([POSTQUEUE, "-c", self.conf, "-f"])

    # -- mail in ---------------------------------------------------------------------------------
    def sendmail(self, sender, recipients, message):
        r = self.run([SENDMAIL, "-C", self.conf, "-f", sender, "--"] + list(recipients), input=message)
        return r

    # -- observation -----------------------------------------------------------------------------
    def log(self):
        try:
            with open(self.maillog, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=20.0, count=1):
        """Poll Postfix's log until the regex matches `count` times; returns the matches or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = rx.findall(self.log())
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)

    def queue_ids(self):
        """Queue ids of every message still in the queue (postqueue -j)."""
        import json
        r = self.run([POSTQUEUE, "-c", self.conf, "-j"])
        return [json.loads(line)["queue_id"] for line in r.stdout.decode().splitlines() if line.strip()]

    def wait_queue_empty(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            ids = self.queue_ids()
            if not ids or time.monotonic() >= deadline:
                return ids
            time.sleep(0.1)
