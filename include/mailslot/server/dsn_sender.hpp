// The background submitter of success DSNs (issue #11, [dsn]). Reports are written durably into
// the spool by the connection's commit job (delivery/dsn_spool.hpp); this thread of its own hands
// each one to the local MTA (a sendmail-compatible command, or SMTP on loopback) with MAIL FROM:<>,
// removes it once accepted, and on failure keeps it and retries with exponential back-off until
// dsn.max_age. Nothing here runs on the event loop or the disk pool: a slow MTA holds no session.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "mailslot/config/config.hpp"

namespace mailslot::server {

class DsnSender {
 public:
  explicit DsnSender(config::Dsn settings);
  ~DsnSender();  // stop()
  DsnSender(const DsnSender&) = delete;
  DsnSender& operator=(const DsnSender&) = delete;

  // Creates the spool when missing (throws std::runtime_error), then starts the thread, whose first
  // pass retries every report left from before a restart.
  void start();
  // Stops the thread; a submission under way is abandoned (its child killed) and retried at the
  // next start. Idempotent.
  void stop();

  // Thread-safe: a report was just spooled; try it now instead of at the next retry.
  void wake();

  const std::filesystem::path& spool() const { return settings_.spool; }
  // "sendmail" or "smtp" (for logs).
  const char* method() const { return settings_.sendmail.empty() ? "smtp" : "sendmail"; }

  // One attempt (also used by tests): empty when the MTA took the report, else why not.
  std::string submit(const std::filesystem::path& file);

 private:
  using Clock = std::chrono::steady_clock;
  struct Pending {
    unsigned attempts = 0;
    Clock::time_point next_try;
  };
  void run();
  Clock::time_point pass();  // submits what is due; returns when the next one is
  std::string submit_sendmail(int fd, const std::string& recipient);
  std::string submit_smtp(int fd, const std::string& recipient);
  bool stopping();

  const config::Dsn settings_;
  std::map<std::string, Pending> pending_;  // by file name; touched by the thread only
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool wake_ = false;
  std::thread thread_;
};

}  // namespace mailslot::server
