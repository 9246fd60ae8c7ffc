"""Crash under load: concurrent clients deliver while mailslotd is killed with SIGKILL at random
moments, several rounds over one mail root, restarting each time. Checked against the clients' own
records (docs/reliability.md):
  - every recipient that got 250 has exactly one complete, byte-exact copy in new/;
  - a recipient that got 4xx/5xx has none;
  - a recipient that got no reply (the crash) has none, or one complete copy: the crash fell
    between the fsync of new/ and the reply (the at-least-once window: the MTA delivers again);
  - no file anywhere below the mail root but complete deliveries in new/ and strays in tmp/;
and, after the last restart, the strays in tmp/ (aged past 36 hours) are swept when each Maildir is
first touched, while a fresh file there is left alone."""

import os
import random
import re
import socket
import threading
import time
import unittest

from harness import DaemonTestCase, dot_stuff, message

ROUNDS = 4
CLIENTS = 6
USERS = [f"user{i}" for i in range(6)]
RUN_MIN, RUN_MAX = 0.6, 1.6   # seconds of load before each SIGKILL
LARGE_EVERY = 5               # every 5th message is larger than 64 KiB: spooled while it arrives
ID_RE = re.compile(rb"\r\nX-Test-Id: (\S+)\r\n")
HOURS_37 = 37 * 3600


def read(path):
    with open(path, "rb") as f:
        return f.read()


class CrashUnderLoad(DaemonTestCase):
    def test_kill_9_rounds(self):
        seed = int(os.environ.get("MAILSLOT_CRASH_SEED", time.time_ns() % 1_000_000))
        rng = random.Random(seed)
        print(f"\nseed {seed} (MAILSLOT_CRASH_SEED to repeat)")
        root = os.path.join(self.tmp, "mailroot")
        overrides = {"mail": {"root": root}, "server": {"log_level": "info"}}

        sent = {}       # id -> content bytes
        outcome = {}    # (id, user) -> 250 / 4xx / 5xx code, or None: no reply
        lock = threading.Lock()

        for rnd in range(ROUNDS):
            d = self.start_daemon(overrides, name=f"round{rnd}")
            stop = threading.Event()

            def client(c_no, rnd=rnd, d=d, stop=stop):
                crng = random.Random(seed * 1000 + rnd * 100 + c_no)
                n = 0
                try:
                    with d.connect(timeout=10) as c:
                        c.reply()
                        c.cmd("LHLO client.test")
                        while not stop.is_set():
                            n += 1
                            mid = f"r{rnd}-c{c_no}-m{n}"
                            lines = [f"message {mid}"]
                            if n % LARGE_EVERY == 0:
                                lines += [f"{i:05d} " + "y" * 100 for i in range(800)]  # ~85 KB
                            content = message(mid, lines, extra_headers=[f"X-Test-Id: {mid}"])
                            users = crng.sample(USERS, crng.randint(1, 3))
                            with lock:
                                sent[mid] = content
                            if c.cmd("MAIL FROM:<bob@example.net>")[0] != 250:
                                c.cmd("RSET")
                                continue
                            accepted = [u for u in users if c.cmd(f"RCPT TO:<{u}@example.test>")[0] == 250]
                            if not accepted or c.cmd("DATA")[0] != 354:
                                c.cmd("RSET")
                                continue
                            with lock:
                                for u in accepted:
                                    outcome[(mid, u)] = None  # no reply yet
                            c.send(dot_stuff(content))
                            for u in accepted:
                                code, _ = c.reply()
                                with lock:
                                    outcome[(mid, u)] = code
                except (OSError, EOFError, socket.timeout, AssertionError):
                    pass  # the daemon was killed under us: what was unanswered stays None

            threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(RUN_MIN, RUN_MAX))  # the random moment of the crash, not synchronisation
            d.kill()  # SIGKILL
            stop.set()
            for t in threads:
                t.join(20)
                self.assertFalse(t.is_alive(), "a client did not notice the crash")

        # --- what is on disk, against what the clients were told ---
        copies = {}     # (id, user) -> [paths]
        for dirpath, dirnames, filenames in os.walk(root):
            for name in filenames:
                path = os.path.join(dirpath, name)
                kind = os.path.basename(dirpath)
                self.assertIn(kind, ("new", "tmp"), f"a file outside new/ and tmp/: {path}")
                if kind == "tmp":
                    continue
                data = read(path)
                m = ID_RE.search(data)
                self.assertIsNotNone(m, f"{path}: not a message of this test (partial?)")
                mid = m.group(1).decode()
                user = path.split(os.sep)[-4]
                self.assertIn(mid, sent, path)
                # Complete and byte-exact: trace headers, then exactly the content sent.
                self.assertTrue(data.endswith(sent[mid]), f"{path}: not the complete message")
                self.assertTrue(name.endswith(f",S={len(data)},W={len(data)}"), f"{path}: S= is not the size")
                copies.setdefault((mid, user), []).append(path)

        counts = {"250": 0, "none, no copy": 0, "none, copy (at-least-once window)": 0, "4xx/5xx": 0}
        for key, code in outcome.items():
            got = copies.get(key, [])
            if code == 250:
                counts["250"] += 1
                self.assertEqual(len(got), 1, f"{key}: 250 but {len(got)} copies")
            elif code is None:
                self.assertLessEqual(len(got), 1, f"{key}: no reply and {len(got)} copies")
                counts["none, copy (at-least-once window)" if got else "none, no copy"] += 1
            else:
                counts["4xx/5xx"] += 1
                self.assertEqual(got, [], f"{key}: {code} but delivered")
        for key in copies:
            self.assertIn(key, outcome, f"{key}: a copy for a recipient never accepted")
        self.assertGreater(counts["250"], 50, counts)
        print(f"{ROUNDS} rounds, {len(sent)} messages, recipients: {counts}")

        # --- the 36-hour sweep after the restart ---
        strays = []
        for u in USERS:
            tmp = os.path.join(root, "example.test", u, "Maildir", "tmp")
            os.makedirs(tmp, exist_ok=True)
            planted = os.path.join(tmp, f"planted-{u}")
            with open(planted, "wb") as f:
                f.write(b"half a message")
            for name in os.listdir(tmp):  # crash leftovers and the planted one, as if 37 hours old
                p = os.path.join(tmp, name)
                old = time.time() - HOURS_37
                os.utime(p, (old, old))
                strays.append(p)
        fresh = os.path.join(root, "example.test", USERS[0], "Maildir", "tmp", "fresh-stray")
        with open(fresh, "wb") as f:
            f.write(b"another writer at work")

        d = self.start_daemon(overrides, name="after")
        with d.connect() as c:
            c.reply()
            c.cmd("LHLO client.test")
            for u in USERS:  # the first touch of each Maildir by the new process
                self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
                self.assertEqual(c.cmd(f"RCPT TO:<{u}@example.test>")[0], 250)
                self.assertEqual(c.cmd("DATA")[0], 354)
                c.send(dot_stuff(message(f"after {u}", ["swept?"])))
                self.assertEqual(c.reply()[0], 250)
            c.cmd("QUIT")
        left = [p for p in strays if os.path.exists(p)]
        self.assertEqual(left, [], "strays older than 36 hours not swept")
        self.assertTrue(os.path.exists(fresh), "a fresh file in tmp/ was removed")
        print(f"swept {len(strays)} strays ({len(strays) - len(USERS)} left by the crashes)")


if __name__ == "__main__":
    unittest.main()
