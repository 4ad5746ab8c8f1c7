// What the tests of the SQLite store share: a temporary directory, a loop that runs
// until something happened, store options with short retry intervals, and the database
// opened directly.
#ifndef SWITCHBOARD_TESTS_SUPPORT_SQLITE_TEST_SUPPORT_HPP
#define SWITCHBOARD_TESTS_SUPPORT_SQLITE_TEST_SUPPORT_HPP

#include <switchboard/sqlite_store.hpp>

#include <asio/io_context.hpp>
#include <sqlite3.h>

#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace {

// A fresh directory under /tmp, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    char name[] = "/tmp/switchboard_sqlite_XXXXXX";
    if (!::mkdtemp(name)) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs the loop until `done()`, for at most `limit`. False when the deadline passed.
template <class Done>
bool run_until(asio::io_context& io, Done&& done, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return true;
}

inline switchboard::sqlite_store::options options_for(
    const std::filesystem::path& db, switchboard::durability mode = switchboard::durability::acknowledged) {
  switchboard::sqlite_store::options o;
  o.path = db.string();
  o.mode = mode;
  o.retry_interval = std::chrono::milliseconds(20);
  o.retention_interval = std::chrono::milliseconds(20);
  return o;
}

// The database opened directly, to look at the disk without the store.
class raw_db {
 public:
  explicit raw_db(const std::filesystem::path& path, int flags = SQLITE_OPEN_READWRITE) {
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      const std::string message = sqlite3_errmsg(db_);
      sqlite3_close(db_);
      throw std::runtime_error("cannot open " + path.string() + ": " + message);
    }
    sqlite3_busy_timeout(db_, 10000);
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  ~raw_db() { sqlite3_close(db_); }

  void exec(const std::string& sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string text = message ? message : "?";
      sqlite3_free(message);
      throw std::runtime_error(text + " in: " + sql);
    }
  }
  // Every row, every column as text (NULL as "NULL").
  std::vector<std::vector<std::string>> rows(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string(sqlite3_errmsg(db_)) + " in: " + sql);
    std::vector<std::vector<std::string>> out;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const auto* text = sqlite3_column_text(stmt, i);
        row.push_back(text ? reinterpret_cast<const char*>(text) : "NULL");
      }
      out.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) throw std::runtime_error(std::string(sqlite3_errmsg(db_)) + " in: " + sql);
    return out;
  }
  std::string value(const std::string& sql) {
    const auto r = rows(sql);
    return r.empty() || r[0].empty() ? std::string() : r[0][0];
  }
  std::uint64_t number(const std::string& sql) { return std::stoull(value(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace

#endif
