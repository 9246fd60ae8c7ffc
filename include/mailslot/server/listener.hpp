// Opening listening sockets: TCP (IPv4, IPv6) and UNIX stream sockets.
#pragma once

#include <string>

#include "mailslot/config/config.hpp"
#include "mailslot/server/asio.hpp"

namespace mailslot::server {

// Binds and listens; returns the address actually bound ("127.0.0.1:40123" when port 0 was
// asked for, "unix:/abs/path"). A stale UNIX socket file (nobody accepting on it) is replaced;
// a live one or a non-socket file at that path is an error. Throws std::system_error naming the
// address.
std::string open_listener(Acceptor& acceptor, const config::Listener& listener);

// "192.0.2.1", "2001:db8::1", or "unix" for a UNIX-socket peer.
std::string peer_address(const Socket& socket);

}  // namespace mailslot::server
