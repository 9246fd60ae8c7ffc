"""Operations: /metrics and /healthz on the [metrics] listener (scraped before and after deliveries),
structured delivery log lines in text and JSON (every JSON line parsed by Python's json), the MTA's
queue id and our session id, --check-config with the new sections, --probe-health."""

import json
import os
import re
import signal
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from harness import DaemonTestCase, daemon_binary, dot_stuff, lmtp_client, message

METRICS_RE = re.compile(r"metrics on http://(?P<addr>[0-9.]+:\d+)/metrics")


def scrape(addr, path="/metrics"):
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


def samples(text):
    """{'name{labels}': value} of a Prometheus text exposition; checks its shape on the way."""
    out = {}
    typed = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram"), line
            assert name.startswith("mailslot_"), line
            assert kind != "counter" or name.endswith("_total"), f"counter without _total: {line}"
            typed.add(name)
            continue
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-z_]+)(\{[^}]*\})? (\S+)", line)
        assert m, f"not a sample line: {line!r}"
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, f"sample before its # TYPE: {line}"
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Metrics(DaemonTestCase):
    def start(self, **kw):
        d = self.start_daemon({"metrics": {"listen": "127.0.0.1:0"}}, **kw)
        m = METRICS_RE.search(d.log())
        self.assertIsNotNone(m, d.log())
        return d, m.group("addr")

    def test_scrape_changes_after_deliveries(self):
        d, addr = self.start()
        status, ctype, text = scrape(addr)
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        before = samples(text)
        for name in ("mailslot_connections_open", "mailslot_connections_total", 'mailslot_sessions{state="data"}',
                     'mailslot_deliveries_total{result="delivered"}', "mailslot_received_bytes_total",
                     "mailslot_delivery_duration_seconds_count", "mailslot_commit_duration_seconds_count",
                     "mailslot_disk_pool_queued", "mailslot_tls_handshakes_total", "mailslot_auth_failures_total",
                     "mailslot_reloads_total", "mailslot_up"):
            self.assertIn(name, before, text)
        self.assertEqual(before["mailslot_up"], 1)
        c = lmtp_client(d)
        content = message("counted", ["one", "two"])
        c.mail("bob@example.net")
        c.rcpt("alice@example.test")
        c.rcpt("bob@example.test")
        self.assertEqual(c.rcpt("nobody@elsewhere.test")[0], 550)
        self.assertEqual(c.data(content)[0], 250)
        self.assertEqual(c.getreply()[0], 250)
        open_now = samples(scrape(addr)[2])
        self.assertEqual(open_now["mailslot_connections_open"], 1)
        c.quit()
        after = samples(scrape(addr)[2])
        self.assertEqual(after['mailslot_deliveries_total{result="delivered"}'] -
                         before['mailslot_deliveries_total{result="delivered"}'], 2)
        self.assertEqual(after["mailslot_recipients_rejected_total"] - before["mailslot_recipients_rejected_total"], 1)
        self.assertEqual(after["mailslot_messages_total"] - before["mailslot_messages_total"], 1)
        self.assertEqual(after["mailslot_received_bytes_total"] - before["mailslot_received_bytes_total"], len(content))
        self.assertEqual(after["mailslot_delivery_duration_seconds_count"], 1)
        self.assertEqual(after['mailslot_delivery_duration_seconds_bucket{le="+Inf"}'], 1)
        self.assertGreater(after["mailslot_delivery_duration_seconds_sum"], 0)
        self.assertEqual(after["mailslot_commit_duration_seconds_count"], 1)
        # At least the message file and new/ were fsynced (more on a Maildir's first use).
        self.assertGreaterEqual(after["mailslot_fsync_duration_seconds_count"] -
                                before["mailslot_fsync_duration_seconds_count"], 2)
        self.assertGreaterEqual(after["mailslot_connections_total"], 1)
        self.assertEqual(after["mailslot_connections_open"], 0) if d.wait_log(r"disconnect", 5) else None
        # Unknown paths and methods.
        self.assertEqual(scrape(addr, "/nope")[0], 404)
        req = urllib.request.Request(f"http://{addr}/metrics", data=b"x", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=10)
        self.assertIn(cm.exception.code, (400, 405, 413))

    def test_healthz_ok_then_503_while_draining(self):
        d, addr = self.start()
        self.assertEqual(scrape(addr, "/healthz")[:1], (200,))
        # A session in DATA keeps the daemon draining after SIGTERM; the listeners are closed.
        c = d.connect(timeout=20)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<bob@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        d.send_signal(signal.SIGTERM)
        self.assertIsNotNone(d.wait_log(r"shutting down"), d.log())
        status, _, body = scrape(addr, "/healthz")
        self.assertEqual(status, 503, body)
        self.assertIn("shutting down", body)
        self.assertEqual(samples(scrape(addr)[2])["mailslot_up"], 0)
        c.send(dot_stuff(message("last", ["x"])))
        self.assertReply(c.reply(), 250, "2.0.0")
        self.assertEqual(d.wait(15), 0)

    def test_healthz_503_when_mail_root_is_unusable(self):
        d, addr = self.start()
        self.assertEqual(scrape(addr, "/healthz")[0], 200)
        # Replace the mail root by a plain file: not a directory mailslot can write into (this holds
        # for root too: access(X_OK) fails on a file without any x bit).
        os.rename(d.mail_root, d.mail_root + ".away")
        with open(d.mail_root, "w") as f:
            f.write("not a directory\n")
        os.chmod(d.mail_root, 0o644)
        status, _, body = scrape(addr, "/healthz")
        self.assertEqual(status, 503, body)
        self.assertIn("not writable", body)
        os.remove(d.mail_root)
        os.rename(d.mail_root + ".away", d.mail_root)
        self.assertEqual(scrape(addr, "/healthz")[0], 200)

    def test_probe_health(self):
        d, addr = self.start()
        p = subprocess.run([daemon_binary(), "--probe-health", f"http://{addr}/healthz"], capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"200", p.stdout)
        p = subprocess.run([daemon_binary(), "--probe-health", f"http://{addr}/missing"], capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        d.stop()
        p = subprocess.run([daemon_binary(), "--probe-health", f"http://{addr}/healthz"], capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 1, "a stopped daemon is not healthy")

    def test_check_config_prints_the_new_sections(self):
        d, addr = self.start()
        p = subprocess.run([daemon_binary(), "--config", d.config_path, "--check-config"], capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertIn('[metrics]\nlisten = "127.0.0.1:0"', out)
        self.assertIn('[log]\nformat = "text"', out)


POSTFIX_RECEIVED = (b"Received: from client.example.net (client.example.net [192.0.2.7])\r\n"
                    b"\tby mx.example.org (Postfix) with ESMTPS id 4Xb7Qm1Fz9z9rwT\r\n"
                    b"\tfor <alice@example.test>; Mon, 23 Nov 2026 14:02:11 +0000 (UTC)\r\n")


class DeliveryLog(DaemonTestCase):
    KEYS = ("session", "client", "from", "to", "orig_to", "mailbox", "size", "status", "code", "dsn", "delay",
            "queue_id")

    def send(self, d, sender, rcpts, content, rcpt_options=()):
        c = lmtp_client(d)
        c.mail(sender)
        for r in rcpts:
            c.rcpt(r, list(rcpt_options))
        replies = [c.data(content)] + [c.getreply() for _ in rcpts[1:]]
        c.quit()
        return replies

    def test_text_line_has_stable_keys_queue_id_and_session_of_received(self):
        d = self.start_daemon({"server": {"log_level": "info"}})
        content = POSTFIX_RECEIVED + message("queue id", ["body"])
        [(code, _)] = self.send(d, "bob@example.net", ["Alice@example.test"], content)
        self.assertEqual(code, 250)
        m = d.wait_log(r"session=(\S+) client=127\.0\.0\.1 from=<bob@example\.net> to=<alice@example\.test> "
                       r"orig_to=<Alice@example\.test> mailbox=\S+ size=(\d+) status=delivered code=250 dsn=2\.0\.0 "
                       r"delay=[0-9.]+ queue_id=4Xb7Qm1Fz9z9rwT file=\S+", 10)
        self.assertIsNotNone(m, d.log())
        self.assertEqual(int(m.group(2)), len(content))
        [f] = d.files("alice")
        with open(f, "rb") as fh:
            head = fh.read().split(b"\r\n\r\n")[0].decode()
        # Our Received (the first) carries the same id as the log line.
        self.assertRegex(head.split("Received:")[1], rf"id {re.escape(m.group(1))}\b")

    def start_json_daemon(self):
        d = self.start_daemon({"log": {"format": "json"}, "server": {"log_level": "debug"}})
        # The harness reads "listening on" from text lines; here they are JSON.
        for line in d.log().splitlines():
            msg = json.loads(line).get("msg", "")
            m = re.fullmatch(r"listening on ([0-9.]+):(\d+)", msg)
            if m:
                d.tcp.append((m.group(1), int(m.group(2))))
        return d

    def test_refused_rcpt_is_a_json_event_with_the_same_keys(self):
        d = self.start_json_daemon()
        c = d.connect()
        c.reply()
        c.cmd("LHLO client.test")
        self.assertEqual(c.cmd("MAIL FROM:<a@example.net>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@elsewhere.test>")[0], 550)
        c.cmd("QUIT")
        c.close()
        self.assertIsNotNone(d.wait_log(r'"status":"rejected"', 10), d.log())
        [e] = [o for o in map(json.loads, d.log().splitlines()) if o.get("status") == "rejected"]
        self.assertEqual((e["to"], e["code"], e["dsn"]), ("<x@elsewhere.test>", 550, "5.1.2"))
        self.assertEqual(e["from"], "<a@example.net>")
        self.assertIn("reason", e)

    def test_json_lines_are_valid_json_with_the_same_keys(self):
        d = self.start_json_daemon()
        # A quoted local part with a quote and a backslash, and 8-bit text: escaping must hold.
        sender = '"we\\"ird\\\\x y"@example.net'
        content = POSTFIX_RECEIVED + message("json \u00e9", ["body"])
        # orig_to is the forward-path as sent (ORCPT once DSN is offered: RFC 3461 §4.2).
        replies = self.send(d, sender, ["Alice@example.test", "bob@example.test"], content)
        self.assertEqual([r[0] for r in replies], [250, 250])
        self.assertIsNotNone(d.wait_log(r'"to":"<bob@example.test>"', 10), d.log())
        c = d.connect()
        c.reply()
        c.cmd("LHLO \x01bad\x7f")  # control bytes end up in log text
        c.cmd("QUIT")
        c.close()
        d.stop()
        lines = d.log().splitlines()
        self.assertGreater(len(lines), 5)
        events = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError as e:
                self.fail(f"not JSON: {line!r}: {e}")
            self.assertIn("level", obj)
            self.assertRegex(obj.get("time", ""), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            if obj.get("status") == "delivered":
                events.append(obj)
        self.assertEqual(len(events), 2, lines)
        for e in events:
            for k in self.KEYS:
                self.assertIn(k, e)
            self.assertEqual(e["from"], "<" + sender + ">")
            self.assertIn(e["orig_to"], ("<Alice@example.test>", "<bob@example.test>"))
            self.assertEqual(e["queue_id"], "4Xb7Qm1Fz9z9rwT")
            self.assertEqual(e["code"], 250)
            self.assertEqual(e["size"], len(content))
            self.assertIsInstance(e["delay"], float)
        self.assertEqual(events[0]["session"], events[1]["session"])

    def test_no_timestamps_under_systemd(self):
        from unittest import mock
        with mock.patch.dict(os.environ, {"JOURNAL_STREAM": "8:12345"}):
            d = self.start_daemon({"log": {"format": "json"}})
        for line in d.log().splitlines():
            self.assertNotIn("time", json.loads(line))


if __name__ == "__main__":
    unittest.main()
