// server/listener.hpp: what is set on an accepted connection.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <utility>

#include "mailslot/server/listener.hpp"

namespace mailslot::server {
namespace {

int no_delay(Socket& s) {
  int value = -1;
  socklen_t len = sizeof value;
  if (::getsockopt(s.native_handle(), IPPROTO_TCP, TCP_NODELAY, &value, &len) != 0) return -1;
  return value;
}

// Issue #3: replies leave at once, not after the ACK of the previous segment (Nagle).
TEST(Listener, AcceptedTcpConnectionSendsWithoutDelay) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::address_v4::loopback(), 0});
  asio::ip::tcp::socket client(ioc);
  client.connect(acceptor.local_endpoint());
  asio::ip::tcp::socket accepted = acceptor.accept();
  Socket s(ioc, asio::generic::stream_protocol(AF_INET, IPPROTO_TCP), accepted.release());
  ASSERT_EQ(no_delay(s), 0);  // Linux's default: Nagle on
  set_no_delay(s);
  EXPECT_NE(no_delay(s), 0);
  EXPECT_EQ(peer_address(s), "127.0.0.1");
}

TEST(Listener, NoDelayOnAUnixSocketIsHarmless) {
  asio::io_context ioc;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Socket a(ioc, asio::generic::stream_protocol(AF_UNIX, 0), fds[0]);
  Socket b(ioc, asio::generic::stream_protocol(AF_UNIX, 0), fds[1]);
  set_no_delay(a);
  EXPECT_TRUE(a.is_open());
  EXPECT_EQ(peer_address(a), "unix");
}

}  // namespace
}  // namespace mailslot::server
