// Users with their own databases (passwd-file, system): where their Maildir is and whose it is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "mailslot/delivery/recipients.hpp"

namespace mailslot::delivery {

// The mailbox for a user's mail location: a relative location lies below `root` (mail.root); an
// absolute one below mail.root is walked from there, else from `home` when it lies below it, else
// from its parent directory. '..' is refused anywhere in it.
Resolution user_mailbox(const AddressParts& address, const std::string& location, const std::string& home,
                        std::int64_t uid, std::int64_t gid, const std::filesystem::path& root);

// System users (getpwnam): the mailbox is `template` with {home} (default "{home}/Maildir"),
// delivered as the user's uid/gid. uid 0 is refused (root's mail belongs in an alias).
// getpwnam may ask NSS (LDAP, ...): blocking() is true, the server resolves on the disk pool.
class SystemUserDb final : public UserDb {
 public:
  SystemUserDb(std::filesystem::path root, std::string mailbox_template = "{home}/Maildir");
  Resolution lookup(const AddressParts& address) const override;
  bool blocking() const override { return true; }

 private:
  std::filesystem::path root_;
  std::string template_;
};

}  // namespace mailslot::delivery
