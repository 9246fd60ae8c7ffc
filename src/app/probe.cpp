// A minimal HTTP/1.0 GET for container health checks: `mailslotd --probe-health URL` exits 0
// when the answer is 200, so a runtime image needs neither curl nor wget.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <iostream>
#include <regex>
#include <string>

#include "app.hpp"

namespace mailslot::app {

int probe_health(const std::string& url) {
  static const std::regex rx(R"(^http://(\[[0-9A-Fa-f:.]+\]|[^/:\[\]]+)(?::(\d+))?(/[^\s]*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, rx)) {
    std::cerr << "mailslotd: --probe-health: not an http:// URL: " << url << "\n";
    return 2;
  }
  std::string host = m[1].str();
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  const std::string port = m[2].matched ? m[2].str() : "80";
  const std::string path = m[3].matched ? m[3].str() : "/healthz";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    std::cerr << "mailslotd: --probe-health: " << host << ": " << ::gai_strerror(rc) << "\n";
    return 1;
  }
  int fd = -1;
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{5, 0};  // a health check must answer quickly or count as failed
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0) {
    std::cerr << "mailslotd: --probe-health: cannot connect to " << host << ":" << port << "\n";
    return 1;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  std::string answer;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[4096];
    ssize_t n;
    while (answer.size() < 65536 && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto eol = answer.find("\r\n");
  std::cout << (eol == std::string::npos ? answer : answer.substr(0, eol)) << "\n";
  // "HTTP/1.1 200 OK"
  return answer.size() > 12 && answer.compare(8, 5, " 200 ") == 0 ? 0 : 1;
}

}  // namespace mailslot::app
