// Per-user identity for file creation: setfsuid(2)/setfsgid(2) act on the calling thread only, so
// a disk-pool worker can create one recipient's files as that recipient while the other workers
// and the event loop keep the daemon's identity (Postfix's local(8) switches identity around the
// write too). Only when the daemon runs as root and the mailbox names a uid; otherwise nothing
// changes and every mailbox belongs to the daemon's own user (the virtual-mailbox set-up).
#pragma once

#include <cstdint>

namespace mailslot::delivery {

class Identity {
 public:
  // uid/gid -1: keep the daemon's identity.
  Identity(std::int64_t uid, std::int64_t gid);
  ~Identity();
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  bool switched() const { return switched_; }
  // The uid that files created now belong to, and that a mailbox directory must be owned by.
  std::int64_t owner() const { return owner_; }

 private:
  bool switched_ = false;
  std::int64_t owner_ = -1;
  unsigned old_uid_ = 0;
  unsigned old_gid_ = 0;
  bool caps_lowered_ = false;         // capability mode: fs capabilities off while switched
  std::uint32_t saved_effective_ = 0;
};

// The uid a mailbox's files are created as: its own uid when the daemon is root and it has one,
// else the daemon's effective uid.
std::int64_t effective_owner(std::int64_t uid);
// The same for a caller that has read geteuid() already (`euid`): one system call less.
std::int64_t effective_owner(std::int64_t uid, std::int64_t euid);

// Root (`euid`, the geteuid() the caller has read, is 0), or (after the privilege drop, issue #5)
// CAP_SETUID and CAP_SETGID kept on this thread.
bool may_switch_identity(std::int64_t euid);

}  // namespace mailslot::delivery
