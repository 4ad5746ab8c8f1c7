// sqlite_store: the hub-side index of every topic's last seq and its not yet committed
// tail, one writer thread fed by a bounded queue that commits in batches, and one reader
// thread. The public contract is in include/switchboard/sqlite_store.hpp; the reasons
// behind the epoch rules and the loss bounds are in docs/storage.md.
#include <switchboard/sqlite_store.hpp>

#include "sqlite_database.hpp"

#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace switchboard {
namespace detail {
namespace {

using sqlite::failure;
using sqlite::scoped_reset;
using sqlite::statement;
using steady = std::chrono::steady_clock;

constexpr int schema_version = 2;

// Entry i upgrades a database from version i to i + 1; a new database runs them all.
// A database newer than this list is refused, never downgraded.
constexpr const char* migrations[] = {
    // 1: topic streams, offline direct messages, users.
    R"sql(
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
)sql",
    // 2: topic generations (a forgotten topic comes back under a new epoch), frame notes
    // (a binary publish's publisher, for history), sessions.
    R"sql(
ALTER TABLE topics ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN note BLOB;
ALTER TABLE directs ADD COLUMN note BLOB;
CREATE TABLE sessions (id INTEGER PRIMARY KEY, connection INTEGER NOT NULL, user TEXT,
                       remote TEXT NOT NULL, user_agent TEXT NOT NULL, connected_at INTEGER NOT NULL,
                       disconnected_at INTEGER NOT NULL, messages_in INTEGER NOT NULL,
                       messages_out INTEGER NOT NULL);
)sql",
};
static_assert(sizeof(migrations) / sizeof(migrations[0]) == schema_version, "one migration per schema version");

// The bytes a stored frame counts for: its payload and its note. (Byte bounds on reads
// count payloads only: that is what goes back on the wire.)
constexpr const char* stored_size_sql = "length(payload) + coalesce(length(note), 0)";

std::int64_t to_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
std::int64_t now_ms() { return to_ms(std::chrono::system_clock::now()); }

std::string random_hex(std::size_t digits) {
  std::random_device device;
  std::string out;
  while (out.size() < digits) {
    std::uint32_t bits = device();
    for (int i = 0; i < 8 && out.size() < digits; ++i, bits >>= 4) out.push_back("0123456789abcdef"[bits & 15]);
  }
  return out;
}

// A topic's epoch: the database's token and the generation the topic was created in.
std::string epoch_string(const std::string& token, std::uint64_t generation) {
  char digits[16];
  std::size_t len = 0;
  do {
    digits[len++] = "0123456789abcdefghijklmnopqrstuvwxyz"[generation % 36];
    generation /= 36;
  } while (generation != 0);
  std::string epoch = token;
  epoch.push_back('-');
  while (len > 0) epoch.push_back(digits[--len]);
  return epoch;
}

std::size_t stored_size(const shared_frame& frame) { return frame.payload().size() + frame.note().size(); }

shared_frame frame_from_row(std::int64_t kind, std::string_view payload, std::string_view note) {
  frame_writer writer(kind == static_cast<std::int64_t>(frame_kind::binary) ? frame_kind::binary : frame_kind::text,
                      payload.size());
  writer.append(payload);
  return std::move(writer).finish(note);
}

std::error_code code(error e) { return make_error_code(e); }

bool valid_topic(std::string_view topic) { return !topic.empty() && topic.size() <= 255; }

std::system_error open_error(error e, const std::string& what) {
  return std::system_error(code(e), "sqlite_store: " + what);
}

// ---------------------------------------------------------------------------------------
// The run file beside the database records the last run that opened it and whether that
// run closed it cleanly: "switchboard-run <token> open|closed". It is held locked (flock)
// while a store is open, so two stores never write one database.
class run_file {
 public:
  explicit run_file(std::string path) : path_(std::move(path)) {
    open_locked();
    if (fd_ < 0 && !in_use_) {
      // Not writable (read-only directory or file): still read what it says.
      const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        read_from(fd);
        ::close(fd);
      }
    }
  }
  run_file(const run_file&) = delete;
  run_file& operator=(const run_file&) = delete;
  ~run_file() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool in_use() const noexcept { return in_use_; }
  /// The run the file says closed the database cleanly; empty otherwise.
  const std::string& closed_run() const noexcept { return closed_run_; }

  /// Records `run` as open or closed (written in place and synced: the lock stays on
  /// the same file). False when the file cannot be written or is locked by another store.
  bool record(const std::string& run, bool closed) {
    if (fd_ < 0) open_locked();
    if (fd_ < 0) return false;
    const std::string text = "switchboard-run " + run + (closed ? " closed\n" : " open\n");
    if (::pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) return false;
    if (::ftruncate(fd_, static_cast<off_t>(text.size())) != 0) return false;
    return ::fdatasync(fd_) == 0;
  }

 private:
  void open_locked() {
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      in_use_ = errno == EWOULDBLOCK;
      ::close(fd);
      return;
    }
    in_use_ = false;
    fd_ = fd;
    read_from(fd_);
  }

  void read_from(int fd) {
    char text[128];
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    closed_run_.clear();
    if (n <= 0) return;
    const std::string_view content(text, static_cast<std::size_t>(n));
    const std::string_view prefix = "switchboard-run ";
    const std::string_view suffix = " closed\n";
    if (content.size() > prefix.size() + suffix.size() && content.substr(0, prefix.size()) == prefix &&
        content.substr(content.size() - suffix.size()) == suffix)
      closed_run_ = std::string(content.substr(prefix.size(), content.size() - prefix.size() - suffix.size()));
  }

  std::string path_;
  int fd_ = -1;
  bool in_use_ = false;
  std::string closed_run_;
};

// Opens the writer's connection and sets what every write relies on.
sqlite::connection open_writer_connection(const sqlite_store::options& opts) {
  sqlite::connection db(opts.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, opts.busy_timeout);
  // WAL: readers never wait for the writer, and a commit appends to one file.
  db.exec("PRAGMA journal_mode=WAL");
  // FULL syncs the WAL at every commit, so what is reported committed survives a power
  // loss, not only a process crash. Buffered mode too: it trades the caller's wait, not
  // the sync, so its loss bound is one and the same for both (and the run's start,
  // which guards epochs, is never lost behind a later commit). With NORMAL, commits
  // since the last checkpoint could roll back after a power loss.
  db.exec("PRAGMA synchronous=FULL");
  // After a checkpoint the WAL file shrinks back to this, so one burst does not keep
  // its disk space for the life of the database.
  db.exec("PRAGMA journal_size_limit=67108864");
  if (opts.max_database_bytes > 0) {
    // max_page_count is per connection: the writer's is the one that matters.
    sqlite::statement page_size(db, "PRAGMA page_size");
    page_size.step();
    const auto page = std::max<std::int64_t>(512, page_size.column_int(0));
    const std::string sql =
        "PRAGMA max_page_count=" + std::to_string(std::max<std::uint64_t>(1, opts.max_database_bytes / page));
    db.exec(sql.c_str());
  }
  return db;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Work for the writer. Appends are the hot path and carry their fields inline; the rarer
// kinds keep theirs behind `details`.
enum class op_kind : std::uint8_t { append, forget_topic, store_direct, take_directs, register_user, session };

// Ops a caller waits for: buffered mode commits as soon as one is queued.
bool awaited(op_kind kind) {
  return kind == op_kind::store_direct || kind == op_kind::take_directs || kind == op_kind::register_user;
}

struct op_details {
  sqlite_store::done_handler done;
  sqlite_store::directs_handler directs;
  sqlite_store::register_handler registered;
  std::array<unsigned char, user_keys::key_bytes> ed25519{};
  std::array<unsigned char, user_keys::key_bytes> x25519{};
  session_record session;
  // What applying the op found; handed to its handler only once the batch commits.
  std::error_code result;
  user_registration outcome = user_registration::created;
  std::vector<shared_frame> frames;
};

struct write_op {
  op_kind kind = op_kind::append;
  std::uint64_t ticket = 0;      // append
  std::uint64_t topic_id = 0;    // append, forget_topic
  std::uint64_t seq = 0;         // append
  std::uint64_t generation = 0;  // append of a topic new to the writer; forget_topic: the next generation
  std::int64_t time_ms = 0;      // append, store_direct, register_user
  shared_frame frame;            // append, store_direct
  std::string text;              // append: topic name when new to the writer; otherwise the user
  std::unique_ptr<op_details> details;
};

// The hub-side record of an append whose commit report has not been handled: the tail a
// read adds to what the disk has.
struct topic_entry;
struct pending_append {
  std::uint64_t ticket = 0;
  topic_entry* topic = nullptr;
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;
  shared_frame frame;
};

// One topic in the hub-side index.
struct topic_entry {
  std::string name;
  std::string epoch;
  std::uint64_t id = 0;
  std::uint64_t seq = 0;  // the last seq handed out
  std::uint64_t generation = 0;
  std::int64_t last_time_ms = 0;  // published_at never goes back within a topic (age retention relies on it)
  // Its unsettled appends, oldest first, after `settled` entries that have left: they
  // hold the seqs seq - pending_count() + 1 to seq, so a read finds any of them at once.
  std::vector<const pending_append*> unsettled;
  std::size_t settled = 0;
  topic_entry* lru_prev = nullptr;  // topics that may be forgotten, least recently appended first
  topic_entry* lru_next = nullptr;
  bool retained = false;
  bool announced = false;  // the writer knows its name and generation (it came from the database, or an op told it)

  std::size_t pending_count() const noexcept { return unsettled.size() - settled; }
  /// The oldest seq not settled yet (seq + 1 when none).
  std::uint64_t first_unsettled() const noexcept { return seq - pending_count() + 1; }
  /// The unsettled append of `seq`, which must be in first_unsettled() .. seq.
  const pending_append& unsettled_at(std::uint64_t s) const noexcept {
    return *unsettled[settled + static_cast<std::size_t>(s - first_unsettled())];
  }
  /// The oldest unsettled append has its report.
  void settle_oldest() {
    if (++settled == unsettled.size()) {
      unsettled.clear();
      settled = 0;
      if (unsettled.capacity() > 1024) unsettled.shrink_to_fit();  // a burst's array goes with it
    } else if (settled > unsettled.size() / 2) {
      unsettled.erase(unsettled.begin(), unsettled.begin() + static_cast<std::ptrdiff_t>(settled));
      settled = 0;
    }
  }
};

// A read, with what the hub's thread captured when it was asked.
struct read_request {
  bool newest = false;  // latest() rather than read_since()
  std::uint64_t topic_id = 0;
  std::uint64_t since = 0;
  std::uint64_t tail_first = 0;  // every seq below it was settled when the read was asked
  std::size_t limit = 0;
  std::size_t max_bytes = 0;
  std::vector<stored_message> tail;  // unsettled appends after `since`, ascending
  read_result result;
  sqlite_store::read_handler handler;
};

// Takes messages in reading order (ascending for read_since, descending for latest)
// until `limit` or `max_bytes` stops it.
class read_collector {
 public:
  explicit read_collector(read_request& r) : r_(r) {}
  bool full() const noexcept { return r_.result.more; }
  /// Offers the next message; `make` builds it only when taken. False once full.
  template <class Make>
  bool offer(std::size_t payload_bytes, Make&& make) {
    if (full()) return false;
    if (r_.result.messages.size() == r_.limit || payload_bytes > r_.max_bytes - bytes_) {
      r_.result.more = true;
      return false;
    }
    bytes_ += payload_bytes;
    r_.result.messages.push_back(make());
    return true;
  }

 private:
  read_request& r_;
  std::size_t bytes_ = 0;
};

// Builds the answer of `r`: the captured tail and what `disk_rows(collector)` offers
// from the disk (a no-op when the tail is enough), in reading order, then `more` and
// `complete`.
template <class DiskRows>
void collect(read_request& r, DiskRows&& disk_rows) {
  read_collector take(r);
  auto offer_tail = [&take](auto first, auto last) {
    for (; first != last; ++first)
      if (!take.offer(first->frame.payload().size(), [&] { return *first; })) break;
  };
  if (r.newest) {  // the tail is the newest: it comes first, the disk before it
    offer_tail(r.tail.rbegin(), r.tail.rend());
    if (!take.full()) disk_rows(take);
    std::reverse(r.result.messages.begin(), r.result.messages.end());
  } else {
    disk_rows(take);
    offer_tail(r.tail.begin(), r.tail.end());
    r.result.complete =
        !r.result.more && r.since <= r.result.seq && r.result.messages.size() == r.result.seq - r.since;
  }
  r.tail.clear();
}

struct sqlite_store_impl;

// ---------------------------------------------------------------------------------------
// The writer thread: takes batches from the queue and commits each in one transaction.
class store_writer {
 public:
  store_writer(sqlite_store_impl& store, sqlite::connection db, std::uint64_t generation);
  /// Records the run's start in a transaction of its own (at open, before the thread
  /// starts). False when the database cannot be written.
  bool start_run();
  void run();

 private:
  // What the writer knows of one topic.
  struct topic_state {
    std::string name;  // set when the topic is new to the database in this run
    std::uint64_t generation = 0;
    bool in_db = false;     // its topics row is committed
    bool has_stats = false; // bytes and first_seq are known
    std::uint64_t bytes = 0;
    std::uint64_t first_seq = 0;  // oldest stored seq when has_stats (0: none)
    std::uint64_t seen_seq = 0;   // highest seq handed to the writer
    std::uint64_t saved_seq = 0;  // highest last_seq committed
    bool touched = false;         // in `touched_`
  };

  struct statements {
    statement begin, commit, insert_message, insert_topic, raise_last_seq, delete_stale_messages,
        delete_stale_topics, topic_stats, oldest_of_topic, sum_upto, delete_upto, delete_topic_messages,
        delete_topic, set_meta, count_directs_of, count_directs, insert_direct, select_directs, delete_directs,
        find_user, count_users, insert_user, insert_session, count_sessions, trim_sessions, oldest_messages,
        delete_messages_upto;
  };

  bool wait_for_work(std::vector<write_op>& batch);
  void commit_batch(std::vector<write_op>& batch);
  void note_seen(const std::vector<write_op>& batch);
  void apply(write_op& op);
  void apply_append(write_op& op);
  void apply_forget(write_op& op);
  void apply_store_direct(write_op& op);
  void apply_take_directs(write_op& op);
  void apply_register_user(write_op& op);
  void apply_session(write_op& op);
  void save_topic(std::uint64_t id, topic_state& t);
  void trim_topic(std::uint64_t id, topic_state& t, std::uint64_t max_rows);
  void load_stats(std::uint64_t id, topic_state& t);
  void record_run_start();
  void maintain();
  bool sweep_age();
  bool sweep_sessions();
  bool oldest_expired();
  std::int64_t age_cutoff() const;
  void close_cleanly();
  void ensure_open();
  void prepare();
  void forget_volatile_state();
  void set_meta(std::string_view key, std::string_view value);
  std::uint64_t count(statement& s);
  void post_results(std::vector<write_op>& batch, std::error_code error);
  void fail_batch(std::vector<write_op>& batch, const std::string& why, bool attempted);

  sqlite_store_impl& s_;
  sqlite::connection db_;
  statements st_;
  bool reopen_ = false;
  bool run_recorded_ = false;
  bool run_recorded_now_ = false;  // recorded by the batch being committed
  bool degraded_ = false;
  bool unclean_ = false;  // a forgotten topic's rows may outlive it: the next open takes a new epoch
  steady::time_point next_attempt_{};
  steady::time_point next_maintenance_{};
  std::unordered_map<std::uint64_t, topic_state> topics_;
  std::vector<std::uint64_t> touched_;
  std::unordered_set<std::uint64_t> behind_;    // seen_seq > saved_seq after a failed batch
  std::unordered_set<std::uint64_t> deferred_;  // trims left for maintenance
  std::vector<std::uint64_t> created_;          // topics rows inserted by this batch
  std::uint64_t start_generation_;              // what the run's start records
  std::optional<std::uint64_t> direct_count_, user_count_, session_count_;
};

// The reader thread: serves reads that need the disk, and user lookups.
class store_reader {
 public:
  store_reader(sqlite_store_impl& store, sqlite::connection db);
  void run();
  void read(read_request& r);
  void find(const std::string& user, sqlite_store::find_user_handler handler);

 private:
  void ensure_open();
  void prepare();

  sqlite_store_impl& s_;
  sqlite::connection db_;
  statement since_rows_, newest_rows_, find_user_;
  bool reopen_ = false;
};

// ---------------------------------------------------------------------------------------
struct sqlite_store_impl {
  using options = sqlite_store::options;

  sqlite_store_impl(asio::io_context& context, options o);
  ~sqlite_store_impl();

  // --- shared by every thread ---------------------------------------------------------
  asio::io_context& io;
  const options opts;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);  // read and written on the hub's thread only
  std::unique_ptr<run_file> runs;
  std::string run_token;
  std::atomic<bool> writable{true};
  std::atomic<std::uint64_t> committed_through{0};
  mutable std::mutex error_mutex;
  std::string last_error;

  void set_error(const std::string& what) {
    std::lock_guard<std::mutex> lock(error_mutex);
    last_error = what;
  }

  /// Runs `f` on the hub's thread, unless the store is gone by then.
  template <class F>
  void post(F&& f) {
    asio::post(io, [life = alive, f = std::forward<F>(f)]() mutable {
      if (*life) f();
    });
  }

  // Like an Asio I/O object, the store keeps its io_context's run() from returning
  // while something it started will post a handler: an append awaiting its commit
  // report, a read, an operation with a handler. Counted on the hub's thread.
  std::size_t outstanding = 0;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  void begin_work(std::size_t n = 1) {
    if (outstanding == 0 && n > 0) work.emplace(io.get_executor());
    outstanding += n;
  }
  void end_work(std::size_t n = 1) {
    outstanding -= n;
    if (outstanding == 0) work.reset();
  }
  /// Posts the handler of one unit of work started with `begin_work`.
  template <class F>
  void post_handler(F&& f) {
    post([this, f = std::forward<F>(f)]() mutable {
      end_work();
      f();
    });
  }

  // --- the writer's queue (queue_mutex) -----------------------------------------------
  std::mutex queue_mutex;
  std::condition_variable queue_ready;
  std::deque<write_op> queue;
  std::size_t queued_appends = 0;  // appends in `queue`
  std::size_t queued_urgent = 0;   // `awaited` ops in `queue`
  steady::time_point oldest_queued{};
  bool writer_waiting = false;
  bool stopping = false;
  // Ops other than appends that the writer has not taken yet (appends are bounded by
  // the hub-side `pending`, which outlives their stay in the queue).
  std::atomic<std::size_t> other_ops{0};
  std::atomic<std::size_t> other_bytes{0};

  void push(write_op op);
  /// Queues an op other than an append, counted against the queue's bounds.
  void push_other(write_op op) {
    other_ops.fetch_add(1, std::memory_order_relaxed);
    if (op.frame) other_bytes.fetch_add(stored_size(op.frame), std::memory_order_relaxed);
    push(std::move(op));
  }
  /// An op of a rarer kind: its text (the user), the time, and room for its details.
  static write_op detailed_op(op_kind kind, std::string_view user) {
    write_op op;
    op.kind = kind;
    op.text.assign(user.data(), user.size());
    op.time_ms = now_ms();
    op.details = std::make_unique<op_details>();
    return op;
  }
  /// Why a write for `user` of `bytes` cannot be queued now; empty when it can.
  std::error_code refuse_user_write(std::string_view user, std::size_t bytes) const {
    if (user.empty() || user.size() > opts.max_user_bytes) return code(error::bad_request);
    if (queue_full(bytes)) return code(error::overloaded);
    return {};
  }

  // --- the reader's queue (read_mutex) ------------------------------------------------
  std::mutex read_mutex;
  std::condition_variable read_ready;
  std::deque<std::function<void(store_reader&)>> reads;
  bool reads_stopping = false;
  // Payload bytes of results the reader built that the hub has not handled yet: past
  // `max_read_bytes_in_flight` the reader waits, so a hub that falls behind bounds them.
  std::size_t read_bytes_held = 0;

  void push_read(std::function<void(store_reader&)> job);
  /// Posts the answer of a read counted in `reads_in_flight`; `held` is what it holds
  /// against `max_read_bytes_in_flight`.
  template <class F>
  void post_read_answer(F&& f, std::size_t held) {
    post_handler([this, f = std::forward<F>(f), held]() mutable {
      --reads_in_flight;
      if (held > 0) {
        {
          std::lock_guard<std::mutex> lock(read_mutex);
          read_bytes_held -= held;
        }
        read_ready.notify_one();
      }
      f();
    });
  }

  // --- the hub's thread -----------------------------------------------------------------
  std::string epoch_token;
  std::uint64_t generation = 0;
  std::string current_epoch;  // what a topic created now takes
  std::uint64_t next_topic_id = 1;
  std::uint64_t last_ticket = 0;
  std::unordered_map<std::string_view, std::unique_ptr<topic_entry>> index;  // keys view topic_entry::name
  topic_entry* lru_head = nullptr;
  topic_entry* lru_tail = nullptr;
  std::deque<pending_append> pending;  // in ticket order; element addresses are stable
  std::size_t pending_bytes = 0;
  std::size_t reads_in_flight = 0;  // reads asked and not yet answered (bounded by max_pending_reads)
  sqlite_store::commit_handler on_commit;

  topic_entry* find(std::string_view topic) const {
    const auto it = index.find(topic);
    return it == index.end() ? nullptr : it->second.get();
  }
  bool queue_full(std::size_t more_bytes) const {
    return pending.size() + other_ops.load(std::memory_order_relaxed) >= opts.max_queued ||
           pending_bytes + other_bytes.load(std::memory_order_relaxed) + more_bytes > opts.max_queued_bytes;
  }
  topic_entry* forgettable() const;
  bool forget(topic_entry& t);
  topic_entry* create(std::string_view topic);
  void lru_link(topic_entry& t);
  void lru_unlink(topic_entry& t);
  void settle(const commit_report& report);
  bool begin_read(read_request& r, std::string_view topic, std::size_t limit, std::size_t max_bytes,
                  sqlite_store::read_handler& handler, const topic_entry*& t);
  void start_read(read_request r);

  // --- threads --------------------------------------------------------------------------
  std::unique_ptr<store_writer> writer;
  std::unique_ptr<store_reader> reader;
  std::thread writer_thread;
  std::thread reader_thread;

 private:
  void open();
};

// =======================================================================================
// Opening

sqlite_store_impl::sqlite_store_impl(asio::io_context& context, options o) : io(context), opts(std::move(o)) {
  open();
}

void sqlite_store_impl::open() {
  if (opts.path.empty()) throw open_error(error::bad_request, "options.path is empty");
  if (opts.max_queued == 0 || opts.max_queued_bytes == 0 || opts.max_batch == 0 || opts.max_topics == 0 ||
      opts.max_pending_reads == 0 || opts.max_read_limit == 0 || opts.retention_batch == 0 ||
      opts.max_user_bytes == 0 || opts.flush_appends == 0 || opts.max_sessions == 0 ||
      opts.max_read_bytes_in_flight == 0)
    throw open_error(error::bad_request, "every count limit must be at least 1 (" + opts.path + ")");
  if (opts.max_frame_bytes > opts.max_queued_bytes)
    throw open_error(error::bad_request, "max_frame_bytes is larger than max_queued_bytes (" + opts.path + ")");

  runs = std::make_unique<run_file>(opts.run_file.empty() ? opts.path + ".run" : opts.run_file);
  if (runs->in_use()) throw open_error(error::internal, opts.path + " is in use by another store");

  sqlite::connection db;
  std::string stored_token;
  try {
    db = open_writer_connection(opts);
    // Schema: one transaction takes the database from its version to the current one.
    statement version(db, "PRAGMA user_version");
    version.step();
    const auto found = version.column_int(0);
    version.reset();
    if (found > schema_version)
      throw open_error(error::internal, opts.path + " has schema version " + std::to_string(found) +
                                            ", newer than this build knows (" + std::to_string(schema_version) + ")");
    if (found < schema_version) {
      try {
        db.exec("BEGIN IMMEDIATE");
        for (auto v = found; v < schema_version; ++v) db.exec(migrations[v]);
        db.exec(("PRAGMA user_version=" + std::to_string(schema_version)).c_str());
        db.exec("COMMIT");
      } catch (const failure& e) {
        try {
          db.exec("ROLLBACK");
        } catch (const failure&) {
        }
        throw open_error(error::internal, "cannot upgrade " + opts.path + " from schema version " +
                                              std::to_string(found) + ": " + e.what());
      }
    }

    // Epoch: kept only when this database is the one this path last closed cleanly.
    std::string stored_run, clean;
    {
      statement meta(db, "SELECT key, value FROM meta");
      while (meta.step()) {
        const auto key = meta.column_bytes(0);
        std::string value(meta.column_bytes(1));
        if (key == "epoch") stored_token = std::move(value);
        else if (key == "run") stored_run = std::move(value);
        else if (key == "clean") clean = std::move(value);
        else if (key == "generation") generation = std::strtoull(value.c_str(), nullptr, 10);
      }
    }
    const bool keep = !stored_token.empty() && clean == "1" && !stored_run.empty() && stored_run == runs->closed_run();
    epoch_token = keep ? stored_token : random_hex(12);
    run_token = random_hex(16);

    {
      statement topics(db, "SELECT id, name, last_seq, generation FROM topics ORDER BY id");
      while (topics.step()) {
        auto t = std::make_unique<topic_entry>();
        t->id = topics.column_uint(0);
        t->name = std::string(topics.column_bytes(1));
        t->seq = topics.column_uint(2);
        t->generation = topics.column_uint(3);
        t->announced = true;
        // A forgotten topic whose deletion was not committed would otherwise share
        // a generation with topics created after it.
        generation = std::max(generation, t->generation);
        next_topic_id = std::max(next_topic_id, t->id + 1);
        topic_entry* raw = t.get();
        index.emplace(std::string_view(raw->name), std::move(t));
        lru_link(*raw);
      }
    }
  } catch (const failure& e) {
    throw open_error(error::internal, opts.path + ": " + e.what());
  }

  try {
    writer = std::make_unique<store_writer>(*this, std::move(db), generation);
  } catch (const failure& e) {
    throw open_error(error::internal, opts.path + ": " + e.what());
  }
  // The run's start must be on disk before any seq of this run goes out under a kept
  // epoch: a crash then leaves clean=0 behind and the next open takes a new epoch. When
  // it cannot be written, this run uses an epoch of its own that no later run can take
  // (the writer records it with its first commit).
  if (!writer->start_run()) {
    if (epoch_token == stored_token) epoch_token = random_hex(12);
    writable.store(false);
  }
  current_epoch = epoch_string(epoch_token, generation);
  for (auto& [name, t] : index) t->epoch = epoch_string(epoch_token, t->generation);

  try {
    // Read-only: the reader never takes a write lock, so it never waits for the writer.
    reader = std::make_unique<store_reader>(
        *this, sqlite::connection(opts.path, SQLITE_OPEN_READONLY, opts.busy_timeout));
  } catch (const failure& e) {
    throw open_error(error::internal, opts.path + ": " + e.what());
  }
  // Nothing may escape a thread (that would end the process): the writer's and
  // reader's own failures are handled inside; this is for running out of memory.
  writer_thread = std::thread([this] {
    try {
      writer->run();
    } catch (const std::exception& e) {
      set_error(std::string("the writer stopped: ") + e.what());
      writable.store(false);
    }
  });
  reader_thread = std::thread([this] {
    try {
      reader->run();
    } catch (const std::exception& e) {
      set_error(std::string("the reader stopped: ") + e.what());
    }
  });
}

sqlite_store_impl::~sqlite_store_impl() {
  *alive = false;
  if (writer_thread.joinable()) {
    {
      std::lock_guard<std::mutex> lock(queue_mutex);
      stopping = true;
    }
    queue_ready.notify_one();
    writer_thread.join();
  }
  if (reader_thread.joinable()) {
    {
      std::lock_guard<std::mutex> lock(read_mutex);
      reads_stopping = true;
      reads.clear();
    }
    read_ready.notify_one();
    reader_thread.join();
  }
}

// =======================================================================================
// The hub's thread

void sqlite_store_impl::push(write_op op) {
  const bool appending = op.kind == op_kind::append;
  const bool urgent = awaited(op.kind);
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(queue_mutex);
    const bool was_empty = queue.empty();
    if (was_empty) oldest_queued = steady::now();
    queue.push_back(std::move(op));
    if (appending) ++queued_appends;
    if (urgent) ++queued_urgent;
    // Buffered mode wakes the writer for the first op (it then sleeps until the flush
    // deadline) and when a flush is due by count; acknowledged mode for every op.
    wake = writer_waiting && (opts.mode == durability::acknowledged || was_empty || urgent ||
                              queued_appends >= opts.flush_appends);
  }
  if (wake) queue_ready.notify_one();
}

void sqlite_store_impl::push_read(std::function<void(store_reader&)> job) {
  {
    std::lock_guard<std::mutex> lock(read_mutex);
    reads.push_back(std::move(job));
  }
  read_ready.notify_one();
}

void sqlite_store_impl::lru_link(topic_entry& t) {
  t.lru_prev = lru_tail;
  t.lru_next = nullptr;
  if (lru_tail)
    lru_tail->lru_next = &t;
  else
    lru_head = &t;
  lru_tail = &t;
}

void sqlite_store_impl::lru_unlink(topic_entry& t) {
  if (t.lru_prev)
    t.lru_prev->lru_next = t.lru_next;
  else
    lru_head = t.lru_next;
  if (t.lru_next)
    t.lru_next->lru_prev = t.lru_prev;
  else
    lru_tail = t.lru_prev;
  t.lru_prev = t.lru_next = nullptr;
}

// The least recently appended topic that may be forgotten: not retained (it is not in
// the list then) and with no append waiting for its commit report. Looks a few deep.
topic_entry* sqlite_store_impl::forgettable() const {
  int looked = 0;
  for (topic_entry* t = lru_head; t && looked < 64; t = t->lru_next, ++looked)
    if (t->pending_count() == 0) return t;
  return nullptr;
}

// Forgets a topic and, through the writer, its rows. A topic that was published to
// starts a new generation, so when it comes back its seq restarts under a new epoch.
bool sqlite_store_impl::forget(topic_entry& t) {
  if (t.seq > 0) {
    if (other_ops.load(std::memory_order_relaxed) + pending.size() >= opts.max_queued) return false;
    ++generation;
    current_epoch = epoch_string(epoch_token, generation);
    write_op op;
    op.kind = op_kind::forget_topic;
    op.topic_id = t.id;
    op.generation = generation;
    push_other(std::move(op));
  }
  if (!t.retained) lru_unlink(t);
  index.erase(index.find(std::string_view(t.name)));
  return true;
}

topic_entry* sqlite_store_impl::create(std::string_view topic) {
  if (index.size() >= opts.max_topics) {
    if (topic_entry* old = forgettable()) forget(*old);
  }
  auto owned = std::make_unique<topic_entry>();
  topic_entry* t = owned.get();
  t->name.assign(topic.data(), topic.size());
  t->id = next_topic_id++;
  t->generation = generation;
  t->epoch = current_epoch;
  index.emplace(std::string_view(t->name), std::move(owned));
  lru_link(*t);
  return t;
}

void sqlite_store_impl::settle(const commit_report& report) {
  std::size_t settled = 0;
  while (!pending.empty() && pending.front().ticket <= report.last_ticket) {
    ++settled;
    pending_append& p = pending.front();
    topic_entry& t = *p.topic;
    t.settle_oldest();
    pending_bytes -= stored_size(p.frame);
    pending.pop_front();
  }
  end_work(settled);
  if (on_commit) on_commit(report);
}

// Counts a read in and captures what every read takes on the hub's thread: the
// stream's position and where its unsettled tail starts. False when it was answered
// at once instead (a bad topic, too many reads).
bool sqlite_store_impl::begin_read(read_request& r, std::string_view topic, std::size_t limit, std::size_t max_bytes,
                                   sqlite_store::read_handler& handler, const topic_entry*& t) {
  begin_work();
  read_result refused;
  if (!valid_topic(topic))
    refused.error = code(error::bad_request);
  else if (reads_in_flight >= opts.max_pending_reads)
    refused.error = code(error::overloaded);
  if (refused.error) {
    post_handler([h = std::move(handler), refused = std::move(refused)]() mutable { h(std::move(refused)); });
    return false;
  }
  ++reads_in_flight;
  t = find(topic);
  r.limit = std::min(limit, opts.max_read_limit);
  r.max_bytes = std::min(max_bytes, opts.max_read_bytes);
  r.handler = std::move(handler);
  r.result.seq = t ? t->seq : 0;
  r.result.epoch = t ? t->epoch : current_epoch;
  r.topic_id = t ? t->id : 0;
  r.tail_first = t ? t->first_unsettled() : 1;
  return true;
}

// Answers from what the hub's thread captured when that is enough, otherwise hands the
// read to the reader thread.
void sqlite_store_impl::start_read(read_request r) {
  const bool needs_disk = r.newest ? (r.tail_first > 1 && r.tail.size() <= r.limit)
                                   : (r.tail_first > r.since + 1 && r.result.seq > r.since);
  if (needs_disk) {
    auto shared = std::make_shared<read_request>(std::move(r));
    push_read([shared](store_reader& reader) { reader.read(*shared); });
    return;
  }
  collect(r, [](read_collector&) {});
  post_read_answer(
      [handler = std::move(r.handler), result = std::move(r.result)]() mutable { handler(std::move(result)); }, 0);
}

// =======================================================================================
// The writer thread

store_writer::store_writer(sqlite_store_impl& store, sqlite::connection db, std::uint64_t generation)
    : s_(store), db_(std::move(db)), start_generation_(generation) {
  prepare();
  next_maintenance_ = steady::now() + s_.opts.retention_interval;
}

bool store_writer::start_run() {
  try {
    if (db_.read_only()) throw failure(s_.opts.path + " is read-only", SQLITE_READONLY);
    st_.begin.run();
    record_run_start();
    st_.commit.run();
  } catch (const failure& e) {
    sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    s_.set_error(std::string("cannot record the run's start: ") + e.what());
    degraded_ = true;  // the first batch tries again, on a connection opened anew
    reopen_ = true;
    return false;
  }
  run_recorded_ = true;
  run_recorded_now_ = false;
  s_.runs->record(s_.run_token, false);
  return true;
}

void store_writer::prepare() {
  const std::string size = stored_size_sql;
  st_.begin = statement(db_, "BEGIN IMMEDIATE");
  st_.commit = statement(db_, "COMMIT");
  st_.insert_message = statement(
      db_, "INSERT INTO messages (topic_id, seq, kind, published_at, payload, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  st_.insert_topic = statement(db_,
                               "INSERT INTO topics (id, name, last_seq, generation) VALUES (?1, ?2, ?3, ?4) "
                               "ON CONFLICT (id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)");
  st_.raise_last_seq = statement(db_, "UPDATE topics SET last_seq = max(last_seq, ?2) WHERE id = ?1");
  st_.delete_stale_messages =
      statement(db_, "DELETE FROM messages WHERE topic_id IN (SELECT id FROM topics WHERE name = ?1 AND id <> ?2)");
  st_.delete_stale_topics = statement(db_, "DELETE FROM topics WHERE name = ?1 AND id <> ?2");
  st_.topic_stats = statement(
      db_, ("SELECT coalesce(sum(" + size + "), 0), coalesce(min(seq), 0) FROM messages WHERE topic_id = ?1").c_str());
  st_.oldest_of_topic = statement(
      db_, ("SELECT seq, " + size + " FROM messages WHERE topic_id = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3").c_str());
  st_.sum_upto = statement(
      db_, ("SELECT coalesce(sum(" + size + "), 0) FROM messages WHERE topic_id = ?1 AND seq <= ?2").c_str());
  st_.delete_upto = statement(db_, "DELETE FROM messages WHERE topic_id = ?1 AND seq <= ?2");
  st_.delete_topic_messages = statement(db_, "DELETE FROM messages WHERE topic_id = ?1");
  st_.delete_topic = statement(db_, "DELETE FROM topics WHERE id = ?1");
  st_.set_meta = statement(
      db_, "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  st_.count_directs_of = statement(db_, "SELECT count(*) FROM directs WHERE user = ?1");
  st_.count_directs = statement(db_, "SELECT count(*) FROM directs");
  st_.insert_direct =
      statement(db_, "INSERT INTO directs (user, kind, stored_at, payload, note) VALUES (?1, ?2, ?3, ?4, ?5)");
  st_.select_directs =
      statement(db_, "SELECT id, kind, payload, note FROM directs WHERE user = ?1 ORDER BY id LIMIT ?2");
  st_.delete_directs = statement(db_, "DELETE FROM directs WHERE user = ?1 AND id <= ?2");
  st_.find_user = statement(db_, "SELECT ed25519, x25519 FROM users WHERE name = ?1");
  st_.count_users = statement(db_, "SELECT count(*) FROM users");
  st_.insert_user = statement(db_, "INSERT INTO users (name, ed25519, x25519, registered_at) VALUES (?1, ?2, ?3, ?4)");
  st_.insert_session = statement(db_,
                                 "INSERT INTO sessions (connection, user, remote, user_agent, connected_at, "
                                 "disconnected_at, messages_in, messages_out) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  st_.count_sessions = statement(db_, "SELECT count(*) FROM sessions");
  st_.trim_sessions = statement(db_, "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions ORDER BY id LIMIT ?1)");
  st_.oldest_messages = statement(
      db_, ("SELECT id, topic_id, seq, published_at, " + size + " FROM messages ORDER BY id LIMIT ?1").c_str());
  st_.delete_messages_upto = statement(db_, "DELETE FROM messages WHERE id <= ?1");
}

// After a failure the connection is opened again before the next try: SQLite keeps a
// file it could only open read-only read-only for the connection's life.
void store_writer::ensure_open() {
  if (!reopen_) return;
  st_ = statements{};
  db_.close();
  db_ = open_writer_connection(s_.opts);
  prepare();
  reopen_ = false;
}

void store_writer::run() {
  std::vector<write_op> batch;
  batch.reserve(std::min<std::size_t>(s_.opts.max_batch, 4096));
  for (;;) {
    const bool more = wait_for_work(batch);
    if (!batch.empty()) {
      try {
        commit_batch(batch);
      } catch (const std::exception& e) {
        // Only a failure outside SQLite (out of memory) gets here; the batch is lost.
        fail_batch(batch, e.what(), true);
      }
      batch.clear();
    }
    if (!more) break;
    if (steady::now() >= next_maintenance_) {
      try {
        maintain();
      } catch (const std::exception& e) {
        s_.set_error(std::string("retention: ") + e.what());
      }
    }
  }
  try {
    close_cleanly();
  } catch (const std::exception& e) {
    s_.set_error(std::string("close: ") + e.what());
  }
}

// Waits until a batch is due (or maintenance, or the end) and moves it into `batch`.
// False when the store is stopping and the queue is drained.
bool store_writer::wait_for_work(std::vector<write_op>& batch) {
  const auto& o = s_.opts;
  std::unique_lock<std::mutex> lock(s_.queue_mutex);
  for (;;) {
    const auto now = steady::now();
    if (!s_.queue.empty()) {
      const bool due = s_.stopping || o.mode == durability::acknowledged || s_.queued_urgent > 0 ||
                       s_.queued_appends >= o.flush_appends || now >= s_.oldest_queued + o.flush_interval;
      if (due) break;
    } else if (s_.stopping) {
      return false;
    }
    if (now >= next_maintenance_) return true;
    auto wake = next_maintenance_;
    if (!s_.queue.empty()) wake = std::min(wake, s_.oldest_queued + o.flush_interval);
    s_.writer_waiting = true;
    s_.queue_ready.wait_until(lock, wake);
    s_.writer_waiting = false;
  }
  const std::size_t n = std::min(o.max_batch, s_.queue.size());
  std::size_t others = 0, other_bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    write_op& op = s_.queue.front();
    if (op.kind == op_kind::append) {
      --s_.queued_appends;
    } else {
      ++others;
      if (op.frame) other_bytes += stored_size(op.frame);
      if (awaited(op.kind)) --s_.queued_urgent;
    }
    batch.push_back(std::move(op));
    s_.queue.pop_front();
  }
  s_.other_ops.fetch_sub(others, std::memory_order_relaxed);
  s_.other_bytes.fetch_sub(other_bytes, std::memory_order_relaxed);
  return true;
}

// What the writer must remember of a batch whether or not it commits: the seqs handed
// out (never to be reused) and the names of topics new to it.
void store_writer::note_seen(const std::vector<write_op>& batch) {
  for (const write_op& op : batch) {
    if (op.kind != op_kind::append) continue;
    auto [it, inserted] = topics_.try_emplace(op.topic_id);
    topic_state& t = it->second;
    if (inserted) {
      // A topic the hub loaded from the database comes without a name: its row exists.
      t.in_db = op.text.empty();
      t.name = op.text;
      t.generation = op.generation;
    }
    t.seen_seq = std::max(t.seen_seq, op.seq);
  }
}

void store_writer::commit_batch(std::vector<write_op>& batch) {
  note_seen(batch);

  // While the disk fails, batches before the next try fail at once: callers hear
  // `internal` without waiting, and the disk is not hammered. The final drain tries.
  if (degraded_ && steady::now() < next_attempt_) {
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(s_.queue_mutex);
      stopping = s_.stopping;
    }
    if (!stopping) {
      std::string why;
      {
        std::lock_guard<std::mutex> lock(s_.error_mutex);
        why = s_.last_error;
      }
      fail_batch(batch, why, false);
      return;
    }
  }

  touched_.clear();
  created_.clear();
  run_recorded_now_ = false;
  try {
    ensure_open();
    st_.begin.run();
    if (!run_recorded_) record_run_start();
    for (write_op& op : batch) apply(op);
    for (std::uint64_t id : touched_) {
      topic_state& t = topics_[id];
      save_topic(id, t);
      trim_topic(id, t, s_.opts.retention_batch + batch.size());
    }
    for (std::uint64_t id : behind_) {
      auto it = topics_.find(id);
      if (it != topics_.end() && !it->second.touched) save_topic(id, it->second);
    }
    st_.commit.run();
  } catch (const std::exception& e) {
    if (db_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    for (std::uint64_t id : touched_) topics_[id].touched = false;
    forget_volatile_state();
    fail_batch(batch, e.what(), true);
    return;
  }

  // Committed.
  for (std::uint64_t id : touched_) {
    topic_state& t = topics_[id];
    t.touched = false;
    t.saved_seq = t.seen_seq;
  }
  for (std::uint64_t id : behind_) {
    auto it = topics_.find(id);
    if (it != topics_.end()) it->second.saved_seq = it->second.seen_seq;
  }
  behind_.clear();
  for (std::uint64_t id : created_) {
    auto it = topics_.find(id);
    if (it != topics_.end()) {
      it->second.in_db = true;
      std::string().swap(it->second.name);
    }
  }
  if (run_recorded_now_) {
    run_recorded_ = true;
    s_.runs->record(s_.run_token, false);
  }
  if (degraded_) {
    degraded_ = false;
    s_.set_error("");
  }
  s_.writable.store(true);
  post_results(batch, {});
}

void store_writer::fail_batch(std::vector<write_op>& batch, const std::string& why, bool attempted) {
  s_.set_error(why);
  s_.writable.store(false);
  degraded_ = true;
  if (attempted) {
    reopen_ = true;
    next_attempt_ = steady::now() + s_.opts.retry_interval;
  }
  for (const write_op& op : batch) {
    if (op.kind == op_kind::append) {
      behind_.insert(op.topic_id);
    } else if (op.kind == op_kind::forget_topic) {
      unclean_ = true;  // its rows stay behind, with a last_seq maybe lower than what went out
      topics_.erase(op.topic_id);
      behind_.erase(op.topic_id);
    }
  }
  post_results(batch, code(error::internal));
}

// One post per batch: the commit report (settled by the hub side first), then each
// operation's handler, in queue order. `error` overrides what the ops found.
void store_writer::post_results(std::vector<write_op>& batch, std::error_code error) {
  std::uint64_t first_ticket = 0, last_ticket = 0;
  std::vector<std::function<void()>> done;
  for (write_op& op : batch) {
    if (op.kind == op_kind::append) {
      if (first_ticket == 0) first_ticket = op.ticket;
      last_ticket = op.ticket;
      continue;
    }
    if (!op.details) continue;
    op_details& d = *op.details;
    const std::error_code result = error ? error : d.result;
    if (d.done) done.push_back([h = std::move(d.done), result] { h(result); });
    if (d.directs) {
      std::vector<shared_frame> frames;
      if (!error) frames = std::move(d.frames);
      done.push_back([h = std::move(d.directs), result, frames = std::move(frames)]() mutable {
        h(result, std::move(frames));
      });
    }
    if (d.registered)
      done.push_back([h = std::move(d.registered), result, outcome = d.outcome] { h(result, outcome); });
  }
  if (last_ticket != 0) s_.committed_through.store(last_ticket);
  if (last_ticket == 0 && done.empty()) return;
  sqlite_store_impl* store = &s_;
  s_.post([store, first_ticket, last_ticket, error, done = std::move(done)] {
    store->end_work(done.size());
    if (last_ticket != 0) store->settle(commit_report{first_ticket, last_ticket, error});
    for (const auto& f : done) f();
  });
}

// After a rollback, counters and per-topic sizes may hold what was never committed:
// they are read again from the database when next needed.
void store_writer::forget_volatile_state() {
  for (auto& [id, t] : topics_) t.has_stats = false;
  direct_count_.reset();
  user_count_.reset();
  session_count_.reset();
}

void store_writer::record_run_start() {
  set_meta("epoch", s_.epoch_token);
  set_meta("generation", std::to_string(start_generation_));
  set_meta("run", s_.run_token);
  set_meta("clean", "0");
  run_recorded_now_ = true;
}

void store_writer::set_meta(std::string_view key, std::string_view value) {
  st_.set_meta.bind_text(1, key).bind_text(2, value).run();
}

std::uint64_t store_writer::count(statement& s) {
  scoped_reset reset(s);
  s.step();
  return s.column_uint(0);
}

void store_writer::apply(write_op& op) {
  switch (op.kind) {
    case op_kind::append: apply_append(op); break;
    case op_kind::forget_topic: apply_forget(op); break;
    case op_kind::store_direct: apply_store_direct(op); break;
    case op_kind::take_directs: apply_take_directs(op); break;
    case op_kind::register_user: apply_register_user(op); break;
    case op_kind::session: apply_session(op); break;
  }
}

void store_writer::apply_append(write_op& op) {
  topic_state& t = topics_[op.topic_id];
  const auto payload = op.frame.payload();
  const auto note = op.frame.note();
  st_.insert_message.bind(1, op.topic_id).bind(2, op.seq).bind(3, static_cast<std::int64_t>(op.frame.kind()));
  st_.insert_message.bind(4, op.time_ms).bind_blob(5, payload);
  if (note.empty())
    st_.insert_message.bind_null(6);
  else
    st_.insert_message.bind_blob(6, note);
  st_.insert_message.run();
  if (t.has_stats) {
    t.bytes += payload.size() + note.size();
    if (t.first_seq == 0) t.first_seq = op.seq;
  }
  if (!t.touched) {
    t.touched = true;
    touched_.push_back(op.topic_id);
  }
}

void store_writer::apply_forget(write_op& op) {
  st_.delete_topic_messages.bind(1, op.topic_id).run();
  st_.delete_topic.bind(1, op.topic_id).run();
  set_meta("generation", std::to_string(op.generation));
  auto it = topics_.find(op.topic_id);
  if (it != topics_.end()) {
    if (it->second.touched) touched_.erase(std::find(touched_.begin(), touched_.end(), op.topic_id));
    topics_.erase(it);
  }
  behind_.erase(op.topic_id);
  deferred_.erase(op.topic_id);
}

// A topic's row: inserted the first time (after clearing any row of a forgotten topic
// of the same name whose deletion never committed), then its last_seq raised.
void store_writer::save_topic(std::uint64_t id, topic_state& t) {
  if (!t.in_db) {
    st_.delete_stale_messages.bind_text(1, t.name).bind(2, id).run();
    st_.delete_stale_topics.bind_text(1, t.name).bind(2, id).run();
    st_.insert_topic.bind(1, id).bind_text(2, t.name).bind(3, t.seen_seq).bind(4, t.generation).run();
    created_.push_back(id);
  } else {
    st_.raise_last_seq.bind(1, id).bind(2, t.seen_seq).run();
  }
}

void store_writer::load_stats(std::uint64_t id, topic_state& t) {
  scoped_reset reset(st_.topic_stats);
  st_.topic_stats.bind(1, id);
  st_.topic_stats.step();
  t.bytes = st_.topic_stats.column_uint(0);
  t.first_seq = st_.topic_stats.column_uint(1);
  t.has_stats = true;
}

// Retention by count and bytes, deleting at most `max_rows` rows; what is left over
// goes to maintenance.
void store_writer::trim_topic(std::uint64_t id, topic_state& t, std::uint64_t max_rows) {
  const auto& o = s_.opts;
  if (!t.has_stats) load_stats(id, t);
  if (t.first_seq == 0) return;
  std::uint64_t cut = 0;  // delete seqs up to it
  if (o.history_size == 0)
    cut = t.seen_seq;
  else if (t.seen_seq > o.history_size)
    cut = t.seen_seq - o.history_size;
  if (o.history_max_bytes > 0 && t.bytes > o.history_max_bytes) {
    const std::uint64_t excess = t.bytes - o.history_max_bytes;
    std::uint64_t freed = 0;
    scoped_reset reset(st_.oldest_of_topic);
    st_.oldest_of_topic.bind(1, id).bind(2, t.first_seq).bind(3, max_rows);
    while (freed < excess && st_.oldest_of_topic.step()) {
      cut = std::max(cut, st_.oldest_of_topic.column_uint(0));
      freed += st_.oldest_of_topic.column_uint(1);
    }
  }
  if (cut < t.first_seq) return;
  if (cut - t.first_seq >= max_rows) {
    cut = t.first_seq + max_rows - 1;
    deferred_.insert(id);
  }
  std::uint64_t freed;
  {
    scoped_reset reset(st_.sum_upto);
    st_.sum_upto.bind(1, id).bind(2, cut);
    st_.sum_upto.step();
    freed = st_.sum_upto.column_uint(0);
  }
  st_.delete_upto.bind(1, id).bind(2, cut).run();
  t.bytes -= std::min(t.bytes, freed);
  t.first_seq = t.bytes == 0 ? 0 : cut + 1;
}

void store_writer::apply_store_direct(write_op& op) {
  const auto& o = s_.opts;
  if (!direct_count_) direct_count_ = count(st_.count_directs);
  std::uint64_t of_user;
  {
    scoped_reset reset(st_.count_directs_of);
    st_.count_directs_of.bind_text(1, op.text);
    st_.count_directs_of.step();
    of_user = st_.count_directs_of.column_uint(0);
  }
  if (of_user >= o.max_directs_per_user || *direct_count_ >= o.max_directs) {
    op.details->result = code(error::too_large);
    return;
  }
  const auto note = op.frame.note();
  st_.insert_direct.bind_text(1, op.text).bind(2, static_cast<std::int64_t>(op.frame.kind()));
  st_.insert_direct.bind(3, op.time_ms).bind_blob(4, op.frame.payload());
  if (note.empty())
    st_.insert_direct.bind_null(5);
  else
    st_.insert_direct.bind_blob(5, note);
  st_.insert_direct.run();
  ++*direct_count_;
}

void store_writer::apply_take_directs(write_op& op) {
  std::vector<shared_frame>& frames = op.details->frames;
  frames.clear();
  std::uint64_t last_id = 0;
  {
    scoped_reset reset(st_.select_directs);
    st_.select_directs.bind_text(1, op.text).bind(2, static_cast<std::uint64_t>(s_.opts.max_directs_per_user));
    while (st_.select_directs.step()) {
      last_id = st_.select_directs.column_uint(0);
      frames.push_back(frame_from_row(st_.select_directs.column_int(1), st_.select_directs.column_bytes(2),
                                      st_.select_directs.column_bytes(3)));
    }
  }
  if (last_id != 0) {
    st_.delete_directs.bind_text(1, op.text).bind(2, last_id).run();
    if (direct_count_) *direct_count_ -= std::min<std::uint64_t>(*direct_count_, frames.size());
  }
}

void store_writer::apply_register_user(write_op& op) {
  op_details& d = *op.details;
  const std::string_view ed(reinterpret_cast<const char*>(d.ed25519.data()), d.ed25519.size());
  const std::string_view x(reinterpret_cast<const char*>(d.x25519.data()), d.x25519.size());
  {
    scoped_reset reset(st_.find_user);
    st_.find_user.bind_text(1, op.text);
    if (st_.find_user.step()) {
      d.outcome = st_.find_user.column_bytes(0) == ed && st_.find_user.column_bytes(1) == x ? user_registration::already_registered
                                                                                             : user_registration::conflict;
      return;
    }
  }
  if (!user_count_) user_count_ = count(st_.count_users);
  if (*user_count_ >= s_.opts.max_users) {
    d.result = code(error::too_large);
    d.outcome = user_registration::full;
    return;
  }
  st_.insert_user.bind_text(1, op.text).bind_blob(2, ed).bind_blob(3, x).bind(4, op.time_ms).run();
  ++*user_count_;
  d.outcome = user_registration::created;
}

void store_writer::apply_session(write_op& op) {
  const session_record& r = op.details->session;
  auto& q = st_.insert_session;
  q.bind(1, r.connection);
  if (r.user.empty())
    q.bind_null(2);
  else
    q.bind_text(2, r.user);
  q.bind_text(3, r.remote).bind_text(4, r.user_agent).bind(5, to_ms(r.connected_at)).bind(6, to_ms(r.disconnected_at));
  q.bind(7, r.messages_in).bind(8, r.messages_out).run();
  if (session_count_) ++*session_count_;
}

// Age retention, trims left over from batches, and the bound on session rows: each a
// short transaction of at most `retention_batch` rows, between write batches.
void store_writer::maintain() {
  const auto& o = s_.opts;
  next_maintenance_ = steady::now() + o.retention_interval;
  if (degraded_) return;
  bool more = false;
  try {
    ensure_open();
    // Look before taking the write lock: most rounds find nothing to do.
    if (!session_count_) session_count_ = count(st_.count_sessions);
    const bool sessions_over = *session_count_ > o.max_sessions;
    const bool expired = o.history_max_age.count() > 0 && oldest_expired();
    if (!expired && !sessions_over && deferred_.empty()) return;
    st_.begin.run();
    if (expired) more |= sweep_age();
    if (!deferred_.empty()) {
      std::vector<std::uint64_t> ids(deferred_.begin(), deferred_.end());
      deferred_.clear();
      for (std::uint64_t id : ids) {
        auto it = topics_.find(id);
        if (it != topics_.end()) trim_topic(id, it->second, o.retention_batch);
      }
      more |= !deferred_.empty();
    }
    if (sessions_over) more |= sweep_sessions();
    st_.commit.run();
  } catch (const std::exception& e) {
    if (db_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    forget_volatile_state();
    reopen_ = true;
    s_.set_error(std::string("retention: ") + e.what());
    return;
  }
  if (more) next_maintenance_ = steady::now();  // after the next batch, if one waits
}

std::int64_t store_writer::age_cutoff() const {
  return now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(s_.opts.history_max_age).count();
}

bool store_writer::oldest_expired() {
  scoped_reset reset(st_.oldest_messages);
  st_.oldest_messages.bind(1, std::int64_t{1});
  return st_.oldest_messages.step() && st_.oldest_messages.column_int(3) < age_cutoff();
}

// Deletes the oldest messages older than `history_max_age`, in insertion order. True
// when a whole `retention_batch` went (there may be more).
bool store_writer::sweep_age() {
  const auto& o = s_.opts;
  const std::int64_t cutoff = age_cutoff();
  std::uint64_t last_id = 0, rows = 0;
  {
    scoped_reset reset(st_.oldest_messages);
    st_.oldest_messages.bind(1, static_cast<std::uint64_t>(o.retention_batch));
    while (st_.oldest_messages.step()) {
      if (st_.oldest_messages.column_int(3) >= cutoff) break;
      last_id = st_.oldest_messages.column_uint(0);
      ++rows;
      auto it = topics_.find(st_.oldest_messages.column_uint(1));
      if (it != topics_.end() && it->second.has_stats) {
        topic_state& t = it->second;
        t.bytes -= std::min<std::uint64_t>(t.bytes, st_.oldest_messages.column_uint(4));
        t.first_seq = t.bytes == 0 ? 0 : std::max(t.first_seq, st_.oldest_messages.column_uint(2) + 1);
      }
    }
  }
  if (last_id != 0) st_.delete_messages_upto.bind(1, last_id).run();
  return rows == o.retention_batch;
}

bool store_writer::sweep_sessions() {
  const auto& o = s_.opts;
  const std::uint64_t n = std::min<std::uint64_t>(*session_count_ - o.max_sessions, o.retention_batch);
  st_.trim_sessions.bind(1, n).run();
  *session_count_ -= n;
  return *session_count_ > o.max_sessions;
}

// The queue is drained. Every topic's last_seq is raised to what went out (so a seq is
// never handed out twice under one epoch), then the database is marked clean and the
// run file says so.
void store_writer::close_cleanly() {
  if (!run_recorded_ || unclean_) return;
  try {
    ensure_open();
    st_.begin.run();
    created_.clear();
    for (auto& [id, t] : topics_)
      if (t.seen_seq > t.saved_seq) save_topic(id, t);
    set_meta("clean", "1");
    st_.commit.run();
  } catch (const std::exception& e) {
    if (db_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    s_.set_error(std::string("cannot mark the database closed: ") + e.what());
    return;
  }
  s_.runs->record(s_.run_token, true);
}

// =======================================================================================
// The reader thread

store_reader::store_reader(sqlite_store_impl& store, sqlite::connection db) : s_(store), db_(std::move(db)) {
  prepare();
}

void store_reader::prepare() {
  const char* columns = "SELECT seq, kind, published_at, payload, note FROM messages ";
  since_rows_ = statement(db_, (std::string(columns) +
                                "WHERE topic_id = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq LIMIT ?4").c_str());
  newest_rows_ =
      statement(db_, (std::string(columns) + "WHERE topic_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3").c_str());
  find_user_ = statement(db_, "SELECT ed25519, x25519, registered_at FROM users WHERE name = ?1");
}

void store_reader::run() {
  for (;;) {
    std::function<void(store_reader&)> job;
    {
      std::unique_lock<std::mutex> lock(s_.read_mutex);
      s_.read_ready.wait(lock, [this] {
        return s_.reads_stopping || (!s_.reads.empty() && s_.read_bytes_held < s_.opts.max_read_bytes_in_flight);
      });
      if (s_.reads_stopping) return;
      job = std::move(s_.reads.front());
      s_.reads.pop_front();
    }
    job(*this);
  }
}

void store_reader::ensure_open() {
  if (!reopen_) return;
  since_rows_ = statement();
  newest_rows_ = statement();
  find_user_ = statement();
  db_.close();
  db_ = sqlite::connection(s_.opts.path, SQLITE_OPEN_READONLY, s_.opts.busy_timeout);
  prepare();
  reopen_ = false;
}

void store_reader::find(const std::string& user, sqlite_store::find_user_handler handler) {
  std::error_code failed;
  std::optional<user_keys> keys;
  try {
    ensure_open();
    scoped_reset reset(find_user_);
    find_user_.bind_text(1, user);
    if (find_user_.step()) {
      const auto ed = find_user_.column_bytes(0);
      const auto x = find_user_.column_bytes(1);
      user_keys k;
      if (ed.size() == k.ed25519.size() && x.size() == k.x25519.size()) {
        std::memcpy(k.ed25519.data(), ed.data(), ed.size());
        std::memcpy(k.x25519.data(), x.data(), x.size());
        keys = std::move(k);
      } else {
        failed = code(error::internal);
        s_.set_error("user " + user + " has stored keys of the wrong size");
      }
    }
  } catch (const std::exception& e) {
    reopen_ = true;
    s_.set_error(std::string("find_user: ") + e.what());
    failed = code(error::internal);
  }
  s_.post_read_answer([handler = std::move(handler), failed,
                       keys = std::move(keys)]() mutable { handler(failed, std::move(keys)); },
                      0);
}

void store_reader::read(read_request& r) {
  try {
    ensure_open();
    auto message = [](statement& q) {
      return stored_message{q.column_uint(0), q.column_int(2),
                            frame_from_row(q.column_int(1), q.column_bytes(3), q.column_bytes(4))};
    };
    collect(r, [&](read_collector& take) {
      statement& q = r.newest ? newest_rows_ : since_rows_;
      scoped_reset reset(q);
      if (r.newest)
        q.bind(1, r.topic_id).bind(2, r.tail_first).bind(3, static_cast<std::uint64_t>(r.limit + 1));
      else
        q.bind(1, r.topic_id).bind(2, r.since).bind(3, r.tail_first).bind(4, static_cast<std::uint64_t>(r.limit + 1));
      while (q.step())
        if (!take.offer(q.column_bytes(3).size(), [&] { return message(q); })) break;
    });
  } catch (const std::exception& e) {
    reopen_ = true;
    s_.set_error(std::string("read: ") + e.what());
    r.result.messages.clear();
    r.result.more = false;
    r.result.complete = false;
    r.result.error = code(error::internal);
  }
  std::size_t held = 0;
  for (const auto& m : r.result.messages) held += m.frame.payload().size();
  if (held > 0) {
    std::lock_guard<std::mutex> lock(s_.read_mutex);
    s_.read_bytes_held += held;
  }
  s_.post_read_answer(
      [handler = std::move(r.handler), result = std::move(r.result)]() mutable { handler(std::move(result)); }, held);
}

}  // namespace detail

// =======================================================================================
// sqlite_store

sqlite_store::sqlite_store(asio::io_context& io, options opts)
    : impl_(std::make_unique<detail::sqlite_store_impl>(io, std::move(opts))) {}
sqlite_store::~sqlite_store() = default;
sqlite_store::sqlite_store(sqlite_store&&) noexcept = default;
sqlite_store& sqlite_store::operator=(sqlite_store&&) noexcept = default;

void sqlite_store::on_commit(commit_handler handler) { impl_->on_commit = std::move(handler); }

stream_position sqlite_store::position(std::string_view topic) const {
  const detail::topic_entry* t = impl_->find(topic);
  if (!t) return {0, impl_->current_epoch};
  return {t->seq, t->epoch};
}

sqlite_store::append_slot sqlite_store::reserve_append(std::string_view topic) {
  auto& s = *impl_;
  if (!detail::valid_topic(topic)) return {detail::code(error::bad_request)};
  if (s.queue_full(0)) return {detail::code(error::overloaded)};
  const detail::topic_entry* t = s.find(topic);
  if (!t && s.index.size() >= s.opts.max_topics && !s.forgettable()) return {detail::code(error::overloaded)};
  return {{}, t ? t->seq + 1 : 1};
}

append_result sqlite_store::queue_append(std::string_view topic, const append_slot& slot, shared_frame frame) {
  auto& s = *impl_;
  if (!frame) return fail(detail::code(error::bad_request));
  const std::size_t size = detail::stored_size(frame);
  if (size > s.opts.max_frame_bytes) return fail(detail::code(error::too_large));
  if (s.queue_full(size)) return fail(detail::code(error::overloaded));
  detail::topic_entry* t = s.find(topic);
  if (!t) t = s.create(topic);
  if (!t->retained) {  // most recently appended last
    s.lru_unlink(*t);
    s.lru_link(*t);
  }
  t->seq = slot.seq;
  t->last_time_ms = std::max(t->last_time_ms, detail::now_ms());

  detail::pending_append& p = s.pending.emplace_back();
  p.ticket = ++s.last_ticket;
  p.topic = t;
  p.seq = slot.seq;
  p.time_ms = t->last_time_ms;
  p.frame = frame;
  t->unsettled.push_back(&p);
  s.pending_bytes += size;
  s.begin_work();

  detail::write_op op;
  op.ticket = p.ticket;
  op.topic_id = t->id;
  op.seq = slot.seq;
  op.time_ms = p.time_ms;
  op.frame = frame;
  if (!t->announced) {
    op.text = t->name;
    op.generation = t->generation;
    t->announced = true;
  }
  s.push(std::move(op));

  append_result result;
  result.seq = slot.seq;
  result.ticket = p.ticket;
  result.frame = std::move(frame);
  return result;
}

void sqlite_store::read_since(std::string_view topic, std::uint64_t since, const std::optional<std::string>& epoch,
                              std::size_t limit, std::size_t max_bytes, read_handler handler) {
  auto& s = *impl_;
  detail::read_request r;
  const detail::topic_entry* t;
  if (!s.begin_read(r, topic, limit, max_bytes, handler, t)) return;
  r.since = since;
  if (epoch && *epoch != r.result.epoch) {
    r.result.epoch_matches = false;
    s.post_read_answer([h = std::move(r.handler), result = std::move(r.result)]() mutable { h(std::move(result)); }, 0);
    return;
  }
  // The oldest limit + 1 unsettled appends after `since`: one more than fits tells `more`.
  if (t && since < t->seq) {
    const std::uint64_t first = std::max(since + 1, r.tail_first);
    const std::uint64_t last = std::min<std::uint64_t>(t->seq, first + r.limit);
    for (std::uint64_t seq = first; seq <= last; ++seq) {
      const auto& p = t->unsettled_at(seq);
      r.tail.push_back({p.seq, p.time_ms, p.frame});
    }
  }
  s.start_read(std::move(r));
}

void sqlite_store::latest(std::string_view topic, std::size_t limit, std::size_t max_bytes, read_handler handler) {
  auto& s = *impl_;
  detail::read_request r;
  const detail::topic_entry* t;
  if (!s.begin_read(r, topic, limit, max_bytes, handler, t)) return;
  r.newest = true;
  if (t && t->pending_count() > 0) {
    // The newest limit + 1 unsettled appends: one more than fits tells `more`.
    const std::uint64_t first = t->seq - std::min<std::uint64_t>(t->pending_count(), r.limit + 1) + 1;
    for (std::uint64_t seq = first; seq <= t->seq; ++seq) {
      const auto& p = t->unsettled_at(seq);
      r.tail.push_back({p.seq, p.time_ms, p.frame});
    }
  }
  s.start_read(std::move(r));
}

void sqlite_store::retain(std::string_view topic) {
  auto& s = *impl_;
  if (!detail::valid_topic(topic)) return;
  detail::topic_entry* t = s.find(topic);
  if (!t) t = s.create(topic);
  if (!t->retained) {
    s.lru_unlink(*t);
    t->retained = true;
  }
}

void sqlite_store::release(std::string_view topic) {
  auto& s = *impl_;
  detail::topic_entry* t = s.find(topic);
  if (!t || !t->retained) return;
  t->retained = false;
  s.lru_link(*t);
  // Never published: nothing of it is anywhere but here.
  if (t->seq == 0 && t->pending_count() == 0) s.forget(*t);
}

void sqlite_store::store_direct(std::string_view user, const shared_frame& frame, done_handler handler) {
  auto& s = *impl_;
  if (handler) s.begin_work();
  const std::size_t size = frame ? detail::stored_size(frame) : 0;
  std::error_code refused = s.refuse_user_write(user, size);
  if (!frame)
    refused = detail::code(error::bad_request);
  else if (size > s.opts.max_frame_bytes)
    refused = detail::code(error::too_large);
  if (refused) {
    if (handler) s.post_handler([h = std::move(handler), refused] { h(refused); });
    return;
  }
  auto op = detail::sqlite_store_impl::detailed_op(detail::op_kind::store_direct, user);
  op.frame = frame;
  op.details->done = std::move(handler);
  s.push_other(std::move(op));
}

void sqlite_store::take_directs(std::string_view user, directs_handler handler) {
  auto& s = *impl_;
  s.begin_work();
  if (const auto refused = s.refuse_user_write(user, 0)) {
    s.post_handler([h = std::move(handler), refused] { h(refused, {}); });
    return;
  }
  auto op = detail::sqlite_store_impl::detailed_op(detail::op_kind::take_directs, user);
  op.details->directs = std::move(handler);
  s.push_other(std::move(op));
}

void sqlite_store::register_user(std::string_view user, const user_keys& keys, register_handler handler) {
  auto& s = *impl_;
  s.begin_work();
  if (const auto refused = s.refuse_user_write(user, 0)) {
    s.post_handler([h = std::move(handler), refused] { h(refused, user_registration::conflict); });
    return;
  }
  auto op = detail::sqlite_store_impl::detailed_op(detail::op_kind::register_user, user);
  op.details->ed25519 = keys.ed25519;
  op.details->x25519 = keys.x25519;
  op.details->registered = std::move(handler);
  s.push_other(std::move(op));
}

void sqlite_store::find_user(std::string_view user, find_user_handler handler) {
  auto& s = *impl_;
  s.begin_work();
  std::error_code refused;
  if (user.empty() || user.size() > s.opts.max_user_bytes)
    refused = detail::code(error::bad_request);
  else if (s.reads_in_flight >= s.opts.max_pending_reads)
    refused = detail::code(error::overloaded);
  if (refused) {
    s.post_handler([h = std::move(handler), refused] { h(refused, std::nullopt); });
    return;
  }
  ++s.reads_in_flight;
  s.push_read([name = std::string(user), h = std::move(handler)](detail::store_reader& reader) mutable {
    reader.find(name, std::move(h));
  });
}

bool sqlite_store::record_session(session_record session) {
  auto& s = *impl_;
  if (s.queue_full(0)) return false;
  const std::size_t cap = s.opts.max_session_field_bytes;
  if (session.user.size() > s.opts.max_user_bytes) session.user.resize(s.opts.max_user_bytes);
  if (session.remote.size() > cap) session.remote.resize(cap);
  if (session.user_agent.size() > cap) session.user_agent.resize(cap);
  auto op = detail::sqlite_store_impl::detailed_op(detail::op_kind::session, {});
  op.details->session = std::move(session);
  s.push_other(std::move(op));
  return true;
}

bool sqlite_store::writable() const noexcept { return impl_->writable.load(); }

std::string sqlite_store::last_error() const {
  std::lock_guard<std::mutex> lock(impl_->error_mutex);
  return impl_->last_error;
}

std::uint64_t sqlite_store::committed_through() const noexcept { return impl_->committed_through.load(); }
std::size_t sqlite_store::pending_appends() const noexcept { return impl_->pending.size(); }
std::size_t sqlite_store::topic_count() const noexcept { return impl_->index.size(); }
const sqlite_store::options& sqlite_store::limits() const noexcept { return impl_->opts; }

}  // namespace switchboard
