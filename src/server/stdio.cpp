// --stdio mode (issue #11): the Server without listeners, running one Connection on stdin and
// stdout (Exim's lmtp transport with `command =`, inetd, socat). Everything a listener's
// connection has (the session, recipient checks, the disk pool, timeouts, the drain on SIGTERM)
// is the same; only the transport differs (ByteStream over two descriptors).
#include <spdlog/spdlog.h>

#include "mailslot/server/connection.hpp"
#include "mailslot/server/listener.hpp"
#include "mailslot/server/server.hpp"

namespace mailslot::server {

std::shared_ptr<Connection> Server::serve_stdio(int in_fd, int out_fd) {
  single_session_ = true;
  // inetd (and systemd's Accept=yes with StandardInput=socket) hands over a TCP connection: its
  // peer is the client. Pipes, a TTY or a UNIX socket pair name no client: "stdio".
  std::string client = peer_address(in_fd);
  if (client == "unknown" || client == "unix") client = "stdio";
  auto strand = asio::make_strand(ioc_);
  auto conn =
      std::make_shared<Connection>(in_fd, out_fd, strand, current_context(), *this, std::move(client));
  connection_started(conn);
  asio::co_spawn(
      strand, [conn]() { return conn->run(); }, asio::detached);
  return conn;
}

}  // namespace mailslot::server
