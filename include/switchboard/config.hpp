// Every limit and tunable of a hub, in one place, with the protocol's defaults.
#ifndef SWITCHBOARD_CONFIG_HPP
#define SWITCHBOARD_CONFIG_HPP

#include <chrono>
#include <cstddef>
#include <string>

namespace switchboard {

/// Limits and behaviour of a hub and its transports. Defaults follow PROTOCOL.md.
/// Copy it, change what you need, hand it to the hub's constructor.
struct config {
  /// Largest message (after reassembly) a client may send; larger closes with 1009.
  std::size_t max_message_bytes = 1024 * 1024;
  /// Connections one user may hold at once; the next one gets `forbidden` and close 1008.
  std::size_t max_connections_per_user = 5;
  /// Token bucket per connection over every message received, in messages per second.
  /// 0 turns rate limiting off.
  double rate_limit = 1000;
  /// Bucket size: how many messages may arrive at once after a quiet period.
  double rate_burst = 2000;
  /// Frames queued for one connection before it is cut off as a slow consumer (close 1013),
  /// once it is behind: a write to it is still in flight. A burst read in one loop turn
  /// may pass it; the publisher then waits for the next flush.
  std::size_t send_queue_frames = 1024;
  /// Bytes queued for one connection before it is cut off as a slow consumer (close 1013),
  /// under the same rule.
  std::size_t send_queue_bytes = 8 * 1024 * 1024;
  /// Bytes queued across all connections of a hub above which it stops reading from
  /// connections that publish, until the backlog drains below half of it. Bounds the
  /// memory a flood of publishes can pin while writes fall behind.
  std::size_t publish_backlog_bytes = 64 * 1024 * 1024;
  /// How long that backlog may stay above the limit before the connections holding the
  /// largest queues are cut as slow consumers (close 1013).
  std::chrono::milliseconds publish_backlog_timeout{2000};
  /// Longest time the hub holds frames back under load. When flushing its queues (one
  /// write per connection) takes long and runs back to back, the hub waits as long as
  /// the last flush took, up to this, so each write carries more frames; a hub that is
  /// not busy writes at the end of every loop turn. 0 turns the wait off (tests that
  /// step a large hub with `poll()` and expect every frame out at once want 0). A short
  /// bound keeps latency low at high but sustainable load; a saturated server gains
  /// little from a longer one (docs/benchmarks.md).
  std::chrono::microseconds max_write_delay{1000};
  /// Longest the hub writes to connections before it reads again. A flush that takes
  /// longer (thousands of socket writes) goes on after the reads that are ready, so a
  /// frame published meanwhile reaches the connections not yet written in that flush.
  /// 0 reads between every few connections.
  std::chrono::microseconds max_flush_slice{250};
  /// Lets a connection whose handshake carries no token authenticate in-band, with an
  /// `auth` request (PROTOCOL section 3.1), for clients that cannot send a token at the
  /// handshake. Until it succeeds the connection gets no `welcome` and every other
  /// request is answered `unauthorized`. With it on there are no anonymous connections.
  bool in_band_auth = false;
  /// How long a connection may wait for in-band auth to succeed before it is closed with 1008.
  std::chrono::milliseconds auth_timeout{10000};
  /// Interval of WebSocket ping frames (sent to clients as `heartbeat_ms`).
  std::chrono::milliseconds ping_interval{30000};
  /// A connection that does not answer a ping within this time is dropped.
  std::chrono::milliseconds ping_timeout{10000};
  /// How long a closing connection may take before its socket is closed regardless.
  std::chrono::milliseconds close_timeout{1000};
  /// Messages the in-memory store keeps per topic for history and recovery.
  std::size_t history_size = 100;
  /// Bytes of stored history the in-memory store may hold across all topics; past it
  /// the oldest stored messages are dropped first. Bounds what publishers can pin.
  std::size_t store_max_bytes = 64 * 1024 * 1024;
  /// Users whose public keys the in-memory store keeps (challenge-response login
  /// registers them without a credential); past it registration is refused (HTTP 503).
  std::size_t max_registered_users = 100000;
  /// Largest `limit` a history request may ask for (larger values are clamped).
  std::size_t max_history_limit = 1000;
  /// Bytes of message objects one `history` result may carry; a longer answer stops
  /// before this and says `"more": true`. Bounds the reply a single request can build.
  std::size_t max_history_reply_bytes = 1024 * 1024;
  /// Topics (and patterns) one connection may subscribe to.
  std::size_t max_subscriptions_per_connection = 1000;
  /// Wildcard patterns one connection may subscribe to (part of the limit above).
  /// Patterns cost every publish a walk of the pattern trie; this bounds that walk.
  std::size_t max_patterns_per_connection = 100;
  /// Tokens a wildcard pattern may have; bounds the depth of the pattern trie.
  std::size_t max_pattern_tokens = 16;
  /// WebSocket connections a server accepts at once; past it an upgrade gets HTTP 503.
  std::size_t max_connections = 100000;
  /// Topics one subscribe or unsubscribe request may name.
  std::size_t max_topics_per_request = 100;
  /// Publishes `post_publish` may hold for the hub's thread before refusing more.
  std::size_t post_queue_capacity = 65536;
  /// Deliver a connection's own publishes back to it.
  bool echo_to_publisher = false;
  /// Add `ts` (milliseconds since the Unix epoch) to `message` and `direct` frames.
  bool timestamps = true;
  /// The product name in `welcome.server` and `server_info`.
  std::string server_name = "switchboard";
};

}  // namespace switchboard

#endif
