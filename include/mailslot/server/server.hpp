// The daemon's network side: listeners, connections, the worker pool, and graceful drain.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <map>
#include <string>
#include <vector>

#include "mailslot/config/config.hpp"
#include "mailslot/delivery/mail_store.hpp"
#include "mailslot/delivery/recipients.hpp"
#include "mailslot/server/asio.hpp"
#include "mailslot/server/disk_pool.hpp"
#include "mailslot/server/metrics.hpp"

namespace boost::asio::ssl {
class context;
}

namespace mailslot::server {

class Connection;
class DsnSender;

// What a connection needs from its surroundings; immutable for the connection's lifetime.
struct Context {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<const delivery::Recipients> recipients;
  std::shared_ptr<delivery::MailStore> store;
  DiskPool* disk = nullptr;
  Metrics* metrics = nullptr;  // never null in a Server's contexts
  // Issue #5: the TLS server context built from [tls] (null when no listener uses TLS); rebuilt
  // on reload like the rest, so a renewed certificate is used by new connections.
  std::shared_ptr<boost::asio::ssl::context> tls;
  // Issue #11 ([dsn]): the success-DSN submitter; null when no submission path is configured
  // (then DSN is not advertised). Set by the Server on every context.
  DsnSender* dsn = nullptr;
};

class HttpServer;

class Server {
 public:
  Server(std::shared_ptr<const config::Config> config, std::shared_ptr<const delivery::Recipients> recipients,
         std::shared_ptr<delivery::MailStore> store);
  ~Server();

  // Binds every configured listener (throws std::system_error with the address on failure).
  // Returns the addresses actually bound ("127.0.0.1:40123", "unix:/run/mailslot/lmtp").
  std::vector<std::string> bind();

  // --stdio mode (issue #11), instead of bind(): one session reading `in_fd` and writing `out_fd`
  // (both owned: stdin and stdout, dup'ed); no listener. run() returns when the session has ended;
  // the connection returned says how (Connection::ending()). Before run().
  std::shared_ptr<Connection> serve_stdio(int in_fd, int out_fd);

  // Runs the event loop on config.io_threads threads until shutdown completes.
  void run();

  // Thread-safe (call it from a signal_set handler, not from a signal handler): stop accepting;
  // sessions in DATA finish (bounded by timeouts.shutdown), others get 421 4.3.2; then run()
  // returns.
  void shutdown();
  // A second SIGTERM: close every connection now (open messages are discarded unanswered).
  void stop_now();

  asio::io_context& io_context() { return ioc_; }

  // Live figures for logs and tests.
  std::size_t connections() const { return live_.load(); }

  // --- Operations (issue #7): metrics, health, reload (server_ops.cpp) ---
  Metrics& metrics() { return *metrics_; }
  DiskPool& disk() { return *disk_; }
  // Binds [metrics] listen when set; returns its address ("" when not configured). Before run().
  std::string bind_metrics();
  // Reload: connections accepted from now on get `next` (config, recipients, store); connections
  // already open keep the snapshot they started with. Settings bound at start-up (listeners,
  // threads, metrics.listen) are not taken from `next`: the caller keeps them.
  void replace_context(Context next);
  Context current_context() const;
  // Issue #11: the success-DSN submitter every context carries from now on (before run()).
  void set_dsn_sender(DsnSender* sender);
  // "" when the listeners accept and mail.root is writable, else why not (checked on the disk
  // pool: a hanging file system never blocks the event loop).
  awaitable<std::string> health();

  // Called by connections.
  void connection_started(const std::shared_ptr<Connection>& c);
  void connection_finished(const Connection* c);
  // Issue #11: a PROXY header named c's real client; its count for max_connections_per_client moves
  // from `before` (the proxy's address) to c->client(). Returns the connections now open from that
  // client, c included.
  std::size_t client_identified(const Connection* c, const std::string& before);

 private:
  awaitable<void> accept_loop(std::size_t index);
  std::vector<std::shared_ptr<Connection>> live_connections();
  void abort_connections(const char* why);
  void finish_if_drained();
  void stop_loop();

  struct Bound;
  std::shared_ptr<const config::Config> config_;
  Context ctx_;
  asio::io_context ioc_;
  asio::strand<asio::io_context::executor_type> strand_;  // acceptors, shutdown state, timers
  std::unique_ptr<DiskPool> disk_;
  std::vector<std::unique_ptr<Bound>> bound_;
  std::mutex mu_;
  std::map<const Connection*, std::weak_ptr<Connection>> connections_;
  std::atomic<std::size_t> live_{0};
  std::map<std::string, std::size_t> per_client_;  // open connections per client address (under mu_); issue #5
  std::atomic<bool> stopping_{false};
  std::unique_ptr<asio::steady_timer> drain_timer_;
  std::unique_ptr<asio::steady_timer> force_timer_;
  bool stopped_ = false;
  bool single_session_ = false;  // --stdio mode: the loop stops when its one session ends
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  // Operations (issue #7).
  std::unique_ptr<Metrics> metrics_;
  mutable std::mutex ctx_mu_;  // guards ctx_ and config_ against replace_context()
  std::unique_ptr<HttpServer> http_;
  DsnSender* dsn_ = nullptr;  // issue #11, under ctx_mu_
};

}  // namespace mailslot::server
