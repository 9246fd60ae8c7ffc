"""LHLO extensions against the real daemon: SMTPUTF8 (RFC 6531) with Python's smtplib, IDNA domain
comparison, X-Original-To (mail.x_original_to), and DSN parameters refused while DSN is not offered
(docs/conformance.md)."""

import os
import unittest

from harness import CRLF, DaemonTestCase, lmtp_client, message, parse_trace_headers

USER = "\u7528\u6237"             # 用户
SENDER = "j\u00f6rg@b\u00fccher.example"
IDN_NFC = "b\u00fccher.test"       # bücher.test
IDN_NFD_UPPER = "BU\u0308CHER.test"
IDN_ALABEL = "xn--bcher-kva.test"


def fields_of(path):
    with open(path, "rb") as f:
        head = f.read().split(b"\r\n\r\n", 1)[0]
    out = {}
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") or b":" not in line:
            continue
        name, _, value = line.partition(b":")
        out.setdefault(name.decode().lower(), value.strip())
    return out


class Extensions(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.d = self.start_daemon({"mail": {"domains": ["example.test", IDN_NFC], "x_original_to": True}})

    def test_lhlo_capabilities(self):
        s = lmtp_client(self.d)
        self.addCleanup(s.close)
        for ext in ("pipelining", "enhancedstatuscodes", "8bitmime", "size", "chunking", "binarymime", "smtputf8"):
            self.assertTrue(s.has_extn(ext), ext)
        self.assertFalse(s.has_extn("dsn"))  # not until success DSNs exist (issue #11)

    def test_smtplib_smtputf8_delivers_utf8_addresses_and_headers(self):
        s = lmtp_client(self.d)
        self.addCleanup(s.close)
        content = message("utf8", ["Gr\u00fc\u00dfe".encode()], extra_headers=["X-Test: smtputf8"])
        refused = s.sendmail(SENDER, [f"{USER}@example.test"], content, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        self.assertEqual(refused, {})
        s.quit()
        files = self.d.files(USER)
        self.assertEqual(len(files), 1, self.d.all_files())
        fields = self.assertStored(files[0], content, delivered_to=f"{USER}@example.test", sender=SENDER)
        received = [v for n, v in fields if n.lower() == "received"][0]
        self.assertIn("with UTF8LMTP", received)
        self.assertIn(f"for <{USER}@example.test>", received)
        x = [v.strip() for n, v in fields if n.lower() == "x-original-to"]
        self.assertEqual(x, [f"{USER}@example.test"])

    def test_utf8_address_without_smtputf8_is_refused(self):
        c = self.d.connect()
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        self.assertReply(c.cmd(f"MAIL FROM:<{SENDER}>".encode()), 553, "5.6.7")
        self.assertReply(c.cmd("MAIL FROM:<s@example.net>"), 250)
        self.assertReply(c.cmd(f"RCPT TO:<{USER}@example.test>".encode()), 553, "5.6.7")
        # Malformed UTF-8 is a syntax error whatever the parameters.
        self.assertReply(c.cmd(b"RCPT TO:<a\xc3@example.test>"), 501, "5.1.3")
        self.assertReply(c.cmd(b"RCPT TO:<a@example.test> X=\xff"), 501, "5.5.4")
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertEqual(self.d.all_files(), [])

    def test_idn_spellings_reach_one_maildir(self):
        s = lmtp_client(self.d)
        self.addCleanup(s.close)
        content = message("idn", ["one Maildir for every spelling"])
        self.assertEqual(s.sendmail("s@example.net", [f"a@{IDN_NFD_UPPER}"], content, mail_options=["SMTPUTF8"]), {})
        self.assertEqual(s.sendmail("s@example.net", [f"A@{IDN_ALABEL}"], content), {})
        s.quit()
        files = self.d.files("a", domain=IDN_ALABEL)
        self.assertEqual(len(files), 2, self.d.all_files())
        by_dt = sorted(fields_of(f)["delivered-to"] for f in files)
        self.assertEqual(by_dt, sorted([f"a@{IDN_NFC}".encode(), f"a@{IDN_ALABEL}".encode()]))
        # The ASCII transaction's copy stays ASCII; X-Original-To keeps the RCPT as sent.
        ascii_copy = [f for f in files if fields_of(f)["delivered-to"] == f"a@{IDN_ALABEL}".encode()][0]
        self.assertEqual(fields_of(ascii_copy)["x-original-to"], f"A@{IDN_ALABEL}".encode())

    def test_nfd_and_nfc_local_parts_reach_one_maildir(self):
        s = lmtp_client(self.d)
        self.addCleanup(s.close)
        content = message("nfc", ["one Maildir for j\u00f6rg".encode()])
        for local in ("jo\u0308rg", "j\u00f6rg"):  # NFD, NFC
            self.assertEqual(s.sendmail("s@example.net", [f"{local}@example.test"], content, mail_options=["SMTPUTF8"]), {})
        s.quit()
        self.assertEqual(len(self.d.files("j\u00f6rg")), 2, self.d.all_files())
        self.assertEqual(self.d.files("jo\u0308rg"), [])

    def test_dsn_parameters_refused_while_dsn_is_not_offered(self):
        c = self.d.connect()
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("LHLO client.test")[0], 250)
        self.assertReply(c.cmd("MAIL FROM:<s@example.net> RET=HDRS"), 555, "5.5.4")
        self.assertReply(c.cmd("MAIL FROM:<s@example.net> ENVID=abc"), 555, "5.5.4")
        self.assertReply(c.cmd("MAIL FROM:<s@example.net>"), 250)
        self.assertReply(c.cmd("RCPT TO:<a@example.test> NOTIFY=SUCCESS"), 555, "5.5.4")
        self.assertReply(c.cmd("RCPT TO:<a@example.test> ORCPT=rfc822;b@example.test"), 555, "5.5.4")
        self.assertEqual(c.cmd("QUIT")[0], 221)


class ExtensionsSwitchedOff(DaemonTestCase):
    def test_lmtp_chunking_and_smtputf8_off(self):
        d = self.start_daemon({"lmtp": {"chunking": False, "smtputf8": False}})
        c = d.connect()
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        code, caps = c.cmd("LHLO client.test")
        self.assertEqual(code, 250)
        caps = caps.upper().split(b"\n")
        for ext in (b"CHUNKING", b"BINARYMIME", b"SMTPUTF8"):
            self.assertNotIn(ext, caps)
        self.assertIn(b"PIPELINING", caps)
        self.assertReply(c.cmd("MAIL FROM:<s@example.net> SMTPUTF8"), 555, "5.5.4")
        self.assertReply(c.cmd("MAIL FROM:<s@example.net> BODY=BINARYMIME"), 501, "5.5.4")
        self.assertReply(c.cmd("MAIL FROM:<s@example.net>"), 250)
        self.assertReply(c.cmd(f"RCPT TO:<{USER}@example.test>".encode()), 553, "5.6.7")
        self.assertReply(c.cmd("RCPT TO:<a@example.test>"), 250)
        self.assertReply(c.cmd("BDAT 1 LAST"), 502, "5.5.1")
        self.assertEqual(c.cmd("QUIT")[0], 221)


if __name__ == "__main__":
    unittest.main()
