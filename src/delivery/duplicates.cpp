// The duplicate-suppression database (duplicates.hpp): one SQLite file, one row per durable copy.
//
// Crash safety: journal_mode=WAL with synchronous=NORMAL. A record is written only after its copy
// is durable in new/, so the worst a lost record can do is let one retry through as a second copy,
// the behaviour without this feature, never lose mail. WAL+NORMAL never corrupts the database and
// loses no committed record when the process dies (the case that matters: a daemon killed between
// the fsync of new/ and the replies); only a power failure may lose the last records. FULL would add
// one more fsync to every delivery for that case alone, which the caller's retry covers anyway.
#include "mailslot/delivery/duplicates.hpp"

#include <sqlite3.h>

#include <stdexcept>
#include <string>

namespace mailslot::delivery {

namespace {

// Records older than the window are removed at the first record and every this many after it.
constexpr std::uint64_t kPurgeEvery = 1000;

std::int64_t seconds(DuplicateDb::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

void exec(sqlite3* db, const char* sql, const std::filesystem::path& file) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    throw std::runtime_error("duplicate database " + file.string() + ": " + msg);
  }
}

bool bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  return sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) == SQLITE_OK;
}

}  // namespace

std::shared_ptr<DuplicateDb> DuplicateDb::open(const std::filesystem::path& file, std::chrono::seconds window) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                                 nullptr);
  std::shared_ptr<DuplicateDb> self(new DuplicateDb(db, window));  // closes db on every path below
  if (rc != SQLITE_OK)
    throw std::runtime_error("duplicate database " + file.string() + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
  // Another mailslot instance (or the previous configuration during a reload) may hold the file.
  sqlite3_busy_timeout(db, 5000);
  exec(db, "PRAGMA journal_mode=WAL", file);
  exec(db, "PRAGMA synchronous=NORMAL", file);
  exec(db,
       "CREATE TABLE IF NOT EXISTS delivered (message_id TEXT NOT NULL, mailbox TEXT NOT NULL, "
       "at INTEGER NOT NULL, PRIMARY KEY (message_id, mailbox)) WITHOUT ROWID;"
       "CREATE INDEX IF NOT EXISTS delivered_at ON delivered (at)",
       file);
  auto prepare = [&](const char* sql, sqlite3_stmt*& out) {
    if (sqlite3_prepare_v2(db, sql, -1, &out, nullptr) != SQLITE_OK)
      throw std::runtime_error("duplicate database " + file.string() + ": " + sqlite3_errmsg(db));
  };
  prepare("SELECT 1 FROM delivered WHERE message_id = ?1 AND mailbox = ?2 AND at > ?3", self->select_);
  prepare("INSERT INTO delivered (message_id, mailbox, at) VALUES (?1, ?2, ?3) "
          "ON CONFLICT (message_id, mailbox) DO UPDATE SET at = excluded.at",
          self->upsert_);
  prepare("DELETE FROM delivered WHERE at <= ?1", self->purge_);
  return self;
}

DuplicateDb::~DuplicateDb() {
  sqlite3_finalize(select_);
  sqlite3_finalize(upsert_);
  sqlite3_finalize(purge_);
  sqlite3_close(db_);  // the last connection also checkpoints the WAL
}

bool DuplicateDb::seen(std::string_view message_id, std::string_view mailbox, Clock::time_point now) {
  const std::lock_guard lock(mutex_);
  sqlite3_reset(select_);
  if (!bind_text(select_, 1, message_id) || !bind_text(select_, 2, mailbox) ||
      sqlite3_bind_int64(select_, 3, seconds(now - window_)) != SQLITE_OK) {
    ++errors_;
    return false;
  }
  const int rc = sqlite3_step(select_);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) ++errors_;
  sqlite3_reset(select_);
  return rc == SQLITE_ROW;
}

bool DuplicateDb::record(std::string_view message_id, std::string_view mailbox, Clock::time_point now) {
  const std::lock_guard lock(mutex_);
  sqlite3_reset(upsert_);
  bool ok = bind_text(upsert_, 1, message_id) && bind_text(upsert_, 2, mailbox) &&
            sqlite3_bind_int64(upsert_, 3, seconds(now)) == SQLITE_OK && sqlite3_step(upsert_) == SQLITE_DONE;
  sqlite3_reset(upsert_);
  if (ok && ++records_ % kPurgeEvery == 1) {
    sqlite3_reset(purge_);
    ok = sqlite3_bind_int64(purge_, 1, seconds(now - window_)) == SQLITE_OK && sqlite3_step(purge_) == SQLITE_DONE;
    sqlite3_reset(purge_);
  }
  if (!ok) ++errors_;
  return ok;
}

}  // namespace mailslot::delivery
