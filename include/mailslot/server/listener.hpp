// Opening listening sockets: TCP (IPv4, IPv6) and UNIX stream sockets.
#pragma once

#include <string>
#include <vector>

#include "mailslot/config/config.hpp"
#include "mailslot/server/asio.hpp"

namespace mailslot::server {

// Binds and listens; returns the address actually bound ("127.0.0.1:40123" when port 0 was
// asked for, "unix:/abs/path"). A stale UNIX socket file (nobody accepting on it) is replaced;
// a live one or a non-socket file at that path is an error. Throws std::system_error naming the
// address.
std::string open_listener(Acceptor& acceptor, const config::Listener& listener);

// Per-listener access control (issue #5): whether the peer's address lies in one of `allow`
// (empty: everyone). IPv4 peers are compared in IPv4-mapped form, so "10.0.0.0/8" also matches
// ::ffff:10.1.2.3 on a dual-stack socket. UNIX-socket peers are always allowed here.
bool client_allowed(const Socket& socket, const std::vector<config::Network>& allow);

// An accepted TCP connection sends each write at once (TCP_NODELAY): a reply is small and the
// client waits for it, so Nagle's wait for the previous segment's ACK would only add latency.
// Nothing to do on a UNIX socket (the call fails there and is ignored).
void set_no_delay(Socket& socket);

// "192.0.2.1", "2001:db8::1", or "unix" for a UNIX-socket peer.
std::string peer_address(const Socket& socket);
std::string peer_address(int fd);  // the same for a descriptor; "unknown" when not a connected socket

}  // namespace mailslot::server
