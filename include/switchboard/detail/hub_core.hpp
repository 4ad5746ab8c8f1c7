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
#include <switchboard/signed_publish.hpp>
#include <switchboard/store.hpp>
#include <switchboard/topic.hpp>
#include <switchboard/transport.hpp>

#include <asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
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
  /// `bad_request` for an invalid topic or data; from an asynchronous store, `overloaded`
  /// (its writer is behind) or `too_large`: then nothing was published.
  std::error_code failure;
  /// Non-zero when the store acknowledges only after a commit: `basic_hub::when_stored`
  /// learns when that happens.
  std::uint64_t commit_ticket = 0;
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
  /// True when the store answers reads and commits later (`is_async_store_policy`).
  static constexpr bool async_store = is_async_store_policy<store_type>::value;

  // What a session record needs beyond the connection's other state; allocated only
  // while the store records sessions.
  struct session_log {
    std::string remote;
    std::string user_agent;
    std::chrono::system_clock::time_point connected_at;
    std::uint64_t messages_in = 0;
  };

  // Ordered hot first: fan-out and flush touch the first cache line of every recipient.
  struct connection_state {
    std::uint64_t stamp = 0;  // last publish delivered here, to deliver each at most once
    outbox_slot out;
    bool refused = false;     // over the per-user limit: gets an error, then a close
    bool awaiting_auth = false;  // in-band auth: no welcome, every request but `auth` refused
    token_bucket bucket;
    user_data_type data{};
    std::unique_ptr<session_log> session;  // null unless the store records sessions
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
        out(io, settings, registry, stats, log) {
    if constexpr (async_store) store.on_commit([this](const auto& report) { this->committed(report); });
  }
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
  signature_check check_signature = nullptr;  // signed publishes (signed_publish.hpp); none: refused
  hooks_type hooks;
  // Acks waiting for their publish's commit, in ticket order (asynchronous stores).
  struct commit_waiter {
    std::uint64_t ticket;
    std::chrono::steady_clock::time_point since;
    std::function<void(std::error_code)> done;
  };
  std::deque<commit_waiter> commit_waiters;
  // A failing disk fails every batch: its records are bounded like a client's floods.
  log_limit store_failures_logged;
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
    if constexpr (async_store) s.store_queue_depth = store.pending_appends();
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
                              std::uint32_t exclude, std::string_view sig = {}) {
    const auto start = arrival_or_now();
    const auto ts = timestamp();
    return publish_frame(
        topic, [&](std::uint64_t s) { return frames::message(topic, s, from, ts, data, sig); }, from, exclude,
        message_class::message, start);
  }

  publish_result publish_bytes(std::string_view topic, std::string_view payload, const std::optional<std::string>* from,
                               std::uint32_t exclude) {
    const auto start = arrival_or_now();
    return publish_frame(
        topic, [&](std::uint64_t s) { return frames::binary_message(topic, s, from, payload); }, from, exclude,
        message_class::binary, start);
  }

  // Numbers the frame through the store, then fans it out. An asynchronous store may
  // refuse (its writer is behind): then nobody receives it and no seq is used.
  template <class Build>
  publish_result publish_frame(std::string_view topic, Build&& build, const std::optional<std::string>* from,
                               std::uint32_t exclude, message_class kind, std::chrono::steady_clock::time_point start) {
    publish_result result;
    shared_frame frame;
    if constexpr (async_store) {
      auto appended = store.append(topic, build);
      if (appended.error) {
        ++stats.store_refusals;
        result.failure = appended.error;
        return result;
      }
      result.seq = appended.seq;
      frame = std::move(appended.frame);
      if (store.ack_after_commit()) result.commit_ticket = appended.ticket;
    } else {
      auto appended = store.append(topic, build);
      result.seq = appended.first;
      frame = std::move(appended.second);
    }
    result.recipients = fan_out(topic, frame, exclude, kind, start);
    published(topic, result.seq, from, result.recipients);
    return result;
  }

  // --- answers that wait for the store ------------------------------------------------

  /// Calls `done(error)` once the publish with `ticket` is committed (no error) or failed
  /// to be (`internal`); at once when `ticket` is 0. Commits come in ticket order.
  void when_committed(std::uint64_t ticket, std::function<void(std::error_code)> done) {
    if (ticket == 0) return done({});
    commit_waiters.push_back({ticket, std::chrono::steady_clock::now(), std::move(done)});
  }

  template <class Report>
  void committed(const Report& report) {
    if (report.error) {
      const std::uint64_t failed = report.last_ticket - report.first_ticket + 1;
      stats.store_commit_failures += failed;
      if (log.enabled(log_level::error) && store_failures_logged.admit(std::chrono::steady_clock::now()))
        log.write(log_level::error, "store_failed",
                  {{"publishes", failed},
                   {"reason", store.last_error()},
                   {"suppressed", suppressed_count(store_failures_logged.take_suppressed())}});
    }
    const auto now = std::chrono::steady_clock::now();
    while (!commit_waiters.empty() && commit_waiters.front().ticket <= report.last_ticket) {
      auto waiter = std::move(commit_waiters.front());
      commit_waiters.pop_front();
      if (!report.error) stats.commit.observe(now - waiter.since);
      waiter.done(report.error);
    }
  }

  /// Answers `id` with an ack carrying `data`, now or, with a `commit_ticket`, once the
  /// publish is stored: `internal` if it could not be (its subscribers still got it).
  void ack_when_committed(entry_type& e, std::string_view id, std::uint64_t ticket, std::string data) {
    if (ticket == 0) return send_ack(e, id, data);
    when_committed(ticket, [this, conn = e.id, id = std::string(id), data = std::move(data)](std::error_code failed) {
      entry_type* live = registry.find(conn);
      if (!live) return;
      if (failed)
        send_error(*live, id, error::internal, "the message was delivered but could not be stored");
      else
        send_ack(*live, id, data);
    });
  }

  /// Stops `e`'s writes and reads until `answer` runs: what it sends goes ahead of every
  /// frame queued to `e` meanwhile, so answers from the disk keep the order PROTOCOL asks
  /// for (replayed messages before the subscribe ack, kept directs right after welcome).
  struct held_answer {
    std::uint64_t ticket;
    connection_id connection;
  };
  held_answer hold(entry_type& e) { return {out.hold(e), e.id}; }
  /// Sends `frames` (counted as `kind`), then `reply` if any, in the place `held` kept.
  void release(const held_answer& held, std::vector<shared_frame> frames, message_class kind,
               shared_frame reply = {}) {
    entry_type* e = registry.find(held.connection);
    const std::size_t answered = frames.size();
    if (reply) frames.push_back(reply);
    if (!out.release(held.ticket, e, frames)) return;
    for (std::size_t i = 0; i < answered; ++i) stats.out.add(kind, 1, frames[i].wire().size());
    if (reply) stats.out.add(message_class::reply, 1, reply.wire().size());
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

  /// Delivers a direct message live; for a user with no connection, the store keeps it.
  /// `done(error, result)`, if given, learns the outcome: at once, or with an
  /// asynchronous store once it has kept the message (or failed to). The returned
  /// `stored` then only says that it was handed to the store.
  direct_result direct(std::string_view user, std::string_view data, const std::optional<std::string>* from,
                       std::function<void(std::error_code, const direct_result&)> done = {}) {
    const shared_frame frame = frames::direct(from, timestamp(), data);
    direct_result result;
    // A slow-consumer cut inside enqueue only starts a close; the user index changes in
    // on_close, later, so iterating it here is safe.
    const std::vector<connection_id>& targets = registry.connections_of(user);
    for (const connection_id id : targets)
      if (entry_type* e = registry.find(id))
        if (send(*e, frame, message_class::direct)) ++result.delivered;
    if (targets.empty()) {
      if constexpr (async_store) {
        result.stored = true;
        if (!done) done = [](std::error_code, const direct_result&) {};
        store.store_direct(user, frame, [done = std::move(done), result](std::error_code ec) { done(ec, result); });
        return result;
      } else {
        result.stored = store.store_direct(user, frame);
      }
    }
    if (done) done({}, result);
    return result;
  }

  /// Sends the directs the store kept for `e`'s user, right after what is queued to it
  /// now (its welcome).
  void send_kept_directs(entry_type& e) {
    if constexpr (async_store) {
      const held_answer held = hold(e);
      store.take_directs(*e.who.user, [this, held](std::error_code, std::vector<shared_frame> kept) {
        release(held, kept, message_class::direct);
      });
    } else {
      store.take_directs(*e.who.user, [&](const shared_frame& f) { send(e, f, message_class::direct); });
    }
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
