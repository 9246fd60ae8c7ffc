// systemd socket activation (sd_listen_fds(3)): listening sockets passed by the service manager
// (mailslotd.socket, systemd-socket-activate), matched to configured listeners by address.
#pragma once

#include <string>
#include <vector>

#include "mailslot/config/config.hpp"

namespace mailslot::server {

struct InheritedSocket {
  int fd = -1;
  std::string name;     // FileDescriptorName= of the socket unit ("unknown" when unnamed)
  std::string display;  // "127.0.0.1:24", "[::1]:24", "unix:/run/mailslot/lmtp"
  int family = 0;       // AF_INET, AF_INET6, AF_UNIX
};

// Takes the sockets systemd passed (LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES), unsets those
// variables so children do not see them, and checks each is a listening stream socket (throws
// std::system_error otherwise). Empty when not socket-activated.
std::vector<InheritedSocket> take_inherited_sockets();

// Whether an inherited socket is the one a configured listener asks for: same UNIX path, or same
// address and port (port 0 in the config matches any port on that address).
bool matches(const InheritedSocket& s, const config::Listener& l);

}  // namespace mailslot::server
