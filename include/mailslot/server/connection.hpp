// One client connection: a thin coroutine that moves bytes between the socket and the
// I/O-free lmtp::Session, and carries the session's requests to the delivery layer (disk work on
// the worker pool). Every read has a deadline.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "mailslot/delivery/envelope.hpp"
#include "mailslot/delivery/mail_store.hpp"
#include "mailslot/lmtp/session.hpp"
#include "mailslot/server/asio.hpp"
#include "mailslot/server/server.hpp"
#include "mailslot/server/sasl.hpp"
#include "mailslot/server/tls.hpp"

namespace mailslot::server {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `settings`: the listener's STARTTLS/TLS/AUTH policy (issue #5); null: all off.
  Connection(Socket socket, Context ctx, Server& server, std::string client_address, std::string listener,
             const config::Listener* settings = nullptr);
  // --stdio mode (issue #11): the session reads `in_fd` and writes `out_fd` (owned); no TLS, no AUTH.
  Connection(int in_fd, int out_fd, const Socket::executor_type& ex, Context ctx, Server& server,
             std::string client_address);
  ~Connection();

  // How the session ended (known once run() completed); --stdio mode's exit status.
  enum class Ending {
    running,
    quit,         // QUIT answered with 221
    peer_closed,  // the client's end of the stream closed before QUIT
    io_error,     // reading or writing failed
    timeout,      // 421 4.4.2 after timeouts.command / timeouts.data
    shutdown,     // 421 4.3.2: SIGTERM (drain) or the shutdown bound
    protocol,     // closed by the server: too many errors (limits.max_errors) or a failed TLS handshake
    internal,     // an internal error (a bug or resource exhaustion)
  };
  Ending ending() const { return ending_; }

  // The connection's whole life; completes when the socket is closed.
  awaitable<void> run();

  // Posted to the connection's executor by the server.
  void request_shutdown();  // 421 4.3.2 at the next point that is not inside DATA
  void abort();             // shutdown bound elapsed: close now (an open message is discarded)

  const std::string& id() const { return id_; }
  const std::string& client() const { return client_; }  // "127.0.0.1" or "unix"
  Socket::executor_type executor() { return socket_.get_executor(); }

 private:
  awaitable<void> watchdog();
  void set_deadline(std::chrono::milliseconds timeout);
  awaitable<void> perform(const lmtp::Request& request);
  awaitable<void> check_recipient(const lmtp::CheckRecipient& r);
  awaitable<delivery::Resolution> resolve_recipient(const lmtp::CheckRecipient& r);  // recipient_check.cpp
  awaitable<void> open_message();
  awaitable<void> append_body(std::string_view data);
  awaitable<void> commit_message();
  // commit_deadline.cpp; a success DSN spooled by the job (issue #11) is named in dsn_file, or why not in dsn_error.
  awaitable<std::vector<delivery::Outcome>> commit_within_deadline(std::optional<std::filesystem::path>& dsn_file,
                                                                   std::string& dsn_error);
  awaitable<void> discard_message();
  awaitable<void> flush();
  std::optional<delivery::Outcome> open_spool(std::string_view more);  // runs on the disk pool
  void release_pending();
  void log_deliveries(const std::vector<delivery::Outcome>& outcomes);
  void log_dsn_queued(const std::vector<delivery::Outcome>& outcomes, const std::optional<std::filesystem::path>& file,
                      const std::string& error);  // issue #11

  Socket socket_;
  Context ctx_;
  Server& server_;
  std::string client_;    // "127.0.0.1" or "unix"
  std::string listener_;  // the address it arrived on
  const config::Listener* settings_;  // the listener's settings (null: defaults); outlives the connection
  std::string id_;
  lmtp::Session session_;
  std::unique_ptr<char[]> command_buf_;  // reads between messages
  std::unique_ptr<char[]> data_buf_;     // reads inside DATA; freed when the message ends
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;  // of the pending read or write
  std::chrono::steady_clock::time_point armed_;     // where the watchdog timer is set
  bool io_pending_ = false;                         // a read or write with deadline_ is in progress
  bool reading_ = false;
  bool timed_out_ = false;
  bool shutdown_requested_ = false;
  bool peer_gone_ = false;
  bool done_ = false;
  std::unique_ptr<delivery::MessageWriter> writer_;  // touched only by the disk job in flight
  std::string pending_;                               // content not yet on disk (small messages)
  delivery::Envelope envelope_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point data_started_;
  unsigned message_index_ = 0;
  // Operations (issue #7): the session counted in mailslot_sessions{state="data"}, and the
  // message's first bytes, where the MTA's queue id is looked for (top Received: header).
  void data_ended();
  bool counted_in_data_ = false;
  bool committing_ = false;          // the final-dot disk job is running: abort() waits for it
  bool abort_after_commit_ = false;
  // limits.delivery_timeout of the commit under way, and the timer that waits for it (set only
  // while commit_within_deadline() waits): abort() brings the deadline forward.
  std::chrono::steady_clock::time_point commit_deadline_;
  asio::steady_timer* commit_wake_ = nullptr;
  std::string head_;
  // Issue #5: TLS and AUTH (connection_security.cpp). stream_ reads and writes socket_, in clear
  // or through TLS.
  static lmtp::SessionOptions with_security(lmtp::SessionOptions o, const Context& ctx,
                                           const config::Listener* settings);
  awaitable<void> begin_security();  // implicit TLS handshake, SASL mechanisms
  awaitable<bool> handshake();       // false: failed (logged, counted), the connection ends
  awaitable<void> start_tls();
  awaitable<void> authenticate(const lmtp::Authenticate& a);
  ByteStream stream_{socket_};
  bool implicit_tls_ = false;
  config::Listener::AuthPolicy auth_ = config::Listener::AuthPolicy::off;
  std::unique_ptr<SaslSession> sasl_;
  bool eof_seen_ = false;        // the client closed its end (read returned EOF)
  bool timeout_closed_ = false;  // the session was told timeout() (421 4.4.2)
  bool aborted_ = false;         // abort(): closed by the server without a reply
  Ending ending_ = Ending::running;
  Ending decide_ending(bool internal_error) const;
  // Issue #11: PROXY protocol (connection_proxy.cpp). Before the greeting, the header names the
  // real client, which then replaces client_ for the access checks, logs and Received:.
  lmtp::SessionOptions session_options() const;
  awaitable<bool> accept_proxy_header();  // false: refused or bad header (logged); close, no greeting
  awaitable<void> refuse(const std::string& reply);
  bool awaiting_proxy_ = false;
};

}  // namespace mailslot::server
