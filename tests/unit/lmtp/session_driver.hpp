// A small owner for lmtp::Session in tests: answers its requests the way server::Connection and
// delivery would, records what it was asked, and collects the bytes written to the client.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mailslot/lmtp/session.hpp"

namespace mailslot::lmtp::test {

inline SessionOptions test_options() {
  SessionOptions o;
  o.hostname = "mx.test";
  return o;
}

class Driver {
 public:
  explicit Driver(SessionOptions options = test_options()) : s(std::move(options)) { pump(); }

  Session s;

  // Policy. Defaults: a local part starting with "unknown" does not exist, everyone else does;
  // the spool opens, appends succeed and every recipient is saved.
  std::function<Reply(const Path&)> verdict = [](const Path& p) {
    if (p.mailbox.local_part.rfind("unknown", 0) == 0) return Reply{550, "5.1.1", "User unknown"};
    return Reply{250, "2.1.5", "OK"};
  };
  std::optional<Reply> open_failure;
  std::optional<Reply> append_failure;
  std::function<std::vector<Reply>(const Transaction&)> commit = [](const Transaction& t) {
    std::vector<Reply> r;
    for (const Recipient& rc : t.recipients)
      r.push_back({250, "2.0.0", rc.forward_path.to_string() + " Saved"});
    return r;
  };
  bool auto_answer = true;
  // Issue #5: STARTTLS succeeds (or not) and offers these mechanisms after it; AUTH steps are
  // answered by `sasl` (default: a failure).
  bool tls_ok = true;
  std::vector<std::string> mechanisms_after_tls{"PLAIN", "LOGIN"};
  std::function<AuthStep(const Authenticate&)> sasl = [](const Authenticate&) {
    return AuthStep{AuthStep::Kind::failure, "", Reply{535, "5.7.8", "Authentication credentials invalid"}, ""};
  };

  // What happened.
  std::vector<std::string> events;     // "check <a@b>", "open", "append", "commit", "discard"
  std::vector<std::string> delivered;  // bodies committed
  std::vector<std::size_t> append_sizes;
  std::string spool;  // body of the open message
  bool spool_open = false;

  void send(std::string_view bytes) {
    s.receive(bytes);
    pump();
  }
  void send_bytewise(std::string_view bytes) {
    for (char c : bytes) send(std::string_view(&c, 1));
  }
  void eof() {
    s.receive_eof();
    pump();
  }

  // Output written since the last take().
  std::string take() {
    std::string o;
    o.swap(wire_);
    return o;
  }

  // Answers the pending request once, using the policy.
  void answer() {
    const Request& req = s.request();
    if (const auto* c = std::get_if<CheckRecipient>(&req)) {
      events.push_back("check " + c->forward_path.to_string());
      Reply r = verdict(c->forward_path);
      s.recipient_checked({std::move(r), nullptr});
    } else if (std::holds_alternative<OpenMessage>(req)) {
      events.push_back("open");
      if (!open_failure) {
        spool.clear();
        spool_open = true;
      }
      s.message_opened(open_failure);
    } else if (const auto* a = std::get_if<AppendBody>(&req)) {
      events.push_back("append");
      append_sizes.push_back(a->data.size());
      spool.append(a->data);
      s.body_appended(append_failure);
    } else if (std::holds_alternative<CommitMessage>(req)) {
      events.push_back("commit");
      delivered.push_back(spool);
      spool_open = false;
      s.message_committed(commit(s.transaction()));
    } else if (std::holds_alternative<DiscardMessage>(req)) {
      events.push_back("discard");
      spool_open = false;
      s.message_discarded();
    } else if (std::holds_alternative<StartTls>(req)) {
      events.push_back("starttls");
      collect();  // the 220 went out in clear before the handshake
      if (tls_ok) {
        s.tls_started(mechanisms_after_tls);
      } else {
        s.tls_failed();
      }
    } else if (const auto* au = std::get_if<Authenticate>(&req)) {
      events.push_back("auth " + au->mechanism + (au->start ? " start " : " step ") + au->response.value_or("(none)"));
      s.auth_stepped(sasl(*au));
    }
    collect();
  }

  void pump() {
    collect();
    while (auto_answer && s.has_request()) answer();
  }

 private:
  void collect() {
    wire_.append(s.output());
    s.consume_output(s.output().size());
  }
  std::string wire_;
};

// Joins reply lines with CRLF: lines("250 OK", "221 Bye") == "250 OK\r\n221 Bye\r\n".
template <typename... T>
std::string lines(const T&... l) {
  std::string out;
  ((out += std::string(l) + "\r\n"), ...);
  return out;
}

}  // namespace mailslot::lmtp::test
