// Privileges (issue #5): started as root, mailslotd binds its sockets and then becomes
// [server] user / group for good; running as root to deliver mail needs allow_root = true.
#pragma once

#include <functional>
#include <string>

#include "mailslot/config/config.hpp"

namespace mailslot::app {

// PR_SET_NO_NEW_PRIVS for the whole process: call first in main, before any thread exists (the
// flag is per thread and inherited), so no thread can ever gain privileges through execve.
void forbid_new_privileges();

// Before binding: refuses (config::ConfigError, exit 78) a start as root with neither
// server.user nor server.allow_root, and an unknown user or group.
void check_privilege_policy(const config::Config& c);

// After binding (and socket activation): setgroups, setgid, setuid to server.user, verified
// (setuid(0) must then fail, and no capability may remain). Does nothing when not started as root
// or no user is configured. Returns what it did, for the log. Throws std::system_error.
// When a domain's resolver gives mailboxes their own owner (anything but "static"), CAP_SETUID
// and CAP_SETGID are kept (and only they), on every thread: `on_workers` must run its argument
// once on each disk-pool thread (the threads that switch identity per recipient).
std::string drop_privileges(const config::Config& c,
                            const std::function<void(const std::function<void()>&)>& on_workers);

}  // namespace mailslot::app
