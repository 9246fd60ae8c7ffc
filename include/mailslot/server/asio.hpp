// The one place Asio is included. Boost 1.74's awaitable.hpp uses std::exchange without
// including <utility>, so <utility> must come first (ARCHITECTURE.md, toolchain facts).
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mailslot::server {
namespace asio = boost::asio;
using boost::system::error_code;
template <typename T>
using awaitable = asio::awaitable<T>;
// TCP and UNIX-socket connections share one type, so everything above the listener is the same.
using Socket = asio::generic::stream_protocol::socket;
using Acceptor = asio::basic_socket_acceptor<asio::generic::stream_protocol>;
}  // namespace mailslot::server
