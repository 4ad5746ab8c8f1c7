// What the tests of the SQLite store share: a temporary directory, a loop that runs
// until something happened, and store options with short retry intervals.
#ifndef SWITCHBOARD_TESTS_SUPPORT_SQLITE_TEST_SUPPORT_HPP
#define SWITCHBOARD_TESTS_SUPPORT_SQLITE_TEST_SUPPORT_HPP

#include <switchboard/sqlite_store.hpp>

#include <asio/io_context.hpp>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

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

}  // namespace

#endif
