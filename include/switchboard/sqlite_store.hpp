// Persistent storage for a hub in one SQLite database: topic streams that keep their seq
// and epoch across restarts, offline direct messages, users' public keys and sessions.
// Compiled component switchboard::sqlite; this header does not include sqlite3.h.
#ifndef SWITCHBOARD_SQLITE_STORE_HPP
#define SWITCHBOARD_SQLITE_STORE_HPP

#include <switchboard/error.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/store.hpp>
#include <switchboard/user_keys.hpp>

#include <asio/io_context.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace switchboard {

/// When a `sqlite_store` commits appends, and so what a crash may lose (docs/storage.md).
enum class durability {
  /// Appends are committed as soon as the writer gets to them (those that arrive during
  /// a commit go together in the next one). A hub acknowledges a publish only after its
  /// commit report, which means the row survives a process crash and a power loss.
  acknowledged,
  /// Appends are committed once `flush_appends` wait or `flush_interval` has passed since
  /// the oldest one arrived. A hub acknowledges at once; a crash loses what was not
  /// committed yet: never more than `max_queued` appends and `max_queued_bytes`.
  buffered,
};

/// One message of a topic as stored: its frame is the one appended (kind, payload and
/// note), ready to send again.
struct stored_message {
  std::uint64_t seq = 0;
  std::int64_t published_at_ms = 0;  ///< ms since the Unix epoch, when `append` was called
  shared_frame frame;
};

/// The answer to `sqlite_store::read_since` and `sqlite_store::latest`.
struct read_result {
  /// `bad_request` (empty topic or one over 255 bytes), `overloaded` (too many reads
  /// waiting), `internal` (the database could not be read); nothing else is set then.
  std::error_code error;
  /// False when the caller's epoch is not the stream's: nothing was read.
  bool epoch_matches = true;
  /// The stream's position when the read was asked: the latest seq handed out (every
  /// message up to it counts, committed or not) and the stream's epoch.
  std::uint64_t seq = 0;
  std::string epoch;
  /// In ascending seq; at most `limit` of them, whose frames' payloads add up to at most
  /// `max_bytes`.
  std::vector<stored_message> messages;
  /// Messages were left out by `limit` or `max_bytes`: after the last one returned
  /// (`read_since`; ask again from its seq) or before the first one (`latest`).
  bool more = false;
  /// `read_since` only: `messages` are exactly the seqs after `since` up to `seq`, none
  /// lost and none left out, under the caller's epoch. Recovery replays only then.
  bool complete = false;
};

/// The result of `sqlite_store::append`.
struct append_result {
  /// `overloaded`: the writer's queue is full, or a new topic found `max_topics` topics
  /// none of which may be forgotten now. `too_large`: the frame is over
  /// `max_frame_bytes`. `bad_request`: an empty topic or one over 255 bytes, or `build`
  /// returned an empty frame. On every error no seq is assigned (`build` may have run:
  /// its frame is dropped).
  std::error_code error;
  std::uint64_t seq = 0;     ///< the assigned seq; 0 on error
  std::uint64_t ticket = 0;  ///< names the append in commit reports; 0 on error
  shared_frame frame;        ///< what `build(seq)` returned
  explicit operator bool() const noexcept { return !error; }
};

/// Posted to the store's `io_context` after each write batch that held appends. Reports
/// come in ticket order and cover consecutive tickets: `first_ticket` follows the
/// previous report's `last_ticket`.
struct commit_report {
  std::uint64_t first_ticket = 0;
  std::uint64_t last_ticket = 0;
  /// Empty: every append of the range is committed. `internal`: none of them is stored
  /// (disk full, read-only file, I/O error); their seqs stay assigned and are never
  /// reused, and `last_error()` says why.
  std::error_code error;
};

namespace detail {
struct sqlite_store_impl;
}

/// A hub's storage in one SQLite database file (WAL mode): per-topic streams whose seq
/// and epoch survive restarts, offline direct messages, users' public keys and sessions.
///
/// Threads. The store owns two threads, each with its own connection: the writer, which
/// takes every write from one bounded queue and commits them in batches (one transaction
/// per batch), and the reader, which serves `read_since` and `latest` when they need the
/// disk, so reads never wait behind a write batch. The hub's thread never waits for the
/// disk: `append` assigns the seq from an in-memory index of every topic's last seq
/// (loaded at open), and every answer that needs the disk is posted to the `io_context`
/// given at construction.
///
/// Thread safety: every member must be called from the thread that runs that
/// `io_context` (the hub's), or while it does not run, except `writable`, `last_error`
/// and `committed_through`, which are safe from any thread. Handlers run on that
/// `io_context`, never inside the call that started them, and never after the store is
/// destroyed. Like an Asio I/O object, the store keeps the `io_context`'s `run()` from
/// returning while it owes a handler or a commit report.
///
/// Read-your-writes: a read sees every append whose seq was handed out before it was
/// asked, committed or not (the not yet committed tail is kept in memory until its
/// commit report has been handled).
///
/// Epochs: each database has a random epoch token; a topic's epoch is that token and the
/// generation the topic was created in. The token is kept across a clean restart and
/// replaced when the database was not closed cleanly (a crash may have lost seqs that
/// subscribers already saw) or is not the one this path last closed (restored from a
/// backup, copied from elsewhere): the run file beside it (`<path>.run`) remembers the
/// last clean close. docs/storage.md explains why this works and where it stops.
///
/// Errors: a database that cannot be written (read-only file, full disk, I/O error)
/// fails the appends of each batch with `internal` in their commit report, while seqs
/// keep being assigned; the writer tries again every `retry_interval` and recovers by
/// itself. Opening fails with `std::system_error` (`bad_request` for bad options,
/// `internal` for a file that cannot be opened, is not a database, has a newer schema,
/// or is in use by another store), with a message naming the path.
///
/// Destruction drains the writer's queue: everything queued is committed (one attempt
/// per batch when the disk is failing), then the database is marked closed cleanly if
/// every seq handed out is accounted for. Reads still waiting are dropped. Handlers of
/// work finished during destruction are not called. Destroy the store before its
/// `io_context`.
class sqlite_store {
 public:
  /// Every limit, with its default. docs/storage.md says what each bounds.
  struct options {
    std::string path;                          ///< the database file; created if missing
    std::string run_file;                      ///< empty: `path + ".run"`
    durability mode = durability::acknowledged;

    // --- the writer's queue --------------------------------------------------------
    std::size_t max_queued = 65536;                 ///< writes appended but not yet settled
    std::size_t max_queued_bytes = 64u << 20;       ///< their frames' bytes
    std::size_t max_batch = 8192;                   ///< writes per transaction
    std::chrono::milliseconds flush_interval{20};   ///< buffered: longest wait before a commit
    std::size_t flush_appends = 4096;               ///< buffered: commit once this many wait
    std::chrono::milliseconds retry_interval{1000}; ///< after a failed write, the next try
    std::chrono::milliseconds busy_timeout{5000};   ///< wait for another process's lock
    std::size_t max_frame_bytes = 16u << 20;        ///< largest frame stored (payload + note)

    // --- topic streams ---------------------------------------------------------------
    std::size_t max_topics = 100000;                ///< topics numbered before idle ones are forgotten
    std::size_t history_size = 100;                 ///< messages kept per topic
    std::size_t history_max_bytes = 4u << 20;       ///< their payload and note bytes per topic
    std::chrono::seconds history_max_age{0};        ///< drop older messages; 0: no age limit
    std::chrono::milliseconds retention_interval{1000}; ///< how often age and size sweeps run
    std::size_t retention_batch = 1000;             ///< rows one sweep transaction deletes

    // --- reads -------------------------------------------------------------------------
    std::size_t max_pending_reads = 1024;           ///< reads and user lookups asked, not yet answered
    std::size_t max_read_limit = 10000;             ///< `limit` is clamped to this
    std::size_t max_read_bytes = 8u << 20;          ///< `max_bytes` is clamped to this
    std::size_t max_read_bytes_in_flight = 64u << 20; ///< read from disk, not yet handled: the reader waits past it

    // --- directs, users, sessions ------------------------------------------------------
    std::size_t max_directs_per_user = 100;         ///< offline messages kept per user
    std::size_t max_directs = 1000000;              ///< offline messages kept in all
    std::size_t max_users = 1000000;                ///< registered users
    std::size_t max_user_bytes = 128;               ///< longest user id
    std::size_t max_sessions = 1000000;             ///< session rows kept (at least 1), oldest dropped first
    std::size_t max_session_field_bytes = 256;      ///< remote, user agent: longer is cut

    // --- the file ----------------------------------------------------------------------
    std::uint64_t max_database_bytes = 0;           ///< past it writes fail as on a full disk; 0: none
  };

  using commit_handler = std::function<void(const commit_report&)>;
  using read_handler = std::function<void(read_result)>;
  using done_handler = std::function<void(std::error_code)>;
  using directs_handler = std::function<void(std::error_code, std::vector<shared_frame>)>;
  using register_handler = std::function<void(std::error_code, user_registration)>;
  using find_user_handler = std::function<void(std::error_code, std::optional<user_keys>)>;

  /// Opens (or creates) the database, upgrades its schema, decides the epoch, loads the
  /// index of topics and starts the threads. Blocks the calling thread while it does.
  sqlite_store(asio::io_context& io, options opts);
  ~sqlite_store();
  sqlite_store(sqlite_store&&) noexcept;
  sqlite_store& operator=(sqlite_store&&) noexcept;
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  /// Called with every commit report, after the store has settled its own bookkeeping.
  void on_commit(commit_handler handler);

  /// Where `topic` stands, from memory. A topic nobody published to: seq 0 and the epoch
  /// it will take at its first publish. The epoch view is valid until the next call that
  /// modifies the store.
  stream_position position(std::string_view topic) const;

  /// Assigns the next seq of `topic`, calls `build(seq)` for the frame (which must not
  /// call the store) and queues it for the writer. Never blocks. If `build` throws,
  /// nothing changes.
  template <class Build>
  append_result append(std::string_view topic, Build&& build) {
    const append_slot slot = reserve_append(topic);
    if (slot.error) return fail(slot.error);
    return queue_append(topic, slot, build(slot.seq));
  }

  /// The messages of `topic` after `since`, oldest first, at most `limit` (clamped to
  /// `max_read_limit`) and `max_bytes` of payload (clamped to `max_read_bytes`). With
  /// `epoch`, a stream under another epoch answers `epoch_matches = false`.
  void read_since(std::string_view topic, std::uint64_t since, const std::optional<std::string>& epoch,
                  std::size_t limit, std::size_t max_bytes, read_handler handler);

  /// The newest messages of `topic`, at most `limit` and `max_bytes` of payload, in
  /// ascending seq.
  void latest(std::string_view topic, std::size_t limit, std::size_t max_bytes, read_handler handler);

  /// The hub's call when `topic` gets its first exact subscriber: its stream is never
  /// forgotten (see `max_topics`) until `release`.
  void retain(std::string_view topic);
  /// The hub's call when `topic` loses its last exact subscriber.
  void release(std::string_view topic);

  /// Stores a direct message for `user`, who is offline. The handler (which may be empty)
  /// gets no error once the message is committed; `too_large` when the user already has
  /// `max_directs_per_user` (or the store `max_directs`), `overloaded`, `bad_request`
  /// (user id empty or over `max_user_bytes`, empty frame) or `internal`.
  void store_direct(std::string_view user, const shared_frame& frame, done_handler handler);

  /// Takes the stored direct messages of `user` (at most `max_directs_per_user`), oldest
  /// first: they are deleted in the transaction that reads them, so each is handed out
  /// once. A crash after that commit and before the handler delivers them loses them.
  void take_directs(std::string_view user, directs_handler handler);

  /// Registers `user` with its public keys, unless it exists: `created`,
  /// `already_registered` (the same keys) or `conflict` (other keys, which stay); with
  /// `max_users` registered, `full` and the error `too_large`.
  void register_user(std::string_view user, const user_keys& keys, register_handler handler);

  /// The user's keys, or nullopt when unknown. Sees every registration whose handler ran.
  void find_user(std::string_view user, find_user_handler handler);

  /// Queues a session row. Returns false (and drops it) when the queue is full.
  bool record_session(session_record session);
  /// Always true: a hub records every connection's session here (`max_sessions` rows kept).
  bool records_sessions() const noexcept { return true; }

  /// False while writes fail (from the last batch the writer tried). Any thread.
  bool writable() const noexcept;
  /// Why the last write or read failed; empty when none has. Any thread.
  std::string last_error() const;
  /// The last ticket whose commit report is out (committed or failed). Any thread.
  std::uint64_t committed_through() const noexcept;

  /// Appends whose commit report has not been handled yet.
  std::size_t pending_appends() const noexcept;
  /// Topics in the index.
  std::size_t topic_count() const noexcept;
  const options& limits() const noexcept;
  /// True in `durability::acknowledged`: a hub acknowledges a publish after its commit.
  bool ack_after_commit() const noexcept { return limits().mode == durability::acknowledged; }

 private:
  struct append_slot {
    std::error_code error;
    std::uint64_t seq = 0;
  };
  static append_result fail(std::error_code error) {
    append_result result;
    result.error = error;
    return result;
  }
  append_slot reserve_append(std::string_view topic);
  append_result queue_append(std::string_view topic, const append_slot& slot, shared_frame frame);

  std::unique_ptr<detail::sqlite_store_impl> impl_;
};

}  // namespace switchboard

#endif
