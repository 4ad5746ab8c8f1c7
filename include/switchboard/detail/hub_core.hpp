// The state one hub owns and the operations its requests share: the registry, broker,
// store, outbox and policies, and publish, fan-out, direct delivery, presence events
// and subscription bookkeeping. `basic_hub` (hub.hpp) is its public face; the request
// handlers (requests.hpp) work on it.
#ifndef SWITCHBOARD_DETAIL_HUB_CORE_HPP
#define SWITCHBOARD_DETAIL_HUB_CORE_HPP

#include <switchboard/audit.hpp>
#include <switchboard/auth.hpp>
#include <switchboard/broker.hpp>
#include <switchboard/config.hpp>
#include <switchboard/detail/deadline_queue.hpp>
#include <switchboard/error.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/frames.hpp>
#include <switchboard/hooks.hpp>
#include <switchboard/logging.hpp>
#include <switchboard/outbox.hpp>
#include <switchboard/rate_limiter.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/store.hpp>
#include <switchboard/topic.hpp>
#include <switchboard/transport.hpp>

#include <asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

/// The result of a publish: the topic's new `seq` and how many connections it was
/// queued to. `failure` is set (and nothing published) when the topic or data is invalid.
struct publish_result {
  std::uint64_t seq = 0;
  std::size_t recipients = 0;
  std::error_code failure;
};

/// The result of a direct message: connections it was queued to, and whether the store
/// kept it for a user who had none.
struct direct_result {
  std::size_t delivered = 0;
  bool stored = false;
};

/// The topic on which the hub announces users going online and offline.
constexpr std::string_view presence_topic = "system.presence";

/// Topics under this prefix belong to the server: clients may subscribe, never publish.
constexpr std::string_view server_topic_prefix = "system.";

/// True for topics only the server publishes on (PROTOCOL section 3.3).
constexpr bool is_server_topic(std::string_view topic) noexcept {
  return topic.substr(0, server_topic_prefix.size()) == server_topic_prefix;
}

namespace detail {

template <class Policies>
class hub_core {
 public:
  using auth_type = typename Policies::auth_type;
  using store_type = typename Policies::store_type;
  using user_data_type = typename Policies::user_data_type;
  using hooks_type = typename Policies::hooks_type;

  // Ordered hot first: fan-out and flush touch the first cache line of every recipient.
  struct connection_state {
    std::uint64_t stamp = 0;  // last publish delivered here, to deliver each at most once
    outbox_slot out;
    bool refused = false;     // over the per-user limit: gets an error, then a close
    bool awaiting_auth = false;  // in-band auth: no welcome, every request but `auth` refused
    token_bucket bucket;
    user_data_type data{};
  };
  using registry_type = connection_registry<connection_state>;
  using entry_type = typename registry_type::entry;

  static constexpr std::uint32_t no_slot = 0xFFFFFFFFu;

  hub_core(asio::io_context& io, config cfg, auth_type a, store_type s)
      : io(io),
        settings(std::move(cfg)),
        auth(std::move(a)),
        store(std::move(s)),
        started(std::chrono::steady_clock::now()),
        out(io, settings, registry, stats, log) {}
  hub_core(const hub_core&) = delete;
  hub_core& operator=(const hub_core&) = delete;

  asio::io_context& io;
  const config settings;
  auth_type auth;
  store_type store;
  std::chrono::steady_clock::time_point started;
  hub_stats stats;
  registry_type registry;
  broker topics;
  logger log;  // before `out`, which logs its cuts through it
  outbox<registry_type> out;
  std::uint64_t publish_stamp = 0;
  bool last_fan_out_congested = false;  // the last publish queued to a connection not keeping up
  audit_hook on_audit;
  hooks_type hooks;
  // Token expiry and the in-band auth timeout of every connection (`identity::expires_at`).
  deadline_queue deadlines{io, [this](std::uint64_t id, deadline_queue::clock::time_point when) { deadline_due(id, when); }};

  // --- deadlines ------------------------------------------------------------------

  /// Closes `e` with 1008 at `e.who.expires_at`, unless it moves before then.
  void watch_deadline(const entry_type& e) {
    if (!e.who.expires_at) return;
    // Refreshes leave stale entries behind; past twice the live ones, drop them.
    if (deadlines.size() > 2 * registry.connection_count() + 1024)
      deadlines.compact([this](std::uint64_t id, deadline_queue::clock::time_point when) {
        const entry_type* live = registry.find(id);
        return live && live->who.expires_at == when;
      });
    deadlines.schedule(*e.who.expires_at, e.id);
  }

  void deadline_due(std::uint64_t id, deadline_queue::clock::time_point when) {
    entry_type* e = registry.find(id);
    if (!e || e->value.out.closing || e->who.expires_at != when) return;  // closed or refreshed
    const std::string_view why = e->value.awaiting_auth ? "authentication timed out" : "token expired";
    ++stats.deadline_closes;
    audit(e->value.awaiting_auth ? audit_kind::auth_timeout : audit_kind::token_expired, *e, why);
    out.close(*e, close_code::policy_violation, why);
  }

  // --- security events ------------------------------------------------------------

  void audit(audit_kind kind, const entry_type& e, std::string_view detail) const {
    if (!on_audit) return;
    on_audit(audit_event{kind, e.id, e.who.user ? std::string_view(*e.who.user) : std::string_view(), {}, detail});
  }

  hub_stats snapshot() const {
    hub_stats s = stats;
    s.subscriptions = topics.subscription_count();
    s.backlog_bytes = out.queued_bytes();
    s.messages_out = out.frames_queued();
    s.connections = registry.connection_count();
    s.users = registry.user_count();
    s.topics = topics.topic_count();
    s.uptime_s = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count());
    return s;
  }

  // --- replies ----------------------------------------------------------------------

  bool send(entry_type& e, const shared_frame& frame, message_class kind = message_class::other) {
    if (!out.enqueue(e, frame)) return false;
    stats.out.add(kind, 1, frame.wire().size());
    return true;
  }

  /// `{"type":"<type>","id":..}`; nothing when the request had no id.
  void send_reply(entry_type& e, std::string_view type, std::string_view id, std::string_view data = {}) {
    if (!id.empty()) send(e, frames::reply(type, id, data), message_class::reply);
  }
  void send_ack(entry_type& e, std::string_view id, std::string_view data = {}) { send_reply(e, "ack", id, data); }
  void send_error(entry_type& e, std::string_view id, error code, std::string_view message) {
    send(e, frames::error(id, code, message), message_class::error);
  }

  // When the message being handled reached the hub (set by the hub around each one), so
  // that the fan-out histogram measures from arrival; zero outside of a message.
  std::chrono::steady_clock::time_point arrival{};

  // --- publish and fan-out ------------------------------------------------------------

  std::optional<std::uint64_t> timestamp() const {
    return settings.timestamps ? std::optional<std::uint64_t>(frames::now_ms()) : std::nullopt;
  }

  publish_result publish_json(std::string_view topic, std::string_view data, const std::optional<std::string>* from,
                              std::uint32_t exclude) {
    const auto start = arrival_or_now();
    const auto ts = timestamp();
    auto [seq, frame] = store.append(topic, [&](std::uint64_t s) { return frames::message(topic, s, from, ts, data); });
    const std::size_t recipients = fan_out(topic, frame, exclude, message_class::message, start);
    published(topic, seq, from, recipients);
    return {seq, recipients, {}};
  }

  publish_result publish_bytes(std::string_view topic, std::string_view payload, const std::optional<std::string>* from,
                               std::uint32_t exclude) {
    const auto start = arrival_or_now();
    auto [seq, frame] =
        store.append(topic, [&](std::uint64_t s) { return frames::binary_message(topic, s, from, payload); });
    const std::size_t recipients = fan_out(topic, frame, exclude, message_class::binary, start);
    published(topic, seq, from, recipients);
    return {seq, recipients, {}};
  }

  void published([[maybe_unused]] std::string_view topic, [[maybe_unused]] std::uint64_t seq,
                 [[maybe_unused]] const std::optional<std::string>* from, [[maybe_unused]] std::size_t recipients) {
    if constexpr (has_on_publish<hooks_type>::value) {
      static const std::optional<std::string> server;
      hooks.on_publish(topic, seq, from ? *from : server, recipients);
    }
  }

  std::chrono::steady_clock::time_point arrival_or_now() const {
    return arrival != std::chrono::steady_clock::time_point{} ? arrival : std::chrono::steady_clock::now();
  }

  /// Queues `frame` once to every connection whose subscriptions match `topic`, and
  /// counts it as a publish that arrived at `start`.
  std::size_t fan_out(std::string_view topic, const shared_frame& frame, std::uint32_t exclude, message_class kind,
                      std::chrono::steady_clock::time_point start) {
    const std::uint64_t stamp = ++publish_stamp;
    std::size_t recipients = 0;
    bool congested = false;
    topics.for_each_subscriber(topic, [&](subscriber_index slot) {
      entry_type& e = registry.at_slot(slot);
      if (e.value.stamp == stamp) return;
      e.value.stamp = stamp;
      if (slot == exclude && !settings.echo_to_publisher) return;
      if (!out.enqueue(e, frame)) return;
      ++recipients;
      congested |= out.congested(e);
    });
    last_fan_out_congested = congested;
    ++stats.publishes;
    stats.deliveries += recipients;
    stats.out.add(kind, recipients, recipients * frame.wire().size());
    stats.fan_out.observe(std::chrono::steady_clock::now() - start);
    return recipients;
  }

  direct_result direct(std::string_view user, std::string_view data, const std::optional<std::string>* from) {
    const shared_frame frame = frames::direct(from, timestamp(), data);
    direct_result result;
    // A slow-consumer cut inside enqueue only starts a close; the user index changes in
    // on_close, later, so iterating it here is safe.
    const std::vector<connection_id>& targets = registry.connections_of(user);
    for (const connection_id id : targets)
      if (entry_type* e = registry.find(id))
        if (send(*e, frame, message_class::direct)) ++result.delivered;
    if (targets.empty()) result.stored = store.store_direct(user, frame);
    return result;
  }

  void announce_presence(const std::string& user, std::string_view status) {
    std::string data = R"({"user":)";
    append_json_string(data, user);
    data += R"(,"status":")";
    data += status;
    data += "\"}";
    publish_json(presence_topic, data, nullptr, no_slot);
  }

  // --- subscriptions ------------------------------------------------------------------
  // The store hears when an exact topic gains its first subscriber and loses its last,
  // so that it never forgets a stream someone holds a position in.

  void subscribe(subscriber_index slot, std::string_view topic) {
    const bool first = classify_topic(topic) == topic_kind::exact && !topics.has_subscribers(topic);
    if (topics.subscribe(slot, topic) == broker::subscribe_result::added && first) retain(topic);
  }

  void unsubscribe(subscriber_index slot, std::string_view topic) {
    if (topics.unsubscribe(slot, topic) && classify_topic(topic) == topic_kind::exact && !topics.has_subscribers(topic))
      release(topic);
  }

  void unsubscribe_all(subscriber_index slot) {
    topics.unsubscribe_all(slot, [this](std::string_view topic) { release(topic); });
  }

 private:
  void retain([[maybe_unused]] std::string_view topic) {
    if constexpr (store_tracks_subscriptions<store_type>::value) store.retain(topic);
  }
  void release([[maybe_unused]] std::string_view topic) {
    if constexpr (store_tracks_subscriptions<store_type>::value) store.release(topic);
  }
};

}  // namespace detail
}  // namespace switchboard

#endif
