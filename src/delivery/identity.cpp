// Identity: per-thread file-system uid/gid around one recipient's delivery.
#include "mailslot/delivery/identity.hpp"

#include <sys/fsuid.h>
#include <unistd.h>

namespace mailslot::delivery {

std::int64_t effective_owner(std::int64_t uid) {
  if (uid >= 0 && ::geteuid() == 0) return uid;
  return ::geteuid();
}

Identity::Identity(std::int64_t uid, std::int64_t gid) : owner_(effective_owner(uid)) {
  if (uid < 0 || ::geteuid() != 0) return;
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
}

}  // namespace mailslot::delivery
