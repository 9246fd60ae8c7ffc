// Listeners, the accept loops, the connection registry and graceful drain.
#include "mailslot/server/server.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <thread>

#include "mailslot/server/connection.hpp"
#include "mailslot/server/listener.hpp"

namespace mailslot::server {

struct Server::Bound {
  config::Listener config;
  std::string display;  // "127.0.0.1:40123" or "unix:/path"
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
}

Server::~Server() {
  for (auto& b : bound_) {
    if (b->config.kind == config::Listener::Kind::unix_socket) ::unlink(b->config.path.c_str());
  }
}

std::vector<std::string> Server::bind() {
  std::vector<std::string> addresses;
  for (const auto& l : config_->listeners) {
    auto b = std::make_unique<Bound>(ioc_, l);
    b->display = open_listener(b->acceptor, l);
    addresses.push_back(b->display);
    bound_.push_back(std::move(b));
  }
  return addresses;
}

void Server::run() {
  work_.emplace(ioc_.get_executor());
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
    // Each connection gets its own strand: with several io threads its handlers never overlap.
    auto strand = asio::make_strand(ioc_);
    error_code ec;
    Socket socket = co_await b.acceptor.async_accept(strand, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      // EMFILE/ENFILE/ENOBUFS: keep serving the connections we have; try again shortly.
      spdlog::error("accept on {}: {}", b.display, ec.message());
      asio::steady_timer pause(ioc_, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    std::string client = peer_address(socket);
    if (stopping_) {  // accepted in the same turn as the shutdown began
      std::string reply = fmt::format("421 4.3.2 {} Service shutting down\r\n", config_->hostname);
      error_code ignored;
      asio::write(socket, asio::buffer(reply), ignored);
      co_return;
    }
    if (live_.load() >= config_->max_connections) {
      // RFC 5321 §3.8: a server that must refuse service says 421 and closes.
      spdlog::warn("refused client={} listener={}: {} connections open (server.max_connections)", client, b.display,
                   live_.load());
      std::string reply = fmt::format("421 4.7.0 {} Too many connections, try again later\r\n", config_->hostname);
      error_code ignored;
      asio::write(socket, asio::buffer(reply), ignored);  // small, fits the socket buffer: never blocks long
      socket.close(ignored);
      continue;
    }
    auto conn = std::make_shared<Connection>(std::move(socket), ctx_, *this, std::move(client), b.display);
    connection_started(conn);
    asio::co_spawn(strand, [conn]() { return conn->run(); }, asio::detached);
  }
}

void Server::connection_started(const std::shared_ptr<Connection>& c) {
  ++live_;
  std::lock_guard lock(mu_);
  connections_.emplace(c.get(), c);
}

void Server::connection_finished(const Connection* c) {
  {
    std::lock_guard lock(mu_);
    connections_.erase(c);
  }
  --live_;
  asio::post(strand_, [this] { finish_if_drained(); });
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
  if (!stopping_ || live_.load() != 0 || stopped_) return;
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
