// Listeners, the accept loops, the connection registry and graceful drain.
#include "mailslot/server/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
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
      disk_(std::make_unique<DiskPool>(config_->disk_threads)) {
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
    asio::co_spawn(ioc_, accept_loop(i), asio::detached);
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
  connections_.insert(c);
}

void Server::connection_finished(const Connection* c) {
  {
    std::lock_guard lock(mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      auto sp = it->lock();
      if (!sp || sp.get() == c) {
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
  --live_;
  if (stopping_) asio::post(ioc_, [this] { finish_if_drained(); });
}

void Server::shutdown() {
  asio::post(ioc_, [this] {
    if (stopping_.exchange(true)) return;
    spdlog::info("shutting down: {} connection(s) open, waiting up to {} ms for messages in DATA", live_.load(),
                 config_->timeouts.shutdown.count());
    for (auto& b : bound_) {
      error_code ignored;
      b->acceptor.close(ignored);
    }
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard lock(mu_);
      for (const auto& w : connections_) {
        if (auto c = w.lock()) live.push_back(std::move(c));
      }
    }
    for (auto& c : live) {
      // Each connection acts on its own strand: the read it is waiting on belongs to it.
      asio::post(c->executor(), [c] { c->request_shutdown(); });
    }
    drain_timer_ = std::make_unique<asio::steady_timer>(ioc_, config_->timeouts.shutdown);
    drain_timer_->async_wait([this](error_code ec) {
      if (ec) return;
      std::vector<std::shared_ptr<Connection>> left;
      {
        std::lock_guard lock(mu_);
        for (const auto& w : connections_) {
          if (auto c = w.lock()) left.push_back(std::move(c));
        }
      }
      if (!left.empty()) spdlog::warn("shutdown timeout: closing {} connection(s)", left.size());
      for (auto& c : left) asio::post(c->executor(), [c] { c->abort(); });
      // Whatever is still running after a second more is abandoned; mail in tmp/ is swept later.
      drain_timer_->expires_after(std::chrono::seconds(1));
      drain_timer_->async_wait([this](error_code e) {
        if (!e) {
          work_.reset();
          ioc_.stop();
        }
      });
    });
    finish_if_drained();
  });
}

void Server::finish_if_drained() {
  if (!stopping_ || live_.load() != 0) return;
  if (drain_timer_) drain_timer_->cancel();
  work_.reset();
  spdlog::info("all connections closed");
  ioc_.stop();
}

}  // namespace mailslot::server
