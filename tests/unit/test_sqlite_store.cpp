// The SQLite store on real database files: streams across restarts, read-your-writes,
// commit reports, crashes (a real process killed with SIGKILL), a full disk and a
// read-only file, epochs, schema migration, retention, directs, users and sessions.
// The database is also opened directly with SQLite to check what is on disk.
#include <switchboard/sqlite_store.hpp>

#include "../support/sqlite_test_support.hpp"

#include <asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

using switchboard::commit_report;
using switchboard::durability;
using switchboard::frame_kind;
using switchboard::read_result;
using switchboard::user_registration;
using switchboard::shared_frame;
using switchboard::sqlite_store;
using std::chrono::milliseconds;
using std::chrono::seconds;
namespace fs = std::filesystem;

namespace {

using steady = std::chrono::steady_clock;

// The frame the tests append: "<topic>#<seq>" and optional padding.
shared_frame frame_for(const std::string& topic, std::uint64_t seq, std::size_t padding = 0) {
  std::string payload = topic + "#" + std::to_string(seq);
  payload.append(padding, '.');
  return switchboard::make_frame(frame_kind::text, payload);
}

std::uint64_t seq_of(const shared_frame& f) {
  const auto p = f.payload();
  return std::stoull(std::string(p.substr(p.find('#') + 1)));
}

switchboard::append_result append(sqlite_store& store, const std::string& topic, std::size_t padding = 0) {
  return store.append(topic, [&](std::uint64_t seq) { return frame_for(topic, seq, padding); });
}

// Appends and waits for every pending append to be settled; true when all committed.
bool append_committed(asio::io_context& io, sqlite_store& store, const std::string& topic, int count,
                      std::size_t padding = 0) {
  bool failed = false;
  store.on_commit([&](const commit_report& r) { failed |= bool(r.error); });
  for (int i = 0; i < count; ++i) REQUIRE(append(store, topic, padding));
  REQUIRE(run_until(io, [&] { return store.pending_appends() == 0; }));
  store.on_commit(nullptr);
  return !failed;
}

read_result read_since(asio::io_context& io, sqlite_store& store, const std::string& topic, std::uint64_t since,
                       std::optional<std::string> epoch = std::nullopt, std::size_t limit = 1000,
                       std::size_t max_bytes = 1 << 20) {
  std::optional<read_result> got;
  store.read_since(topic, since, epoch, limit, max_bytes, [&](read_result r) { got = std::move(r); });
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  return std::move(*got);
}

read_result latest(asio::io_context& io, sqlite_store& store, const std::string& topic, std::size_t limit,
                   std::size_t max_bytes = 1 << 20) {
  std::optional<read_result> got;
  store.latest(topic, limit, max_bytes, [&](read_result r) { got = std::move(r); });
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  return std::move(*got);
}

std::vector<std::uint64_t> seqs(const read_result& r) {
  std::vector<std::uint64_t> out;
  for (const auto& m : r.messages) {
    CHECK(m.seq == seq_of(m.frame));
    out.push_back(m.seq);
  }
  return out;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t s = first; s <= last; ++s) v.push_back(s);
  return v;
}

std::vector<std::uint64_t> stored_seqs(raw_db& db, const std::string& topic) {
  std::vector<std::uint64_t> out;
  for (const auto& row : db.rows("SELECT m.seq FROM messages m JOIN topics t ON t.id = m.topic_id WHERE t.name = '" +
                                 topic + "' ORDER BY m.seq"))
    out.push_back(std::stoull(row[0]));
  return out;
}

// Makes a file impossible to write: chmod 0444 for everyone but root, whom permissions
// do not stop; for root the immutable attribute (chattr +i). False when neither works.
bool set_read_only(const fs::path& file, bool read_only) {
  if (::geteuid() != 0) return ::chmod(file.c_str(), read_only ? 0444 : 0644) == 0;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok) {
    flags = read_only ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  ::close(fd);
  return ok;
}

// Appends to `topic` one at a time until a commit report says `want_error` (or the
// deadline passes); returns the seq of that append, 0 on timeout.
std::uint64_t append_until(asio::io_context& io, sqlite_store& store, const std::string& topic, bool want_error,
                           std::size_t padding = 0, seconds limit = seconds(30)) {
  const auto deadline = steady::now() + limit;
  while (steady::now() < deadline) {
    std::optional<commit_report> report;
    store.on_commit([&](const commit_report& r) { report = r; });
    const auto result = append(store, topic, padding);
    REQUIRE(result);
    REQUIRE(run_until(io, [&] { return report.has_value(); }));
    store.on_commit(nullptr);
    if (bool(report->error) == want_error) return result.seq;
  }
  return 0;
}

// A database at `path` with three committed appends to topic "t"; returns its epoch.
std::string database_with_three(asio::io_context& io, const fs::path& path) {
  sqlite_store store(io, options_for(path));
  REQUIRE(append_committed(io, store, "t", 3));
  return std::string(store.position("t").epoch);
}

}  // namespace

// ---------------------------------------------------------------------------------------

TEST_CASE("sqlite_store round trip, and a restart keeps seq, epoch and frames", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  std::string epoch;
  {
    sqlite_store store(io, options_for(dir / "db"));
    const auto fresh = store.position("room.1");
    CHECK(fresh.seq == 0);
    epoch = std::string(fresh.epoch);
    CHECK(!epoch.empty());
    CHECK(epoch.size() <= 32);
    REQUIRE(append_committed(io, store, "room.1", 5));
    REQUIRE(append_committed(io, store, "room.2", 3));
    CHECK(store.position("room.1").seq == 5);
    CHECK(store.position("room.1").epoch == epoch);  // the first publish keeps the announced epoch
    const auto r = read_since(io, store, "room.1", 0);
    CHECK(seqs(r) == range(1, 5));
    CHECK(r.complete);
    CHECK(store.writable());
  }
  sqlite_store store(io, options_for(dir / "db"));
  CHECK(store.position("room.1").seq == 5);
  CHECK(store.position("room.2").seq == 3);
  CHECK(store.position("room.1").epoch == epoch);
  CHECK(store.position("never.published").epoch == epoch);
  const auto again = read_since(io, store, "room.1", 2, epoch);
  CHECK(again.epoch_matches);
  CHECK(again.epoch == epoch);
  CHECK(seqs(again) == range(3, 5));
  CHECK(again.complete);
  CHECK(again.messages[0].frame.payload() == "room.1#3");
  CHECK(again.messages[0].frame.kind() == frame_kind::text);
  CHECK(append(store, "room.1").seq == 6);
}

TEST_CASE("sqlite_store keeps frame kinds and notes", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  {
    sqlite_store store(io, options_for(dir / "db"));
    auto result = store.append("bin", [](std::uint64_t) {
      switchboard::frame_writer w(frame_kind::binary);
      w.append(std::string("\x02\x03" "bin\0\x01", 7));
      return std::move(w).finish("alice");
    });
    REQUIRE(result);
    REQUIRE(run_until(io, [&] { return store.pending_appends() == 0; }));
  }
  sqlite_store store(io, options_for(dir / "db"));
  const auto r = read_since(io, store, "bin", 0);
  REQUIRE(r.messages.size() == 1);
  CHECK(r.messages[0].frame.kind() == frame_kind::binary);
  CHECK(r.messages[0].frame.payload() == std::string("\x02\x03" "bin\0\x01", 7));
  CHECK(r.messages[0].frame.note() == "alice");
  CHECK(r.messages[0].published_at_ms > 0);
}

TEST_CASE("sqlite_store reads see appends before they are committed", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  // Buffered with an interval nobody waits for: appends stay queued until something
  // urgent (take_directs) flushes the queue.
  auto o = options_for(dir / "db", durability::buffered);
  o.flush_interval = std::chrono::hours(1);
  o.flush_appends = 1000000;
  sqlite_store store(io, o);
  for (int i = 0; i < 3; ++i) REQUIRE(append(store, "t"));
  CHECK(store.pending_appends() == 3);
  auto r = read_since(io, store, "t", 0);
  CHECK(seqs(r) == range(1, 3));
  CHECK(r.complete);
  CHECK(seqs(latest(io, store, "t", 2)) == range(2, 3));

  // Flush: the three are on disk now; two more wait in the queue.
  bool flushed = false;
  store.take_directs("nobody", [&](std::error_code ec, std::vector<shared_frame>) {
    CHECK(!ec);
    flushed = true;
  });
  REQUIRE(run_until(io, [&] { return flushed && store.pending_appends() == 0; }));
  {
    raw_db db(dir / "db");
    CHECK(stored_seqs(db, "t") == range(1, 3));
  }
  for (int i = 0; i < 2; ++i) REQUIRE(append(store, "t"));
  r = read_since(io, store, "t", 0);  // disk then memory
  CHECK(seqs(r) == range(1, 5));
  CHECK(r.complete);
  CHECK(!r.more);
  r = read_since(io, store, "t", 1, std::nullopt, 2);
  CHECK(seqs(r) == range(2, 3));
  CHECK(r.more);
  CHECK(!r.complete);
  r = latest(io, store, "t", 4);
  CHECK(seqs(r) == range(2, 5));
  CHECK(r.more);
  r = latest(io, store, "t", 10);
  CHECK(seqs(r) == range(1, 5));
  CHECK(!r.more);
  // Starting inside the part still in memory.
  CHECK(seqs(read_since(io, store, "t", 3)) == range(4, 5));
  r = read_since(io, store, "t", 4);
  CHECK(seqs(r) == range(5, 5));
  CHECK(r.complete);
  r = read_since(io, store, "t", 3, std::nullopt, 1);
  CHECK(seqs(r) == range(4, 4));
  CHECK(r.more);
  CHECK(seqs(latest(io, store, "t", 1)) == range(5, 5));
}

TEST_CASE("sqlite_store reads stay exact while commits race them", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db", durability::buffered);
  o.flush_interval = std::chrono::hours(1);
  o.flush_appends = 1000000;
  o.history_size = 100000;
  sqlite_store store(io, o);
  std::uint64_t a = 0;
  for (int round = 0; round < 40; ++round) {
    INFO("round " << round);
    // Interleaved appends to two topics, all waiting in the queue.
    for (int i = 0; i < 1 + round % 5; ++i) {
      REQUIRE(append(store, "a"));
      REQUIRE(append(store, "b"));
      ++a;
    }
    std::optional<read_result> from_start, newest;
    store.read_since("a", 0, std::nullopt, 10000, 1 << 24, [&](read_result r) { from_start = std::move(r); });
    store.latest("a", 3, 1 << 24, [&](read_result r) { newest = std::move(r); });
    // The flush commits what the reads took from memory, maybe before the reader runs.
    bool flushed = false;
    store.take_directs("nobody", [&](std::error_code, std::vector<shared_frame>) { flushed = true; });
    REQUIRE(run_until(io, [&] { return from_start && newest && flushed; }));
    CHECK(seqs(*from_start) == range(1, a));
    CHECK(from_start->complete);
    CHECK(seqs(*newest) == range(a > 3 ? a - 2 : 1, a));
  }
}

TEST_CASE("sqlite_store reads: epochs, positions past the end, byte bounds", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  sqlite_store store(io, options_for(dir / "db"));
  REQUIRE(append_committed(io, store, "t", 6, 100));
  const std::string epoch(store.position("t").epoch);

  auto r = read_since(io, store, "t", 2, std::string("another-epoch"));
  CHECK(!r.epoch_matches);
  CHECK(r.messages.empty());
  CHECK(!r.complete);
  CHECK(r.epoch == epoch);

  r = read_since(io, store, "t", 6, epoch);  // nothing after the latest: recovered
  CHECK(r.messages.empty());
  CHECK(r.complete);
  r = read_since(io, store, "t", 9, epoch);  // beyond the latest: the stream was reset
  CHECK(!r.complete);

  // Each payload is about 104 bytes: 250 bytes hold two.
  r = read_since(io, store, "t", 0, epoch, 100, 250);
  CHECK(seqs(r) == range(1, 2));
  CHECK(r.more);
  CHECK(!r.complete);
  r = latest(io, store, "t", 100, 250);
  CHECK(seqs(r) == range(5, 6));
  CHECK(r.more);
  r = read_since(io, store, "t", 0, epoch, 100, 10);  // not even one fits
  CHECK(r.messages.empty());
  CHECK(r.more);

  r = read_since(io, store, "unknown", 0, epoch);
  CHECK(r.seq == 0);
  CHECK(r.complete);
  CHECK(read_since(io, store, "unknown", 0, std::string("x")).epoch_matches == false);
  CHECK(store.topic_count() == 1);  // reading kept nothing
}

TEST_CASE("sqlite_store acknowledged: a commit report comes after the row is on disk", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  sqlite_store store(io, options_for(dir / "db"));
  raw_db db(dir / "db", SQLITE_OPEN_READONLY);
  std::uint64_t reports = 0, checked = 0;
  bool all_there = true;
  // One topic in a new database: ticket n is seq n.
  store.on_commit([&](const commit_report& r) {
    ++reports;
    REQUIRE(!r.error);
    const auto on_disk = db.number("SELECT count(*) FROM messages WHERE seq BETWEEN " + std::to_string(r.first_ticket) +
                                   " AND " + std::to_string(r.last_ticket));
    all_there &= on_disk == r.last_ticket - r.first_ticket + 1;
    checked = r.last_ticket;
  });
  for (int burst = 0; burst < 20; ++burst) {
    for (int i = 0; i < 25; ++i) REQUIRE(append(store, "t"));
    REQUIRE(run_until(io, [&] { return store.pending_appends() == 0; }));
  }
  CHECK(checked == 500);
  CHECK(all_there);
  CHECK(store.committed_through() == 500);
  INFO("reports: " << reports);
  CHECK(reports <= 500);
}

TEST_CASE("sqlite_store survives SIGKILL: every reported commit is there, without gaps", "[sqlite][crash]") {
  temp_dir dir;
  const fs::path db_path = dir / "db";
  const std::string topic = "crash.topic";
  std::mt19937 random(std::random_device{}());
  std::uint64_t printed_max = 0;
  std::uint64_t last_on_disk = 0;  // where the previous round left the topic
  std::string epoch_before;
  int runs_that_committed = 0;
  const auto started = steady::now();

  for (int round = 0; round < 20; ++round) {
    INFO("round " << round);
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], STDOUT_FILENO);
      ::execl(SWITCHBOARD_SQLITE_APPEND_LOOP_PATH, "sqlite_append_loop", db_path.c_str(), topic.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);

    // Kill at a random moment: sometimes while it opens the database, usually after
    // its first commits.
    std::string text;
    auto read_some = [&](int timeout_ms) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return false;
      char chunk[4096];
      const ssize_t n = ::read(out[0], chunk, sizeof chunk);
      if (n <= 0) return false;
      text.append(chunk, static_cast<std::size_t>(n));
      return true;
    };
    if (round % 4 == 3) {
      std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(0, 30)(random)));
    } else {
      const auto deadline = steady::now() + seconds(20);
      while (text.find('\n') == std::string::npos && steady::now() < deadline) read_some(100);
      REQUIRE(text.find('\n') != std::string::npos);
      const auto until = steady::now() + milliseconds(std::uniform_int_distribution<int>(0, 150)(random));
      while (steady::now() < until) read_some(10);
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    while (read_some(0)) {
    }
    ::close(out[0]);

    // Complete lines only: the kill may cut the last one.
    std::vector<std::uint64_t> printed;
    std::size_t at = 0;
    for (std::size_t nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
      printed.push_back(std::stoull(text.substr(at, nl - at)));
    // Each run continues where the database stood; commits of the run before that were
    // not printed yet when it died are on disk all the same.
    for (std::size_t i = 0; i < printed.size(); ++i) CHECK(printed[i] == (i == 0 ? last_on_disk : printed[i - 1]) + 1);
    if (!printed.empty()) {
      printed_max = printed.back();
      ++runs_that_committed;
    }

    {
      raw_db db(db_path, SQLITE_OPEN_READWRITE);
      CHECK(db.value("PRAGMA integrity_check") == "ok");
      const auto on_disk = stored_seqs(db, topic);
      CHECK(on_disk.size() >= printed_max);
      CHECK(on_disk == range(1, on_disk.size()));
    }
    // The store opens it cleanly; a run that handed out seqs and crashed left a new epoch.
    asio::io_context io;
    sqlite_store store(io, options_for(db_path));
    const auto position = store.position(topic);
    CHECK(position.seq >= printed_max);
    if (!printed.empty()) CHECK(std::string(position.epoch) != epoch_before);
    const auto r = read_since(io, store, topic, printed_max > 3 ? printed_max - 3 : 0, std::string(position.epoch));
    CHECK(r.complete);
    epoch_before = std::string(position.epoch);
    last_on_disk = position.seq;
  }
  CHECK(runs_that_committed >= 10);
  CHECK(printed_max > 0);
  WARN("SIGKILL loop: " << printed_max << " commits printed over 20 kills in "
                        << std::chrono::duration_cast<milliseconds>(steady::now() - started).count() << " ms");
}

TEST_CASE("sqlite_store refuses appends when the queue is full, without using a seq", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db", durability::buffered);
  o.flush_interval = std::chrono::hours(1);
  o.flush_appends = 1000000;
  o.max_queued = 4;
  {
    sqlite_store store(io, o);
    for (int i = 0; i < 4; ++i) REQUIRE(append(store, "t"));
    bool built = false;
    const auto refused = store.append("t", [&](std::uint64_t seq) {
      built = true;
      return frame_for("t", seq);
    });
    CHECK(refused.error == switchboard::error::overloaded);
    CHECK(refused.seq == 0);
    CHECK(!built);
    CHECK(store.position("t").seq == 4);
    CHECK(!store.record_session({}));

    bool answered = false;
    store.store_direct("bob", frame_for("d", 1), [&](std::error_code ec) {
      CHECK(ec == switchboard::error::overloaded);
      answered = true;
    });
    REQUIRE(run_until(io, [&] { return answered; }));
  }
  // The destructor committed the four.
  raw_db db(dir / "db");
  CHECK(stored_seqs(db, "t") == range(1, 4));
}

TEST_CASE("sqlite_store refuses bad input with clear errors", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.max_frame_bytes = 1000;
  {
    sqlite_store store(io, o);
    CHECK(append(store, "").error == switchboard::error::bad_request);
    CHECK(append(store, std::string(256, 'a')).error == switchboard::error::bad_request);
    CHECK(append(store, std::string(255, 'a')));
    CHECK(append(store, "t", 2000).error == switchboard::error::too_large);
    CHECK(store.position("t").seq == 0);
    CHECK(store.append("t", [](std::uint64_t) { return shared_frame(); }).error == switchboard::error::bad_request);
    CHECK_THROWS_AS(store.append("t", [](std::uint64_t) -> shared_frame { throw std::runtime_error("build"); }),
                    std::runtime_error);
    CHECK(append(store, "t").seq == 1);  // a throwing build changed nothing

    std::optional<read_result> r;
    store.read_since("", 0, std::nullopt, 10, 1000, [&](read_result x) { r = std::move(x); });
    REQUIRE(run_until(io, [&] { return r.has_value(); }));
    CHECK(r->error == switchboard::error::bad_request);

    std::error_code direct_error, find_error;
    int answers = 0;
    store.store_direct(std::string(129, 'u'), frame_for("d", 1), [&](std::error_code ec) {
      direct_error = ec;
      ++answers;
    });
    store.find_user("", [&](std::error_code ec, std::optional<switchboard::user_keys>) {
      find_error = ec;
      ++answers;
    });
    REQUIRE(run_until(io, [&] { return answers == 2; }));
    CHECK(direct_error == switchboard::error::bad_request);
    CHECK(find_error == switchboard::error::bad_request);

    // A second store on the same database is refused while the first is open.
    try {
      sqlite_store second(io, options_for(dir / "db"));
      FAIL("a second store opened the same database");
    } catch (const std::system_error& e) {
      CHECK(e.code() == switchboard::error::internal);
      CHECK(std::string(e.what()).find("in use") != std::string::npos);
    }
  }

  auto bad = options_for(dir / "db");
  bad.path.clear();
  CHECK_THROWS_AS(sqlite_store(io, bad), std::system_error);
  bad = options_for(dir / "db");
  bad.max_queued = 0;
  CHECK_THROWS_AS(sqlite_store(io, bad), std::system_error);

  {
    std::ofstream(dir / "not-a-db") << "this is not a database, just text long enough to have a header............"
                                       "..........................................................................";
  }
  try {
    sqlite_store store(io, options_for(dir / "not-a-db"));
    FAIL("opened a text file as a database");
  } catch (const std::system_error& e) {
    CHECK(e.code() == switchboard::error::internal);
    CHECK(std::string(e.what()).find("not-a-db") != std::string::npos);
  }

  {
    raw_db db(dir / "newer", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec("PRAGMA user_version = 99");
  }
  try {
    sqlite_store store(io, options_for(dir / "newer"));
    FAIL("opened a database of a newer schema");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()).find("schema version 99") != std::string::npos);
  }

  const auto missing_dir = dir / "no" / "such" / "dir" / "db";
  CHECK_THROWS_AS(sqlite_store(io, options_for(missing_dir)), std::system_error);
}

TEST_CASE("sqlite_store on a read-only file: appends report internal, reads work, writes come back", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  const auto db_path = dir / "db";
  const std::string first_epoch = database_with_three(io, db_path);
  if (!set_read_only(db_path, true)) {
    WARN("cannot make a file read-only here (no chmod/chattr effect); skipped");
    return;
  }
  struct restore {
    fs::path p;
    ~restore() { set_read_only(p, false); }
  } restore_on_exit{db_path};

  // Every failed append uses a seq: keep them all, so the rows of the first run stay.
  auto o = options_for(db_path);
  o.history_size = 1000000;
  std::uint64_t recovered_seq = 0;
  {
    sqlite_store store(io, o);
    CHECK(!store.writable());
    CHECK(!store.last_error().empty());
    CHECK(store.position("t").seq == 3);
    // Nothing of this run can be recorded: it runs under an epoch of its own.
    CHECK(std::string(store.position("t").epoch) != first_epoch);
    CHECK(seqs(read_since(io, store, "t", 0)) == range(1, 3));

    std::optional<commit_report> report;
    store.on_commit([&](const commit_report& r) { report = r; });
    const auto result = append(store, "t");
    REQUIRE(result);
    CHECK(result.seq == 4);  // live delivery goes on with seqs
    REQUIRE(run_until(io, [&] { return report.has_value(); }));
    CHECK(report->error == switchboard::error::internal);
    CHECK(!store.writable());
    CHECK(!store.last_error().empty());
    store.on_commit(nullptr);
    const auto after = read_since(io, store, "t", 2);
    CHECK(seqs(after) == range(3, 3));  // seq 4 was not stored
    CHECK(!after.complete);

    REQUIRE(set_read_only(db_path, false));
    recovered_seq = append_until(io, store, "t", false);
    REQUIRE(recovered_seq > 4);
    CHECK(store.writable());
    CHECK(store.last_error().empty());
  }
  sqlite_store store(io, o);
  CHECK(store.position("t").seq >= recovered_seq);
  raw_db db(db_path);
  const auto on_disk = stored_seqs(db, "t");
  CHECK(on_disk.front() == 1);
  CHECK(on_disk.back() == recovered_seq);
}

TEST_CASE("sqlite_store at max_database_bytes: appends report internal, then recover when space is freed",
          "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.max_database_bytes = 128 * 1024;
  o.history_size = 100000;
  o.history_max_bytes = 0;
  sqlite_store store(io, o);
  REQUIRE(append_committed(io, store, "keep", 3));
  // Fill the file with another topic until a commit fails.
  const auto full_at = append_until(io, store, "filler", true, 2000);
  REQUIRE(full_at > 0);
  CHECK(!store.writable());
  CHECK(store.last_error().find("full") != std::string::npos);
  // Reads go on.
  CHECK(seqs(read_since(io, store, "keep", 0)) == range(1, 3));

  {
    raw_db db(dir / "db");
    db.exec("DELETE FROM messages WHERE topic_id = (SELECT id FROM topics WHERE name = 'filler')");
  }
  const auto back_at = append_until(io, store, "keep", false);
  REQUIRE(back_at > 3);
  CHECK(store.writable());
}

TEST_CASE("sqlite_store on a full disk (tmpfs) recovers when space comes back", "[sqlite]") {
  if (::geteuid() != 0) {
    WARN("mounting a small tmpfs needs root; max_database_bytes covers the full-database path");
    return;
  }
  temp_dir dir;
  const auto mount_point = dir / "small";
  fs::create_directory(mount_point);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=1m") != 0) {
    WARN("cannot mount a tmpfs here: " << std::strerror(errno));
    return;
  }
  struct unmount {
    fs::path p;
    ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount_on_exit{mount_point};

  asio::io_context io;
  auto o = options_for(mount_point / "db");
  o.history_size = 100000;
  o.history_max_bytes = 0;
  sqlite_store store(io, o);
  REQUIRE(append_committed(io, store, "t", 3));

  // Leave about 96 KiB free.
  struct statvfs fsinfo {};
  REQUIRE(::statvfs(mount_point.c_str(), &fsinfo) == 0);
  const std::uint64_t free_bytes = std::uint64_t(fsinfo.f_bavail) * fsinfo.f_frsize;
  REQUIRE(free_bytes > 96 * 1024);
  {
    std::ofstream filler(mount_point / "filler", std::ios::binary);
    const std::string block(4096, 'f');
    for (std::uint64_t written = 0; written + 96 * 1024 < free_bytes; written += block.size()) filler << block;
  }
  const auto full_at = append_until(io, store, "t", true, 4000);
  REQUIRE(full_at > 3);
  CHECK(!store.writable());
  const auto stored = read_since(io, store, "t", 0, std::nullopt, 3);
  CHECK(seqs(stored) == range(1, 3));

  fs::remove(mount_point / "filler");
  const auto back_at = append_until(io, store, "t", false, 4000);
  REQUIRE(back_at > full_at);
  CHECK(store.writable());
}

TEST_CASE("sqlite_store takes a new epoch for a database restored from a backup", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  const auto db_path = dir / "db";
  const std::string epoch = database_with_three(io, db_path);
  fs::copy_file(db_path, dir / "closed-backup");
  {
    sqlite_store store(io, options_for(db_path));
    CHECK(store.position("t").epoch == epoch);  // a clean restart keeps it
    REQUIRE(append_committed(io, store, "t", 2));
    // A backup taken while a store is open, the way SQLite takes one of a live database.
    raw_db db(db_path);
    db.exec("VACUUM INTO '" + (dir / "live-backup").string() + "'");
    REQUIRE(append_committed(io, store, "t", 2));
  }

  SECTION("a backup of the database closed by an earlier run") {
    fs::copy_file(dir / "closed-backup", db_path, fs::copy_options::overwrite_existing);
    sqlite_store store(io, options_for(db_path));
    CHECK(store.position("t").seq == 3);
    CHECK(store.position("t").epoch != epoch);
    // Seqs 4 and 5 went out once; under the new epoch they mean other messages.
    CHECK(append(store, "t").seq == 4);
  }
  SECTION("a backup taken while a store had it open") {
    fs::copy_file(dir / "live-backup", db_path, fs::copy_options::overwrite_existing);
    sqlite_store store(io, options_for(db_path));
    CHECK(store.position("t").seq == 5);
    CHECK(store.position("t").epoch != epoch);
  }
  SECTION("the same database, untouched") {
    sqlite_store store(io, options_for(db_path));
    CHECK(store.position("t").seq == 7);
    CHECK(store.position("t").epoch == epoch);
  }
}

TEST_CASE("sqlite_store upgrades a database of schema version 1", "[sqlite]") {
  temp_dir dir;
  const auto db_path = dir / "v1.db";
  {
    // The first schema, as version 1 wrote it (no generations, notes or sessions).
    raw_db db(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec(R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE topics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, last_seq INTEGER NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL, seq INTEGER NOT NULL,
                       kind INTEGER NOT NULL, published_at INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE UNIQUE INDEX messages_by_topic ON messages (topic_id, seq);
CREATE TABLE directs (id INTEGER PRIMARY KEY, user TEXT NOT NULL, kind INTEGER NOT NULL,
                      stored_at INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE INDEX directs_by_user ON directs (user, id);
CREATE TABLE users (name TEXT PRIMARY KEY, ed25519 BLOB NOT NULL, x25519 BLOB NOT NULL,
                    registered_at INTEGER NOT NULL);
INSERT INTO meta VALUES ('epoch', 'v1epoch');
INSERT INTO topics VALUES (7, 'old.topic', 3);
INSERT INTO messages (topic_id, seq, kind, published_at, payload) VALUES
  (7, 2, 1, 1700000000000, CAST('old.topic#2' AS BLOB)),
  (7, 3, 1, 1700000000001, CAST('old.topic#3' AS BLOB));
INSERT INTO directs (user, kind, stored_at, payload) VALUES
  ('bob', 1, 1700000000000, CAST('d#1' AS BLOB)), ('bob', 1, 1700000000001, CAST('d#2' AS BLOB));
INSERT INTO users VALUES ('alice', zeroblob(32), zeroblob(32), 1700000000000);
PRAGMA user_version = 1;
)sql");
  }
  asio::io_context io;
  {
    sqlite_store store(io, options_for(db_path));
    CHECK(store.position("old.topic").seq == 3);
    const auto r = read_since(io, store, "old.topic", 1);
    CHECK(seqs(r) == range(2, 3));
    CHECK(r.complete);
    CHECK(r.messages[1].frame.note().empty());
    CHECK(append(store, "old.topic").seq == 4);
    CHECK(append(store, "new.topic").seq == 1);

    std::optional<switchboard::user_keys> alice;
    std::vector<shared_frame> directs;
    int answers = 0;
    store.find_user("alice", [&](std::error_code ec, std::optional<switchboard::user_keys> k) {
      CHECK(!ec);
      alice = std::move(k);
      ++answers;
    });
    store.take_directs("bob", [&](std::error_code ec, std::vector<shared_frame> f) {
      CHECK(!ec);
      directs = std::move(f);
      ++answers;
    });
    CHECK(store.record_session({}));
    REQUIRE(run_until(io, [&] { return answers == 2 && store.pending_appends() == 0; }));
    REQUIRE(alice);
    CHECK(alice->ed25519 == switchboard::user_keys{}.ed25519);
    REQUIRE(directs.size() == 2);
    CHECK(directs[0].payload() == "d#1");
  }
  raw_db db(db_path);
  CHECK(db.number("PRAGMA user_version") == 2);
  CHECK(db.value("PRAGMA journal_mode") == "wal");
  CHECK(db.number("SELECT count(*) FROM sessions") == 1);
  CHECK(db.number("SELECT generation FROM topics WHERE name = 'old.topic'") == 0);
  CHECK(stored_seqs(db, "old.topic") == range(2, 4));
}

TEST_CASE("sqlite_store registers users and finds their keys", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.max_users = 2;
  std::array<unsigned char, switchboard::user_keys::key_bytes> ed{}, x{}, other{};
  for (std::size_t i = 0; i < ed.size(); ++i) {
    ed[i] = static_cast<unsigned char>(i);
    x[i] = static_cast<unsigned char>(255 - i);
    other[i] = 7;
  }
  auto register_sync = [&](sqlite_store& store, const std::string& user,
                           const std::array<unsigned char, switchboard::user_keys::key_bytes>& k) {
    switchboard::user_keys keys;
    keys.ed25519 = k;
    keys.x25519 = x;
    std::optional<std::pair<std::error_code, user_registration>> got;
    store.register_user(user, keys, [&](std::error_code ec, user_registration r) { got.emplace(ec, r); });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    return *got;
  };
  auto find_sync = [&](sqlite_store& store, const std::string& user) {
    std::optional<std::optional<switchboard::user_keys>> got;
    store.find_user(user, [&](std::error_code ec, std::optional<switchboard::user_keys> k) {
      CHECK(!ec);
      got = std::move(k);
    });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    return *got;
  };
  {
    sqlite_store store(io, o);
    CHECK(register_sync(store, "alice", ed) == std::make_pair(std::error_code(), user_registration::created));
    CHECK(register_sync(store, "alice", ed) == std::make_pair(std::error_code(), user_registration::already_registered));
    CHECK(register_sync(store, "alice", other).second == user_registration::conflict);
    CHECK(register_sync(store, "bob", other).second == user_registration::created);
    CHECK(register_sync(store, "carol", ed) ==
          std::make_pair(std::error_code(switchboard::error::too_large), user_registration::full));
    CHECK(!find_sync(store, "carol"));
  }
  sqlite_store store(io, o);
  const auto alice = find_sync(store, "alice");
  REQUIRE(alice);
  CHECK(alice->ed25519 == ed);  // the conflicting registration changed nothing
  CHECK(alice->x25519 == x);
  CHECK(!find_sync(store, "nobody"));
}

TEST_CASE("sqlite_store hands offline directs out exactly once, across a restart", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.max_directs_per_user = 3;
  o.max_directs = 4;
  auto store_sync = [&](sqlite_store& store, const std::string& user, const std::string& text) {
    std::optional<std::error_code> got;
    store.store_direct(user, switchboard::make_frame(frame_kind::text, text), [&](std::error_code ec) { got = ec; });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    return *got;
  };
  auto take_sync = [&](sqlite_store& store, const std::string& user) {
    std::optional<std::vector<std::string>> got;
    store.take_directs(user, [&](std::error_code ec, std::vector<shared_frame> frames) {
      CHECK(!ec);
      std::vector<std::string> texts;
      for (const auto& f : frames) texts.emplace_back(f.payload());
      got = std::move(texts);
    });
    REQUIRE(run_until(io, [&] { return got.has_value(); }));
    return *got;
  };
  {
    sqlite_store store(io, o);
    CHECK(!store_sync(store, "bob", "b1"));
    CHECK(!store_sync(store, "carol", "c1"));
    CHECK(!store_sync(store, "bob", "b2"));
    CHECK(!store_sync(store, "bob", "b3"));
    CHECK(store_sync(store, "bob", "b4") == switchboard::error::too_large);
    CHECK(store_sync(store, "dave", "d1") == switchboard::error::too_large);  // four stored in all
  }
  {
    sqlite_store store(io, o);
    CHECK(take_sync(store, "bob") == std::vector<std::string>{"b1", "b2", "b3"});
    CHECK(take_sync(store, "bob").empty());
    CHECK(!store_sync(store, "bob", "b5"));
  }
  sqlite_store store(io, o);
  CHECK(take_sync(store, "bob") == std::vector<std::string>{"b5"});
  CHECK(take_sync(store, "carol") == std::vector<std::string>{"c1"});
  CHECK(take_sync(store, "carol").empty());
}

TEST_CASE("sqlite_store retention by count, bytes and age", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.history_size = 5;
  o.history_max_bytes = 1000;
  o.history_max_age = std::chrono::hours(1);
  sqlite_store store(io, o);
  raw_db db(dir / "db");

  SECTION("count") {
    REQUIRE(append_committed(io, store, "count", 20));
    CHECK(stored_seqs(db, "count") == range(16, 20));
    const auto r = read_since(io, store, "count", 10);
    CHECK(seqs(r) == range(16, 20));
    CHECK(!r.complete);  // 11 to 15 are gone
    CHECK(read_since(io, store, "count", 15).complete);
  }
  SECTION("bytes") {
    // About 310 bytes each: three fit in 1000.
    REQUIRE(append_committed(io, store, "bytes", 4, 300));
    CHECK(stored_seqs(db, "bytes") == range(2, 4));
  }
  SECTION("age") {
    REQUIRE(append_committed(io, store, "age", 5));
    db.exec("UPDATE messages SET published_at = published_at - 7200000 WHERE seq <= 3");
    REQUIRE(run_until(io, [&] { return stored_seqs(db, "age") == range(4, 5); }));
  }
}

TEST_CASE("sqlite_store trims a topic in bounded steps when its history shrinks", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.history_size = 1000;
  {
    sqlite_store store(io, o);
    REQUIRE(append_committed(io, store, "t", 60));
  }
  o.history_size = 5;
  o.retention_batch = 10;
  sqlite_store store(io, o);
  raw_db db(dir / "db");
  REQUIRE(append_committed(io, store, "t", 1));
  // The batch deleted at most retention_batch rows plus its own; maintenance the rest.
  REQUIRE(run_until(io, [&] { return stored_seqs(db, "t") == range(57, 61); }));
}

TEST_CASE("sqlite_store records sessions and bounds their rows", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.max_sessions = 3;
  o.max_session_field_bytes = 10;
  const auto t0 = std::chrono::system_clock::time_point(milliseconds(1700000000000));
  {
    sqlite_store store(io, o);
    for (std::uint64_t i = 1; i <= 5; ++i) {
      switchboard::session_record s;
      s.connection = i;
      s.user = i == 1 ? "" : "user" + std::to_string(i);
      s.remote = "127.0.0.1:4000" + std::to_string(i);
      s.user_agent = "a user agent longer than ten bytes";
      s.connected_at = t0;
      s.disconnected_at = t0 + seconds(i);
      s.messages_in = i * 10;
      s.messages_out = i * 100;
      CHECK(store.record_session(std::move(s)));
    }
    // All five written and the two oldest trimmed away.
    raw_db db(dir / "db");
    const std::string connections =
        "SELECT group_concat(connection) FROM (SELECT connection FROM sessions ORDER BY id)";
    REQUIRE(run_until(io, [&] { return db.value(connections) == "3,4,5"; }));
  }
  raw_db db(dir / "db");
  const auto rows = db.rows(
      "SELECT connection, user, remote, user_agent, connected_at, disconnected_at, messages_in, messages_out "
      "FROM sessions ORDER BY id");
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == std::vector<std::string>{"3", "user3", "127.0.0.1:", "a user age", "1700000000000",
                                            "1700000003000", "30", "300"});
  CHECK(rows[2][0] == "5");
}

TEST_CASE("sqlite_store forgets idle topics past max_topics, never retained ones", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.max_topics = 2;
  sqlite_store store(io, o);
  REQUIRE(append_committed(io, store, "a", 2));
  const std::string old_epoch(store.position("a").epoch);
  store.retain("b");
  REQUIRE(append_committed(io, store, "b", 1));
  REQUIRE(append_committed(io, store, "c", 1));  // forgets "a", the least recently published
  CHECK(store.topic_count() == 2);
  CHECK(store.position("a").seq == 0);
  CHECK(store.position("a").epoch != old_epoch);  // its seq restarts under a new epoch
  CHECK(store.position("b").seq == 1);
  REQUIRE(append_committed(io, store, "d", 1));  // forgets "c": "b" is retained
  CHECK(store.position("b").seq == 1);
  CHECK(store.position("c").seq == 0);
  {
    raw_db db(dir / "db");
    CHECK(stored_seqs(db, "a").empty());
    CHECK(db.number("SELECT count(*) FROM topics WHERE name IN ('a', 'c')") == 0);
  }
  const auto back = append(store, "a");  // forgets "d"
  CHECK(back.seq == 1);
  REQUIRE(run_until(io, [&] { return store.pending_appends() == 0; }));
  CHECK(seqs(read_since(io, store, "a", 0)) == range(1, 1));
  store.release("b");
  store.retain("e");  // the index is full: forgets the least recently published, "a"
  CHECK(store.position("a").seq == 0);
  CHECK(store.topic_count() == 2);
  store.release("e");  // never published: forgotten at once
  CHECK(store.topic_count() == 1);
  CHECK(store.position("b").seq == 1);
}

TEST_CASE("sqlite_store bounds the bytes it queues", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db", durability::buffered);
  o.flush_interval = std::chrono::hours(1);
  o.flush_appends = 1000000;
  o.max_queued_bytes = 10000;
  o.max_frame_bytes = 5000;
  sqlite_store store(io, o);
  CHECK(append(store, "t", 4000));
  CHECK(append(store, "t", 4000));
  CHECK(append(store, "t", 4000).error == switchboard::error::overloaded);
  CHECK(store.position("t").seq == 2);
  CHECK(append(store, "t", 100));  // a small one still fits
}

TEST_CASE("sqlite_store bounds the reads it has not answered", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.max_pending_reads = 2;
  o.max_read_limit = 3;
  o.max_read_bytes = 1000;
  o.max_read_bytes_in_flight = 1;  // the reader builds one result at a time
  sqlite_store store(io, o);
  REQUIRE(append_committed(io, store, "t", 10, 200));

  std::vector<read_result> answers;
  std::error_code user_error;
  for (int i = 0; i < 2; ++i)
    store.read_since("t", 0, std::nullopt, 100, 100000, [&](read_result r) { answers.push_back(std::move(r)); });
  store.latest("t", 5, 100000, [&](read_result r) { answers.push_back(std::move(r)); });
  store.find_user("alice", [&](std::error_code ec, std::optional<switchboard::user_keys>) { user_error = ec; });
  REQUIRE(run_until(io, [&] { return answers.size() == 3 && user_error; }));
  CHECK(user_error == switchboard::error::overloaded);
  std::size_t overloaded = 0;
  for (const auto& r : answers) {
    if (r.error) {
      CHECK(r.error == switchboard::error::overloaded);
      ++overloaded;
      continue;
    }
    // limit clamped to 3, bytes to 1000: four payloads of about 205 bytes would fit, three do
    CHECK(seqs(r) == range(1, 3));
    CHECK(r.more);
  }
  CHECK(overloaded == 1);
  // Answered reads free their places.
  CHECK(seqs(read_since(io, store, "t", 7)) == range(8, 10));
}

TEST_CASE("sqlite_store keeps the io_context running while it owes handlers, and none after it is gone",
          "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  {
    sqlite_store store(io, options_for(dir / "db"));
    std::uint64_t reported = 0;
    store.on_commit([&](const commit_report& r) { reported = r.last_ticket; });
    for (int i = 0; i < 10; ++i) REQUIRE(append(store, "t"));
    bool read_done = false;
    store.latest("t", 10, 100000, [&](read_result) { read_done = true; });
    io.restart();
    io.run();  // returns once nothing is owed
    CHECK(reported == 10);
    CHECK(read_done);
    CHECK(store.pending_appends() == 0);
  }
  bool called = false;
  {
    sqlite_store store(io, options_for(dir / "db"));
    store.read_since("t", 0, std::nullopt, 10, 100000, [&](read_result) { called = true; });
    store.take_directs("bob", [&](std::error_code, std::vector<shared_frame>) { called = true; });
    REQUIRE(append(store, "t"));
    store.on_commit([&](const commit_report&) { called = true; });
  }
  io.restart();
  io.run();
  CHECK(!called);
  raw_db db(dir / "db");
  CHECK(stored_seqs(db, "t") == range(1, 11));  // the destructor committed the last append
}

TEST_CASE("sqlite_store buffered: commits by count and by time", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db", durability::buffered);
  SECTION("flush_appends") {
    o.flush_interval = std::chrono::hours(1);
    o.flush_appends = 5;
    sqlite_store store(io, o);
    for (int i = 0; i < 4; ++i) REQUIRE(append(store, "t"));
    // Four wait for an hour; the fifth makes a batch.
    REQUIRE(append(store, "t"));
    REQUIRE(run_until(io, [&] { return store.pending_appends() == 0; }));
    raw_db db(dir / "db");
    CHECK(stored_seqs(db, "t") == range(1, 5));
  }
  SECTION("flush_interval") {
    o.flush_interval = milliseconds(50);
    o.flush_appends = 1000000;
    sqlite_store store(io, o);
    REQUIRE(append(store, "t"));
    REQUIRE(run_until(io, [&] { return store.pending_appends() == 0; }));
    raw_db db(dir / "db");
    CHECK(stored_seqs(db, "t") == range(1, 1));
  }
}

TEST_CASE("sqlite_store gives up on a lock another process holds past busy_timeout, then recovers", "[sqlite]") {
  temp_dir dir;
  asio::io_context io;
  auto o = options_for(dir / "db");
  o.busy_timeout = milliseconds(50);
  sqlite_store store(io, o);
  REQUIRE(append_committed(io, store, "t", 1));
  {
    raw_db other(dir / "db");
    other.exec("BEGIN IMMEDIATE");
    CHECK(append_until(io, store, "t", true) > 1);
    CHECK(store.last_error().find("locked") != std::string::npos);
    // Reads never wait for a writer.
    CHECK(seqs(read_since(io, store, "t", 0, std::nullopt, 1)) == range(1, 1));
    other.exec("COMMIT");
  }
  CHECK(append_until(io, store, "t", false) > 2);
  CHECK(store.writable());
}

TEST_CASE("sqlite_store throughput", "[.benchmark]") {
  for (const auto mode : {durability::buffered, durability::acknowledged}) {
    temp_dir dir;
    asio::io_context io;
    sqlite_store store(io, options_for(dir / "db", mode));
    const int count = 100000;
    const std::string payload(100, 'x');
    const auto start = steady::now();
    int appended = 0;
    while (appended < count) {
      while (appended < count) {
        const std::string topic = "topic." + std::to_string(appended % 100);
        const auto r =
            store.append(topic, [&](std::uint64_t) { return switchboard::make_frame(frame_kind::text, payload); });
        if (!r) break;
        ++appended;
      }
      io.restart();
      io.poll();
      if (appended < count) io.run_one_for(milliseconds(1));
    }
    REQUIRE(run_until(io, [&] { return store.pending_appends() == 0; }, seconds(120)));
    const double s = std::chrono::duration<double>(steady::now() - start).count();
    WARN((mode == durability::buffered ? "buffered" : "acknowledged")
         << ": " << count << " appends of 100 bytes over 100 topics in " << s << " s = " << count / s
         << " appends/s");
  }
  // Acknowledged, one append at a time: each waits for its own commit (one sync each).
  temp_dir dir;
  asio::io_context io;
  sqlite_store store(io, options_for(dir / "db"));
  std::vector<double> latencies_ms;
  for (int i = 0; i < 1000; ++i) {
    bool reported = false;
    store.on_commit([&](const commit_report&) { reported = true; });
    const auto start = steady::now();
    REQUIRE(append(store, "lone", 100));
    REQUIRE(run_until(io, [&] { return reported; }));
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - start).count());
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  WARN("acknowledged, one append at a time: commit reported after p50 " << latencies_ms[500] << " ms, p99 "
                                                                         << latencies_ms[990] << " ms");
}
