// What leaves a hub: per-connection send queues, flush scheduling, backpressure on
// publishers, and the slow-consumer cut.
#ifndef SWITCHBOARD_OUTBOX_HPP
#define SWITCHBOARD_OUTBOX_HPP

#include <switchboard/config.hpp>
#include <switchboard/detail/frame_queue.hpp>
#include <switchboard/error.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/logging.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/transport.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

/// One connection's part of the outbox. Kept inside the hub's per-connection state, in
/// its first cache line: a fan-out touches these fields for every recipient.
struct outbox_slot {
  bool dirty = false;       // listed for the next flush
  bool writing = false;     // a transport write is in flight
  bool closing = false;     // a close was started; nothing more is queued
  bool paused = false;      // reading stopped by backpressure
  bool held = false;        // waiting for an answer that goes ahead of what is queued (`outbox::hold`)
  std::uint16_t close_after_flush = 0;  // close code for a refused connection
  std::size_t queued_frames = 0;  // pending + in flight
  std::size_t queued_bytes = 0;
  detail::frame_queue pending;    // queued this loop turn, or while a write is in flight
  std::size_t inflight_frames = 0;
  std::size_t inflight_bytes = 0;
  std::uint64_t frames_total = 0;  // queued over the connection's life (its session record)
};

/// The send side of a hub. Frames queued to a connection in one loop turn leave in one
/// transport write; a connection whose queue passes `send_queue_frames` or
/// `send_queue_bytes` is cut as a slow consumer (close 1013). While the bytes queued to
/// all connections pass `publish_backlog_bytes`, connections that publish stop being
/// read until the backlog halves; if it has not within `publish_backlog_timeout`, the
/// connections holding the largest queues are cut.
///
/// `Registry` is the hub's `connection_registry<T>`, where `T` has a member
/// `outbox_slot out`. Thread safety: the hub's thread only.
template <class Registry>
class outbox {
 public:
  using entry_type = typename Registry::entry;

  outbox(asio::io_context& io, const config& cfg, Registry& registry, hub_stats& stats, const logger& log)
      : io_(io),
        config_(cfg),
        registry_(registry),
        stats_(stats),
        log_(log),
        queue_frames_limit_(cfg.send_queue_frames),
        queue_bytes_limit_(cfg.send_queue_bytes),
        congested_frames_(cfg.send_queue_frames / 8),
        congested_bytes_(cfg.send_queue_bytes / 8),
        flush_timer_(io),
        backlog_timer_(io) {}
  outbox(const outbox&) = delete;
  outbox& operator=(const outbox&) = delete;

  void attach(transport* t) noexcept { transport_ = t; }
  transport* attached() const noexcept { return transport_; }

  /// Bytes queued to all connections and not yet written.
  std::size_t queued_bytes() const noexcept { return total_queued_; }
  /// Frames queued to connections so far (`hub_stats::messages_out`).
  std::uint64_t frames_queued() const noexcept { return frames_queued_; }

  /// Queues `frame` to `e`; false when it is closing or was just cut as a slow consumer.
  bool enqueue(entry_type& e, const shared_frame& frame) {
    outbox_slot& c = e.value.out;
    if (c.closing) return false;
    const std::size_t bytes = frame.wire().size();
    if (c.queued_frames + 1 > queue_frames_limit_ || c.queued_bytes + bytes > queue_bytes_limit_) {
      // A connection with no write in flight has taken everything written to it: its
      // queue filled in this loop turn, from publishes read before the next flush, and
      // it is not slow. Its frames are queued, and whoever publishes to it waits for
      // that flush (`after_publish`). One that does have a write in flight is behind.
      if (c.writing || c.held) {
        cut_slow_consumer(e, c.queued_frames + 1 > queue_frames_limit_ ? "send_queue_frames" : "send_queue_bytes");
        return false;
      }
      burst_over_limit_ = true;
    }
    c.pending.push_back(frame);
    ++c.queued_frames;
    ++c.frames_total;
    c.queued_bytes += bytes;
    total_queued_ += bytes;
    ++frames_queued_;
    if (!c.dirty) mark_dirty(e);
    return true;
  }

  /// True when `frames` more frames of `bytes` in all fit `e`'s send queue now.
  bool fits(const entry_type& e, std::size_t frames, std::size_t bytes) const noexcept {
    const outbox_slot& c = e.value.out;
    return !c.closing && c.queued_frames + frames <= queue_frames_limit_ && c.queued_bytes + bytes <= queue_bytes_limit_;
  }

  /// True when `e`'s queue holds over an eighth of its limits: it is behind by more than
  /// a write or a delayed flush, and whoever adds to its queue adds to the backlog. A
  /// reader that keeps up never gets there, even while flushes are held back under load.
  bool congested(const entry_type& e) const noexcept {
    return e.value.out.queued_frames > congested_frames_ || e.value.out.queued_bytes > congested_bytes_;
  }

  /// Closes `e` with `code` once what is queued now has been handed to the transport.
  void close_after_flush(entry_type& e, std::uint16_t code) {
    e.value.out.close_after_flush = code;
    if (!e.value.out.dirty) mark_dirty(e);
  }

  /// Starts closing `e`: frames not yet handed to the transport are dropped.
  void close(entry_type& e, std::uint16_t code, std::string_view reason) {
    outbox_slot& c = e.value.out;
    if (c.closing) return;
    c.closing = true;
    // Frames in flight stay counted until the transport reports them done.
    total_queued_ -= c.queued_bytes - c.inflight_bytes;
    c.queued_bytes = c.inflight_bytes;
    c.queued_frames = c.inflight_frames;
    c.pending.clear();
    if (transport_) transport_->close(e.id, code, reason);
  }

  /// The transport finished the last write to `e`.
  void write_complete(entry_type& e) {
    outbox_slot& c = e.value.out;
    c.writing = false;
    c.queued_frames -= c.inflight_frames;
    c.queued_bytes -= c.inflight_bytes;
    total_queued_ -= c.inflight_bytes;
    c.inflight_frames = 0;
    c.inflight_bytes = 0;
    if (!c.pending.empty() && !c.closing) mark_dirty(e);
    resume_readers_if_drained();
  }

  /// `e` is gone: forget what it had queued.
  void remove(entry_type& e) {
    total_queued_ -= e.value.out.queued_bytes;
    e.value.out.queued_bytes = 0;
  }
  /// After a connection was removed from the registry.
  void removed() { resume_readers_if_drained(); }

  /// Holds `e`'s writes and stops reading from it until every hold is released: for an
  /// answer that comes later (from a disk) but must go ahead of everything queued to `e`
  /// after this call. Returns the hold's ticket for `release`.
  std::uint64_t hold(entry_type& e) {
    outbox_slot& c = e.value.out;
    if (!c.held && !c.paused && transport_ && !c.closing) transport_->pause_reading(e.id);
    c.held = true;
    holds_.push_back({++last_hold_, e.id, c.pending.size()});
    return last_hold_;
  }

  /// Queues `frames` where hold `ticket` was taken, ahead of what was queued after it,
  /// and lets `e` be written and read again once it holds nothing else. `e` is null
  /// when the connection is gone. The frames count against the send queue's limits: past
  /// them `e` is cut as a slow consumer. Returns false when they were not queued.
  bool release(std::uint64_t ticket, entry_type* e, const std::vector<shared_frame>& frames) {
    const auto it = std::find_if(holds_.begin(), holds_.end(), [&](const hold_mark& h) { return h.ticket == ticket; });
    if (it == holds_.end()) return false;
    const hold_mark mark = *it;
    holds_.erase(it);
    if (!e || e->id != mark.connection) return false;
    outbox_slot& c = e->value.out;
    bool still_held = false;
    for (auto& h : holds_)
      if (h.connection == mark.connection) {
        still_held = true;
        if (h.at >= mark.at) h.at += frames.size();  // taken after this one: behind its frames
      }
    c.held = still_held;
    if (c.closing) return false;
    std::size_t bytes = 0;
    for (const auto& f : frames) bytes += f.wire().size();
    const bool fit = c.queued_frames + frames.size() <= queue_frames_limit_ && c.queued_bytes + bytes <= queue_bytes_limit_;
    if (!fit) {
      cut_slow_consumer(*e, c.queued_frames + frames.size() > queue_frames_limit_ ? "send_queue_frames"
                                                                                 : "send_queue_bytes");
      return false;
    }
    c.pending.insert(mark.at, frames.data(), frames.size());
    c.queued_frames += frames.size();
    c.frames_total += frames.size();
    c.queued_bytes += bytes;
    total_queued_ += bytes;
    frames_queued_ += frames.size();
    if (still_held) return true;
    if (!c.dirty && !c.pending.empty()) mark_dirty(*e);
    if (!c.paused && transport_) transport_->resume_reading(e->id);
    return true;
  }

  /// Called after `publisher` published to a congested queue (see `congested`): stop
  /// reading from it until the next flush has run when that publish took a queue past
  /// its limit within one loop turn, and while the backlog of all queues is over its
  /// limit. Only such publishers are paused; a connection that merely asks (ping,
  /// presence), or publishes to readers that keep up, is never held back by others'
  /// backlog.
  void after_publish(entry_type& publisher) {
    outbox_slot& c = publisher.value.out;
    const bool burst = std::exchange(burst_over_limit_, false);
    if (c.paused || c.closing) return;
    if (burst) {
      c.paused = true;
      waiting_flush_.push_back(publisher.id);
      if (transport_) transport_->pause_reading(publisher.id);
      return;
    }
    if (total_queued_ <= config_.publish_backlog_bytes) return;
    c.paused = true;
    if (transport_) transport_->pause_reading(publisher.id);
    wait_for_backlog(publisher.id);
  }

 private:
  // `e`'s own queue would pass `limit`: it is not keeping up, and is cut (1013).
  void cut_slow_consumer(entry_type& e, const char* limit) {
    const outbox_slot& c = e.value.out;
    ++stats_.slow_consumers_dropped;
    ++stats_.send_queue_cuts;
    if (log_.enabled(log_level::warn))
      log_.write(log_level::warn, "slow_consumer",
                 {{"connection", e.id},
                  {"user", user_of(e)},
                  {"limit", limit},
                  {"queued_frames", c.queued_frames},
                  {"queued_bytes", c.queued_bytes}});
    close(e, close_code::try_again_later, "slow consumer");
  }

  // Flushes shorter than this never delay the next one: small hubs and tests flush every turn.
  static constexpr std::chrono::microseconds min_write_delay{100};

  void mark_dirty(entry_type& e) {
    e.value.out.dirty = true;
    dirty_.push_back(Registry::slot_of(e.id));
    if (!flush_scheduled_ && !flush_underway()) schedule_flush();
  }

  bool flush_underway() const noexcept { return flush_next_ < flushing_.size(); }

  void schedule_flush() {
    flush_scheduled_ = true;
    std::weak_ptr<char> alive = alive_;
    // Under load the flushes run back to back, each one a write per connection. Then the
    // next one waits as long as the last one took (at most max_write_delay), so that more
    // frames share each write; with no load it runs at the end of this loop turn.
    const auto gap = std::min<std::chrono::steady_clock::duration>(last_flush_duration_, config_.max_write_delay);
    const auto earliest = last_flush_end_ + gap;
    if (gap >= min_write_delay && std::chrono::steady_clock::now() < earliest) {
      flush_timer_.expires_at(earliest);
      flush_timer_.async_wait([this, alive](const std::error_code& ec) {
        if (!ec && alive.lock()) start_flush();
      });
      return;
    }
    asio::post(io_, [this, alive] {
      if (alive.lock()) start_flush();
    });
  }

  // Everything queued since the last flush leaves now: one transport write per connection.
  void start_flush() {
    flush_scheduled_ = false;
    flushing_.swap(dirty_);
    flush_next_ = 0;
    flush_work_ = {};
    continue_flush();
  }

  // Writes connections in turn. Past `max_flush_slice` the rest waits behind the reads
  // that are ready, so that a frame published meanwhile still reaches the connections
  // not yet written in this flush, instead of waiting for all of them and the next.
  void continue_flush() {
    const auto slice_start = std::chrono::steady_clock::now();
    // A local cursor: flush_next_ is a member, which every write through the transport
    // would make the compiler store and reload. It stays below the list's size (the
    // flush is underway) until the loop ends.
    std::size_t next = flush_next_;
    const std::size_t end = flushing_.size();
    while (next < end) {
      const std::uint32_t slot = flushing_[next++];
      if (registry_.live_slot(slot)) {
        entry_type& e = registry_.at_slot(slot);
        outbox_slot& c = e.value.out;
        if (c.dirty) {
          c.dirty = false;
          if (!c.writing && !c.closing && !c.held && !c.pending.empty()) write_pending(e);
          if (c.close_after_flush != 0 && !c.closing) close(e, c.close_after_flush, "too many connections for this user");
        }
      }
      // The clock is read once per few connections: a write costs far more than a read
      // of it, a queue handed to the in-memory transport far less.
      if (next % 32 == 0 && next < end) {
        const auto now = std::chrono::steady_clock::now();
        if (now - slice_start >= config_.max_flush_slice) {
          flush_next_ = next;
          flush_work_ += now - slice_start;
          std::weak_ptr<char> alive = alive_;
          asio::post(io_, [this, alive] {
            if (alive.lock()) continue_flush();
          });
          return;
        }
      }
    }
    flushing_.clear();
    flush_next_ = 0;
    last_flush_end_ = std::chrono::steady_clock::now();
    last_flush_duration_ = flush_work_ + (last_flush_end_ - slice_start);
    stats_.flush.observe(last_flush_duration_);
    resume_after_flush();
    if (!dirty_.empty() && !flush_scheduled_) schedule_flush();
  }

  // Publishers that took a queue past its limit in one loop turn are read again now that
  // the flush has offered those frames to their readers; while the backlog is over its
  // limit they wait with the publishers paused for it.
  void resume_after_flush() {
    burst_over_limit_ = false;
    if (waiting_flush_.empty()) return;
    const bool backlog = total_queued_ > config_.publish_backlog_bytes;
    for (const connection_id id : waiting_flush_) {
      entry_type* e = registry_.find(id);
      if (!e || !e->value.out.paused) continue;
      if (backlog) {
        wait_for_backlog(id);
        continue;
      }
      e->value.out.paused = false;
      if (transport_ && !e->value.out.closing && !e->value.out.held) transport_->resume_reading(id);
    }
    waiting_flush_.clear();
  }

  void write_pending(entry_type& e) {
    outbox_slot& c = e.value.out;
    c.writing = true;
    c.inflight_frames = c.queued_frames;  // nothing else is in flight
    c.inflight_bytes = c.queued_bytes;
    stats_.bytes_out += c.inflight_bytes;
    // The transport copies what it needs and never calls back from inside write(); it
    // says whether the frames already left.
    const bool left = !transport_ || transport_->write(e.id, c.pending.data(), c.pending.size());
    c.pending.clear();
    if (left) write_complete(e);
  }

  // `id`, already paused, is read again once the backlog drains (or its timeout cuts the
  // largest queues); the first such publisher starts that timeout.
  void wait_for_backlog(connection_id id) {
    paused_.push_back(id);
    if (paused_.size() > 1) return;
    log_.write(log_level::debug, "backlog_pause", {{"backlog_bytes", total_queued_}, {"connection", id}});
    arm_backlog_timer();
  }

  void resume_readers_if_drained() {
    if (paused_.empty() || total_queued_ > config_.publish_backlog_bytes / 2) return;
    for (const connection_id id : paused_) {
      entry_type* e = registry_.find(id);
      if (!e || !e->value.out.paused) continue;
      e->value.out.paused = false;
      if (transport_ && !e->value.out.closing && !e->value.out.held) transport_->resume_reading(id);
    }
    log_.write(log_level::debug, "backlog_resume", {{"backlog_bytes", total_queued_}, {"publishers", paused_.size()}});
    paused_.clear();
    backlog_timer_.cancel();
  }

  void arm_backlog_timer() {
    backlog_timer_.expires_after(config_.publish_backlog_timeout);
    std::weak_ptr<char> alive = alive_;
    backlog_timer_.async_wait([this, alive](const std::error_code& ec) {
      if (ec || !alive.lock() || paused_.empty()) return;
      cut_largest_queues();
      resume_readers_if_drained();
      if (!paused_.empty()) arm_backlog_timer();
    });
  }

  // The backlog did not drain in time: the consumers holding most of it are the slow ones.
  void cut_largest_queues() {
    std::vector<std::pair<std::size_t, connection_id>> by_size;
    registry_.for_each([&](entry_type& e) {
      if (!e.value.out.closing && e.value.out.queued_bytes > 0) by_size.emplace_back(e.value.out.queued_bytes, e.id);
    });
    std::sort(by_size.begin(), by_size.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    // A cut connection's write in flight stays counted until the transport lets go of
    // it, but it will: count it as gone, or the loop would go on to cut connections
    // that are keeping up and merely have a frame in flight.
    std::size_t projected = total_queued_;
    for (const auto& item : by_size) {
      if (projected <= config_.publish_backlog_bytes / 2) break;
      if (entry_type* e = registry_.find(item.second)) {
        projected -= std::min(projected, e->value.out.queued_bytes);
        ++stats_.slow_consumers_dropped;
        ++stats_.backlog_cuts;
        if (log_.enabled(log_level::warn))
          log_.write(log_level::warn, "backlog_cut",
                     {{"connection", e->id},
                      {"user", user_of(*e)},
                      {"queued_bytes", e->value.out.queued_bytes},
                      {"backlog_bytes", total_queued_},
                      {"paused_publishers", paused_.size()}});
        close(*e, close_code::try_again_later, "slow consumer");
      }
    }
  }

  static log_value user_of(const entry_type& e) noexcept {
    return e.who.user ? log_value(*e.who.user) : log_value();
  }

  asio::io_context& io_;
  const config& config_;
  Registry& registry_;
  hub_stats& stats_;
  const logger& log_;
  // The limits a fan-out checks per recipient, kept here rather than read through
  // config_, so that the loop needs no load through another object.
  const std::size_t queue_frames_limit_;
  const std::size_t queue_bytes_limit_;
  const std::size_t congested_frames_;
  const std::size_t congested_bytes_;
  transport* transport_ = nullptr;
  std::size_t total_queued_ = 0;
  std::uint64_t frames_queued_ = 0;
  std::vector<std::uint32_t> dirty_, flushing_;
  std::size_t flush_next_ = 0;  // the next of flushing_ to write; a flush is underway below its size
  std::chrono::steady_clock::duration flush_work_{};  // the slices of the flush underway so far
  std::vector<connection_id> paused_;         // publishers waiting for the backlog to drain
  std::vector<connection_id> waiting_flush_;  // publishers waiting for the next flush
  bool burst_over_limit_ = false;             // the last fan-out took a queue past its limit in one turn
  // Holds not yet released, of every connection: few (one per answer a store owes).
  struct hold_mark {
    std::uint64_t ticket;
    connection_id connection;
    std::size_t at;  // where in the connection's pending frames the answer goes
  };
  std::vector<hold_mark> holds_;
  std::uint64_t last_hold_ = 0;
  bool flush_scheduled_ = false;
  asio::steady_timer flush_timer_;
  std::chrono::steady_clock::time_point last_flush_end_{};
  std::chrono::steady_clock::duration last_flush_duration_{};
  asio::steady_timer backlog_timer_;
  // Handlers posted to the io_context find it expired once the outbox is gone.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace switchboard

#endif
