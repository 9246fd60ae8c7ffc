"""Address verification probes (issue #11; Postfix reject_unverified_recipient): RCPT then RSET
creates nothing on disk, also with a quota (whose RCPT-time check reads maildirsize)."""

import os
import unittest

from harness import DaemonTestCase, lmtp_client


class Probes(DaemonTestCase):
    def probe(self, d, user):
        s = lmtp_client(d)
        self.addCleanup(s.close)
        self.assertReply(s.mail(""), 250)
        code, text = s.rcpt(f"{user}@example.test")
        self.assertReply(s.rset(), 250)
        s.quit()
        return code, text

    def assertNothingOnDisk(self, d):
        root = os.path.join(d.workdir, "mail")
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            found += [os.path.join(dirpath, n) for n in dirnames + filenames
                      if not n.startswith(".mailslot-duplicates")]
        self.assertEqual(found, [], "a probe created files or directories")

    def test_rcpt_then_rset_creates_nothing(self):
        d = self.start_daemon()
        code, _ = self.probe(d, "bob")
        self.assertEqual(code, 250)
        self.assertNothingOnDisk(d)
        self.assertNotIn("status=delivered", d.log())

    def test_probe_with_quota_creates_nothing(self):
        d = self.start_daemon({"mail": {"quota": "10M"}})
        code, _ = self.probe(d, "carol")
        self.assertEqual(code, 250)
        self.assertNothingOnDisk(d)

    def test_probe_of_unknown_user_creates_nothing(self):
        d = self.start_daemon({"mail": {"users": ["alice"]}})
        code, _ = self.probe(d, "nobody")
        self.assertEqual(code, 550)
        self.assertNothingOnDisk(d)


if __name__ == "__main__":
    unittest.main()
