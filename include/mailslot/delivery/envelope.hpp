// What the delivery layer needs to know about a message: who sent it, to whom, from where.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mailslot/lmtp/dsn.hpp"

namespace mailslot::delivery {

// Maildir++ quota limits (maildirsize header "<bytes>S,<count>C"); 0 means no limit of that kind.
struct QuotaLimits {
  std::uint64_t bytes = 0;
  std::uint64_t messages = 0;
  bool any() const { return bytes != 0 || messages != 0; }
};

// What to do with a "+detail" (recipient_delimiter) in the local part.
enum class DetailFolders {
  off,       // always INBOX
  existing,  // the Maildir++ folder ".<detail>" when it exists, else INBOX
  create,    // the folder, created on demand (and added to "subscriptions")
};

// A resolved recipient: the address it was given as and the Maildir it goes to.
struct Mailbox {
  std::string address;              // canonical forward-path without brackets, "bob@example.test"
  std::filesystem::path maildir;    // absolute path of the Maildir (the directory holding cur/new/tmp)
  // Where the symlink-free walk to `maildir` starts (mail.root, or the user's home for passwd-file and
  // system users whose Maildir lies elsewhere). Empty: the store's mail.root.
  std::filesystem::path base;
  // The identity files are created with (system users, passwd-file uids); -1: the daemon's own.
  std::int64_t uid = -1;
  std::int64_t gid = -1;
  // Maildir++ folder name for "+detail" (already sanitised, without the leading '.'), or empty.
  std::string folder;
  DetailFolders folder_policy = DetailFolders::off;
  QuotaLimits quota;
  // An alias with several targets: one RCPT (one reply), several Maildirs. When non-empty, the
  // fields above describe the alias only and the targets are what is delivered to.
  std::vector<std::shared_ptr<const Mailbox>> targets;
};

struct Envelope {
  std::string reverse_path;         // without brackets; empty for the null sender <>
  std::vector<std::shared_ptr<const Mailbox>> recipients;  // accepted recipients, in RCPT order
  // Trace information for the Received: header (RFC 5321 §4.4).
  std::string client_helo;          // LHLO argument
  std::string client_address;       // "127.0.0.1", "::1", or "" for a UNIX socket peer
  std::string session_id;           // mailslot's id for the session/transaction, also in logs
  // XFORWARD/XCLIENT NAME from a trusted client (issue #8): "from helo (name [addr])" like Postfix.
  std::string client_name;
  std::string hostname;             // our name
  std::chrono::system_clock::time_point received_at;

  // Extensions (docs/conformance.md).
  bool smtputf8 = false;  // MAIL SMTPUTF8 (RFC 6531): addresses may be UTF-8, also in trace headers
  // mail.per_recipient_headers: with several recipients, every copy is a file of its own with its
  // recipient's Delivered-To, X-Original-To and "for <rcpt>" instead of one hard-linked file.
  bool per_recipient_headers = false;
  // RFC 3461 parameters (only when the session offers DSN): per recipient, parallel to
  // `recipients`, the ORCPT ("" when not given or not rfc822-typed) and the NOTIFY bits
  // (lmtp::dsn_notify, 0 when not given); per message ENVID and RET.
  std::vector<std::string> original_recipients;
  std::vector<unsigned> dsn_notify;
  std::optional<std::string> dsn_envid;
  lmtp::DsnRet dsn_ret = lmtp::DsnRet::unspecified;
  // X-Original-To: on a single-recipient copy (config mail.x_original_to): the ORCPT, else the
  // forward-path as the client sent it (before any mapping of ours).
  bool x_original_to = false;
  std::vector<std::string> forward_paths;  // parallel to `recipients`: the RCPT address as sent
  // IGNOREQUOTA (issue #11), parallel to `recipients` (may be shorter: missing means false): the
  // store delivers past this recipient's quota, and still counts the copy in its maildirsize.
  std::vector<bool> ignore_quota;
};

}  // namespace mailslot::delivery
