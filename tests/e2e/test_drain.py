"""SIGTERM with messages in DATA: each one ends either 250-and-on-disk or 4xx-and-not-delivered —
never a message on disk without its 250 (the MTA would send it again) and never a 250 without
the message on disk (lost). The sessions finish their DATA at staggered moments around the end of
limits.shutdown_timeout, so some commit inside the bound and some are cut off."""

import os
import re
import signal
import threading
import time
import unittest

from harness import DaemonTestCase, dot_stuff, message

SESSIONS = 16


class DrainRace(DaemonTestCase):
    def run_race(self, shutdown_timeout, spread):
        d = self.start_daemon({"limits": {"shutdown_timeout": shutdown_timeout}, "server": {"log_level": "info"}})
        clients, wires = [], []
        for i in range(SESSIONS):
            c = d.connect(timeout=20)
            self.addCleanup(c.close)
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.cmd("LHLO client.test")[0], 250)
            self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
            self.assertEqual(c.cmd(f"RCPT TO:<user{i}@example.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            # Some messages are held in memory until the dot (< 64 KiB), some spool to tmp/ first.
            lines = ["x" * 70] * (10 if i % 2 else 2000)
            wire = dot_stuff(message(f"drain race {i}", lines))
            c.send(wire[: len(wire) // 2])
            clients.append(c)
            wires.append(wire)
        d.send_signal(signal.SIGTERM)
        self.assertIsNotNone(d.wait_log(r"shutting down"), d.log())
        results = [None] * SESSIONS
        t0 = time.monotonic()

        def finish(i):
            # Session i sends the rest of its message spread over [0, spread] after SIGTERM.
            delay = spread * i / (SESSIONS - 1)
            time.sleep(max(0.0, t0 + delay - time.monotonic()))  # a schedule, not synchronisation
            c = clients[i]
            try:
                c.send(wires[i][len(wires[i]) // 2:])
                results[i] = c.reply()[0]
            except (EOFError, ConnectionResetError, BrokenPipeError, OSError):
                results[i] = "closed"

        threads = [threading.Thread(target=finish, args=(i,)) for i in range(SESSIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        rc = d.wait(20)
        log = d.log()
        delivered = 0
        for i, r in enumerate(results):
            files = d.files(f"user{i}")
            if r == 250:
                delivered += 1
                self.assertEqual(len(files), 1, f"session {i}: 250 but {len(files)} files\n{log[-3000:]}")
                with open(files[0], "rb") as f:
                    self.assertTrue(f.read().endswith(message(f"drain race {i}", ["x" * 70] * (10 if i % 2 else 2000))))
            else:
                self.assertIn(r, (421, 451, "closed"), f"session {i}: unexpected reply {r}")
                self.assertEqual(files, [], f"session {i}: got {r} but the message is in new/\n{log[-3000:]}")
        self.assertEqual(d.all_files("tmp"), [], "spool files left in tmp/")
        return results, delivered, rc

    def test_all_finish_within_the_bound(self):
        results, delivered, rc = self.run_race("20s", 0.5)
        self.assertEqual(delivered, SESSIONS, results)
        self.assertEqual(rc, 0)

    def test_cut_off_at_the_bound(self):
        # Bound 1 s, dots spread over 2 s: the first ones commit, the last ones are cut off with 421.
        results, delivered, _ = self.run_race("1s", 2.0)
        print(f"\nresults around the bound: {results}")
        self.assertGreater(delivered, 0, results)
        self.assertLess(delivered, SESSIONS, results)
        self.assertIn(421, results, "a session cut off while reading DATA is told 421 before the close")


if __name__ == "__main__":
    unittest.main()
