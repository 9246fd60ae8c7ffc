// SystemUserDb: local accounts through getpwnam_r (NSS).
#include <pwd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "mailslot/delivery/user_mailbox.hpp"

namespace mailslot::delivery {

SystemUserDb::SystemUserDb(std::filesystem::path root, std::string mailbox_template)
    : root_(std::move(root)), template_(std::move(mailbox_template)) {
  if (!template_placeholders(template_))
    throw std::invalid_argument("mailbox template '" + template_ + "' is malformed");
}

Resolution SystemUserDb::lookup(const AddressParts& a) const {
  using Status = Resolution::Status;
  if (!is_safe_path_component(a.user)) return refuse(Status::bad_mailbox, "Mailbox name not allowed");
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16 * 1024);
  int err = 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    err = ::getpwnam_r(a.user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (err != ERANGE) break;
    buf.resize(buf.size() * 4);
  }
  // getpwnam_r(3): 0 with no entry, or ENOENT/ESRCH/EBADF/EPERM from some NSS modules, mean "no such user".
  if (found == nullptr && (err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM))
    return refuse(Status::unknown_user, "No such user here");
  if (found == nullptr) return refuse(Status::temporary, std::string("User lookup failed: ") + std::strerror(err));
  if (pw.pw_uid == 0) return refuse(Status::unknown_user, "Mail for root is not delivered (alias it)");
  const std::string home = pw.pw_dir != nullptr ? pw.pw_dir : "";
  if (home.empty() || home.front() != '/') return refuse(Status::temporary, "User has no home directory");
  const auto location = expand_template(
      template_, {{"user", a.user}, {"local", a.user}, {"domain", a.domain}, {"detail", a.detail}, {"home", home}});
  if (!location) return refuse(Status::temporary, "Mailbox template cannot be expanded");
  return user_mailbox(a, *location, home, pw.pw_uid, pw.pw_gid, root_);
}

}  // namespace mailslot::delivery
