// server::Connection: the PROXY protocol header (issue #11; HAProxy's proxy-protocol.txt) on
// listeners with proxy_protocol = true. The load balancer's address was checked against
// proxy_from at accept; here the header is read, and the real client it names replaces client_
// for the listener's allow list, max_connections_per_client, lmtp.xforward_from, the log lines and
// the Received: header. Only the header's bytes are taken off the socket (peeked first): what
// follows belongs to TLS or to the session.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "mailslot/config/network.hpp"
#include "mailslot/lmtp/proxy_header.hpp"
#include "mailslot/server/connection.hpp"

namespace mailslot::server {
namespace {

using namespace std::chrono_literals;

// A proxy sends its header as soon as it has connected; a peer that says nothing for this long
// (or timeouts.command, when shorter) is not one.
constexpr std::chrono::milliseconds kProxyHeaderTimeout = 10s;
constexpr std::size_t kPeekSize = 4096;

}  // namespace

awaitable<void> Connection::refuse(const std::string& reply) {
  ctx_.metrics->connections_refused_total.fetch_add(1, std::memory_order_relaxed);
  set_deadline(ctx_.config->timeouts.command);
  error_code ec;
  co_await asio::async_write(socket_, asio::buffer(reply), asio::redirect_error(asio::use_awaitable, ec));
  io_pending_ = false;
}

awaitable<bool> Connection::accept_proxy_header() {
  const std::string via = client_;
  const auto timeout =
      std::min<std::chrono::milliseconds>(kProxyHeaderTimeout, ctx_.config->timeouts.command);
  std::string header;  // bytes taken off the socket so far: all of them header
  std::string peeked;
  lmtp::ProxyParse parsed;
  std::string why;
  awaiting_proxy_ = true;
  set_deadline(timeout);
  while (parsed.status == lmtp::ProxyParse::Status::incomplete) {
    peeked.resize(std::min(kPeekSize, lmtp::kProxyMax - header.size()));
    error_code ec;
    std::size_t n = co_await socket_.async_receive(asio::buffer(peeked), asio::socket_base::message_peek,
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && n == 0) ec = asio::error::eof;
    if (ec) {
      why = timed_out_            ? fmt::format("none within {} ms", timeout.count())
            : shutdown_requested_ ? "shutting down"
                                  : "connection closed before the header (" + ec.message() + ")";
      break;
    }
    parsed = lmtp::parse_proxy_header(header + peeked.substr(0, n));
    // Incomplete: everything peeked is header, take it. Done: take the header's rest only.
    std::size_t take = n;
    if (parsed.status == lmtp::ProxyParse::Status::done) {
      // The parser's promise (an incomplete answer covers only header bytes) makes this hold;
      // checked anyway, since the read below must never run past what was peeked.
      if (parsed.consumed < header.size() || parsed.consumed - header.size() > n) {
        parsed = lmtp::ProxyParse{lmtp::ProxyParse::Status::invalid, 0, {}, "header length inconsistent"};
      } else {
        take = parsed.consumed - header.size();
      }
    }
    if (parsed.status == lmtp::ProxyParse::Status::invalid) take = 0;
    if (take > 0) {
      co_await asio::async_read(socket_, asio::buffer(peeked.data(), take),
                                asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        why = "read: " + ec.message();
        break;
      }
      header.append(peeked, 0, take);
    }
    if (parsed.status == lmtp::ProxyParse::Status::invalid) why = parsed.error;
  }
  io_pending_ = false;
  awaiting_proxy_ = false;
  if (parsed.status != lmtp::ProxyParse::Status::done) {
    ctx_.metrics->connections_refused_total.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("session={} bad PROXY header client={} listener={}: {}; closed without a greeting", id_, via,
                 listener_, why);
    co_return false;
  }

  const lmtp::ProxyHeader& h = parsed.header;
  if (h.proxied) client_ = h.source;  // v1 UNKNOWN, v2 LOCAL: the proxy's own connection (health checks)
  spdlog::info("session={} proxy client={} via={} version={}{}", id_, client_, via, h.version,
               h.proxied ? fmt::format(" port={}", h.source_port) : std::string(" header=local"));
  const std::size_t open = server_.client_identified(this, via);

  // The listener's allow list, now for the real client (at accept it was the proxy's turn).
  if (settings_ != nullptr && !settings_->allow.empty() && client_ != "unix") {
    const auto address = config::parse_client_address(client_);
    if (!address || !config::allowed(settings_->allow, *address)) {
      spdlog::warn("refused client={} via={} listener={}: not in the listener's allowed networks", client_,
                   via, listener_);
      co_await refuse(fmt::format("554 5.7.1 {} Access denied\r\n", ctx_.config->hostname));
      co_return false;
    }
  }
  if (const std::size_t limit = ctx_.config->max_connections_per_client;
      limit != 0 && client_ != "unix" && open > limit) {
    spdlog::warn(
        "refused client={} via={} listener={}: {} connections open from it "
        "(server.max_connections_per_client)",
        client_, via, listener_, open - 1);
    co_await refuse(fmt::format("421 4.7.0 {} Too many connections from your address, try again later\r\n",
                                ctx_.config->hostname));
    co_return false;
  }
  // lmtp.xforward_from is decided for the real client too. Nothing has been said yet, so a new
  // session (with its own greeting) replaces the one made for the proxy's address.
  if (h.proxied) session_ = lmtp::Session(session_options());
  co_return true;
}

}  // namespace mailslot::server
