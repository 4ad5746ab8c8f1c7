// The default store policy: sequence numbers and bounded history per topic, in memory.
#ifndef SWITCHBOARD_MEMORY_STORE_HPP
#define SWITCHBOARD_MEMORY_STORE_HPP

#include <switchboard/config.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/store.hpp>
#include <switchboard/user_keys.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace switchboard {

/// Keeps, per topic, the latest sequence number, an epoch, and the latest published
/// frames (ready to resend: recovery replays them without re-encoding).
///
/// Limits (`options`, fixed at construction):
/// - `history_size` (default 100, from `config::history_size`): frames kept per topic.
///   Bounds what one topic keeps and what one recovery walks.
/// - `max_bytes` (default 64 MiB, from `config::store_max_bytes`): everything the store
///   keeps, as counted by `bytes_used()`: each stored frame's `wire()` size plus
///   `message_overhead`, each stream's record (topic, epoch, its ring of frame slots,
///   its index entry) and the pool of message slots. After `append` returns,
///   `bytes_used() <= max_bytes`: idle streams (below) are forgotten first, then the
///   oldest stored messages across all topics, in publish order, are dropped. Bounds
///   what publishers can pin, however many topics they spread over. A message that
///   does not fit the budget even alone is not stored (its seq is assigned as usual);
///   the older messages of its topic are dropped with it, since nothing before it
///   could be replayed past the gap. Records of retained streams are counted but
///   never dropped: the hub's subscription limits bound them.
/// - `history_max_bytes` (default 4 MiB): the `wire()` bytes of one topic's stored frames;
///   past it the topic's oldest are dropped. 0: no bound but `max_bytes`.
/// - `history_max_age` (default 0: none): a message older than this is neither replayed
///   nor returned by `history`; its memory is freed by the next `append`.
/// - `max_topics` (default 100,000): streams kept before idle ones are forgotten, least
///   recently idle first. Bounds the records of topics nobody reads any more.
///   Streams with a stored message or a subscriber are never forgotten, so they may
///   outnumber it (`max_bytes` bounds the former, subscription limits the latter).
///
/// A stream is idle when it has been published to, has nothing stored and is not
/// retained. `retain(topic)` / `release(topic)` are called by the hub when an exact
/// topic gets its first / loses its last subscriber; a retained stream is kept even if
/// nobody ever published to it, so the epoch its subscribers were told holds.
///
/// Epochs: a random prefix drawn at construction (a restarted process, whose past is
/// lost, never reuses one) and a generation number. Every stream created during a
/// generation takes that generation's epoch; forgetting a stream that was published
/// to starts a new generation, so a forgotten topic that comes back restarts its seq
/// under a new epoch and clients learn that its past is gone. A stream's seq and
/// epoch never change while it has a stored message or is retained. Reads
/// (`position`, `replay`, `history`) of a topic without a stream answer seq 0 and the
/// epoch its stream would take if published now, and keep nothing.
///
/// Cost: `append` is one hash lookup and O(1) work (amortized, counting what it drops).
/// Each stored message holds its frame (shared with the recipients' queues), a 24-byte
/// slot in a pool that links all stored messages in publish order (slots are reused,
/// so steady-state appends allocate nothing), and a 4-byte index in its topic's ring.
///
/// Direct messages to offline users (`store_direct`, `take_directs`): at most
/// `max_directs_per_user` (default 100) per user, `max_directs` (default 100,000) in all,
/// and `max_direct_bytes` (default 16 MiB, counted within `max_bytes`) of frames,
/// mailboxes and user ids; past any of them `store_direct` returns false and keeps
/// nothing. Kept directs are never dropped to make room: they leave only when taken.
/// Stored history is dropped to make room for them within `max_bytes`, so history keeps
/// at least `max_bytes - max_direct_bytes`.
///
/// Sessions (`record_session`, `sessions`): the latest `max_sessions` (default 0: none,
/// since a hub then keeps each connection's address and user agent until it closes),
/// with `remote` and `user_agent` cut to `max_session_field_bytes` (default 256); counted
/// within `max_bytes`, dropped oldest first.
///
/// Users' public keys (`register_user`, `find_user_keys`, for challenge-response
/// login): at most `max_users` (default 100,000, from `config::max_registered_users`);
/// past it `register_user` answers `user_registration::full`. Registration needs no
/// credential, so this bounds what strangers can make the store keep: about 300 bytes
/// per user (a 128-byte id at most, 64 bytes of keys, the index entry). Kept for the
/// store's lifetime, separate from `max_bytes`.
///
/// Model of the store policy requirements (see `is_store_policy`).
/// Thread safety: none; a store belongs to one hub's thread. Movable, not copyable.
class memory_store {
 public:
  struct options {
    std::size_t history_size = 100;               ///< frames kept per topic
    std::size_t max_topics = 100000;              ///< streams kept before idle ones are forgotten
    std::size_t max_bytes = 64 * 1024 * 1024;     ///< bytes kept in all (see `bytes_used`)
    std::size_t max_users = 100000;               ///< users whose keys are kept
    std::size_t history_max_bytes = 4u << 20;     ///< stored frame bytes per topic; 0: no bound
    std::chrono::milliseconds history_max_age{0};  ///< older messages are not served; 0: no age limit
    std::size_t max_directs_per_user = 100;       ///< offline direct messages kept per user
    std::size_t max_directs = 100000;             ///< offline direct messages kept in all
    std::size_t max_direct_bytes = 16u << 20;     ///< their bytes (within `max_bytes`)
    std::size_t max_sessions = 0;                 ///< session records kept; 0: sessions not recorded
    std::size_t max_session_field_bytes = 256;    ///< `remote` and `user_agent` are cut to it
    /// Where message ages are read from (`history_max_age`); replaceable for tests.
    std::chrono::steady_clock::time_point (*clock)() = &std::chrono::steady_clock::now;
  };

  /// Bytes counted for one heap allocation besides its size (the allocator's header).
  static constexpr std::size_t allocation_overhead = 16;
  /// Bytes counted per stored message on top of its frame's `wire()` size: the frame's
  /// allocation header. (Its pool slot and ring index are counted with the pool and
  /// the ring, by capacity.)
  static constexpr std::size_t message_overhead =
      sizeof(detail::frame_block) + detail::frame_block::headroom + allocation_overhead;

  memory_store() : memory_store(options{}) {}
  explicit memory_store(const config& cfg)
      : memory_store(options_from(cfg)) {}
  /// The defaults, with `history_size`, `max_bytes` and `max_users` from a hub's config.
  static options options_from(const config& cfg) {
    options o;
    o.history_size = cfg.history_size;
    o.max_bytes = cfg.store_max_bytes;
    o.max_users = cfg.max_registered_users;
    return o;
  }

  explicit memory_store(options opts)
      : options_(opts),
        topic_bytes_limit_(opts.history_max_bytes > 0 ? opts.history_max_bytes : std::numeric_limits<std::size_t>::max()),
        aged_(opts.history_max_age.count() > 0),
        epoch_prefix_(random_prefix()) {
    next_epoch();
  }

  /// A moved-from store may only be destroyed or assigned to.
  memory_store(memory_store&& other) noexcept : options_(other.options_) { take(other); }
  memory_store& operator=(memory_store&& other) noexcept {
    if (this != &other) take(other);
    return *this;
  }
  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;
  ~memory_store() = default;

  /// Where `topic` stands. Without a stream: seq 0 and the epoch it would take now.
  stream_position position(std::string_view topic) const {
    const stream* s = find(topic);
    if (!s) return {0, epoch_};
    return {s->seq, s->epoch};
  }

  /// Assigns the next seq of `topic`, calls `build(seq)` to encode the frame, keeps the
  /// frame in history and returns the seq and frame. If `build` throws, nothing changes.
  template <class Build>
  std::pair<std::uint64_t, shared_frame> append(std::string_view topic, Build&& build) {
    const auto now = aged_ ? options_.clock() : std::chrono::steady_clock::time_point{};
    if (aged_) drop_expired(now);
    stream* s = find(topic);
    const std::uint64_t seq = s ? s->seq + 1 : 1;
    shared_frame frame = build(seq);
    if (!s) s = create(topic);
    s->seq = seq;
    if (s->idle) unlink_idle(*s);
    if (options_.history_size > 0 && frame) keep(*s, frame, now);
    if (s->count == 0 && !s->retained) link_idle(*s);
    if (used_ > options_.max_bytes) enforce_budget();
    return {seq, std::move(frame)};
  }

  /// Recovery: calls `f(frame)` for every stored frame of `topic` after `since`, all or
  /// nothing. Returns true when everything after `since` was replayed (including when
  /// there was nothing to replay); false on another epoch, a gap, or `since` beyond the
  /// latest seq.
  template <class F>
  bool replay(std::string_view topic, std::uint64_t since, const std::optional<std::string>& epoch, F&& f) const {
    const stream* s = find(topic);
    if (epoch && *epoch != (s ? std::string_view(s->epoch) : std::string_view(epoch_))) return false;
    const std::uint64_t latest = s ? s->seq : 0;
    if (since > latest) return false;
    if (since == latest) return true;
    const std::uint64_t missing = latest - since;  // >= 1, so `s` exists
    if (missing > live_count(*s)) return false;    // messages after `since` already dropped
    for (std::uint64_t i = 1; i <= missing; ++i) f(frame_at(*s, since + i));
    return true;
  }

  /// History: calls `f(frame)` in ascending seq order for at most `limit` frames — the
  /// oldest after `since` when given, else the latest. Returns the stream's position.
  template <class F>
  stream_position history(std::string_view topic, std::optional<std::uint64_t> since, std::size_t limit,
                          F&& f) const {
    const stream* s = find(topic);
    if (!s) return {0, epoch_};
    const std::size_t live = live_count(*s);
    if (live > 0 && limit > 0 && !(since && *since >= s->seq)) {
      const std::uint64_t oldest = s->seq - live + 1;
      std::uint64_t first;
      if (since)
        first = std::max(*since + 1, oldest);  // *since < seq: no overflow
      else
        first = live > limit ? s->seq - limit + 1 : oldest;
      const std::uint64_t n = std::min<std::uint64_t>(limit, s->seq - first + 1);
      for (std::uint64_t i = 0; i < n; ++i) f(frame_at(*s, first + i));
    }
    return {s->seq, s->epoch};
  }

  /// The hub's call when `topic` gets its first exact subscriber: its stream (created
  /// if needed, with seq 0) keeps its seq and epoch until `release`.
  void retain(std::string_view topic) {
    stream* s = find(topic);
    if (!s) s = create(topic);
    s->retained = true;
    if (s->idle) unlink_idle(*s);
    if (used_ > options_.max_bytes) enforce_budget();
  }

  /// The hub's call when `topic` loses its last exact subscriber. A stream never
  /// published to is forgotten at once; one with nothing stored becomes idle.
  void release(std::string_view topic) {
    stream* s = find(topic);
    if (!s || !s->retained) return;
    s->retained = false;
    if (s->count > 0) return;
    if (s->seq == 0) {
      erase(*s);  // nothing was ever published under its epoch: no new generation needed
      return;
    }
    link_idle(*s);
    trim_topics();
    if (used_ > options_.max_bytes) enforce_budget();
  }

  /// Keeps a direct message for `user`, who is offline, until `take_directs`. False (and
  /// nothing kept) past `max_directs_per_user`, `max_directs` or `max_direct_bytes`.
  bool store_direct(std::string_view user, const shared_frame& frame) {
    if (!frame || user.empty() || direct_count_ >= options_.max_directs) return false;
    const std::string name(user);
    auto found = mailboxes_.find(name);
    const bool created = found == mailboxes_.end();
    std::vector<shared_frame> none;
    const std::vector<shared_frame>& box = created ? none : found->second.frames;
    if (box.size() >= options_.max_directs_per_user) return false;
    // What keeping it adds: the frame, the mailbox's growth, and a new mailbox's record.
    std::size_t growth = 0;
    if (box.size() == box.capacity()) {
      const std::size_t grown = std::min(options_.max_directs_per_user, std::max<std::size_t>(4, 2 * box.capacity()));
      growth = (grown - box.capacity()) * sizeof(shared_frame) + (box.capacity() == 0 ? allocation_overhead : 0);
    }
    const std::size_t cost = frame.wire().size() + message_overhead + growth +
                             (created ? mailbox_record_bytes + (user.size() > small_string ? user.size() + 1 + allocation_overhead : 0) : 0);
    const std::size_t direct_budget = std::min(options_.max_direct_bytes, options_.max_bytes);
    if (cost > direct_budget || direct_bytes_ > direct_budget - cost) return false;
    if (created) found = mailboxes_.emplace(name, mailbox{}).first;
    std::vector<shared_frame>& frames = found->second.frames;
    if (growth > 0) frames.reserve(std::min(options_.max_directs_per_user, std::max<std::size_t>(4, 2 * frames.capacity())));
    frames.push_back(frame);
    found->second.bytes += cost;
    direct_bytes_ += cost;
    used_ += cost;
    ++direct_count_;
    if (used_ > options_.max_bytes) enforce_budget();
    return true;
  }

  /// Calls `f(frame)` for every direct message kept for `user`, oldest first, and
  /// forgets them.
  template <class F>
  void take_directs(std::string_view user, F&& f) {
    const auto found = mailboxes_.find(std::string(user));
    if (found == mailboxes_.end()) return;
    mailbox box = std::move(found->second);
    mailboxes_.erase(found);
    direct_bytes_ -= box.bytes;
    used_ -= box.bytes;
    direct_count_ -= box.frames.size();
    for (const shared_frame& frame : box.frames) f(frame);
  }

  /// Direct messages kept for offline users, in all.
  std::size_t direct_count() const noexcept { return direct_count_; }

  /// True when `max_sessions > 0`: a hub then hands every closed connection to
  /// `record_session`.
  bool records_sessions() const noexcept { return options_.max_sessions > 0; }

  /// Keeps a closed connection's record, dropping the oldest past `max_sessions`.
  void record_session(session_record session) {
    if (options_.max_sessions == 0) return;
    if (session.remote.size() > options_.max_session_field_bytes) session.remote.resize(options_.max_session_field_bytes);
    if (session.user_agent.size() > options_.max_session_field_bytes)
      session.user_agent.resize(options_.max_session_field_bytes);
    while (sessions_.size() >= options_.max_sessions) drop_oldest_session();
    session.user.shrink_to_fit();
    session.remote.shrink_to_fit();
    session.user_agent.shrink_to_fit();
    used_ += session_bytes(session);
    sessions_.push_back(std::move(session));
    if (used_ > options_.max_bytes) enforce_budget();
  }

  /// The recorded sessions, oldest first.
  const std::deque<session_record>& sessions() const noexcept { return sessions_; }

  /// Stores `user`'s public keys unless the user is already stored (with the same keys:
  /// `already_registered`; with others: `conflict`, and the stored ones stay) or
  /// `max_users` users are (`full`).
  user_registration register_user(std::string_view user, const user_keys& keys) {
    const std::string name(user);
    const auto found = users_.find(name);
    if (found != users_.end())
      return found->second == keys ? user_registration::already_registered : user_registration::conflict;
    if (users_.size() >= options_.max_users) return user_registration::full;
    users_.emplace(name, keys);
    return user_registration::created;
  }

  /// The public keys `user` registered; nullopt when it never did.
  std::optional<user_keys> find_user_keys(std::string_view user) const {
    const auto found = users_.find(std::string(user));
    if (found == users_.end()) return std::nullopt;
    return found->second;
  }

  /// Users whose keys are kept.
  std::size_t user_count() const noexcept { return users_.size(); }

  /// Streams currently kept.
  std::size_t stream_count() const noexcept { return index_.size(); }
  /// Messages currently stored, across all topics.
  std::size_t message_count() const noexcept { return messages_; }
  /// Bytes the store counts against `max_bytes` (see the class comment).
  std::size_t bytes_used() const noexcept { return used_; }
  const options& limits() const noexcept { return options_; }

 private:
  static constexpr std::uint32_t npos = std::numeric_limits<std::uint32_t>::max();

  struct stream {
    std::string topic;
    std::string epoch;
    std::uint64_t seq = 0;
    std::vector<std::uint32_t> ring;  // pool slots of the stored messages; grows to history_size
    std::size_t head = 0;             // ring index of the oldest stored message
    std::size_t count = 0;            // stored messages: seqs seq - count + 1 .. seq
    std::size_t bytes = 0;            // their frames' wire bytes (history_max_bytes)
    stream* idle_prev = nullptr;      // idle list links (valid while `idle`)
    stream* idle_next = nullptr;
    bool idle = false;
    bool retained = false;
  };

  // One stored message. `older`/`newer` link every stored message in publish order;
  // a free slot keeps the next free one in `newer`.
  struct slot {
    shared_frame frame;
    stream* owner = nullptr;
    std::chrono::steady_clock::time_point stored_at{};  // set when history_max_age is
    std::uint32_t older = npos;
    std::uint32_t newer = npos;
  };

  // The direct messages kept for one offline user, and the bytes they count.
  struct mailbox {
    std::vector<shared_frame> frames;
    std::size_t bytes = 0;
  };
  static constexpr std::size_t small_string = 15;  // longest string kept without a heap block
  // A mailbox's hash node (pair, next pointer, cached hash) and its bucket.
  static constexpr std::size_t mailbox_record_bytes =
      sizeof(std::pair<const std::string, mailbox>) + 2 * sizeof(void*) + allocation_overhead + sizeof(void*);

  // Stored messages of `s` that are young enough to serve: its newest `live_count`.
  std::size_t live_count(const stream& s) const {
    if (!aged_ || s.count == 0) return s.count;
    const auto cutoff = options_.clock() - options_.history_max_age;
    std::size_t expired = 0;
    std::size_t at = s.head;
    while (expired < s.count && slots_[s.ring[at]].stored_at < cutoff) {
      ++expired;
      if (++at == s.ring.size()) at = 0;
    }
    return s.count - expired;
  }

  // Frees messages past `history_max_age`: the oldest in publish order come first.
  void drop_expired(std::chrono::steady_clock::time_point now) {
    const auto cutoff = now - options_.history_max_age;
    while (oldest_ != npos && slots_[oldest_].stored_at < cutoff) drop_oldest_message();
  }

  static std::size_t session_bytes(const session_record& r) {
    return sizeof(session_record) + heap_bytes(r.user) + heap_bytes(r.remote) + heap_bytes(r.user_agent);
  }

  void drop_oldest_session() {
    used_ -= session_bytes(sessions_.front());
    sessions_.pop_front();
  }

  stream* find(std::string_view topic) const {
    const auto it = index_.find(topic);
    return it == index_.end() ? nullptr : it->second.get();
  }

  stream* create(std::string_view topic) {
    auto owned = std::make_unique<stream>();
    stream* s = owned.get();
    s->topic.assign(topic.data(), topic.size());
    s->epoch = epoch_;  // before trimming, which may start a new generation
    index_.emplace(std::string_view(s->topic), std::move(owned));
    used_ += record_bytes(*s);
    trim_topics();
    return s;
  }

  void erase(stream& s) {
    used_ -= record_bytes(s);
    index_.erase(index_.find(std::string_view(s.topic)));
  }

  // Forgets an idle stream; a topic published under the current epoch then needs a new one.
  void forget(stream& s) {
    unlink_idle(s);
    const bool published = s.seq > 0;
    erase(s);
    if (published) next_epoch();
  }

  void trim_topics() {
    while (index_.size() > options_.max_topics && idle_head_) forget(*idle_head_);
  }

  void enforce_budget() {
    while (used_ > options_.max_bytes) {
      if (idle_head_)
        forget(*idle_head_);
      else if (oldest_ != npos)
        drop_oldest_message();
      else if (!sessions_.empty())
        drop_oldest_session();
      else
        break;  // only records of retained streams and kept directs left
    }
  }

  // Stores `frame` as the newest message of `s` (whose seq is already the frame's).
  // `now` is when it was appended (set only when messages age).
  void keep(stream& s, const shared_frame& frame, std::chrono::steady_clock::time_point now) {
    const std::size_t size = frame.wire().size();
    const std::size_t cost = size + message_overhead;
    const std::size_t records = used_ - frame_bytes_;
    if (size > topic_bytes_limit_ || cost > options_.max_bytes || records > options_.max_bytes - cost ||
        (free_ == npos && slots_.size() == npos)) {
      while (s.count > 0) drop_first(s);  // keeps the stored run ending at seq
      return;
    }
    if (s.count == options_.history_size) {  // the topic's oldest slot takes the new message
      const std::uint32_t n = s.ring[s.head];
      if (++s.head == s.ring.size()) s.head = 0;  // the oldest ring position becomes the newest
      slot& x = slots_[n];
      const std::size_t dropped = x.frame.wire().size();
      s.bytes -= dropped;
      frame_bytes_ -= dropped + message_overhead;
      used_ -= dropped + message_overhead;
      unlink(x);
      x.frame = frame;
      x.stored_at = now;
      link_newest(x, n);
    } else {
      const std::uint32_t n = take_slot();
      slot& x = slots_[n];
      x.frame = frame;
      x.owner = &s;
      x.stored_at = now;
      link_newest(x, n);
      push_ring(s, n);
      ++messages_;
    }
    s.bytes += size;
    frame_bytes_ += cost;
    used_ += cost;
    while (s.bytes > topic_bytes_limit_) drop_first(s);  // leaves the new one: it fits alone
  }

  void link_newest(slot& x, std::uint32_t n) {
    x.older = newest_;
    x.newer = npos;
    if (newest_ != npos)
      slots_[newest_].newer = n;
    else
      oldest_ = n;
    newest_ = n;
  }

  void unlink(const slot& x) {
    if (x.older != npos)
      slots_[x.older].newer = x.newer;
    else
      oldest_ = x.newer;
    if (x.newer != npos)
      slots_[x.newer].older = x.older;
    else
      newest_ = x.older;
  }

  void push_ring(stream& s, std::uint32_t n) {
    if (s.count < s.ring.size()) {
      std::size_t at = s.head + s.count;
      if (at >= s.ring.size()) at -= s.ring.size();
      s.ring[at] = n;
    } else {  // full and below history_size: grow, oldest first
      std::rotate(s.ring.begin(), s.ring.begin() + static_cast<std::ptrdiff_t>(s.head), s.ring.end());
      s.head = 0;
      used_ -= ring_bytes(s);
      if (s.ring.size() == s.ring.capacity())
        s.ring.reserve(std::min(options_.history_size, std::max<std::size_t>(4, 2 * s.ring.size())));
      s.ring.push_back(n);
      used_ += ring_bytes(s);
    }
    ++s.count;
  }

  // Drops the oldest stored message of `s`.
  void drop_first(stream& s) {
    const std::uint32_t n = s.ring[s.head];
    if (++s.head == s.ring.size()) s.head = 0;
    --s.count;
    slot& x = slots_[n];
    const std::size_t size = x.frame.wire().size();
    s.bytes -= size;
    frame_bytes_ -= size + message_overhead;
    used_ -= size + message_overhead;
    --messages_;
    unlink(x);
    x.frame = shared_frame();
    x.owner = nullptr;
    x.older = npos;
    x.newer = free_;
    free_ = n;
  }

  // Drops the oldest stored message of all, which is the oldest of its topic.
  void drop_oldest_message() {
    stream& s = *slots_[oldest_].owner;
    drop_first(s);
    if (s.count == 0 && !s.retained) link_idle(s);
  }

  std::uint32_t take_slot() {
    if (free_ != npos) {
      const std::uint32_t n = free_;
      free_ = slots_[n].newer;
      return n;
    }
    const std::size_t before = slots_.capacity();
    slots_.emplace_back();
    used_ += (slots_.capacity() - before) * sizeof(slot);
    return static_cast<std::uint32_t>(slots_.size() - 1);
  }

  const shared_frame& frame_at(const stream& s, std::uint64_t seq) const {
    // seq is within the last `count`: its offset from the oldest stored is below count
    std::size_t at = s.head + static_cast<std::size_t>(s.count - 1 - (s.seq - seq));
    if (at >= s.ring.size()) at -= s.ring.size();
    return slots_[s.ring[at]].frame;
  }

  void link_idle(stream& s) {
    s.idle = true;
    s.idle_prev = idle_tail_;
    s.idle_next = nullptr;
    if (idle_tail_)
      idle_tail_->idle_next = &s;
    else
      idle_head_ = &s;
    idle_tail_ = &s;
  }

  void unlink_idle(stream& s) {
    if (s.idle_prev)
      s.idle_prev->idle_next = s.idle_next;
    else
      idle_head_ = s.idle_next;
    if (s.idle_next)
      s.idle_next->idle_prev = s.idle_prev;
    else
      idle_tail_ = s.idle_prev;
    s.idle = false;
    s.idle_prev = s.idle_next = nullptr;
  }

  // Heap bytes behind a string (none when it fits its small-string buffer).
  static std::size_t heap_bytes(const std::string& str) {
    const auto data = reinterpret_cast<std::uintptr_t>(str.data());
    const auto self = reinterpret_cast<std::uintptr_t>(&str);
    const bool inline_buffer = data >= self && data < self + sizeof(str);
    return inline_buffer ? 0 : str.capacity() + 1 + allocation_overhead;
  }
  static std::size_t ring_bytes(const stream& s) {
    return s.ring.capacity() == 0 ? 0 : s.ring.capacity() * sizeof(std::uint32_t) + allocation_overhead;
  }
  // A stream's record: the stream, its index entry (node with next pointer and cached
  // hash, and a bucket), its strings and its ring. Constant between create and erase,
  // but for the ring, whose growth is counted as it happens.
  static std::size_t record_bytes(const stream& s) {
    constexpr std::size_t index_entry =
        sizeof(index_type::value_type) + 2 * sizeof(void*) + allocation_overhead + sizeof(void*);
    return sizeof(stream) + allocation_overhead + index_entry + heap_bytes(s.topic) + heap_bytes(s.epoch) +
           ring_bytes(s);
  }

  void take(memory_store& o) noexcept {
    options_ = o.options_;
    topic_bytes_limit_ = o.topic_bytes_limit_;
    aged_ = o.aged_;
    epoch_prefix_ = std::move(o.epoch_prefix_);
    generation_ = o.generation_;
    epoch_ = std::move(o.epoch_);
    index_ = std::move(o.index_);
    slots_ = std::move(o.slots_);
    free_ = std::exchange(o.free_, npos);
    oldest_ = std::exchange(o.oldest_, npos);
    newest_ = std::exchange(o.newest_, npos);
    idle_head_ = std::exchange(o.idle_head_, nullptr);
    idle_tail_ = std::exchange(o.idle_tail_, nullptr);
    messages_ = std::exchange(o.messages_, 0);
    frame_bytes_ = std::exchange(o.frame_bytes_, 0);
    used_ = std::exchange(o.used_, 0);
    users_ = std::move(o.users_);
    mailboxes_ = std::move(o.mailboxes_);
    direct_count_ = std::exchange(o.direct_count_, 0);
    direct_bytes_ = std::exchange(o.direct_bytes_, 0);
    sessions_ = std::move(o.sessions_);
    o.index_.clear();
    o.users_.clear();
    o.slots_.clear();
    o.mailboxes_.clear();
    o.sessions_.clear();
  }

  void next_epoch() {
    epoch_ = epoch_prefix_;
    append_base36(epoch_, generation_++);
  }

  static void append_base36(std::string& out, std::uint64_t n) {
    char digits[16];
    std::size_t len = 0;
    do {
      digits[len++] = "0123456789abcdefghijklmnopqrstuvwxyz"[n % 36];
      n /= 36;
    } while (n != 0);
    while (len > 0) out.push_back(digits[--len]);
  }

  // 8 hex digits and a dash; with the generation the epoch usually fits the small
  // string buffer, so copying it into a stream costs no allocation.
  static std::string random_prefix() {
    std::random_device device;
    std::uint64_t bits = (std::uint64_t(device()) << 32) ^ device() ^
                         static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    std::string prefix;
    for (int i = 0; i < 8; ++i, bits >>= 4) prefix.push_back("0123456789abcdef"[bits & 15]);
    prefix.push_back('-');
    return prefix;
  }

  using index_type = std::unordered_map<std::string_view, std::unique_ptr<stream>>;  // keys view stream::topic

  options options_;
  std::size_t topic_bytes_limit_ = 0;  // history_max_bytes, or no bound
  bool aged_ = false;                  // history_max_age is set
  std::string epoch_prefix_;
  std::uint64_t generation_ = 0;
  std::string epoch_;  // the current generation's: new streams take it
  index_type index_;
  std::vector<slot> slots_;  // stored messages; free slots are reused
  std::uint32_t free_ = npos;
  std::uint32_t oldest_ = npos;  // publish order of the stored messages
  std::uint32_t newest_ = npos;
  stream* idle_head_ = nullptr;  // idle streams, least recently idle first
  stream* idle_tail_ = nullptr;
  std::size_t messages_ = 0;
  std::size_t frame_bytes_ = 0;  // stored frames and their overhead
  std::size_t used_ = 0;         // frame_bytes_ + records + slot pool
  std::unordered_map<std::string, user_keys> users_;
  std::unordered_map<std::string, mailbox> mailboxes_;  // offline directs by user
  std::size_t direct_count_ = 0;
  std::size_t direct_bytes_ = 0;  // counted in used_ too
  std::deque<session_record> sessions_;
};

static_assert(is_store_policy<memory_store>::value && store_keeps_user_keys<memory_store>::value &&
                  store_records_sessions<memory_store>::value,
              "memory_store must model the store policy, user keys and sessions included");

}  // namespace switchboard

#endif
