// Listening sockets. Runs at start-up, before the event loop: blocking calls are fine here.
#include "mailslot/server/listener.hpp"

#include "mailslot/config/network.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <vector>
#include <system_error>

namespace mailslot::server {
namespace {

[[noreturn]] void fail(int err, const std::string& what) { throw std::system_error(err, std::system_category(), what); }

std::optional<unsigned long> numeric_id(const std::string& s) {
  unsigned long id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return id;
}

// A UNIX socket file left by a previous run that crashed is replaced; one that still accepts
// connections belongs to a running daemon and is never stolen.
void remove_stale_socket(const std::filesystem::path& path, const std::string& address) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    fail(errno, address + ": stat");
  }
  if (!S_ISSOCK(st.st_mode)) fail(EEXIST, address + ": exists and is not a socket; not replacing it");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errno, address + ": socket");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  int err = errno;
  ::close(fd);
  if (rc == 0) fail(EADDRINUSE, address + ": another process is accepting on this socket");
  if (err != ECONNREFUSED) fail(err, address + ": cannot tell whether the socket is in use");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(errno, address + ": remove stale socket");
}

// A user name or a numeric uid (owner = "postfix" or "104").
uid_t user_id(const std::string& name, const std::string& address) {
  if (auto id = numeric_id(name)) return static_cast<uid_t>(*id);
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (found == nullptr) fail(rc != 0 ? rc : ENOENT, address + ": owner \"" + name + "\": no such user");
  return pw.pw_uid;
}

gid_t group_id(const std::string& name, const std::string& address) {
  if (auto id = numeric_id(name)) return static_cast<gid_t>(*id);
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  const int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found);
  if (found == nullptr) fail(rc != 0 ? rc : ENOENT, address + ": group \"" + name + "\": no such group");
  return gr.gr_gid;
}

}  // namespace

bool client_allowed(const Socket& socket, const std::vector<config::Network>& allow) {
  if (allow.empty()) return true;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(const_cast<Socket&>(socket).native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return false;  // cannot tell who it is: not let in
  }
  config::Address16 a{};
  if (ss.ss_family == AF_INET) {
    a[10] = a[11] = 0xff;  // IPv4-mapped form, as config::Network keeps IPv4 networks
    std::memcpy(a.data() + 12, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, 16);
  } else {
    return true;  // UNIX sockets are guarded by the file's owner, group and mode
  }
  return config::allowed(allow, a);
}

std::string open_listener(Acceptor& acceptor, const config::Listener& l) {
  using generic = asio::generic::stream_protocol;
  error_code ec;
  if (l.kind == config::Listener::Kind::unix_socket) {
    auto path = std::filesystem::absolute(l.path).lexically_normal();
    std::error_code mkdir_ec;  // a missing parent shows up as a clear bind error below
    std::filesystem::create_directories(path.parent_path(), mkdir_ec);
    remove_stale_socket(path, l.address);
    asio::local::stream_protocol::endpoint ep(path.string());
    acceptor.open(generic(AF_UNIX, 0), ec);
    if (!ec) acceptor.bind(generic::endpoint(ep), ec);
    if (ec) fail(ec.value(), l.address + ": bind");
    if (!l.owner.empty() || !l.group.empty()) {
      // Owner and group before the mode: the socket is never open to a wider group than configured.
      const uid_t uid = l.owner.empty() ? static_cast<uid_t>(-1) : user_id(l.owner, l.address);
      const gid_t gid = l.group.empty() ? static_cast<gid_t>(-1) : group_id(l.group, l.address);
      if (::chown(path.c_str(), uid, gid) != 0) fail(errno, l.address + ": chown " + l.owner + ":" + l.group);
    }
    if (::chmod(path.c_str(), l.mode) != 0) fail(errno, l.address + ": chmod");
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) fail(ec.value(), l.address + ": listen");
    return "unix:" + path.string();
  }
  auto addr = asio::ip::make_address(l.host, ec);
  if (ec) fail(ec.value(), l.address + ": bad address");
  asio::ip::tcp::endpoint ep(addr, l.port);
  acceptor.open(generic(ep.protocol().family(), IPPROTO_TCP), ec);
  if (ec) fail(ec.value(), l.address + ": socket");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (addr.is_v6()) {
    // "[::]:24" means IPv6 only; list "0.0.0.0:24" as well for IPv4 (no surprise dual-stack).
    int on = 1;
    ::setsockopt(acceptor.native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  }
  acceptor.bind(generic::endpoint(ep), ec);
  if (ec) fail(ec.value(), l.address + ": bind");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail(ec.value(), l.address + ": listen");
  // Report the port actually bound (port 0 asks the kernel for a free one: used by the tests).
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len);
  unsigned port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                           : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return addr.is_v6() ? "[" + addr.to_string() + "]:" + std::to_string(port) : addr.to_string() + ":" + std::to_string(port);
}

void set_no_delay(Socket& socket) {
  const int on = 1;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

std::string peer_address(const Socket& socket) { return peer_address(const_cast<Socket&>(socket).native_handle()); }

std::string peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  } else {
    return "unix";
  }
  return buf;
}

}  // namespace mailslot::server
