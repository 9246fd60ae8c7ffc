// Listeners, the accept loops, the connection registry and graceful drain.
#include "mailslot/server/server.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include "mailslot/delivery/fs.hpp"
#include "mailslot/server/activation.hpp"
#include "mailslot/server/connection.hpp"
#include "mailslot/server/http.hpp"
#include "mailslot/server/listener.hpp"

namespace mailslot::server {

struct Server::Bound {
  config::Listener config;
  std::string display;  // "127.0.0.1:40123" or "unix:/path"
  bool from_systemd = false;  // socket activation: systemd owns the socket (and its file)
  Acceptor acceptor;
  Bound(asio::io_context& ioc, config::Listener c) : config(std::move(c)), acceptor(ioc) {}
};

Server::Server(std::shared_ptr<const config::Config> config, std::shared_ptr<const delivery::Recipients> recipients,
               std::shared_ptr<delivery::MailStore> store)
    : config_(std::move(config)),
      ioc_(static_cast<int>(config_->io_threads)),
      strand_(asio::make_strand(ioc_)),
      disk_(std::make_unique<DiskPool>(config_->disk_threads, config_->disk_queue)) {
  ctx_.config = config_;
  ctx_.recipients = std::move(recipients);
  ctx_.store = std::move(store);
  ctx_.disk = disk_.get();
  metrics_ = std::make_unique<Metrics>();
  disk_->set_metrics(metrics_.get());
  ctx_.metrics = metrics_.get();
  delivery::fs::set_fsync_observer(
      [](void* m, std::chrono::nanoseconds d) { static_cast<Metrics*>(m)->fsync_seconds.observe(d); }, metrics_.get());
}

Server::~Server() {
  disk_->join();  // no disk job may outlive metrics_
  delivery::fs::set_fsync_observer(nullptr, nullptr);
  for (auto& b : bound_) {
    if (b->config.kind == config::Listener::Kind::unix_socket && b->from_systemd) continue;
    if (b->config.kind == config::Listener::Kind::unix_socket) ::unlink(b->config.path.c_str());
  }
}

std::vector<std::string> Server::bind() {
  std::vector<std::string> addresses;
  // Socket activation: sockets systemd passed are adopted for the listeners they match; the
  // others are bound here; passed sockets no listener names are served too (systemd's unit is
  // the operator's latest word on where to listen).
  auto inherited = take_inherited_sockets();
  auto adopt = [&](std::unique_ptr<Bound>& b, const InheritedSocket& s) {
    using generic = asio::generic::stream_protocol;
    error_code ec;
    b->acceptor.assign(generic(s.family, s.family == AF_UNIX ? 0 : IPPROTO_TCP), s.fd, ec);
    if (ec) throw std::system_error(ec.value(), std::system_category(), s.display + " (from systemd)");
    b->display = s.display;
    b->from_systemd = true;
    spdlog::info("socket {} passed by systemd (FileDescriptorName={})", s.display, s.name);
  };
  for (const auto& l : config_->listeners) {
    auto b = std::make_unique<Bound>(ioc_, l);
    auto it = std::find_if(inherited.begin(), inherited.end(), [&](const auto& s) { return matches(s, l); });
    if (it != inherited.end()) {
      adopt(b, *it);
      inherited.erase(it);
    } else {
      b->display = open_listener(b->acceptor, l);
    }
    addresses.push_back(b->display);
    bound_.push_back(std::move(b));
  }
  for (const auto& s : inherited) {
    spdlog::warn("socket {} passed by systemd matches no server.listen entry; serving it anyway", s.display);
    config::Listener l;
    l.address = s.display;
    l.kind = s.family == AF_UNIX ? config::Listener::Kind::unix_socket : config::Listener::Kind::tcp;
    auto b = std::make_unique<Bound>(ioc_, l);
    adopt(b, s);
    addresses.push_back(b->display);
    bound_.push_back(std::move(b));
  }
  return addresses;
}

void Server::run() {
  work_.emplace(ioc_.get_executor());
  if (http_) http_->start();
  for (std::size_t i = 0; i < bound_.size(); ++i) {
    asio::co_spawn(strand_, accept_loop(i), asio::detached);
  }
  std::vector<std::thread> threads;
  for (unsigned i = 1; i < config_->io_threads; ++i) threads.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (auto& t : threads) t.join();
  disk_->join();
}

awaitable<void> Server::accept_loop(std::size_t index) {
  Bound& b = *bound_[index];
  for (;;) {
    // With several io threads each connection gets its own strand, so its handlers never overlap.
    // With one (the default) the loop already runs them one at a time, and the plain executor
    // fits inside Asio's any_io_executor where a strand is stored on the heap: about 20
    // allocations fewer per message (issue #3).
    const asio::any_io_executor executor = config_->io_threads > 1 ? asio::any_io_executor(asio::make_strand(ioc_))
                                                                   : asio::any_io_executor(ioc_.get_executor());
    error_code ec;
    Socket socket = co_await b.acceptor.async_accept(executor, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      // EMFILE/ENFILE/ENOBUFS: keep serving the connections we have; try again shortly.
      spdlog::error("accept on {}: {}", b.display, ec.message());
      asio::steady_timer pause(ioc_, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    set_no_delay(socket);
    std::string client = peer_address(socket);
    if (stopping_) {  // accepted in the same turn as the shutdown began
      std::string reply = fmt::format("421 4.3.2 {} Service shutting down\r\n", config_->hostname);
      error_code ignored;
      asio::write(socket, asio::buffer(reply), ignored);
      co_return;
    }
    // Issue #11: on a PROXY listener the peer is the load balancer, which must be in proxy_from; the
    // allow list and the per-client limit apply to the real client, once its header is read
    // (Connection::accept_proxy_header).
    const bool proxy = b.config.proxy_protocol;
    if (!client_allowed(socket, proxy ? b.config.proxy_from : b.config.allow)) {
      // Issue #5: a client outside the listener's `allow` networks gets 554 as its greeting
      // (RFC 5321 §3.1: 554 instead of 220 means no service here) and is closed.
      metrics_->connections_refused_total.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("refused client={} listener={}: not in the listener's {} networks", client, b.display,
                   proxy ? "proxy_from" : "allowed");
      std::string reply = fmt::format("554 5.7.1 {} Access denied\r\n", config_->hostname);
      error_code ignored;
      asio::write(socket, asio::buffer(reply), ignored);
      socket.close(ignored);
      continue;
    }
    if (live_.load() >= config_->max_connections) {
      // RFC 5321 §3.8: a server that must refuse service says 421 and closes.
      metrics_->connections_refused_total.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("refused client={} listener={}: {} connections open (server.max_connections)", client, b.display,
                   live_.load());
      std::string reply = fmt::format("421 4.7.0 {} Too many connections, try again later\r\n", config_->hostname);
      error_code ignored;
      asio::write(socket, asio::buffer(reply), ignored);  // small, fits the socket buffer: never blocks long
      socket.close(ignored);
      continue;
    }
    if (const std::size_t limit = config_->max_connections_per_client; limit != 0 && client != "unix" && !proxy) {
      std::size_t open = 0;
      {
        std::lock_guard lock(mu_);
        if (auto it = per_client_.find(client); it != per_client_.end()) open = it->second;
      }
      if (open >= limit) {  // issue #5: one client cannot take every slot
        metrics_->connections_refused_total.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("refused client={} listener={}: {} connections open from it (server.max_connections_per_client)",
                     client, b.display, open);
        std::string reply =
            fmt::format("421 4.7.0 {} Too many connections from your address, try again later\r\n", config_->hostname);
        error_code ignored;
        asio::write(socket, asio::buffer(reply), ignored);
        socket.close(ignored);
        continue;
      }
    }
    auto conn = std::make_shared<Connection>(std::move(socket), ctx_, *this, std::move(client), b.display, &b.config);
    connection_started(conn);
    asio::co_spawn(executor, [conn]() { return conn->run(); }, asio::detached);
  }
}

void Server::connection_started(const std::shared_ptr<Connection>& c) {
  ++live_;
  metrics_->connections_open.fetch_add(1, std::memory_order_relaxed);
  metrics_->connections_total.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  connections_.emplace(c.get(), c);
  ++per_client_[c->client()];
}

void Server::connection_finished(const Connection* c) {
  {
    std::lock_guard lock(mu_);
    connections_.erase(c);
    if (auto it = per_client_.find(c->client()); it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  }
  --live_;
  metrics_->connections_open.fetch_sub(1, std::memory_order_relaxed);
  asio::post(strand_, [this] { finish_if_drained(); });
}

std::size_t Server::client_identified(const Connection* c, const std::string& before) {
  std::lock_guard lock(mu_);
  if (c->client() != before) {
    if (auto it = per_client_.find(before); it != per_client_.end() && --it->second == 0) per_client_.erase(it);
    ++per_client_[c->client()];
  }
  return per_client_[c->client()];
}

std::vector<std::shared_ptr<Connection>> Server::live_connections() {
  std::vector<std::shared_ptr<Connection>> live;
  std::lock_guard lock(mu_);
  live.reserve(connections_.size());
  for (const auto& [ptr, weak] : connections_) {
    if (auto c = weak.lock()) live.push_back(std::move(c));
  }
  return live;
}

// Everything below runs on strand_: the acceptors, stopping_ transitions and the drain timer are
// touched from one place only, whatever io_threads is.
void Server::shutdown() {
  asio::post(strand_, [this] {
    if (stopping_.exchange(true)) return;
    spdlog::info("shutting down: {} connection(s) open, waiting up to {} ms for messages in DATA", live_.load(),
                 config_->timeouts.shutdown.count());
    for (auto& b : bound_) {
      error_code ignored;
      b->acceptor.close(ignored);
    }
    // Each connection acts on its own strand: the read it is waiting on belongs to it.
    for (auto& c : live_connections()) asio::post(c->executor(), [c] { c->request_shutdown(); });
    drain_timer_ = std::make_unique<asio::steady_timer>(strand_, config_->timeouts.shutdown);
    drain_timer_->async_wait([this](error_code ec) {
      if (!ec) abort_connections("shutdown timeout");
    });
    finish_if_drained();
  });
}

void Server::stop_now() {
  asio::post(strand_, [this] {
    stopping_ = true;
    for (auto& b : bound_) {
      error_code ignored;
      b->acceptor.close(ignored);
    }
    abort_connections("immediate stop");
    finish_if_drained();
  });
}

void Server::abort_connections(const char* why) {
  auto left = live_connections();
  if (!left.empty()) spdlog::warn("{}: closing {} connection(s)", why, left.size());
  for (auto& c : left) asio::post(c->executor(), [c] { c->abort(); });
  // A connection still running a second later (stuck in a disk call) is abandoned; its spool in
  // tmp/ is left for the 36-hour sweep.
  if (!force_timer_) {
    force_timer_ = std::make_unique<asio::steady_timer>(strand_, std::chrono::seconds(1));
    force_timer_->async_wait([this](error_code ec) {
      if (!ec) stop_loop();
    });
  }
}

void Server::finish_if_drained() {
  if ((!stopping_ && !single_session_) || live_.load() != 0 || stopped_) return;
  spdlog::info("all connections closed");
  stop_loop();
}

void Server::stop_loop() {
  if (stopped_) return;
  stopped_ = true;
  if (drain_timer_) drain_timer_->cancel();
  if (force_timer_) force_timer_->cancel();
  work_.reset();
  ioc_.stop();
}

}  // namespace mailslot::server
