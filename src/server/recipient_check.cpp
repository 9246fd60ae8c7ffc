// RCPT time, the parts that may block: re-reading changed user and alias files, resolvers that
// ask NSS, and the quota check against maildirsize. Each runs on the disk pool; the common case
// (in-memory lookup, no quota) never leaves the event loop.
#include <spdlog/spdlog.h>

#include "mailslot/delivery/quota.hpp"
#include "mailslot/server/connection.hpp"

namespace mailslot::server {

awaitable<delivery::Resolution> Connection::resolve_recipient(const lmtp::CheckRecipient& r) {
  const delivery::Recipients& recipients = *ctx_.recipients;
  if (recipients.refresh_due()) {
    // At most once a second for the whole daemon (CheckGate): a stat per file, a re-read on change.
    const auto problems = co_await ctx_.disk->run([&recipients] { return recipients.refresh(false); });
    for (const auto& p : problems) spdlog::error("recipients: {}", p);
  }
  const lmtp::Mailbox& address = r.forward_path.mailbox;
  // (No co_await inside a conditional expression: g++ 12 miscompiles it.)
  delivery::Resolution res;
  if (recipients.blocking()) {
    res = co_await ctx_.disk->run([&recipients, &address] { return recipients.resolve(address); });
  } else {
    res = recipients.resolve(address);
  }
  const auto& mail = ctx_.config->mail;
  // RCPT ... IGNOREQUOTA from a client allowed it (lmtp::Session decided): no quota check here,
  // and the store skips its own at commit (Envelope::ignore_quota).
  if (res.status != delivery::Resolution::Status::ok || !mail.rcpt_check_quota || r.ignore_quota) co_return res;
  // RFC 1870: with MAIL SIZE= the size is known now; without it, a mailbox already full is refused.
  const std::uint64_t size = session_.transaction().declared_size.value_or(0);
  const auto& root = mail.root;
  const bool tempfail = mail.quota_full_tempfail;
  const auto& targets = res.mailbox->targets;  // an alias: every target is checked
  bool any_quota = targets.empty() && res.mailbox->quota.any();
  for (const auto& t : targets) any_quota = any_quota || t->quota.any();
  if (!any_quota) co_return res;  // the common case: no allocation, no trip to the pool
  std::vector<std::shared_ptr<const delivery::Mailbox>> boxes = targets;
  if (boxes.empty()) boxes.push_back(res.mailbox);
  std::optional<delivery::Outcome> full = co_await ctx_.disk->run([&boxes, &root, size, tempfail]() -> std::optional<delivery::Outcome> {
    for (const auto& b : boxes) {
      if (auto f = delivery::check_quota_at_rcpt(*b, root, size, tempfail)) return f;
    }
    return std::nullopt;
  });
  if (full) {
    res.status = tempfail ? delivery::Resolution::Status::over_quota_tempfail : delivery::Resolution::Status::over_quota;
    res.reason.clear();
    res.mailbox.reset();
  }
  co_return res;
}

}  // namespace mailslot::server
