// sd_notify(3) protocol: "KEY=VALUE\n..." datagrams to the AF_UNIX socket in $NOTIFY_SOCKET
// ("@name" is the abstract namespace). Written here rather than calling sd_notify() because that
// call may block when the manager's queue is full, and it is called from the event loop.
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "app.hpp"

namespace mailslot::app {

Notifier::Notifier() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  address_ = path;
  if (address_.size() >= sizeof(sockaddr_un::sun_path) || (address_[0] != '/' && address_[0] != '@')) {
    spdlog::warn("NOTIFY_SOCKET={} is not a usable AF_UNIX address; not notifying systemd", address_);
    return;
  }
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    spdlog::warn("NOTIFY_SOCKET: socket: {}", std::strerror(errno));
    return;
  }
  std::uint64_t usec = 0;
  // 0: keep WATCHDOG_USEC/WATCHDOG_PID in the environment; > 0 only when meant for this pid.
  if (::sd_watchdog_enabled(0, &usec) > 0) watchdog_ = std::chrono::microseconds(usec);
}

Notifier::~Notifier() {
  if (fd_ >= 0) ::close(fd_);
}

void Notifier::send(const std::string& state) const {
  if (fd_ < 0) return;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address_.data(), address_.size());
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  if (::sendto(fd_, state.data(), state.size(), MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&sa),
               len) < 0) {
    spdlog::debug("sd_notify {}: {}", address_, std::strerror(errno));
  }
}

}  // namespace mailslot::app
