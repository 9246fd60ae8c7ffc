// `mailslotd deliver -f SENDER [-a ORIGINAL_RCPT] RECIPIENT... < message`: the LDA mode for
// Postfix's pipe(8), Exim's pipe transport, procmail-style scripts. Same configuration, same
// resolvers (static, passwd-file, system, aliases, +detail) and the same Maildir store as LMTP
// delivery, so the stored copy is the same; no network, no daemon needed.
//
// Exit status per sysexits.h, for the whole invocation (an MDA's caller applies it to every
// recipient it passed, so callers that want per-recipient retries pass one recipient, e.g.
// Postfix's `<transport>_destination_recipient_limit = 1`):
//   0 every recipient delivered; 75 EX_TEMPFAIL any recipient failed temporarily (retry);
//   otherwise the first permanent failure: 67 EX_NOUSER (no such user or domain), 65 EX_DATAERR
//   (the message: too large, unreadable), 73 EX_CANTCREAT (the mailbox refused it, e.g. full).
// One line per recipient on stderr: "<address>: <code> <enhanced> <text>", the LMTP reply the
// recipient would have had.
#include <sysexits.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "app.hpp"
#include "mailslot/config/load.hpp"
#include "mailslot/lmtp/address.hpp"

namespace mailslot::app {
namespace {


struct Result {
  std::string address;
  delivery::Outcome outcome;
  int exit_code = EX_OK;
};

delivery::Outcome refused(int code, const char* enhanced, std::string text, bool temporary) {
  delivery::Outcome o;
  o.kind = temporary ? delivery::Outcome::Kind::temporary : delivery::Outcome::Kind::permanent;
  o.code = code;
  o.enhanced = enhanced;
  o.text = std::move(text);
  return o;
}

// What an LMTP RCPT would have answered, as an outcome and an exit status.
Result from_resolution(const std::string& address, const delivery::Resolution& r) {
  using S = delivery::Resolution::Status;
  const std::string why = r.reason.empty() ? std::string() : " (" + r.reason + ")";
  switch (r.status) {
    case S::ok: return {address, delivery::Outcome::ok(""), EX_OK};
    case S::unknown_user: return {address, refused(550, "5.1.1", "User unknown" + why, false), EX_NOUSER};
    case S::unknown_domain: return {address, refused(550, "5.1.2", "Domain not served here" + why, false), EX_NOUSER};
    case S::bad_mailbox: return {address, refused(550, "5.1.3", "Bad mailbox name" + why, false), EX_NOUSER};
    case S::over_quota: return {address, refused(552, "5.2.2", "Mailbox is over quota" + why, false), EX_CANTCREAT};
    case S::over_quota_tempfail:
      return {address, refused(452, "4.2.2", "Mailbox is over quota" + why, true), EX_TEMPFAIL};
    case S::temporary: break;
  }
  return {address, refused(451, "4.3.0", "Temporary lookup failure" + why, true), EX_TEMPFAIL};
}

int exit_for(const delivery::Outcome& o) {
  if (o.delivered()) return EX_OK;
  if (o.kind == delivery::Outcome::Kind::temporary) return EX_TEMPFAIL;
  if (o.enhanced.rfind("5.1.", 0) == 0) return EX_NOUSER;
  if (o.enhanced.rfind("5.3.4", 0) == 0 || o.enhanced.rfind("5.6.", 0) == 0) return EX_DATAERR;
  return EX_CANTCREAT;
}

// The message from stdin as the store expects it (what an LMTP DATA decodes to): CRLF line ends.
// Pipes hand over UNIX text (LF); a bare LF becomes CRLF, an existing CRLF stays.
bool read_message(std::uint64_t limit, std::string& out, bool& too_large) {
  std::string raw;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
    if (raw.size() > limit + limit / 8 + 4096) break;  // bounded: CRLF growth is counted below
  }
  out.clear();
  out.reserve(raw.size() + raw.size() / 32);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) out += '\r';
    out += raw[i];
  }
  if (!out.empty() && out.back() != '\n') out += "\r\n";  // RFC 5322: the last line ends too
  too_large = limit != 0 && out.size() > limit;
  return true;
}

}  // namespace

int deliver(const std::string& config_path, const DeliverArgs& args) {
  config::Config cfg;
  Resources res;
  try {
    cfg = load_config(config_path, Overrides{});
    spdlog::set_level(spdlog::level::warn);  // the store's own warnings only; results go below
    res = build_resources(cfg);
  } catch (const std::exception& e) {
    std::cerr << "mailslotd deliver: configuration error: " << e.what() << "\n";
    return EX_CONFIG;
  }

  delivery::Envelope env;
  env.reverse_path = args.sender == "<>" ? std::string() : args.sender;
  env.client_helo = "localhost";
  env.hostname = res.config->hostname;
  env.session_id = "deliver-" + std::to_string(::getpid());
  env.received_at = std::chrono::system_clock::now();
  env.x_original_to = res.config->mail.x_original_to;
  env.per_recipient_headers = res.config->mail.per_recipient_headers;

  std::vector<Result> results;
  std::vector<std::size_t> accepted;  // indexes into results, parallel to env.recipients
  for (const auto& a : args.recipients) {
    std::string text = a.front() == '<' ? a : "<" + a + ">";
    std::size_t used = 0;
    lmtp::PathError perr = lmtp::PathError::none;
    auto path = lmtp::parse_path(text, used, perr);
    if (!path || path->null || used != text.size()) {
      results.push_back({a, refused(550, "5.1.3", "Bad recipient address syntax", false), EX_NOUSER});
      continue;
    }
    const delivery::Resolution resolution = res.recipients->resolve(path->mailbox);
    Result r = from_resolution(path->mailbox.to_string(), resolution);
    if (r.exit_code == EX_OK) {
      accepted.push_back(results.size());
      env.recipients.push_back(resolution.mailbox);
      env.forward_paths.push_back(path->mailbox.to_string());
      env.original_recipients.push_back(args.original_recipient);
      env.dsn_notify.push_back(0);
      env.smtputf8 = env.smtputf8 || path->mailbox.is_utf8();
    }
    results.push_back(std::move(r));
  }

  if (!accepted.empty()) {
    std::string content;
    bool too_large = false;
    std::vector<delivery::Outcome> outcomes;
    if (!read_message(res.config->limits.max_message_size, content, too_large)) {
      outcomes.assign(accepted.size(), refused(451, "4.3.0", std::string("Cannot read the message: ") + std::strerror(errno), true));
    } else if (too_large) {
      outcomes.assign(accepted.size(), refused(552, "5.3.4", "Message too big for system", false));
    } else {
      delivery::Outcome failure;
      auto writer = res.store->begin(env, failure);
      if (!writer) {
        outcomes.assign(accepted.size(), failure);
      } else if (auto f = writer->append(content)) {
        writer->discard();
        outcomes.assign(accepted.size(), *f);
      } else {
        outcomes = writer->commit();
      }
    }
    outcomes.resize(accepted.size(), refused(451, "4.3.0", "Internal error: no delivery result", true));
    for (std::size_t i = 0; i < accepted.size(); ++i) {
      results[accepted[i]].outcome = outcomes[i];
      results[accepted[i]].exit_code = exit_for(outcomes[i]);
    }
  }

  int status = EX_OK;
  for (const auto& r : results) {
    const auto& o = r.outcome;
    std::cerr << r.address << ": " << o.code << " " << o.enhanced << " " << o.text
              << (o.location.empty() ? "" : " file=" + o.location) << "\n";
    if (r.exit_code == EX_TEMPFAIL) status = EX_TEMPFAIL;
    else if (status == EX_OK) status = r.exit_code;
  }
  if (results.empty()) return EX_SOFTWARE;
  return status;
}

}  // namespace mailslot::app
