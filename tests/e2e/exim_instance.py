"""A private Exim for e2e tests: Debian's exim4-daemon-light unpacked by scripts/exim-unpacked (it
conflicts with the postfix package, so it is not installed), run with its own configuration (-C),
spool and log in a temp dir, delivering synchronously (-odi) so its log is complete when it exits.

The Debian binary looks up its built-in user and group "Debian-exim" before reading any
configuration; a machine with postfix has neither. Each run therefore happens in a private mount
namespace (unshare -m) where /etc/passwd and /etc/group are copies with Debian-exim added (as
nobody/nogroup): the machine's files are never changed.
"""

import os
import re
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
UNPACK = os.path.join(os.path.dirname(os.path.dirname(HERE)), "scripts", "exim-unpacked")
_root = None
_why = None
OVERLAYS = ""


def available():
    """None when Exim can run here, else the reason for a skip."""
    global _root, _why
    if _root or _why:
        return _why
    if os.geteuid() != 0:
        _why = "a private Exim needs root (mount namespace, spool)"
        return _why
    r = subprocess.run([UNPACK], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        _why = f"scripts/exim-unpacked failed (no Debian package download?): {r.stderr[-300:]}"
        return _why
    _root = r.stdout.strip()
    global OVERLAYS
    OVERLAYS = " && ".join(f"mount -t overlay overlay -o lowerdir={_root}{d}:{d} {d}"
                           for d in ("/usr/sbin", "/usr/lib/x86_64-linux-gnu"))
    probe = subprocess.run(["unshare", "-m", "sh", "-c", OVERLAYS + " && test -x /usr/sbin/exim4"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        _why = (f"unshare -m / overlay mounts not permitted here ({probe.stderr.strip()[-200:]}): the unpacked "
                "Exim cannot be given its Debian-exim user and its /usr/sbin/exim4 path")
        return _why
    return None


def documented_config(daemon, config_path, mailslotd):
    """docs/exim.md's routers and transports, pointed at a test daemon: its UNIX socket and TCP port,
    the test domain virt.test, this build's mailslotd and config for the --stdio transport, run as
    nobody (the docs say vmail)."""
    from postfix_instance import doc_block
    body = doc_block("exim.md", "exim routers") + doc_block("exim.md", "exim transports")
    body = body.replace("example.net", "virt.test").replace("/run/mailslot/lmtp", daemon.unix_path)
    body = body.replace("port = 24", f"port = {daemon.port}")
    body = body.replace("/usr/sbin/mailslotd", mailslotd)
    return body.replace("/etc/mailslot/mailslot.toml", config_path).replace("user = vmail", "user = nobody")


class EximInstance:
    def __init__(self, base, config_body, macros=None):
        self.base = base
        self.spool = os.path.join(base, "spool")
        logdir = os.path.join(base, "log")
        # -C with a file outside Debian's TRUSTED_CONFIG_LIST: Exim drops root for its exim user
        # (Debian-exim = 65534 here), which then owns the spool and the log.
        for d in (base, self.spool, logdir):
            os.makedirs(d, exist_ok=True)
            os.chown(d, 65534, 65534)
        self.mainlog = os.path.join(logdir, "mainlog")
        # passwd/group copies with Debian-exim = nobody/nogroup, bound over /etc inside the namespace.
        self.passwd = os.path.join(base, "passwd")
        self.group = os.path.join(base, "group")
        with open("/etc/passwd") as f, open(self.passwd, "w") as o:
            o.write(f.read() + "Debian-exim:x:65534:65534:Exim:/nonexistent:/usr/sbin/nologin\n")
        with open("/etc/group") as f, open(self.group, "w") as o:
            o.write(f.read() + "Debian-exim:x:65534:\n")
        self.conf = os.path.join(base, "exim.conf")
        head = "".join(f"{k} = {v}\n" for k, v in (macros or {}).items())
        with open(self.conf, "w") as f:
            f.write(f"""{head}primary_hostname = exim.test
qualify_domain = exim.test
spool_directory = {self.spool}
log_file_path = {logdir}/%slog
never_users =
keep_environment =
# retries come from -qff in the test, not from timers
{config_body}
begin retry
*  *  F,1h,1m
""")

    def exim(self, args, input=None):
        # Exim re-execs itself as /usr/sbin/exim4 with a cleared environment, so inside the
        # namespace the unpacked usr/sbin and its libraries (libidn12) are overlaid read-only on
        # the machine's directories.
        script = (f'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group && shift 2 && '
                  f'{OVERLAYS} && exec /usr/sbin/exim4 -C {self.conf} "$@"')
        return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", self.passwd, self.group] + list(args),
                              input=input, capture_output=True, timeout=60)

    def sendmail(self, sender, recipients, message):
        """Accept the message from stdin and deliver it at once (-odi), like sendmail -oi."""
        return self.exim(["-odi", "-oi", "-f", sender, "--"] + list(recipients), message)

    def queue_run(self):
        """-qff: every message in the queue, frozen or not, tried now (in the foreground)."""
        return self.exim(["-qff"])

    def log(self):
        try:
            with open(self.mainlog, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log())
            if m or time.monotonic() >= deadline:
                return m
            time.sleep(0.05)
