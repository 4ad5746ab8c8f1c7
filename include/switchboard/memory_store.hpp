// The default store policy: sequence numbers and bounded history per topic, in memory.
#ifndef SWITCHBOARD_MEMORY_STORE_HPP
#define SWITCHBOARD_MEMORY_STORE_HPP

#include <switchboard/config.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/store.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace switchboard {

/// Keeps, per topic, the next sequence number, an epoch, and the latest `history_size`
/// published frames (ready to resend: recovery replays them without re-encoding).
///
/// Epochs: each stream gets its own epoch when created, built from a random prefix
/// drawn at construction, so a restarted process (whose past is lost) never reuses one.
/// At most `max_topics` streams are kept; the least recently used one is forgotten
/// beyond that, and if its topic comes back it does so under a new epoch — clients then
/// learn that its past is gone instead of silently mixing two streams.
///
/// Direct messages to offline users are not persisted (`store_direct` returns false).
///
/// Model of the store policy requirements (see `is_store_policy`).
/// Thread safety: none; a store belongs to one hub's thread.
class memory_store {
 public:
  struct options {
    std::size_t history_size = 100;    ///< frames kept per topic
    std::size_t max_topics = 100000;   ///< streams kept before the least recently used is forgotten
  };

  memory_store() : memory_store(options{}) {}
  explicit memory_store(const config& cfg) : memory_store(options{cfg.history_size, 100000}) {}
  explicit memory_store(options opts) : options_(opts), epoch_prefix_(random_prefix()) {}

  /// The stream of `topic`, created (with seq 0) when it does not exist yet, so that its
  /// epoch is fixed from the moment a subscriber first sees it.
  stream_position position(std::string_view topic) {
    stream& s = open(topic);
    return {s.seq, s.epoch};
  }

  /// Assigns the next seq of `topic`, calls `build(seq)` to encode the frame, keeps the
  /// frame in history and returns the seq and frame.
  template <class Build>
  std::pair<std::uint64_t, shared_frame> append(std::string_view topic, Build&& build) {
    stream& s = open(topic);
    const std::uint64_t seq = s.seq + 1;
    shared_frame frame = build(seq);
    s.seq = seq;
    if (options_.history_size > 0) s.push(frame, options_.history_size);
    return {seq, std::move(frame)};
  }

  /// Recovery: calls `f(frame)` for every stored frame of `topic` after `since`, all or
  /// nothing. Returns true when everything after `since` was replayed (including when
  /// there was nothing to replay); false on another epoch, a gap, or `since` beyond the
  /// latest seq.
  template <class F>
  bool replay(std::string_view topic, std::uint64_t since, const std::optional<std::string>& epoch, F&& f) {
    stream& s = open(topic);
    if (epoch && *epoch != s.epoch) return false;
    if (since > s.seq) return false;
    if (since == s.seq) return true;
    if (s.seq - since > s.count) return false;  // messages after `since` already dropped
    for (std::uint64_t seq = since + 1; seq <= s.seq; ++seq) f(s.at(seq));
    return true;
  }

  /// History: calls `f(frame)` in ascending seq order for at most `limit` frames — the
  /// oldest after `since` when given, else the latest. Returns the stream's position.
  template <class F>
  stream_position history(std::string_view topic, std::optional<std::uint64_t> since, std::size_t limit, F&& f) {
    stream& s = open(topic);
    const std::uint64_t oldest = s.seq - s.count + 1;  // oldest stored seq (when count > 0)
    std::uint64_t first;
    if (since)
      first = *since + 1 > oldest ? *since + 1 : oldest;
    else
      first = s.seq >= limit && s.seq - limit + 1 > oldest ? s.seq - limit + 1 : oldest;
    for (std::uint64_t seq = first, n = 0; s.count > 0 && seq <= s.seq && n < limit; ++seq, ++n) f(s.at(seq));
    return {s.seq, s.epoch};
  }

  /// This store keeps no direct messages for offline users.
  bool store_direct(std::string_view /*user*/, const shared_frame& /*frame*/) { return false; }
  /// Calls `f(frame)` for every stored direct message of `user` and forgets them.
  template <class F>
  void take_directs(std::string_view /*user*/, F&& /*f*/) {}

  /// Streams currently kept.
  std::size_t stream_count() const noexcept { return streams_.size(); }

 private:
  struct stream {
    std::string topic;
    std::string epoch;
    std::uint64_t seq = 0;
    std::vector<shared_frame> ring;  // grows to history_size, then wraps
    std::size_t head = 0;            // index of the oldest frame once full
    std::size_t count = 0;

    void push(shared_frame frame, std::size_t capacity) {
      if (ring.size() < capacity) {
        ring.push_back(std::move(frame));
        count = ring.size();
      } else {
        ring[head] = std::move(frame);
        head = (head + 1) % ring.size();
      }
    }
    // Frame of `seq`, which must be within the last `count`.
    const shared_frame& at(std::uint64_t seq) const {
      const std::size_t age = static_cast<std::size_t>(this->seq - seq);  // 0 = newest
      return ring[(head + count - 1 - age) % ring.size()];
    }
  };
  using lru_list = std::list<stream>;

  stream& open(std::string_view topic) {
    if (auto it = index_.find(topic); it != index_.end()) {
      streams_.splice(streams_.begin(), streams_, it->second);
      return *it->second;
    }
    if (streams_.size() >= options_.max_topics && !streams_.empty()) {
      index_.erase(index_.find(std::string_view(streams_.back().topic)));
      streams_.pop_back();
    }
    streams_.emplace_front();
    stream& s = streams_.front();
    s.topic.assign(topic.data(), topic.size());
    s.epoch = epoch_prefix_;
    append_base36(s.epoch, ++streams_created_);
    index_.emplace(std::string_view(s.topic), streams_.begin());
    return s;
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

  // 8 hex digits and a dash; with the stream counter the epoch usually fits the small
  // string buffer, so it costs no allocation.
  static std::string random_prefix() {
    std::random_device device;
    std::uint64_t bits = (std::uint64_t(device()) << 32) ^ device() ^
                         static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    std::string prefix;
    for (int i = 0; i < 8; ++i, bits >>= 4) prefix.push_back("0123456789abcdef"[bits & 15]);
    prefix.push_back('-');
    return prefix;
  }

  options options_;
  std::string epoch_prefix_;
  std::uint64_t streams_created_ = 0;
  lru_list streams_;
  std::unordered_map<std::string_view, lru_list::iterator> index_;  // keys view stream::topic
};

}  // namespace switchboard

#endif
