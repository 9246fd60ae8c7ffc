"""50 concurrent smtplib.LMTP clients x 20 messages: every 250 is a file, nothing else is."""

import os
import re
import threading
import time
import unittest

from harness import DaemonTestCase, lmtp_client, message

CLIENTS = 50
MESSAGES = 20
USERS = 10           # shared mailboxes: several clients deliver into one Maildir at once
DEADLINE = 180.0     # seconds for the whole run


class Concurrency(DaemonTestCase):
    def test_50_clients_20_messages(self):
        d = self.start_daemon({"server": {"log_level": "info"}})
        results = {}      # (client, n) -> (code, text)
        errors = []
        lock = threading.Lock()
        start = threading.Barrier(CLIENTS, timeout=60)

        def client(i):
            try:
                unix = i % 2 == 1   # half over TCP, half over the UNIX socket
                start.wait()
                s = lmtp_client(d, unix=unix, timeout=60)
                try:
                    for n in range(MESSAGES):
                        user = f"user{(i + n) % USERS}"
                        content = message(f"c{i} m{n}", [f"X-Test: client {i} message {n}", "body"],
                                          extra_headers=[f"X-Test-Id: {i}-{n}"])
                        code, text = s.mail("bob@example.net")
                        if code == 250:
                            code, text = s.rcpt(f"{user}@example.test")
                        if code == 250:
                            code, text = s.data(content)
                        else:
                            s.rset()
                        with lock:
                            results[(i, n)] = (code, text, user)
                    s.quit()
                finally:
                    s.close()
            except Exception as e:  # reported below with the client number
                with lock:
                    errors.append(f"client {i}: {type(e).__name__}: {e}")

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.1, DEADLINE - (time.monotonic() - t0)))
        elapsed = time.monotonic() - t0
        alive = sum(t.is_alive() for t in threads)
        self.assertEqual(alive, 0, f"{alive} clients still running after {DEADLINE}s")
        self.assertEqual(errors, [])

        ok = {k: v for k, v in results.items() if v[0] == 250}
        bad = {k: v for k, v in results.items() if v[0] != 250}
        self.assertEqual(bad, {}, "every message should be accepted")
        self.assertEqual(len(ok), CLIENTS * MESSAGES)

        files = d.all_files("new")
        self.assertEqual(len(files), len(ok), "files in new/ must equal the number of 250 replies")
        self.assertEqual(len({os.path.basename(f) for f in files}), len(files), "unique names collide")
        # Each message is in the mailbox it was sent to, exactly once.
        seen = {}
        for f in files:
            with open(f, "rb") as fh:
                data = fh.read()
            m = re.search(rb"\r\nX-Test-Id: (\d+)-(\d+)\r\n", data)
            self.assertIsNotNone(m, f)
            key = (int(m.group(1)), int(m.group(2)))
            self.assertNotIn(key, seen, f"message {key} stored twice: {seen.get(key)} and {f}")
            seen[key] = f
            user = f.split(os.sep)[-4]
            self.assertEqual(user, ok[key][2], f"message {key} in the wrong mailbox")
            size = int(re.search(r",S=(\d+)", f).group(1))
            self.assertEqual(size, len(data), f)
        self.assertEqual(set(seen), set(ok))
        self.assertTmpEmpty(d)
        print(f"\n{len(ok)} messages from {CLIENTS} clients in {elapsed:.1f}s")


if __name__ == "__main__":
    unittest.main()
