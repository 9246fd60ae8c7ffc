// The Recipients the daemon uses: the address is taken apart once (delimiter, case), aliases are
// expanded, the domain's user database is asked, and the mail host's rules are applied on top:
// postmaster is always accepted (RFC 5321 §4.5.1), "+detail" becomes a Maildir++ folder, users
// without their own quota get the default one.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "mailslot/delivery/aliases.hpp"
#include "mailslot/delivery/recipients.hpp"
#include "mailslot/delivery/watched_file.hpp"

namespace mailslot::delivery {

struct RouterOptions {
  std::string delimiters;  // recipient_delimiter: each character is one ("" = none)
  bool fold_case = true;
  DetailFolders detail_folders = DetailFolders::existing;
  QuotaLimits default_quota;                                  // for users without their own
  std::map<std::string, std::shared_ptr<const UserDb>> domains;  // lowercased domain → its users
  std::shared_ptr<const AliasFile> aliases;                   // may be null
  // Where postmaster goes when neither the domain's users nor the aliases know it.
  std::shared_ptr<const UserDb> postmaster;
  std::string default_domain;  // for a bare <postmaster> (RFC 5321 §4.1.1.3)
};

class RecipientRouter final : public Recipients {
 public:
  explicit RecipientRouter(RouterOptions options);
  Resolution resolve(const lmtp::Mailbox& address) const override;
  bool blocking() const override { return blocking_; }
  bool refresh_due() const override { return gate_.due(); }
  std::vector<std::string> refresh(bool force) const override;

 private:
  Resolution resolve_parts(const AddressParts& parts, int depth, std::set<std::string>& seen) const;
  Resolution expand_alias(const AddressParts& parts, const std::vector<lmtp::Mailbox>& targets, int depth,
                          std::set<std::string>& seen) const;
  std::shared_ptr<const Mailbox> finish(const AddressParts& parts, std::shared_ptr<const Mailbox> m) const;

  RouterOptions opt_;
  bool blocking_ = false;
  CheckGate gate_;
};

}  // namespace mailslot::delivery
