// Identity: per-thread file-system uid/gid around one recipient's delivery.
#include "mailslot/delivery/identity.hpp"

#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace mailslot::delivery {

bool may_switch_identity(std::int64_t euid) {
  if (euid == 0) return true;
  // Issue #5: after the privilege drop, a daemon that delivers per user keeps CAP_SETUID and
  // CAP_SETGID (src/app/privileges.cpp); capabilities are per thread, so ask for this one.
  __user_cap_header_struct head{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &head, data) != 0) return false;
  const std::uint32_t need = (1u << CAP_SETUID) | (1u << CAP_SETGID);
  return (data[0].effective & need) == need;
}

std::int64_t effective_owner(std::int64_t uid) { return effective_owner(uid, ::geteuid()); }

std::int64_t effective_owner(std::int64_t uid, std::int64_t euid) {
  return uid >= 0 && may_switch_identity(euid) ? uid : euid;
}

Identity::Identity(std::int64_t uid, std::int64_t gid) {
  const std::int64_t euid = ::geteuid();  // once: every delivery passes here
  const bool may_switch = uid >= 0 && may_switch_identity(euid);
  owner_ = may_switch ? uid : euid;
  if (!may_switch) return;
  if (euid != 0) {
    // Capability mode (issue #5): the fs uid is not 0 before or after, so the kernel does not
    // drop the file-system capabilities for us as it does for root (capabilities(7)): drop
    // CAP_DAC_OVERRIDE and CAP_CHOWN from this thread's effective set while acting as the user,
    // so the user's own permissions apply, exactly as when the daemon runs as root.
    __user_cap_header_struct head{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &head, data) == 0) {
      saved_effective_ = data[0].effective;
      data[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_CHOWN));
      if (::syscall(SYS_capset, &head, data) == 0) caps_lowered_ = true;
    }
  }
  const auto new_gid = static_cast<unsigned>(gid >= 0 ? gid : ::getegid());
  // setfsgid first: once the fs uid is not root, changing the fs gid is no longer allowed.
  old_gid_ = static_cast<unsigned>(::setfsgid(new_gid));
  old_uid_ = static_cast<unsigned>(::setfsuid(static_cast<uid_t>(uid)));
  switched_ = true;
}

Identity::~Identity() {
  if (!switched_) return;
  ::setfsuid(old_uid_);
  ::setfsgid(old_gid_);
  if (caps_lowered_) {
    __user_cap_header_struct head{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &head, data) == 0) {
      data[0].effective = saved_effective_;
      ::syscall(SYS_capset, &head, data);
    }
  }
}

}  // namespace mailslot::delivery
