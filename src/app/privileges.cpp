// Dropping root once, at start-up, where a reader sees it (OpenSMTPD's and Postfix's habit): bind
// the privileged sockets, then become the configured user for the rest of the process's life.
#include "privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <charconv>
#include <optional>
#include <system_error>
#include <vector>

#include "mailslot/config/load.hpp"

namespace mailslot::app {
namespace {

struct Account {
  uid_t uid = 0;
  gid_t gid = 0;
};

std::optional<unsigned long> number(const std::string& s) {
  unsigned long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// server.user (name or uid) and server.group (name or gid; default: the user's primary group).
Account account(const config::Config& c) {
  Account a;
  std::vector<char> buf(16384);
  if (auto id = number(c.user)) {
    a.uid = static_cast<uid_t>(*id);
    passwd pw{};
    passwd* found = nullptr;
    ::getpwuid_r(a.uid, &pw, buf.data(), buf.size(), &found);
    a.gid = found != nullptr ? pw.pw_gid : static_cast<gid_t>(*id);
  } else {
    passwd pw{};
    passwd* found = nullptr;
    ::getpwnam_r(c.user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (found == nullptr) throw config::ConfigError({"server.user: no such user \"" + c.user + "\""});
    a.uid = pw.pw_uid;
    a.gid = pw.pw_gid;
  }
  if (!c.group.empty()) {
    if (auto id = number(c.group)) {
      a.gid = static_cast<gid_t>(*id);
    } else {
      group gr{};
      group* found = nullptr;
      ::getgrnam_r(c.group.c_str(), &gr, buf.data(), buf.size(), &found);
      if (found == nullptr) throw config::ConfigError({"server.group: no such group \"" + c.group + "\""});
      a.gid = gr.gr_gid;
    }
  }
  return a;
}

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::system_category(), what); }

}  // namespace

void forbid_new_privileges() {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
}

void check_privilege_policy(const config::Config& c) {
  if (!c.user.empty()) {
    const Account a = account(c);  // unknown names fail now, before anything is bound
    if (a.uid == 0 && !c.allow_root) {
      throw config::ConfigError({"server.user: \"" + c.user + "\" is root; delivering mail as root needs "
                                 "server.allow_root = true"});
    }
    return;
  }
  if (::geteuid() == 0 && !c.allow_root) {
    throw config::ConfigError(
        {"started as root with no server.user: set server.user (mailslotd binds its sockets, then runs as "
         "that user) or, to deliver as root on purpose, server.allow_root = true"});
  }
}

bool needs_per_user_identity(const config::Config& c) {
  for (const auto& d : c.domains) {
    if (d.resolver != "static") return true;
  }
  return false;
}

// The capabilities per-user delivery needs: CAP_SETUID and CAP_SETGID for setfsuid/setfsgid
// around each recipient's files (src/delivery/identity.cpp); CAP_CHOWN to give a new Maildir in a
// home to its user and CAP_DAC_OVERRIDE to walk into it as the daemon (src/delivery/
// delivery_plan.cpp). Identity lowers the last two while acting as a user. Nothing else.
constexpr std::uint32_t kKept =
    (1u << CAP_SETUID) | (1u << CAP_SETGID) | (1u << CAP_CHOWN) | (1u << CAP_DAC_OVERRIDE);

void set_keepcaps() {
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_KEEPCAPS)");
}

void keep_only_identity_caps() {
  __user_cap_header_struct head{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  data[0].effective = data[0].permitted = kKept;
  if (::syscall(SYS_capset, &head, data) != 0) fail("capset");
  ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
}

std::string drop_privileges(const config::Config& c,
                            const std::function<void(const std::function<void()>&)>& on_workers) {
  if (::geteuid() != 0) {
    return c.user.empty() ? "" : "server.user = \"" + c.user + "\" not applied: not started as root";
  }
  if (c.user.empty()) return "running as root (server.allow_root = true)";
  const Account a = account(c);
  const bool keep = a.uid != 0 && needs_per_user_identity(c);
  if (keep) {  // capabilities and PR_SET_KEEPCAPS are per thread: the main thread and every worker
    set_keepcaps();
    on_workers(set_keepcaps);
  }
  // Order matters: groups and gid while we may still change them, the uid last.
  // glibc applies each of these to every thread of the process (the disk pool exists already).
  if (::setgroups(1, &a.gid) != 0) fail("setgroups");
  if (::setgid(a.gid) != 0) fail("setgid(" + std::to_string(a.gid) + ")");
  if (::setuid(a.uid) != 0) fail("setuid(" + std::to_string(a.uid) + ")");
  // Verified, not assumed (CERT POS37-C): real, effective and saved ids all changed, and root
  // cannot be regained.
  uid_t ru = 0, eu = 0, su = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  ::getresuid(&ru, &eu, &su);
  ::getresgid(&rg, &eg, &sg);
  if (ru != a.uid || eu != a.uid || su != a.uid || rg != a.gid || eg != a.gid || sg != a.gid) {
    errno = EPERM;
    fail("privilege drop: ids not changed as asked");
  }
  if (keep) {
    keep_only_identity_caps();
    on_workers(keep_only_identity_caps);
  }
  if (a.uid != 0 && !keep && ::setuid(0) == 0) {
    errno = EPERM;
    fail("privilege drop: setuid(0) succeeded afterwards");
  }
  if (a.uid != 0) {
    __user_cap_header_struct head{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &head, data) != 0) fail("capget");
    const std::uint32_t allowed = keep ? kKept : 0;
    if ((data[0].effective & ~allowed) != 0 || data[1].effective != 0 || (data[0].permitted & ~allowed) != 0 ||
        data[1].permitted != 0) {
      errno = EPERM;
      fail("privilege drop: capabilities remain");
    }
  }
  return "dropped privileges: uid " + std::to_string(a.uid) + " (" + c.user + "), gid " + std::to_string(a.gid) +
         ", no supplementary groups, " +
         (keep ? "capabilities kept: CAP_SETUID, CAP_SETGID, CAP_CHOWN, CAP_DAC_OVERRIDE only (per-user mailbox ownership: a domain's resolver "
                 "is not static)"
               : "no capabilities");
}

}  // namespace mailslot::app
