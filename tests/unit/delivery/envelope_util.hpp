// The envelope the Maildir store tests deliver: a fixed sender, client, session and time, so
// trace headers and file names are the same in every run.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mailslot/delivery/envelope.hpp"

namespace mailslot::delivery::testing {

inline std::shared_ptr<const Mailbox> mailbox(const std::string& address, const std::filesystem::path& maildir) {
  auto m = std::make_shared<Mailbox>();
  m->address = address;
  m->maildir = maildir;
  return m;
}

inline Envelope envelope(std::vector<std::shared_ptr<const Mailbox>> recipients) {
  Envelope e;
  e.reverse_path = "alice@example.org";
  e.recipients = std::move(recipients);
  e.client_helo = "mx.example.org";
  e.client_address = "192.0.2.1";
  e.session_id = "s1";
  e.hostname = "mail.example.test";
  e.received_at = std::chrono::system_clock::from_time_t(1795440358);
  return e;
}

}  // namespace mailslot::delivery::testing
