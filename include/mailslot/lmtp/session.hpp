// The I/O-free LMTP server session (RFC 2033 on RFC 5321): bytes in, replies and requests out.
// No sockets, no files, no clock. Every protocol rule lives here and is unit-tested byte by byte.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mailslot/lmtp/data_decoder.hpp"
#include "mailslot/lmtp/limits.hpp"
#include "mailslot/lmtp/reply.hpp"
#include "mailslot/lmtp/requests.hpp"
#include "mailslot/lmtp/transaction.hpp"

namespace mailslot::lmtp {

struct Command;

struct SessionOptions {
  std::string hostname = "localhost";  // greeting, LHLO reply, 221/421 texts
  Limits limits;
  // Extensions (docs/conformance.md). CHUNKING and BINARYMIME (RFC 3030) go together.
  bool chunking = true;
  bool smtputf8 = true;  // RFC 6531
  // RFC 3461 DSN: RET/ENVID on MAIL, NOTIFY/ORCPT on RCPT. Announcing it obliges us to send "delivered"
  // DSNs for NOTIFY=SUCCESS (RFC 3461 §6.2.1): the daemon turns it on only when [dsn] can submit them
  // (issue #11, server/dsn_sender.hpp). While off, the parameters get 555 like any unoffered one.
  bool dsn = false;
  // XFORWARD and XCLIENT (Postfix's XFORWARD_README / XCLIENT_README): offered only when the owner
  // says the client is trusted (config lmtp.xforward_from); otherwise refused with 550 5.7.0.
  bool xforward = false;
  // IGNOREQUOTA on RCPT (Cyrus lmtpd; Exim's lmtp transport `ignore_quota`): delivery past the
  // mailbox quota. Only for a trusted client (config lmtp.ignorequota_from) or, with
  // ignorequota_authenticated, one that has passed AUTH; announced only where it can be used.
  bool ignorequota = false;
  bool ignorequota_authenticated = false;
  // Issue #5 (session_security.cpp). STARTTLS (RFC 3207) per listener; tls_active: the
  // connection is already encrypted (implicit TLS, or after STARTTLS).
  enum class TlsPolicy { off, offered, required };
  TlsPolicy starttls = TlsPolicy::off;
  bool tls_active = false;
  // AUTH (RFC 4954): mechanisms offered now, as the SASL library lists them for this connection
  // (the owner leaves out PLAIN and LOGIN before TLS and gives the new list to tls_started()).
  enum class AuthPolicy { off, optional, required };
  AuthPolicy auth = AuthPolicy::off;
  std::vector<std::string> auth_mechanisms{};
  unsigned max_auth_failures = 3;  // then 421 4.7.0 and close
};

// Answer to an Authenticate request.
struct AuthStep {
  enum class Kind { challenge, success, failure };
  Kind kind = Kind::failure;
  std::string challenge;  // base64, sent as "334 <challenge>"
  Reply reply;            // success: 235 2.7.0 ...; failure: 535 5.7.8, 454 4.7.0, 501 5.5.2 ...
  std::string user;       // success: the authenticated identity
};

// What a trusted client said about the original client (XFORWARD for the next transaction,
// XCLIENT for the rest of the session). Values are xtext-decoded; "[UNAVAILABLE]" and
// "[TEMPUNAVAIL]" are kept as empty.
struct ForwardedClient {
  std::string name, addr, port, proto, helo, ident, source, login;
  bool any() const { return !(name.empty() && addr.empty() && helo.empty() && ident.empty() && proto.empty()); }
};

// Verdict on a CheckRecipient request.
struct RecipientVerdict {
  Reply reply;                           // 250 2.1.5 ... when accepted, else the refusal
  std::shared_ptr<const void> resolved;  // kept in Recipient::resolved when accepted
};

class Session {
 public:
  enum class State {
    greeted,  // waiting for LHLO
    ready,    // LHLO done, no transaction
    mail,     // MAIL accepted, collecting RCPTs
    data,     // after 354, reading content
    bdat,     // reading the octets of a BDAT chunk (RFC 3030)
    closed,   // QUIT answered, timeout, shutdown or fatal error: flush output then close
  };

  explicit Session(SessionOptions options);  // queues the 220 greeting

  // Input. Bytes are buffered and processed as far as possible: processing stops while a
  // request is pending and resumes when it is answered. Never throws on any input.
  void receive(std::string_view bytes);
  // The peer closed its sending side. Pending input is still processed; an open message is
  // discarded (DiscardMessage) and the session closes without a reply.
  void receive_eof();

  // Output: bytes to write to the peer, in order. Owner writes them, then calls consume_output.
  std::string_view output() const { return out_; }
  void consume_output(std::size_t n) { out_.erase(0, n); }
  // Input bytes held (not yet processed, plus a processed prefix awaiting compaction). An owner
  // may stop reading while this is large and a request is pending (back-pressure).
  std::size_t buffered_input() const { return in_.size(); }

  // The request the owner must perform now (std::monostate when none).
  const Request& request() const { return request_; }
  bool has_request() const { return request_.index() != 0; }

  // Answers to requests. Each must match the pending request; a mismatched call is ignored.
  void recipient_checked(RecipientVerdict verdict);
  // nullopt: spool open, send 354. A reply: the open failed, send it as the DATA reply.
  void message_opened(std::optional<Reply> failure);
  // nullopt: appended. A reply: the append failed; the rest of the content is read and dropped,
  // a DiscardMessage follows the terminator and every recipient gets this reply.
  void body_appended(std::optional<Reply> failure);
  // Exactly one reply per accepted recipient, in RCPT order (RFC 2033 §4.2).
  void message_committed(std::vector<Reply> per_recipient);
  void message_discarded();

  // Timers and life cycle, decided by the owner.
  void timeout();   // 421 4.4.2, then close (an open message is discarded first)
  void shutdown();  // 421 4.3.2, then close at once
  // Graceful stop: a message in DATA (or whose request is pending) finishes and gets its
  // replies; then, or at once when there is none, 421 4.3.2 and close. Commands pipelined
  // behind the final "." are not taken. Idempotent.
  void drain();
  bool draining() const { return draining_; }
  // Load shedding, decided by the owner (the session knows no disk): while set, MAIL is answered
  // with this reply instead of starting a transaction (e.g. 451 4.3.2 while the disk queue is
  // full); every other command, and a transaction already started, goes on as usual.
  void refuse_new_transactions(std::optional<Reply> reply) { mail_refusal_ = std::move(reply); }

  State state() const { return state_; }
  // Message content is arriving (DATA after 354, or a BDAT chunk's octets): the owner reads in
  // large pieces with the data timeout.
  bool reading_content() const { return state_ == State::data || state_ == State::bdat; }
  bool closed() const { return state_ == State::closed && !has_request(); }
  const Transaction& transaction() const { return txn_; }
  const std::string& client_name() const { return lhlo_name_; }  // LHLO argument
  // XFORWARD attributes of the current transaction, each falling back to XCLIENT's (session_forward.cpp).
  ForwardedClient forwarded() const;

  // Issue #5: TLS and AUTH (session_security.cpp).
  // The TLS handshake after STARTTLS succeeded: RFC 3207 §4.2, everything learnt before is
  // forgotten (LHLO, transaction, authentication); `auth_mechanisms` is what is offered now.
  void tls_started(std::vector<std::string> auth_mechanisms);
  void tls_failed();  // handshake failed: closed, no reply
  // The mechanisms to list in LHLO (the owner asks its SASL library once the connection is up).
  void offer_auth_mechanisms(std::vector<std::string> m) { opt_.auth_mechanisms = std::move(m); }
  void auth_stepped(AuthStep step);
  bool tls_active() const { return opt_.tls_active; }
  bool authenticated() const { return authenticated_; }
  const std::string& auth_user() const { return auth_user_; }
  unsigned auth_failures() const { return auth_failures_; }

  // Counters for logs and tests.
  std::uint64_t messages_committed() const { return messages_committed_; }
  // The client said QUIT and was answered 221 (an orderly end; --stdio mode's exit status 0).
  bool quit_answered() const { return quit_answered_; }

 private:
  bool cut_off_after_errors();  // issue #5: Limits::max_errors
  // Implementation detail; see session.cpp (input, DATA, answers, life cycle) and
  // session_commands.cpp (the command table and one handler per verb).
  void process();
  void process_command_line(std::string_view line);
  void process_data();
  void finish_data();
  void process_chunk();
  void finish_chunk();
  void refuse_chunk(const Command& c, Reply r);
  void reset_with_discard();
  bool closed_after_answer();
  void reply(const Reply& r);
  void reset_transaction();
  void close_with(const Reply& r);

  void on_lhlo(const Command& c);
  void on_helo(const Command& c);
  void on_mail(const Command& c);
  void on_rcpt(const Command& c);
  void on_data(const Command& c);
  void on_rset(const Command& c);
  void on_noop(const Command& c);
  void on_quit(const Command& c);
  void on_vrfy(const Command& c);
  void on_help(const Command& c);
  void on_bdat(const Command& c);
  void on_not_implemented(const Command& c);
  void on_unknown(const Command& c);
  void on_xforward(const Command& c);  // session_forward.cpp
  void on_xclient(const Command& c);
  void on_starttls(const Command& c);
  void on_auth(const Command& c);
  void process_auth_response(std::string_view line);
  std::optional<Reply> security_refusal() const;  // MAIL before STARTTLS/AUTH when required
  std::string security_capabilities() const;      // LHLO lines for STARTTLS and AUTH
  bool ignorequota_offered() const;               // IGNOREQUOTA announced in LHLO
  bool ignorequota_allowed() const;               // and honoured now (trusted, or authenticated)

  SessionOptions opt_;
  State state_ = State::greeted;
  std::string in_;          // unprocessed input
  std::size_t in_pos_ = 0;  // processed prefix of in_
  std::string out_;         // replies not yet written
  Request request_;
  std::string lhlo_name_;
  Transaction txn_;
  DataDecoder decoder_;
  std::string body_;                   // decoded content awaiting AppendBody
  std::optional<Reply> data_failure_;  // reply for every recipient after "."
  bool discarding_line_ = false;       // skipping the rest of an overlong command line
  bool eof_ = false;
  bool draining_ = false;
  std::size_t errors_ = 0;     // 500-504 replies so far (Limits::max_errors)
  bool data_done_ = false;     // terminator seen; commit/discard pending or done
  bool message_open_ = false;  // OpenMessage succeeded, no commit/discard answered yet
  // BDAT (RFC 3030; session_chunking.cpp).
  bool chunking_ = false;           // this transaction's content comes in BDAT chunks
  std::uint64_t chunk_left_ = 0;    // octets of the current chunk still to read
  bool chunk_last_ = false;         // the current chunk is BDAT ... LAST
  std::optional<Reply> chunk_refusal_;  // refused BDAT: its octets are read and dropped, then this
  State chunk_return_ = State::ready;   // state after a refused chunk
  bool discard_silently_ = false;   // RSET/LHLO ended an open BDAT message: no replies for it
  std::uint64_t chunk_size_ = 0;    // size of the current chunk, for its reply
  // RCPT extension parameters waiting with the CheckRecipient request.
  unsigned pending_notify_ = 0;
  std::optional<OriginalRecipient> pending_orcpt_;
  std::uint64_t messages_committed_ = 0;
  bool quit_answered_ = false;
  std::optional<Reply> mail_refusal_;  // refuse_new_transactions()
  ForwardedClient xforward_;  // until the end of the transaction (XFORWARD_README)
  ForwardedClient xclient_;   // for the rest of the session (XCLIENT_README)
  // Issue #5: AUTH state (RFC 4954).
  bool authenticated_ = false;
  bool auth_exchange_ = false;  // a 334 challenge is out: the next line is the client's response
  std::string auth_mechanism_;
  std::string auth_user_;
  unsigned auth_failures_ = 0;
};

}  // namespace mailslot::lmtp
