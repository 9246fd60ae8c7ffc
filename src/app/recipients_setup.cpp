// Config → RecipientRouter: one user database per domain ([domains.*] or the static mail.* ones),
// the aliases file, the postmaster fallback and the default quota.
#include "recipients_setup.hpp"

#include <stdexcept>

#include "mailslot/delivery/passwd_file.hpp"
#include "mailslot/delivery/recipient_router.hpp"
#include "mailslot/delivery/user_mailbox.hpp"

namespace mailslot::app {

namespace {

delivery::DetailFolders detail_policy(const std::string& s) {
  if (s == "off") return delivery::DetailFolders::off;
  if (s == "create") return delivery::DetailFolders::create;
  return delivery::DetailFolders::existing;
}

std::shared_ptr<const delivery::StaticRecipients> static_db(const config::Config& c, const std::string& domain,
                                                            const std::string& tmpl,
                                                            const std::vector<std::string>& users) {
  delivery::StaticRecipientsOptions o;
  o.root = c.mail.root;
  o.mailbox_template = tmpl;
  o.domains = {domain};
  o.users = users;
  o.fold_case = c.mail.fold_case;
  return std::make_shared<delivery::StaticRecipients>(std::move(o));
}

}  // namespace

std::shared_ptr<const delivery::Recipients> build_recipients(const config::Config& c) {
  delivery::RouterOptions o;
  o.delimiters = c.mail.recipient_delimiter;
  o.fold_case = c.mail.fold_case;
  o.detail_folders = detail_policy(c.mail.detail_folders);
  o.default_quota = {c.mail.quota, c.mail.quota_messages};
  for (const auto& d : c.mail.domains) o.domains[d] = static_db(c, d, c.mail.mailbox, c.mail.users);
  std::map<std::filesystem::path, std::shared_ptr<const delivery::UserDb>> files;  // one table per file
  for (const auto& d : c.domains) {
    std::shared_ptr<const delivery::UserDb> db;
    if (d.resolver == "passwd-file") {
      auto& shared = files[d.passwd_file];
      if (!shared) {
        delivery::PasswdFileOptions p;
        p.file = d.passwd_file;
        p.root = c.mail.root;
        if (!d.mailbox.empty()) p.mailbox_template = d.mailbox;
        p.fold_case = c.mail.fold_case;
        shared = std::make_shared<delivery::PasswdFileUserDb>(std::move(p));
      }
      db = shared;
    } else if (d.resolver == "system") {
      db = std::make_shared<delivery::SystemUserDb>(c.mail.root, d.mailbox.empty() ? "{home}/Maildir" : d.mailbox);
    } else {
      db = static_db(c, d.name, d.mailbox.empty() ? c.mail.mailbox : d.mailbox, d.users);
    }
    o.domains[d.name] = std::move(db);
  }
  o.default_domain = !c.mail.domains.empty() ? c.mail.domains.front() : c.domains.front().name;
  // RFC 5321 §4.5.1: postmaster must always be deliverable. When a domain's users and the aliases
  // do not know it, it goes to "<mail.root>/<domain>/postmaster/Maildir".
  o.postmaster = static_db(c, "", "{domain}/{user}/Maildir", {});
  if (!c.mail.aliases.empty()) o.aliases = std::make_shared<delivery::AliasFile>(c.mail.aliases);
  return std::make_shared<delivery::RecipientRouter>(std::move(o));
}

}  // namespace mailslot::app
