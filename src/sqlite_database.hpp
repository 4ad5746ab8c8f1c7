// Thin RAII over the SQLite C API for src/sqlite_store.cpp: a connection, prepared
// statements that are reset after each use, and one exception type carrying SQLite's
// result code and message. Private to the compiled component.
#ifndef SWITCHBOARD_SRC_SQLITE_DATABASE_HPP
#define SWITCHBOARD_SRC_SQLITE_DATABASE_HPP

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace switchboard::detail::sqlite {

/// A failed SQLite call: what was attempted, SQLite's message and its result code.
class failure : public std::runtime_error {
 public:
  failure(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

/// One connection, used by one thread at a time.
class connection {
 public:
  connection() = default;
  connection(const std::string& path, int flags, std::chrono::milliseconds busy_timeout) {
    // NOMUTEX: each connection belongs to one thread, so SQLite's own locking is not needed.
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      close();
      throw failure("cannot open the database: " + message, rc);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, static_cast<int>(busy_timeout.count()));
  }
  connection(connection&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  connection& operator=(connection&& other) noexcept {
    if (this != &other) {
      close();
      db_ = std::exchange(other.db_, nullptr);
    }
    return *this;
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() { close(); }

  explicit operator bool() const noexcept { return db_ != nullptr; }
  sqlite3* get() const noexcept { return db_; }

  /// Runs one or more statements that return no rows the caller wants.
  void exec(const char* sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
      std::string text = message ? message : sqlite3_errstr(rc);
      sqlite3_free(message);
      throw failure(text + " (in: " + first_line(sql) + ")", rc);
    }
  }

  /// True when the connection may write the main database (false when SQLite had to
  /// open a read-only file read-only).
  bool read_only() const noexcept { return sqlite3_db_readonly(db_, "main") == 1; }

  void close() noexcept {
    if (db_) {
      // Statements are finalized by their owners first; v2 defers the close if one is left.
      sqlite3_close_v2(db_);
      db_ = nullptr;
    }
  }

 private:
  static std::string first_line(const char* sql) {
    std::string_view text(sql);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\n')) text.remove_prefix(1);
    return std::string(text.substr(0, std::min<std::size_t>(text.find('\n'), 60)));
  }

  sqlite3* db_ = nullptr;
};

/// A prepared statement, reused: bind, step, and `reset` (or a `scoped_reset`) before the
/// next use, so a finished read never holds the database's read snapshot open.
class statement {
 public:
  statement() = default;
  statement(const connection& db, const char* sql) {
    const int rc = sqlite3_prepare_v3(db.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
    if (rc != SQLITE_OK) throw failure(std::string("cannot prepare: ") + sqlite3_errmsg(db.get()), rc);
  }
  statement(statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
  statement& operator=(statement&& other) noexcept {
    if (this != &other) {
      sqlite3_finalize(stmt_);
      stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement() { sqlite3_finalize(stmt_); }

  statement& bind(int index, std::int64_t value) {
    check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }
  statement& bind(int index, std::uint64_t value) { return bind(index, static_cast<std::int64_t>(value)); }
  statement& bind_text(int index, std::string_view value) {
    check(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
  }
  /// Binds bytes without copying: `value` must outlive the step.
  statement& bind_blob(int index, std::string_view value) {
    // A zero-length blob is still a blob, not NULL: give SQLite a valid pointer.
    check(sqlite3_bind_blob64(stmt_, index, value.empty() ? "" : value.data(), value.size(), SQLITE_STATIC));
    return *this;
  }
  statement& bind_null(int index) {
    check(sqlite3_bind_null(stmt_, index));
    return *this;
  }

  /// True when a row is ready; false when the statement is done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw failure(sqlite3_errmsg(sqlite3_db_handle(stmt_)), rc);
  }
  /// Steps a statement that returns no rows, then resets it.
  void run() {
    step();
    reset();
  }

  std::int64_t column_int(int index) const { return sqlite3_column_int64(stmt_, index); }
  std::uint64_t column_uint(int index) const { return static_cast<std::uint64_t>(column_int(index)); }
  bool column_is_null(int index) const { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }
  /// Text or blob bytes, valid until the next step or reset.
  std::string_view column_bytes(int index) const {
    const void* data = sqlite3_column_blob(stmt_, index);
    const int size = sqlite3_column_bytes(stmt_, index);
    return data ? std::string_view(static_cast<const char*>(data), static_cast<std::size_t>(size)) : std::string_view();
  }

  void reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) throw failure(std::string("cannot bind: ") + sqlite3_errstr(rc), rc);
  }

  sqlite3_stmt* stmt_ = nullptr;
};

/// Resets a statement when the scope ends, however it ends.
class scoped_reset {
 public:
  explicit scoped_reset(statement& s) noexcept : s_(s) {}
  scoped_reset(const scoped_reset&) = delete;
  scoped_reset& operator=(const scoped_reset&) = delete;
  ~scoped_reset() { s_.reset(); }

 private:
  statement& s_;
};

}  // namespace switchboard::detail::sqlite

#endif
