// Duplicate suppression (issue #11, PEERS.md §7.4 and §7.6): when the connection dies after the
// final dot but before the MTA read our replies ("lost connection after end of data"), the MTA
// retries a message that is already durable. A record of (Message-ID, mailbox) per durable copy,
// kept crash-safely in SQLite for a window, lets the retry be answered 250 without a second copy.
// Every call blocks on the disk: use it on the disk pool, like the MailStore.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace mailslot::delivery {

// Finds the Message-ID (RFC 5322 §3.6.4) in the header section of a message fed in pieces as it
// arrives. Keeps at most kMaxHeader bytes; a Message-ID beyond that is not seen (never suppressed).
class MessageIdScanner {
 public:
  static constexpr std::size_t kMaxHeader = 64 * 1024;
  void feed(std::string_view data);
  // The msg-id without its angle brackets and without folding whitespace; nullopt when the header
  // section has none (or an empty one). Final once the header section ended or the limit was hit.
  std::optional<std::string> message_id() const;

 private:
  std::string header_;
  bool done_ = false;
};

// The parse on its own (unit tests): the Message-ID of a complete header section.
std::optional<std::string> find_message_id(std::string_view header_section);

class DuplicateDb {
 public:
  using Clock = std::chrono::system_clock;
  // Opens (creating) the database; throws std::runtime_error with the path and SQLite's message
  // (start-up and reload only, where exceptions become one clear error).
  static std::shared_ptr<DuplicateDb> open(const std::filesystem::path& file, std::chrono::seconds window);
  ~DuplicateDb();
  DuplicateDb(const DuplicateDb&) = delete;
  DuplicateDb& operator=(const DuplicateDb&) = delete;

  // True when a copy of `message_id` was recorded for `mailbox` within the window before `now`.
  // A database error answers false: a possible duplicate is better than a lost message.
  bool seen(std::string_view message_id, std::string_view mailbox, Clock::time_point now);
  // Records a durable copy; call only after its name in new/ is fsynced. Also removes records
  // older than the window now and then. Returns false on a database error (nothing to undo).
  bool record(std::string_view message_id, std::string_view mailbox, Clock::time_point now);

  std::chrono::seconds window() const { return window_; }
  std::uint64_t errors() const { return errors_; }

 private:
  DuplicateDb(sqlite3* db, std::chrono::seconds window) : db_(db), window_(window) {}
  sqlite3* db_;
  std::chrono::seconds window_;
  std::mutex mutex_;  // one connection, its statements used by one disk-pool thread at a time
  sqlite3_stmt* select_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* purge_ = nullptr;
  std::uint64_t records_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace mailslot::delivery
