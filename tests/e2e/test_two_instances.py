"""Two mailslotd processes (different ports, one mail root, the same hostname: the worst case of a
shared filesystem) deliver 5,000 messages each into the same ten mailboxes at once, driven by
mailslot-bench: 10,000 distinct, complete files, every name distinct and in the documented format
(docs/maildir.md), each process's names carrying its own pid and its own random R."""

import collections
import os
import re
import subprocess
import threading
import unittest

from harness import MAILDIR_NAME_RE, DaemonTestCase

PER_INSTANCE = 5000
MAILBOXES = 10
SESSIONS = 4
NAME_RE = re.compile(r"^\d+\.M\d+P(?P<pid>\d+)Q\d+R(?P<random>[0-9a-f]{16})\.mx\.test,S=(?P<size>\d+),W=\d+$")


def bench_binary():
    d = os.environ.get("MAILSLOT_BENCH_DIR")
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in ([os.path.join(d, "mailslot-bench")] if d else []) + [
            os.path.join(here, "..", "..", "build", "ci", "bench", "mailslot-bench")]:
        if os.access(cand, os.X_OK):
            return cand
    raise unittest.SkipTest("no mailslot-bench: set MAILSLOT_BENCH_DIR")


class TwoInstances(DaemonTestCase):
    def test_two_daemons_one_mail_root(self):
        bench = bench_binary()
        root = os.path.join(self.tmp, "shared-root")
        # fsync off: what is under test is naming and loss between two writers, not durability
        # (test_crash covers that), and 10,000 fsynced deliveries would take most of a minute
        # under ASan on a busy 2-core machine.
        overrides = {"mail": {"root": root, "fsync": False}, "server": {"log_level": "info", "hostname": "mx.test"}}
        a = self.start_daemon(overrides, name="a")
        b = self.start_daemon(overrides, name="b")
        self.assertNotEqual(a.port, b.port)

        reports = {}

        def drive(name, d):
            r = subprocess.run([bench, "--connect", f"{d.host}:{d.port}", "--sessions", str(SESSIONS),
                                "--messages", str(PER_INSTANCE), "--size", "1K", "--mailboxes", str(MAILBOXES),
                                "--no-warmup", "--timeout", "60", "--duration-limit", "120"],
                               capture_output=True, text=True, timeout=180)
            reports[name] = r

        threads = [threading.Thread(target=drive, args=(n, d)) for n, d in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(200)
        for name, r in reports.items():
            self.assertEqual(r.returncode, 0, f"{name}: {r.stdout}\n{r.stderr}")
            m = re.search(r"messages=(\d+) deliveries=(\d+) errors=(\d+) elapsed=([\d.]+)s", r.stdout)
            self.assertIsNotNone(m, r.stdout)
            self.assertEqual((int(m.group(1)), int(m.group(2)), int(m.group(3))), (PER_INSTANCE, PER_INSTANCE, 0),
                             f"{name}: {r.stdout}")
        self.assertEqual(set(reports), {"a", "b"})

        names = []
        by_pid = collections.Counter()
        randoms = collections.defaultdict(set)
        for user_dir in sorted(os.listdir(os.path.join(root, "example.test"))):
            md = os.path.join(root, "example.test", user_dir, "Maildir")
            self.assertEqual(os.listdir(os.path.join(md, "tmp")), [], f"{user_dir}: tmp/ not empty")
            for n in os.listdir(os.path.join(md, "new")):
                self.assertRegex(n, MAILDIR_NAME_RE)
                m = NAME_RE.match(n)
                self.assertIsNotNone(m, n)
                self.assertEqual(int(m.group("size")), os.path.getsize(os.path.join(md, "new", n)), n)
                names.append(n)
                by_pid[int(m.group("pid"))] += 1
                randoms[int(m.group("pid"))].add(m.group("random"))
        self.assertEqual(len(names), 2 * PER_INSTANCE, "lost or extra files")
        self.assertEqual(len(set(names)), 2 * PER_INSTANCE, "a name was used twice")
        self.assertEqual(dict(by_pid), {a.proc.pid: PER_INSTANCE, b.proc.pid: PER_INSTANCE})
        self.assertEqual([len(r) for r in randoms.values()], [1, 1], "R is fixed per process")
        self.assertNotEqual(randoms[a.proc.pid], randoms[b.proc.pid])
        print("\n" + " | ".join(f"{n}: " + re.search(r"msgs_per_s=\S+", r.stdout).group(0)
                                for n, r in sorted(reports.items())))


if __name__ == "__main__":
    unittest.main()
