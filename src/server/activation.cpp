// Socket activation: systemd (or systemd-socket-activate) binds the sockets and passes them as
// fds 3.. with LISTEN_FDS; mailslot only adopts them. A daemon started without them binds its own.
#include "mailslot/server/activation.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace mailslot::server {
namespace {

std::string describe(int fd, int& family) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    throw std::system_error(errno, std::system_category(), "socket passed by systemd: getsockname");
  }
  family = ss.ss_family;
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(sin->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(sin6->sin6_port));
  }
  if (ss.ss_family == AF_UNIX) {
    const auto* sun = reinterpret_cast<const sockaddr_un*>(&ss);
    const std::size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    return "unix:" + std::string(sun->sun_path, ::strnlen(sun->sun_path, n));
  }
  throw std::system_error(EAFNOSUPPORT, std::system_category(), "socket passed by systemd: unsupported family");
}

}  // namespace

std::vector<InheritedSocket> take_inherited_sockets() {
  char** names = nullptr;
  // unset_environment = 1: the variables describe this process only (sd_listen_fds(3)).
  const int n = ::sd_listen_fds_with_names(1, &names);
  if (n < 0) throw std::system_error(-n, std::system_category(), "sd_listen_fds");
  std::vector<InheritedSocket> out;
  for (int i = 0; i < n; ++i) {
    InheritedSocket s;
    s.fd = SD_LISTEN_FDS_START + i;
    s.name = names != nullptr && names[i] != nullptr ? names[i] : "unknown";
    if (::sd_is_socket(s.fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
      throw std::system_error(EINVAL, std::system_category(),
                              "fd " + std::to_string(s.fd) + " (" + s.name +
                                  ") passed by systemd is not a listening stream socket (Accept=no, ListenStream=)");
    }
    s.display = describe(s.fd, s.family);
    out.push_back(std::move(s));
  }
  if (names != nullptr) {
    for (int i = 0; i < n; ++i) std::free(names[i]);
    std::free(names);
  }
  return out;
}

bool matches(const InheritedSocket& s, const config::Listener& l) {
  if (l.kind == config::Listener::Kind::unix_socket) {
    if (s.family != AF_UNIX) return false;
    const auto want = std::filesystem::absolute(l.path).lexically_normal().string();
    return s.display == "unix:" + want;
  }
  if (s.family == AF_UNIX) return false;
  // Compare in canonical text form: "::1" and "0:0::1" are one address.
  const auto colon = s.display.rfind(':');
  std::string host = s.display.substr(0, colon);
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  const unsigned port = static_cast<unsigned>(std::stoul(s.display.substr(colon + 1)));
  in6_addr a{}, b{};
  const int fam = s.family;
  if (::inet_pton(fam, host.c_str(), &a) != 1 || ::inet_pton(fam, l.host.c_str(), &b) != 1) return false;
  const std::size_t size = fam == AF_INET ? sizeof(in_addr) : sizeof(in6_addr);
  return std::memcmp(&a, &b, size) == 0 && (l.port == 0 || l.port == port);
}

}  // namespace mailslot::server
