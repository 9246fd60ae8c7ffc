"""Slow disk: with every write of the store slowed down (MAILSLOT_TEST_FS_FAULTS, a test-only
switch: this kernel offers no device-mapper delay target), LHLO and NOOP on another connection are
answered in milliseconds while deliveries wait, the disk queue is bounded (server.disk_queue) and a
new MAIL gets 451 4.3.2 while it is full, every delivery under way still gets its 250, and MAIL is
accepted again once the queue drains."""

import os
import threading
import time
import unittest

from harness import CRLF, DaemonTestCase, dot_stuff, message

WRITE_DELAY_MS = 400   # each delivery of a small message makes two writes: ~0.8 s of disk per message
SENDERS = 6            # with 2 disk threads: ~2.4 s of queued disk work
QUEUE = 3              # server.disk_queue: full while more than 3 jobs are queued or running
RESPONSIVE = 0.25      # seconds: the bound on a NOOP/LHLO round trip while the disk is busy (ms in practice)
DEADLINE = 30.0


class SlowDisk(DaemonTestCase):
    def setUp(self):
        super().setUp()
        old = os.environ.get("MAILSLOT_TEST_FS_FAULTS")
        os.environ["MAILSLOT_TEST_FS_FAULTS"] = f"write:delay={WRITE_DELAY_MS}"
        self.addCleanup(lambda: os.environ.pop("MAILSLOT_TEST_FS_FAULTS") if old is None
                        else os.environ.__setitem__("MAILSLOT_TEST_FS_FAULTS", old))

    def test_loop_stays_responsive_and_queue_is_bounded(self):
        d = self.start_daemon({"server": {"disk_threads": 2, "disk_queue": QUEUE, "log_level": "info"}})
        self.assertIsNotNone(d.wait_log(r"injecting file-system faults", 5), d.log())

        results = {}
        errors = []
        all_in_data = threading.Barrier(SENDERS, timeout=DEADLINE)
        lock = threading.Lock()

        def sender(i):
            try:
                with d.connect(timeout=DEADLINE) as c:
                    c.reply()
                    c.cmd("LHLO sender.test")
                    self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
                    self.assertEqual(c.cmd(f"RCPT TO:<slow{i % 2}@example.test>")[0], 250)
                    self.assertEqual(c.cmd("DATA")[0], 354)
                    # Every transaction is under way before any reaches the disk (a small message
                    # costs no disk work before its final "."): none of them may be refused later.
                    all_in_data.wait()
                    c.send(dot_stuff(message(f"slow {i}", [f"message {i}"])))
                    code, text = c.reply()
                    with lock:
                        results[i] = (code, text)
                    c.cmd("QUIT")
            except Exception as e:  # reported below
                with lock:
                    errors.append(f"sender {i}: {type(e).__name__}: {e}")

        probe = d.connect(timeout=10)
        self.addCleanup(probe.close)
        probe.reply()
        self.assertEqual(probe.cmd("LHLO probe.test")[0], 250)

        threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(SENDERS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()

        # While the deliveries wait for the disk: round trips on the probe, and MAIL until refused.
        worst = 0.0
        refused = None
        rounds = 0
        while time.monotonic() - t0 < DEADLINE and any(t.is_alive() for t in threads):
            rounds += 1
            for line in ("NOOP", "LHLO probe.test"):
                start = time.monotonic()
                code, _ = probe.cmd(line)
                worst = max(worst, time.monotonic() - start)
                self.assertEqual(code, 250, line)
            code, text = probe.cmd("MAIL FROM:<probe@example.net>")
            if code == 250:
                probe.cmd("RSET")
            else:
                refused = (code, text)
                self.assertEqual(code, 451, text)
                self.assertTrue(text.startswith(b"4.3.2 "), text)
            time.sleep(0.02)  # pacing of the probe, not synchronisation
        for t in threads:
            t.join(max(0.1, DEADLINE - (time.monotonic() - t0)))
        elapsed = time.monotonic() - t0

        self.assertEqual(errors, [])
        self.assertEqual(sorted(results), list(range(SENDERS)), f"replies after {elapsed:.1f}s: {results}")
        for i, (code, text) in results.items():
            self.assertEqual(code, 250, f"sender {i}: {text!r}")  # a transaction under way always finishes
        self.assertGreater(rounds, 5)
        self.assertLess(worst, RESPONSIVE, f"slowest NOOP/LHLO round trip {worst * 1000:.0f} ms")
        self.assertIsNotNone(refused, "MAIL was never refused while the disk queue was full")
        self.assertIsNotNone(d.wait_log(r"disk queue full \(\d+ jobs", 1), d.log())
        # The queue drained: new transactions are admitted again.
        self.assertEqual(probe.cmd("MAIL FROM:<probe@example.net>")[0], 250)
        probe.cmd("QUIT")
        self.assertEqual(len(d.files("slow0")) + len(d.files("slow1")), SENDERS)
        self.assertTmpEmpty(d)
        print(f"\n{SENDERS} slow deliveries in {elapsed:.1f}s, {rounds} probe rounds, "
              f"worst round trip {worst * 1000:.1f} ms")


if __name__ == "__main__":
    unittest.main()
