// The optional metrics and health HTTP listener ([metrics] listen): GET /metrics (Prometheus text
// format) and GET /healthz (200 or 503). Plain HTTP/1.1 on loopback or a pod network, for scrapers
// and container health checks; never for mail.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "mailslot/server/asio.hpp"

namespace mailslot::server {

class HttpServer {
 public:
  struct Handlers {
    std::function<std::string()> metrics;                 // the exposition text
    std::function<awaitable<std::string>()> health;       // "" when healthy, else the reason
  };

  HttpServer(asio::io_context& ioc, Handlers handlers);
  ~HttpServer();

  // Binds host:port (port 0: any free port); returns "127.0.0.1:40123". Throws std::system_error.
  std::string bind(const std::string& host, unsigned port);
  // Starts accepting on the io_context (call before or while it runs).
  void start();

  struct State;  // shared with the accept loop and connections (http.cpp)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace mailslot::server
