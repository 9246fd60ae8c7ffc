// A deliberately small HTTP/1.1 server on Boost.Beast: one coroutine per connection, every read
// with a deadline, bounded headers and no request bodies, a cap on concurrent connections.
#include "mailslot/server/http.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <system_error>

namespace mailslot::server {
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr int kMaxConnections = 32;       // a scraper and a health checker need a few
constexpr int kMaxRequestsPerConnection = 100;
constexpr auto kTimeout = std::chrono::seconds(10);
}  // namespace

struct HttpServer::State {
  asio::io_context& ioc;
  Handlers handlers;
  tcp::acceptor acceptor;
  std::string display;
  std::atomic<int> open{0};
  State(asio::io_context& c, Handlers h) : ioc(c), handlers(std::move(h)), acceptor(c) {}
};

namespace {

http::response<http::string_body> respond(http::status status, std::string body, const char* type, unsigned version,
                                          bool keep_alive) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::server, "mailslotd");
  res.set(http::field::content_type, type);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// The socket arrives by shared_ptr: g++ 12 mishandles move-only objects passed by value into
// coroutines (ARCHITECTURE.md, toolchain traps).
awaitable<void> serve(std::shared_ptr<HttpServer::State> st, std::shared_ptr<tcp::socket> socket) {
  beast::tcp_stream stream(std::move(*socket));
  beast::flat_buffer buffer(8192);
  for (int i = 0; i < kMaxRequestsPerConnection; ++i) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(8192);
    parser.body_limit(4096);  // GET takes none; a small one is read so a POST gets its 405
    stream.expires_after(kTimeout);
    error_code ec;
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;  // closed, timed out or malformed: nothing to answer
    const auto& req = parser.get();
    const bool keep = req.keep_alive();
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    http::response<http::string_body> res;
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res = respond(http::status::method_not_allowed, "GET only\n", "text/plain", req.version(), keep);
      res.set(http::field::allow, "GET, HEAD");
    } else if (path == "/metrics") {
      res = respond(http::status::ok, st->handlers.metrics(), "text/plain; version=0.0.4; charset=utf-8",
                    req.version(), keep);
    } else if (path == "/healthz") {
      std::string why = co_await st->handlers.health();
      res = why.empty() ? respond(http::status::ok, "ok\n", "text/plain", req.version(), keep)
                        : respond(http::status::service_unavailable, why + "\n", "text/plain", req.version(), keep);
    } else {
      res = respond(http::status::not_found, "not found: try /metrics or /healthz\n", "text/plain", req.version(),
                    keep);
    }
    if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays that of GET
    stream.expires_after(kTimeout);
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep) break;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
}

awaitable<void> accept_loop(std::shared_ptr<HttpServer::State> st) {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await st->acceptor.async_accept(asio::make_strand(st->ioc),
                                                            asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !st->acceptor.is_open()) co_return;
      spdlog::warn("metrics listener {}: accept: {}", st->display, ec.message());
      asio::steady_timer pause(st->ioc, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (st->open.load() >= kMaxConnections) {
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++st->open;
    auto ex = socket.get_executor();
    asio::co_spawn(ex, serve(st, std::make_shared<tcp::socket>(std::move(socket))), [st](std::exception_ptr e) {
      --st->open;
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          spdlog::error("metrics listener: {}", x.what());
        }
      }
    });
  }
}

}  // namespace

HttpServer::HttpServer(asio::io_context& ioc, Handlers handlers)
    : state_(std::make_shared<State>(ioc, std::move(handlers))) {}

HttpServer::~HttpServer() {
  error_code ignored;
  state_->acceptor.close(ignored);
}

std::string HttpServer::bind(const std::string& host, unsigned port) {
  error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  std::string what = "metrics.listen " + host + ":" + std::to_string(port);
  if (ec) throw std::system_error(ec.value(), std::system_category(), what + ": bad address");
  tcp::endpoint ep(addr, static_cast<std::uint16_t>(port));
  auto& a = state_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::system_error(ec.value(), std::system_category(), what);
  auto local = a.local_endpoint(ec);
  state_->display = addr.is_v6() ? "[" + local.address().to_string() + "]:" + std::to_string(local.port())
                                  : local.address().to_string() + ":" + std::to_string(local.port());
  return state_->display;
}

void HttpServer::start() { asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_), asio::detached); }

}  // namespace mailslot::server
