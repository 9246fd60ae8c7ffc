// RecipientRouter: aliases, per-domain user databases, postmaster, +detail folders, default quota.
#include "mailslot/delivery/recipient_router.hpp"

#include <set>

#include "mailslot/delivery/domain_name.hpp"
#include "mailslot/lmtp/ascii.hpp"

namespace mailslot::delivery {

namespace {
// sendmail's and Postfix's limit on nested aliases is in this range; a deeper chain is a loop in all
// but name.
constexpr int kMaxAliasDepth = 8;
}  // namespace

RecipientRouter::RecipientRouter(RouterOptions options) : opt_(std::move(options)) {
  std::map<std::string, std::shared_ptr<const UserDb>> lowered;
  for (auto& [d, db] : opt_.domains) {
    // Compared as A-labels, like the RCPT domains (split_address).
    const auto n = normalize_domain(d);
    lowered[n ? n->ascii : lmtp::ascii::lower(d)] = db;
    blocking_ = blocking_ || (db && db->blocking());
  }
  opt_.domains = std::move(lowered);
  if (const auto n = normalize_domain(opt_.default_domain)) {
    opt_.default_domain = n->ascii;
  } else {
    opt_.default_domain = lmtp::ascii::lower(opt_.default_domain);
  }
  if (opt_.postmaster) blocking_ = blocking_ || opt_.postmaster->blocking();
}

std::vector<std::string> RecipientRouter::refresh(bool force) const {
  std::vector<std::string> problems;
  std::set<const UserDb*> done;  // several domains may share one file
  for (const auto& [d, db] : opt_.domains) {
    if (!db || !done.insert(db.get()).second) continue;
    auto p = db->refresh(force);
    problems.insert(problems.end(), p.begin(), p.end());
  }
  if (opt_.aliases) {
    auto p = opt_.aliases->refresh(force);
    problems.insert(problems.end(), p.begin(), p.end());
  }
  return problems;
}

Resolution RecipientRouter::resolve(const lmtp::Mailbox& address) const {
  AddressParts parts = split_address(address, opt_.delimiters, opt_.fold_case);
  if (!parts.domain_valid) return refuse(Resolution::Status::unknown_domain, "Domain name is not valid IDNA2008");
  if (!parts.local_valid) return refuse(Resolution::Status::bad_mailbox, "Mailbox name not allowed");
  if (parts.domain.empty()) {
    // RFC 5321 §4.1.1.3: <postmaster> without a domain is this host's postmaster.
    if (!parts.postmaster || opt_.default_domain.empty())
      return refuse(Resolution::Status::unknown_domain, "No such domain here");
    parts.domain = parts.display_domain = opt_.default_domain;
  }
  std::set<std::string> seen;
  return resolve_parts(parts, 0, seen);
}

Resolution RecipientRouter::resolve_parts(const AddressParts& parts, int depth, std::set<std::string>& seen) const {
  using Status = Resolution::Status;
  const auto db = opt_.domains.find(parts.domain);
  if (db == opt_.domains.end() || !db->second)
    return refuse(Status::unknown_domain, "Domain " + parts.domain + " is not served here");

  if (opt_.aliases) {
    // "user+detail" may have an alias of its own; otherwise the user's alias gets the detail.
    const std::string user = lmtp::ascii::lower(parts.user);
    std::vector<std::string> keys;
    if (parts.has_detail) {
      const std::string full = user + parts.delimiter + lmtp::ascii::lower(parts.detail);
      keys = {full + "@" + parts.domain, full};
    }
    keys.push_back(user + "@" + parts.domain);
    keys.push_back(user);
    for (const auto& key : keys) {
      if (auto targets = opt_.aliases->lookup(key)) {
        if (depth >= kMaxAliasDepth || !seen.insert(key + "@" + parts.domain).second)
          return refuse(Status::temporary, "Alias loop at " + key);
        return expand_alias(parts, *targets, depth, seen);
      }
    }
  }

  Resolution r = db->second->lookup(parts);
  if (r.status == Status::unknown_user && parts.postmaster && opt_.postmaster) r = opt_.postmaster->lookup(parts);
  if (r.status == Status::ok) r.mailbox = finish(parts, std::move(r.mailbox));
  return r;
}

Resolution RecipientRouter::expand_alias(const AddressParts& parts, const std::vector<lmtp::Mailbox>& targets,
                                         int depth, std::set<std::string>& seen) const {
  std::vector<std::shared_ptr<const Mailbox>> found;
  std::optional<Resolution> first_failure;
  for (const lmtp::Mailbox& t : targets) {
    AddressParts tp = split_address(t, opt_.delimiters, opt_.fold_case);
    if (tp.domain.empty()) tp.domain = parts.domain;
    if (!tp.has_detail && parts.has_detail) {  // the detail survives the alias (a common complaint)
      tp.has_detail = true;
      tp.detail = parts.detail;
      tp.delimiter = parts.delimiter;
    }
    Resolution r = resolve_parts(tp, depth + 1, seen);
    if (r.status != Resolution::Status::ok) {
      r.reason = "alias target " + tp.address() + ": " + r.reason;
      // A temporary failure outranks a permanent one: the whole RCPT is retried.
      if (!first_failure || (r.status == Resolution::Status::temporary &&
                             first_failure->status != Resolution::Status::temporary))
        first_failure = std::move(r);
      continue;
    }
    if (r.mailbox->targets.empty()) {
      found.push_back(r.mailbox);
    } else {
      found.insert(found.end(), r.mailbox->targets.begin(), r.mailbox->targets.end());
    }
  }
  // A temporary failure of any target defers the RCPT (the MTA retries all of it); permanent
  // failures of some targets are logged and the others still get the mail.
  if (first_failure && (found.empty() || first_failure->status == Resolution::Status::temporary))
    return std::move(*first_failure);
  Resolution r;
  r.status = Resolution::Status::ok;
  if (found.size() == 1) {
    auto m = std::make_shared<Mailbox>(*found.front());
    m->address = parts.address();
    r.mailbox = std::move(m);
  } else {
    auto m = std::make_shared<Mailbox>();
    m->address = parts.address();
    m->targets = std::move(found);
    r.mailbox = std::move(m);
  }
  if (first_failure) r.reason = first_failure->reason;
  return r;
}

std::shared_ptr<const Mailbox> RecipientRouter::finish(const AddressParts& parts, std::shared_ptr<const Mailbox> m) const {
  auto out = std::make_shared<Mailbox>(*m);
  out->address = parts.address();
  if (parts.has_detail && opt_.detail_folders != DetailFolders::off) {
    out->folder = sanitize_folder_name(parts.detail);
    out->folder_policy = out->folder.empty() ? DetailFolders::off : opt_.detail_folders;
  }
  if (!out->quota.any()) out->quota = opt_.default_quota;
  return out;
}

}  // namespace mailslot::delivery
