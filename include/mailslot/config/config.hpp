// The configuration snapshot: immutable once loaded, shared by everything that reads it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mailslot/lmtp/limits.hpp"

namespace mailslot::config {

// A client network ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"): IPv4 is kept as its IPv4-mapped
// IPv6 form (::ffff:a.b.c.d, prefix + 96) so one comparison covers both families (network.hpp).
struct Network {
  std::array<std::uint8_t, 16> address{};
  unsigned prefix = 128;  // leading bits of `address` that must match
  std::string text;       // as written
};

struct Listener {
  enum class Kind { tcp, unix_socket };
  Kind kind = Kind::tcp;
  std::string address;           // as written: "127.0.0.1:24", "[::1]:24", "unix:/run/mailslot/lmtp"
  std::string host;              // tcp: "127.0.0.1", "::1", "0.0.0.0", "::"
  std::uint16_t port = 0;        // tcp
  std::filesystem::path path;    // unix
  unsigned mode = 0660;          // unix: permission bits of the socket file
  // Per-listener settings (issue #5): a `listen` entry written as a table { address = ..., ... }.
  std::vector<Network> allow;    // tcp: client networks let in (others: 554 5.7.1); empty = any
  std::string owner;             // unix: socket file owner (user name or uid); "" = unchanged
  std::string group;             // unix: socket file group (group name or gid); "" = unchanged
  // Issue #5 (TLS and AUTH, per listener).
  enum class TlsPolicy { off, offered, required };
  enum class AuthPolicy { off, optional, required };
  TlsPolicy starttls = TlsPolicy::off;  // RFC 3207 STARTTLS
  bool tls = false;                     // implicit TLS: the handshake comes before the greeting
  AuthPolicy auth = AuthPolicy::off;    // RFC 4954 AUTH through Cyrus SASL
  // Issue #11: a PROXY protocol v1/v2 header (a load balancer in front) must come before the
  // greeting and names the real client; accepted only from `proxy_from` (tcp, required).
  bool proxy_protocol = false;
  std::vector<Network> proxy_from;
};

struct Timeouts {
  std::chrono::milliseconds command{std::chrono::minutes(5)};   // waiting for a command line
  std::chrono::milliseconds data{std::chrono::minutes(10)};     // between reads inside DATA
  std::chrono::milliseconds shutdown{std::chrono::seconds(30)}; // drain bound on SIGTERM
  // Issue #11: from the final "." to the replies; past it 451 4.3.0 and no copy stays in new/.
  // Below Postfix's 600 s wait for them (lmtp_data_done_timeout), so the MTA hears 451, not silence.
  std::chrono::milliseconds delivery{std::chrono::minutes(5)};
};

struct Mail {
  std::filesystem::path root;                          // nothing is written outside it
  std::string mailbox = "{domain}/{user}/Maildir";     // below root
  std::vector<std::string> domains;
  std::vector<std::string> users;                      // empty: every local part exists
  bool fold_case = true;
  bool fsync = true;
  bool x_original_to = false;  // X-Original-To: on single-recipient copies (ORCPT, else RCPT as sent)
  bool per_recipient_headers = false;  // a file per copy with its own trace headers (no hard links)
  // Recipients and mailboxes (docs/configuration.md "[mail]" and "[domains]").
  std::string recipient_delimiter;            // each character is a delimiter; "" = no +detail
  std::string detail_folders = "existing";    // off | existing | create
  std::filesystem::path aliases;              // "" = no aliases file
  std::uint64_t quota = 0;                    // default per-user limit in bytes (0 = none)
  std::uint64_t quota_messages = 0;           // default per-user limit in messages (0 = none)
  bool quota_full_tempfail = false;           // over quota: 452 4.2.2 instead of 552 5.2.2
  bool rcpt_check_quota = true;               // refuse an over-quota recipient at RCPT already
};

// [domains."example.org"]: how one domain's users are found.
struct Domain {
  std::string name;                  // lowercased
  std::string resolver = "static";   // static | passwd-file | system
  std::filesystem::path passwd_file; // passwd-file
  std::string mailbox;               // template; "" = mail.mailbox (static) or "{home}/Maildir"
  std::vector<std::string> users;    // static: when non-empty, only these
};

// [lmtp]: LHLO extensions that can be switched off (docs/conformance.md). DSN is not here: it is
// offered exactly when [dsn] has a submission path for success DSNs (struct Dsn, issue #11).
struct Extensions {
  bool chunking = true;  // CHUNKING and BINARYMIME (RFC 3030)
  bool smtputf8 = true;  // SMTPUTF8 (RFC 6531)
  // lmtp.xforward_from: clients allowed XFORWARD/XCLIENT (issue #8): "127.0.0.0/8", "::1",
  // "unix" (UNIX-socket peers). Empty: nobody (not announced).
  std::vector<std::string> xforward_from;
  // IGNOREQUOTA on RCPT (issue #11, Cyrus lmtpd; Exim ignore_quota): clients allowed to deliver
  // past a quota, same forms as xforward_from; and/or every client that passed AUTH.
  std::vector<std::string> ignorequota_from;
  bool ignorequota_authenticated = false;
};

// Operations (issue #7): log format and the metrics/health HTTP listener.
struct Log {
  std::string format = "text";     // "text" (key=value) or "json" (one JSON object per line)
};
struct Metrics {
  std::string listen;              // "127.0.0.1:2425"; empty: no HTTP listener
  std::string host;                // parsed from listen
  std::uint16_t port = 0;
};

// [duplicates] (issue #11): duplicate suppression per mailbox, keyed by Message-ID.
struct Duplicates {
  bool enabled = false;
  std::chrono::milliseconds window{std::chrono::hours(24)};
  std::filesystem::path database;  // "" = <mail.root>/.mailslot-duplicates.sqlite
};

// [dsn] (issue #11): success DSNs (RFC 3461 §6.2.1). DSN is advertised only when a submission
// path is set: `sendmail` (a command; mailslot appends "--" and the recipient, the report on stdin)
// or `smtp` (the local MTA on loopback, MAIL FROM:<>). Reports wait in `spool` until submitted.
struct Dsn {
  std::vector<std::string> sendmail;  // e.g. {"/usr/sbin/sendmail", "-i", "-f", "<>"}
  std::string smtp;                   // e.g. "127.0.0.1:25"
  std::string smtp_host;              // parsed from smtp
  std::uint16_t smtp_port = 0;
  std::filesystem::path spool;        // "" = <mail.root>/.mailslot-dsn
  std::chrono::milliseconds retry{std::chrono::minutes(1)};    // first back-off, doubled per failure
  std::chrono::milliseconds retry_max{std::chrono::hours(1)};  // back-off ceiling
  std::chrono::milliseconds max_age{std::chrono::hours(24 * 5)};  // then given up (error log line)
  bool enabled() const { return !sendmail.empty() || !smtp.empty(); }
  bool operator==(const Dsn&) const = default;  // a reload compares the section whole
};

// [tls] (issue #5): the server certificate, used by STARTTLS and implicit-TLS listeners.
struct Tls {
  std::filesystem::path cert;   // PEM: the certificate, optionally followed by its chain
  std::filesystem::path key;    // PEM private key
  std::filesystem::path chain;  // optional PEM file of intermediate certificates
  std::string min_version = "TLSv1.2";  // or "TLSv1.3"
  std::string ciphers;                  // TLS 1.2 cipher list; empty: the built-in modern list
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
};

// [auth] (issue #5): AUTH through Cyrus SASL.
struct Auth {
  std::vector<std::string> mechanisms;  // empty: every mechanism libsasl2 offers (PLAIN/LOGIN over TLS only)
  // Passed to libsasl2 as its options (pwcheck_method, auxprop_plugin, sasldb_path, ...); empty:
  // libsasl2 reads its own mailslot.conf.
  std::vector<std::pair<std::string, std::string>> sasl_options;
  unsigned max_failures = 3;  // failed AUTH attempts before 421 4.7.0 and close
  std::chrono::milliseconds failure_delay{std::chrono::seconds(1)};  // times the failure count
};

struct Config {
  std::filesystem::path source;    // file it was read from ("" for built-ins)
  std::string hostname;            // defaults to gethostname()
  std::vector<Listener> listeners;
  unsigned unix_socket_mode = 0660;  // applied to every unix: listener, also those from --listen
  lmtp::Limits limits;
  Timeouts timeouts;
  std::size_t max_connections = 1000;
  unsigned io_threads = 1;         // threads running the event loop
  unsigned disk_threads = 64;      // blocking-I/O pool (fsync sleeps: sized for latency, not cores)
  Mail mail;
  Extensions extensions;
  std::vector<Domain> domains;     // [domains.*]; every mail.domains entry without one is static
  std::string log_level = "info";
  // Disk jobs queued or running beyond which new transactions get 451 4.3.2 (0: no limit); see
  // DiskPool::admits_new_work().
  std::size_t disk_queue = 1024;
  Log log;                         // [log]
  Metrics metrics;                 // [metrics]
  Duplicates duplicates;           // [duplicates]
  Dsn dsn;                         // [dsn] (issue #11)
  // Security (issue #5, docs/security.md).
  std::string user;                // [server] user: started as root, run as this user after binding
  std::string group;               // [server] group: default the user's primary group
  bool allow_root = false;         // [server] allow_root: deliver as root on purpose
  std::size_t max_connections_per_client = 0;  // per client address (0: no limit); 421 4.7.0
  Tls tls;                         // [tls] (issue #5)
  Auth auth;                       // [auth] (issue #5)
};

}  // namespace mailslot::config
