// What a hub counts: connections, messages and bytes by type, refusals, drops, and the
// latency of fan-out and flushes. `/health`, `/api/stats`, `server_info` and `/metrics`
// (metrics.hpp) all read one `hub_stats`.
#ifndef SWITCHBOARD_STATS_HPP
#define SWITCHBOARD_STATS_HPP

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace switchboard {

/// A latency histogram with fixed buckets, cheap enough for every publish: observing
/// is a short scan of 16 bounds and two additions, no allocation.
class latency_histogram {
 public:
  /// Upper bounds of the buckets, in seconds: 10 µs to 1 s, roughly ×2.5 apart. Values
  /// above the last land in the implicit `+Inf` bucket.
  static constexpr std::array<double, 16> bounds_s = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                                      0.001,   0.0025,   0.005,   0.01,   0.025,   0.05,
                                                      0.1,     0.25,     0.5,     1.0};

  void observe(std::chrono::steady_clock::duration d) noexcept {
    const double s = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < bounds_s.size() && s > bounds_s[i]) ++i;
    ++counts_[i];
    sum_s_ += s;
  }

  /// Observations in bucket `i` alone (not cumulative); `i == bounds_s.size()` is `+Inf`.
  std::uint64_t bucket(std::size_t i) const noexcept { return counts_[i]; }
  std::uint64_t count() const noexcept {
    std::uint64_t n = 0;
    for (const std::uint64_t c : counts_) n += c;
    return n;
  }
  double sum_seconds() const noexcept { return sum_s_; }

 private:
  std::array<std::uint64_t, bounds_s.size() + 1> counts_{};
  double sum_s_ = 0;
};

/// The kinds of frames a hub counts separately, in and out.
enum class message_class : std::uint8_t {
  publish,      ///< in: `publish` (JSON)
  binary,       ///< in: a binary publish; out: a binary delivery
  subscribe,    ///< in: `subscribe` and `unsubscribe`
  direct,       ///< in and out: direct messages
  command,      ///< in: `command`
  query,        ///< in: `presence`, `history`, `ping`
  auth,         ///< in: `auth`
  application,  ///< in: an application type (a registered handler's, or unknown)
  invalid,      ///< in: not JSON, no type
  message,      ///< out: a `message` delivery (publishes, replays, presence events)
  reply,        ///< out: `ack`, `result`, `pong` and other replies
  error,        ///< out: `error`
  other,        ///< out: `welcome` and anything else
};
constexpr std::size_t message_class_count = 13;

/// The label of a class in metrics ("publish", ...).
constexpr std::string_view message_class_name(message_class c) noexcept {
  constexpr std::string_view names[message_class_count] = {"publish", "binary",  "subscribe", "direct", "command",
                                                           "query",   "auth",    "application", "invalid", "message",
                                                           "reply",   "error",   "other"};
  return names[static_cast<std::size_t>(c)];
}

/// Messages and bytes of one direction, by class.
struct traffic_counts {
  std::array<std::uint64_t, message_class_count> messages{};
  std::array<std::uint64_t, message_class_count> bytes{};
  void add(message_class c, std::uint64_t count, std::uint64_t total_bytes) noexcept {
    messages[static_cast<std::size_t>(c)] += count;
    bytes[static_cast<std::size_t>(c)] += total_bytes;
  }
};

/// Counters a hub keeps; read them from the hub's thread (e.g. for `/health`).
struct hub_stats {
  std::size_t connections = 0;
  std::size_t users = 0;
  std::size_t topics = 0;
  std::size_t subscriptions = 0;   ///< exact topics and patterns, over all connections
  std::uint64_t uptime_s = 0;
  std::uint64_t messages_in = 0;   ///< frames received, rate-limited ones included
  std::uint64_t messages_out = 0;  ///< frames queued to connections
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;     ///< bytes handed to transports
  traffic_counts in;               ///< by class; rate-limited frames are not classified
  traffic_counts out;              ///< by class, as queued (bytes on the wire, headers included)
  std::uint64_t publishes = 0;     ///< publishes accepted, from clients, HTTP and the server
  std::uint64_t deliveries = 0;    ///< publish frames queued to subscribers
  std::uint64_t slow_consumers_dropped = 0;  ///< connections cut, for either reason below
  std::uint64_t send_queue_cuts = 0;         ///< cut because their own queue passed its limit
  std::uint64_t backlog_cuts = 0;            ///< cut to bring the hub's publish backlog down
  std::uint64_t rate_limited = 0;            ///< frames refused by a connection's rate limit
  std::uint64_t handshakes_refused = 0;      ///< upgrades the auth policy refused
  std::uint64_t auth_failures = 0;           ///< in-band `auth` and refreshes refused
  std::uint64_t forbidden = 0;               ///< requests refused by authorization
  std::uint64_t deadline_closes = 0;         ///< closed at token expiry or in-band auth timeout
  std::size_t backlog_bytes = 0;             ///< bytes queued to all connections now
  std::uint64_t store_refusals = 0;          ///< publishes an asynchronous store refused (`overloaded`, `too_large`)
  std::uint64_t store_commit_failures = 0;   ///< publishes delivered live that an asynchronous store could not commit
  std::size_t store_queue_depth = 0;         ///< an asynchronous store's appends not yet committed, now
  latency_histogram fan_out;  ///< a publish's arrival to its frame queued to every recipient
  latency_histogram flush;    ///< one flush: every dirty connection's queue handed to the transport
  latency_histogram commit;   ///< an acknowledged publish's append to its commit (asynchronous stores)
};

}  // namespace switchboard

#endif
