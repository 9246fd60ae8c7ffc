// PasswdFileUserDb: Dovecot passwd-file users, re-read when the file changes, and the path rules
// shared with system users (a Maildir outside mail.root is walked from the user's home).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "mailslot/delivery/passwd_file.hpp"
#include "mailslot/delivery/user_mailbox.hpp"

namespace mailslot::delivery {

namespace {
using std::filesystem::path;

bool below(const path& dir, const path& p) {
  const path rel = p.lexically_relative(dir);
  return !rel.empty() && rel != "." && *rel.begin() != "..";
}
}  // namespace

Resolution user_mailbox(const AddressParts& a, const std::string& location, const std::string& home,
                        std::int64_t uid, std::int64_t gid, const path& root) {
  using Status = Resolution::Status;
  if (location.empty()) return refuse(Status::temporary, "No mail location for this user");
  path maildir(location);
  for (const path& c : maildir) {
    if (c == "..") return refuse(Status::bad_mailbox, "Mail location contains '..'");
  }
  path base;
  if (maildir.is_relative()) {
    const auto full = maildir_below(root, location);
    if (!full) return refuse(Status::bad_mailbox, "Mail location is not below mail.root");
    maildir = *full;
  } else {
    maildir = maildir.lexically_normal();
    if (!maildir.has_filename()) maildir = maildir.parent_path();
    const path r = root.lexically_normal();
    if (!root.empty() && below(r, maildir)) {
      base.clear();  // the store's mail.root
    } else if (!home.empty() && below(path(home).lexically_normal(), maildir)) {
      base = path(home).lexically_normal();
    } else {
      base = maildir.parent_path();
    }
  }
  auto m = std::make_shared<Mailbox>();
  m->address = a.address();
  m->maildir = std::move(maildir);
  m->base = std::move(base);
  m->uid = uid;
  m->gid = gid;
  Resolution r;
  r.status = Status::ok;
  r.mailbox = std::move(m);
  return r;
}

PasswdFileUserDb::PasswdFileUserDb(PasswdFileOptions options) : opt_(std::move(options)) {
  int err = 0;
  const auto stamp = stamp_of(opt_.file, err);
  if (!stamp) throw std::runtime_error(opt_.file.string() + ": " + std::strerror(err));
  if (auto problems = load(*stamp); !problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "\n") + p;
    throw std::runtime_error(all);
  }
  const auto uses = template_placeholders(opt_.mailbox_template);
  if (!uses) throw std::runtime_error("mailbox template '" + opt_.mailbox_template + "' is malformed");
}

std::vector<std::string> PasswdFileUserDb::load(const FileStamp& stamp) const {
  int err = 0;
  const auto text = read_text(opt_.file, err);
  std::vector<std::string> problems;
  if (!text) {
    problems.push_back(opt_.file.string() + ": " + std::strerror(err));
    return problems;
  }
  auto table = std::make_shared<const PasswdTable>(parse_passwd_file(*text, opt_.file.string(), opt_.fold_case, problems));
  const std::lock_guard lock(mutex_);
  seen_ = stamp;
  if (problems.empty()) table_ = std::move(table);
  return problems;
}

std::vector<std::string> PasswdFileUserDb::refresh(bool force) const {
  int err = 0;
  const auto stamp = stamp_of(opt_.file, err);
  if (!stamp) {
    // A file being replaced may be missing for a moment: keep the table.
    std::lock_guard lock(mutex_);
    if (!force && !seen_) return {};
    seen_.reset();
    return {opt_.file.string() + ": " + std::strerror(err) + " (keeping the users loaded before)"};
  }
  {
    const std::lock_guard lock(mutex_);
    if (!force && seen_ == stamp) return {};
  }
  auto problems = load(*stamp);
  if (!problems.empty()) problems.push_back(opt_.file.string() + ": not reloaded, keeping the users loaded before");
  return problems;
}

Resolution PasswdFileUserDb::lookup(const AddressParts& a) const {
  std::shared_ptr<const PasswdTable> table;
  {
    const std::lock_guard lock(mutex_);
    table = table_;
  }
  if (!is_safe_path_component(a.user)) return refuse(Resolution::Status::bad_mailbox, "Mailbox name not allowed");
  auto it = table->find(a.user + "@" + a.domain);
  if (it == table->end()) it = table->find(a.user);
  if (it == table->end()) return refuse(Resolution::Status::unknown_user, "No such user here");
  const PasswdEntry& e = it->second;
  std::optional<std::string> location;
  if (!e.mail.empty()) {
    location = expand_mail_location(e.mail, a, e.home);
  } else {
    const auto uses = template_placeholders(opt_.mailbox_template);
    const bool needs_home = uses && std::find(uses->begin(), uses->end(), "home") != uses->end();
    if (!needs_home || !e.home.empty()) {
      location = expand_template(opt_.mailbox_template, {{"user", a.user},
                                                         {"local", a.user},
                                                         {"domain", a.domain},
                                                         {"detail", a.detail},
                                                         {"home", e.home}});
    }
  }
  if (!location) return refuse(Resolution::Status::temporary, "User has no home directory for its mail location");
  Resolution r = user_mailbox(a, *location, e.home, e.uid, e.gid, opt_.root);
  if (r.mailbox && e.quota) {
    auto m = std::make_shared<Mailbox>(*r.mailbox);
    m->quota = *e.quota;
    r.mailbox = std::move(m);
  }
  return r;
}

}  // namespace mailslot::delivery
