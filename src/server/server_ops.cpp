// The Server's operations side (issue #7): the metrics/health listener, health, and the context
// swap behind SIGHUP reloads.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mailslot/server/http.hpp"
#include "mailslot/server/server.hpp"

namespace mailslot::server {

std::string Server::bind_metrics() {
  if (config_->metrics.listen.empty()) return {};
  HttpServer::Handlers h;
  h.metrics = [this] { return metrics_->render(!stopping_.load() && !bound_.empty()); };
  h.health = [this] { return health(); };
  http_ = std::make_unique<HttpServer>(ioc_, std::move(h));
  return http_->bind(config_->metrics.host, config_->metrics.port);
}

// Runs on strand_, like every other reader of config_ and ctx_ there (accept loops, shutdown);
// the lock is for current_context() callers on other strands.
void Server::replace_context(Context next) {
  asio::post(strand_, [this, next = std::move(next)]() mutable {
    next.disk = disk_.get();
    next.metrics = metrics_.get();
    std::lock_guard lock(ctx_mu_);
    next.dsn = dsn_;
    config_ = next.config;
    ctx_ = std::move(next);
  });
}

void Server::set_dsn_sender(DsnSender* sender) {
  std::lock_guard lock(ctx_mu_);
  dsn_ = sender;
  ctx_.dsn = sender;
}

Context Server::current_context() const {
  std::lock_guard lock(ctx_mu_);
  return ctx_;
}

awaitable<std::string> Server::health() {
  if (stopping_.load()) co_return "shutting down: listeners closed";
  if (bound_.empty()) co_return "no LMTP listener";
  const std::filesystem::path root = current_context().config->mail.root;
  // access(2) with W_OK reports EROFS for a read-only mount and EACCES for lost permissions.
  const int err = co_await disk_->run([&root] { return ::access(root.c_str(), W_OK | X_OK) == 0 ? 0 : errno; });
  if (err != 0) co_return "mail.root " + root.string() + " is not writable: " + std::strerror(err);
  co_return std::string();
}

}  // namespace mailslot::server
