"""Success DSNs (issue #11, RFC 3461 §6.2.1; docs/configuration.md "[dsn]").

Without [dsn] DSN is not announced (and start-up says why). With a submission path it is, and every
recipient delivered with NOTIFY=SUCCESS gets one RFC 3464 "delivered" report, written to the spool
and submitted by a background thread: never for MAIL FROM:<>, never without NOTIFY=SUCCESS. A
submitter that fails (exit 75) leaves the report in the spool; it is retried with back-off, also
after a restart. With a private Postfix in front (docs/postfix.md; virtual alias alias@virt.test ->
bob@virt.test), the address the sender used survives: bob's copy has X-Original-To:
alias@virt.test, and the sender's mailbox, served by the same mailslot through the same Postfix,
gets exactly one notice: mailslot's "delivered" report naming the ORCPT, or, when Postfix itself
expanded the alias, Postfix's "expanded" notice (Postfix then passes NOTIFY without SUCCESS).
mailslot submits through Postfix's sendmail (PostfixAliasDsn) or its smtpd (PostfixDsnOverSmtp)."""

import os
import pwd
import re
import smtplib
import socketserver
import stat
import threading
import unittest

from harness import DaemonTestCase, default_config, merge_config, render_config, wait_until
import postfix_instance as pf

SUBMITTER = """#!/bin/sh
# A sendmail stand-in: fails with EX_TEMPFAIL until {flag} exists, then keeps what it was given.
if [ ! -e '{flag}' ]; then echo "queue unavailable, try later" >&2; exit 75; fi
printf '%s\\n' "$@" > '{out}.args'
cat > '{out}'
"""


class DsnWithoutSubmitter(DaemonTestCase):
    def test_dsn_not_advertised_without_a_submission_path(self):
        d = self.start_daemon()
        self.assertTrue(d.wait_log(r"DSN not advertised: no \[dsn\] sendmail or smtp"), d.log())
        with smtplib.LMTP(d.host, d.port, timeout=10) as c:
            c.ehlo("client.test")
            self.assertFalse(c.has_extn("dsn"), c.esmtp_features)
            code, _ = c.docmd("MAIL FROM:<a@example.test> RET=HDRS")
            self.assertEqual(code, 555)


class DsnWithSubmitter(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.flag = os.path.join(self.tmp, "mta-up")
        self.out = os.path.join(self.tmp, "submitted")
        self.script = os.path.join(self.tmp, "fake-sendmail")
        with open(self.script, "w") as f:
            f.write(SUBMITTER.format(flag=self.flag, out=self.out))
        os.chmod(self.script, stat.S_IRWXU)

    def daemon(self):
        cfg = merge_config(default_config(), {"mail": {"x_original_to": True}})
        text = render_config(cfg) + (
            f'\n[dsn]\nsendmail = ["{self.script}", "-i", "-f", "<>"]\nretry = "200ms"\nretry_max = "400ms"\n')
        return self.start_daemon(config_text=text)

    def send(self, d, sender, rcpt_options, subject):
        with smtplib.LMTP(d.host, d.port, timeout=10) as c:
            c.ehlo("client.test")
            self.assertTrue(c.has_extn("dsn"), c.esmtp_features)
            mail_opts = ["RET=HDRS", "ENVID=env+2B1"] if sender else []
            self.assertEqual(c.mail(sender, mail_opts)[0], 250)
            self.assertEqual(c.rcpt("bob@example.test", rcpt_options)[0], 250)
            code, text = c.data(f"Subject: {subject}\r\nMessage-ID: <{subject}@client.test>\r\n\r\nhello\r\n".encode())
            self.assertEqual(code, 250, text)

    def test_failed_submission_stays_in_the_spool_and_is_retried_also_after_a_restart(self):
        d = self.daemon()
        self.assertTrue(d.wait_log(r"DSN advertised"), d.log())
        self.send(d, "sender@example.org", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;alias@example.test"], "first")
        spool = os.path.join(d.mail_root, ".mailslot-dsn")
        self.assertTrue(d.wait_log(r"dsn_report=queued to=<sender@example\.org> recipients=<bob@example\.test>"), d.log())
        # The stand-in exits 75: deferred with its reason, retried with back-off, the report kept.
        self.assertTrue(d.wait_log(r"dsn_report=deferred .*attempts=2 .*reason=\".*exited 75: queue unavailable"), d.log())
        reports = [n for n in os.listdir(spool) if n.endswith(".dsn")]
        self.assertEqual(len(reports), 1, os.listdir(spool))
        # bob's copy names the original recipient (ORCPT) in X-Original-To.
        with open(d.files("bob")[0], "rb") as f:
            self.assertIn(b"X-Original-To: alias@example.test\r\n", f.read())

        # A restart loses nothing: the new daemon finds the report and sends it once the MTA is up.
        d.stop()
        with open(self.flag, "w"):
            pass
        with open(d.config_path) as f:
            config_text = f.read()
        d2 = self.start_daemon(config_text=config_text, name="d")
        self.assertTrue(d2.wait_log(r"dsn_report=sent to=<sender@example\.org> file=\S+ via=sendmail"), d2.log())
        self.assertEqual([n for n in os.listdir(spool) if not n.startswith(".")], [])
        with open(self.out + ".args") as f:
            self.assertEqual(f.read().split("\n")[-3:-1], ["--", "sender@example.org"])
        with open(self.out, "rb") as f:
            report = f.read().decode()
        self.assertIn("To: <sender@example.org>\r\n", report)
        self.assertIn("Auto-Submitted: auto-replied\r\n", report)
        self.assertRegex(report, r"Content-Type: multipart/report; report-type=delivery-status;")
        self.assertIn("Reporting-MTA: dns; mx.test\r\nOriginal-Envelope-Id: env+1\r\n", report)
        self.assertIn("Original-Recipient: rfc822;alias@example.test\r\nFinal-Recipient: rfc822;bob@example.test\r\n"
                      "Action: delivered\r\nStatus: 2.0.0\r\n", report)
        # RET=HDRS: the stored copy's headers, not its body.
        self.assertIn("Content-Type: text/rfc822-headers\r\n", report)
        self.assertIn("Subject: first\r\n", report)
        self.assertNotIn("hello", report)

    def test_no_report_for_the_null_sender_or_without_notify_success(self):
        with open(self.flag, "w"):
            pass
        d = self.daemon()
        self.send(d, "", ["NOTIFY=SUCCESS"], "bounce")                      # MAIL FROM:<>
        self.send(d, "sender@example.org", ["NOTIFY=FAILURE,DELAY"], "failure")
        self.send(d, "sender@example.org", [], "plain")
        self.send(d, "sender@example.org", ["NOTIFY=SUCCESS"], "marker")  # the only one reported
        self.assertTrue(d.wait_log(r"dsn_report=sent "), d.log())
        self.assertEqual(len(re.findall(r"dsn_report=queued", d.log())), 1, d.log())
        with open(self.out, "rb") as f:
            report = f.read()
        self.assertIn(b"Subject: marker", report)
        self.assertEqual(len(d.files("bob")), 4)


class SmtpSink(socketserver.ThreadingTCPServer):
    """A loopback SMTP server that keeps what it is sent: (MAIL FROM line, RCPT line, data)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.received = []
        self.got = threading.Event()
        super().__init__(("127.0.0.1", 0), SmtpSinkHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class SmtpSinkHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 sink.test ESMTP\r\n")
        mail = rcpt = None
        for _ in range(100):  # bounded: one report per connection
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-sink.test\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                mail = line.decode().strip()
                self.wfile.write(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                rcpt = line.decode().strip()
                self.wfile.write(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                data = b""
                while not data.endswith(b"\r\n.\r\n"):
                    chunk = self.rfile.readline()
                    if not chunk:
                        return
                    data += chunk
                self.server.received.append((mail, rcpt, data))
                self.wfile.write(b"250 2.0.0 queued\r\n")
                self.server.got.set()
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 5.5.1 no\r\n")


@unittest.skipUnless(os.geteuid() == 0, "needs root")
class DsnAsUserOverSmtp(DaemonTestCase):
    def test_runs_as_server_user_submits_over_smtp_with_dot_stuffing(self):
        # Started as root with server.user = nobody: the spool is created and written as nobody, the
        # report leaves over SMTP with MAIL FROM:<>, and a body line starting with "." survives.
        sink = SmtpSink()
        self.addCleanup(sink.server_close)
        self.addCleanup(sink.shutdown)
        nobody = pwd.getpwnam("nobody")
        workdir = os.path.join(self.tmp, "d")
        os.makedirs(os.path.join(workdir, "mail"))
        os.chown(os.path.join(workdir, "mail"), nobody.pw_uid, nobody.pw_gid)
        for p in (self.tmp, workdir):
            os.chmod(p, 0o755)
        cfg = merge_config(default_config(), {"server": {"listen": ["127.0.0.1:0"], "user": "nobody",
                                                         "allow_root": False}})
        text = render_config(cfg) + f'\n[dsn]\nsmtp = "127.0.0.1:{sink.server_address[1]}"\n'
        d = self.start_daemon(config_text=text)
        self.assertTrue(d.wait_log(r"DSN advertised: success reports go through smtp"), d.log())
        with smtplib.LMTP(d.host, d.port, timeout=10) as c:
            c.ehlo("client.test")
            self.assertEqual(c.mail("sender@example.org", ["RET=FULL"])[0], 250)
            self.assertEqual(c.rcpt("bob@example.test", ["NOTIFY=SUCCESS"])[0], 250)
            code, _ = c.data(b"Subject: dots\r\n\r\n.leading dot\r\n..two\r\nend\r\n")
            self.assertEqual(code, 250)
        self.assertTrue(sink.got.wait(20), d.log())
        self.assertTrue(d.wait_log(r"dsn_report=sent to=<sender@example\.org> .*via=smtp"), d.log())
        spool = os.path.join(d.mail_root, ".mailslot-dsn")
        self.assertEqual(os.stat(spool).st_uid, nobody.pw_uid)
        mail, rcpt, data = sink.received[0]
        self.assertEqual(mail, "MAIL FROM:<> BODY=8BITMIME")
        self.assertEqual(rcpt, "RCPT TO:<sender@example.org>")
        # Dot-stuffed on the wire (RFC 5321 §4.5.2): the returned message reads back as stored.
        self.assertIn(b"\r\n..leading dot\r\n...two\r\nend\r\n", data)
        self.assertIn(b"Content-Type: message/rfc822\r\n", data)
        self.assertTrue(data.endswith(b"--\r\n.\r\n"), data[-200:])


# docs/postfix.md's DSN block, with the test's domain and socket.
@unittest.skipIf(pf.available(), pf.available() or "")
class PostfixAliasDsn(DaemonTestCase):
    SUBMIT = "sendmail"   # how mailslot submits its reports ("smtp": docs/postfix.md's [dsn] block)

    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)   # Postfix's lmtp client (user postfix) reaches the socket
        self.home = os.path.join(self.tmp, "home")
        users = os.path.join(self.tmp, "users")
        with open(users, "w") as f:
            for u in ("bob", "sender"):
                os.makedirs(os.path.join(self.home, u), exist_ok=True)
                f.write(f"{u}@virt.test:::::{self.home}/{u}::userdb_mail=maildir:~/Maildir\n")
        pf_base = os.path.join(self.tmp, "pf")
        pf_conf = os.path.join(pf_base, "etc")
        smtp_port = pf.free_port()
        if self.SUBMIT == "smtp":  # docs/postfix.md's block: the same Postfix's smtpd on loopback
            mailslot_dsn = pf.doc_block("postfix.md", "mailslot.toml dsn").replace(
                "127.0.0.1:25", f"127.0.0.1:{smtp_port}")
        else:  # its sendmail, pointed at the private instance
            mailslot_dsn = f'\n[dsn]\nsendmail = ["{pf.SENDMAIL}", "-C", "{pf_conf}", "-i", "-f", "<>"]\n'
        cfg = merge_config(default_config(), {"mail": {"x_original_to": True}})
        text = (render_config(cfg) + f'\n[domains."virt.test"]\nresolver = "passwd-file"\npasswd_file = "{users}"\n'
                + mailslot_dsn)
        self.d = self.start_daemon(config_text=text)
        os.chmod(self.d.workdir, 0o755)
        virtual = os.path.join(self.tmp, "virtual")
        with open(virtual, "w") as f:
            f.write("alias@virt.test bob@virt.test\n")
        main = pf.doc_block("postfix.md", "main.cf dsn")
        main = (main.replace("example.net", "virt.test").replace("/run/mailslot/lmtp", self.d.unix_path)
                .replace("/etc/postfix/virtual", virtual))
        self.p = pf.PostfixInstance(pf_base, main, smtp_port=smtp_port)
        self.p.start()
        self.addCleanup(self.p.stop)

    def new(self, user):
        d = os.path.join(self.home, user, "Maildir", "new")
        return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []

    def why(self):
        return f"\npostfix log:\n{self.p.log()[-4000:]}\nmailslot log:\n{self.d.log()[-4000:]}"

    def read(self, path):
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_one_notice(self):
        """Postfix's queue drained, the sender's mailbox holds exactly one notice: returns it."""
        self.assertTrue(wait_until(lambda: self.new("sender"), 20), "no notice" + self.why())
        self.assertEqual(self.p.wait_queue_empty(), [], self.why())
        self.assertEqual(len(self.new("sender")), 1, self.why())
        return self.read(self.new("sender")[0])

    def test_success_dsn_through_postfix_names_the_original_recipient(self):
        # The sender asks for NOTIFY=SUCCESS with an ORCPT; Postfix passes both to mailslot because
        # it announces DSN, and (for that reason) sends no "relayed" notice of its own.
        msg = (b"From: sender@virt.test\r\nTo: alias@virt.test\r\nSubject: orcpt\r\n"
               b"Message-ID: <orcpt-dsn@pf.test>\r\n\r\nhello bob\r\n")
        with smtplib.SMTP("127.0.0.1", self.p.smtp_port, timeout=20) as s:
            s.ehlo("client.test")
            s.sendmail("sender@virt.test", ["bob@virt.test"], msg, mail_options=["RET=HDRS", "ENVID=pf-envid"],
                       rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;alias@virt.test"])
        self.assertTrue(wait_until(lambda: len(self.new("bob")) == 1, 20), "bob" + self.why())
        self.assertIn("X-Original-To: alias@virt.test\r\n", self.read(self.new("bob")[0]))
        self.assertTrue(self.d.wait_log(r"to=<bob@virt\.test> orig_to=<alias@virt\.test> .*notify=SUCCESS,FAILURE"),
                        self.why())
        # Queued by mailslot, submitted through Postfix's sendmail with a null sender, delivered
        # by Postfix through mailslot into the sender's mailbox.
        self.assertTrue(self.d.wait_log(rf"dsn_report=sent to=<sender@virt\.test> .*via={self.SUBMIT}", 20), self.why())
        report = self.wait_one_notice()
        self.assertIn("Return-Path: <>\r\n", report)
        self.assertIn("From: Mail Delivery System <MAILER-DAEMON@mx.test>", report)
        self.assertIn("Original-Envelope-Id: pf-envid\r\n", report)
        self.assertIn("Original-Recipient: rfc822;alias@virt.test\r\nFinal-Recipient: rfc822;bob@virt.test\r\n"
                      "Action: delivered\r\nStatus: 2.0.0\r\n", report)
        self.assertIn("Subject: orcpt\r\n", report)
        self.assertNotIn("hello bob", report)  # RET=HDRS

    def test_original_recipient_survives_postfix_virtual_alias_expansion(self):
        # sendmail -N success,failure to alias@virt.test, which Postfix's virtual_alias_maps turns
        # into bob@virt.test. Postfix passes the address before the expansion as ORCPT (it does so
        # only to a server announcing DSN): bob's copy says X-Original-To: alias@virt.test. For the
        # SUCCESS part Postfix itself sends an "expanded" notice and passes NOTIFY without SUCCESS
        # (RFC 3461 §6.2.7.1's choice (b), Postfix's cleanup_out_recipient.c): the sender gets
        # exactly that one notice, and mailslot no second one.
        msg = (b"From: sender@virt.test\r\nTo: alias@virt.test\r\nSubject: via alias\r\n"
               b"Message-ID: <alias-dsn@pf.test>\r\n\r\nhello bob\r\n")
        self.p.run([pf.SENDMAIL, "-C", self.p.conf, "-N", "success,failure", "-f", "sender@virt.test", "--",
                    "alias@virt.test"], input=msg)
        self.assertTrue(wait_until(lambda: len(self.new("bob")) == 1, 20), "bob" + self.why())
        self.assertIn("X-Original-To: alias@virt.test\r\n", self.read(self.new("bob")[0]))
        self.assertTrue(self.d.wait_log(r"to=<bob@virt\.test> orig_to=<alias@virt\.test> .*notify=FAILURE"),
                        self.why())
        notice = self.wait_one_notice()
        self.assertRegex(notice, r"Original-Recipient: rfc822; ?alias@virt\.test")
        self.assertIn("Action: expanded", notice)
        self.assertNotIn("dsn_report=queued", self.d.log())


@unittest.skipIf(pf.available(), pf.available() or "")
class PostfixDsnOverSmtp(PostfixAliasDsn):
    """The same, with docs/postfix.md's [dsn] block: SMTP to Postfix's smtpd on loopback."""
    SUBMIT = "smtp"


if __name__ == "__main__":
    unittest.main()
