// The hub: connections, subscriptions, request dispatch and fan-out on one thread.
#ifndef SWITCHBOARD_HUB_HPP
#define SWITCHBOARD_HUB_HPP

#include <switchboard/auth.hpp>
#include <switchboard/broker.hpp>
#include <switchboard/config.hpp>
#include <switchboard/detail/frame_queue.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/error.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/handlers.hpp>
#include <switchboard/memory_store.hpp>
#include <switchboard/policies.hpp>
#include <switchboard/rate_limiter.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/switchboard_fwd.hpp>
#include <switchboard/topic.hpp>
#include <switchboard/transport.hpp>
#include <switchboard/version.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
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

/// The core of switchboard: one hub owns the connection registry, the topic broker, the
/// handler registry and the policies, and runs on the thread of the `asio::io_context`
/// it is given — no locks on the hot path. The host drives that context (`run()`,
/// `poll()` once per tick, or a busy poll); the hub owns no thread.
///
/// A transport (`websocket_server`, `memory_transport`) attaches to the hub and feeds it
/// connections and messages through `hub_endpoint`.
///
/// Template parameter `Policies`: a `policies<Auth, Store, UserData>` (see
/// switchboard_fwd.hpp).
///
/// Thread safety: call only from the hub's thread, except `post_publish`, which is
/// safe from any thread. The hub must outlive the handlers it posted, i.e. destroy it
/// after the io_context has stopped running it, or before the context is run again.
///
/// Example:
/// @code
/// asio::io_context io;
/// switchboard::hub hub{io};
/// hub.handlers().add_command("add", [](auto& ctx) { ... });
/// switchboard::websocket_server server{io, hub, {}};
/// server.start();
/// io.run();
/// @endcode
template <class Policies>
class basic_hub final : public hub_endpoint {
 public:
  using policies_type = Policies;
  using auth_type = typename Policies::auth_type;
  using store_type = typename Policies::store_type;
  using user_data_type = typename Policies::user_data_type;

  static_assert(is_auth_policy<auth_type>::value,
                "Auth policy requirements not met: needs authenticate(const handshake_info&) returning auth_result "
                "and authorize(const identity&, action, std::string_view) returning bool (see auth.hpp)");
  static_assert(is_store_policy<store_type>::value,
                "Store policy requirements not met: needs position, append, replay, history, store_direct and "
                "take_directs (see is_store_policy in store.hpp)");
  static_assert(std::is_default_constructible<user_data_type>::value,
                "UserData policy requirements not met: must be default-constructible");

 private:
  // Ordered hot first: fan-out and flush touch the first cache line of every recipient.
  struct connection_state {
    std::uint64_t stamp = 0;            // last publish delivered here, to deliver each at most once
    bool dirty = false;
    bool writing = false;
    bool closing = false;
    bool paused = false;
    bool refused = false;
    std::uint16_t close_code = 0;       // close after the next flush (refused connections)
    std::size_t queued_frames = 0;      // pending + in flight
    std::size_t queued_bytes = 0;
    detail::frame_queue pending;        // queued this loop turn, or while a write is in flight
    std::size_t inflight_frames = 0;
    std::size_t inflight_bytes = 0;
    token_bucket bucket;
    user_data_type data{};
  };
  using registry_type = connection_registry<connection_state>;
  using entry_type = typename registry_type::entry;

 public:
  class request_context;
  using handlers_type = handler_registry<request_context>;

  /// Creates a hub on `io`. The store is built from `cfg` when it can be (the in-memory
  /// store takes `history_size` from it).
  explicit basic_hub(asio::io_context& io, config cfg = {}, auth_type auth = auth_type{})
      : basic_hub(io, cfg, std::move(auth), make_store(cfg)) {}
  basic_hub(asio::io_context& io, config cfg, auth_type auth, store_type store)
      : io_(io),
        config_(std::move(cfg)),
        auth_(std::move(auth)),
        store_(std::move(store)),
        started_(std::chrono::steady_clock::now()),
        backlog_timer_(io) {
    add_builtin_commands();
  }
  basic_hub(const basic_hub&) = delete;
  basic_hub& operator=(const basic_hub&) = delete;
  ~basic_hub() = default;

  // --- application interface (hub thread) ---------------------------------------

  /// Application message types and commands.
  handlers_type& handlers() noexcept { return handlers_; }
  auth_type& auth() noexcept { return auth_; }
  store_type& store() noexcept { return store_; }

  /// Publishes `json_data` (any JSON value, spliced verbatim) on the exact `topic`, from
  /// no user. Fails with `bad_request` for an invalid topic or JSON.
  publish_result publish(std::string_view topic, std::string_view json_data) {
    if (classify_topic(topic) != topic_kind::exact) return {0, 0, make_error_code(error::bad_request)};
    if (!is_json_value(json_data)) return {0, 0, make_error_code(error::bad_request)};
    return publish_json(topic, json_data, nullptr, no_slot);
  }

  /// Publishes raw bytes on `topic`; subscribers receive the binary envelope.
  publish_result publish_binary(std::string_view topic, std::string_view bytes) {
    if (classify_topic(topic) != topic_kind::exact) return {0, 0, make_error_code(error::bad_request)};
    return publish_bytes(topic, bytes, no_slot);
  }

  /// Sends `json_data` as a `direct` frame, from no user, to every connection of `user`.
  direct_result send_direct(std::string_view user, std::string_view json_data) {
    if (!is_json_value(json_data)) return {};
    return direct(user, json_data, nullptr);
  }

  /// Queues any JSON object text as a frame to one connection; false when it is gone.
  bool send(connection_id id, std::string_view json_object) {
    auto* e = registry_.find(id);
    return e && enqueue(*e, make_frame(frame_kind::text, json_object));
  }

  /// Safe from any thread: hands a publish to the hub's thread, which performs it on its
  /// next loop turn. Returns false (and drops it) when `config::post_queue_capacity`
  /// publishes are already waiting. Topic and data are validated on the hub's thread,
  /// like `publish`; invalid ones are dropped.
  bool post_publish(std::string topic, std::string json_data) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(posted_->mutex);
      if (posted_->items.size() >= config_.post_queue_capacity) return false;
      wake = posted_->items.empty();
      posted_->items.push_back({std::move(topic), std::move(json_data)});
    }
    if (wake) {
      std::weak_ptr<posted_queue> weak = posted_;
      asio::post(io_, [this, weak] {
        if (weak.lock()) drain_posted();
      });
    }
    return true;
  }

  /// Per-connection application state, or null when `id` is not open.
  user_data_type* user_data(connection_id id) noexcept {
    auto* e = registry_.find(id);
    return e ? &e->value.data : nullptr;
  }

  /// Closes every connection with `code` (1001 on shutdown).
  void close_all(std::uint16_t code = close_code::going_away, std::string_view reason = "server shutting down") override {
    registry_.for_each([&](entry_type& e) { close_connection(e, code, reason); });
  }

  std::size_t connection_count() const noexcept { return registry_.connection_count(); }
  std::size_t user_count() const noexcept { return registry_.user_count(); }
  /// Bytes queued to all connections and not yet written.
  std::size_t queued_bytes() const noexcept { return total_queued_; }

  // --- hub_endpoint (called by the transport, hub thread) ------------------------

  void attach(transport* t) override { transport_ = t; }
  const config& settings() const noexcept override { return config_; }
  asio::io_context& context() noexcept override { return io_; }

  hub_stats stats() const override {
    hub_stats s = stats_;
    s.connections = registry_.connection_count();
    s.users = registry_.user_count();
    s.topics = broker_.topic_count();
    s.uptime_s = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count());
    return s;
  }

  auth_result on_handshake(const handshake_info& info) override { return auth_.authenticate(info); }

  connection_id on_open(identity who) override {
    const bool over_limit = who.user && config_.max_connections_per_user > 0 &&
                            registry_.connections_of(*who.user).size() >= config_.max_connections_per_user;
    const connection_id id = registry_.insert(std::move(who), connection_state{}, !over_limit);
    entry_type& e = *registry_.find(id);
    if (over_limit) {
      e.value.refused = true;
      send_error(e, {}, error::forbidden, "too many connections for this user");
      e.value.close_code = close_code::policy_violation;
      return id;
    }
    send_welcome(e);
    if (e.who.user) {
      store_.take_directs(*e.who.user, [&](const shared_frame& f) { enqueue(e, f); });
      if (registry_.connections_of(*e.who.user).size() == 1) announce_presence(*e.who.user, "online");
    }
    return id;
  }

  void on_message(connection_id id, frame_kind kind, std::string_view payload) override {
    entry_type* e = registry_.find(id);
    if (!e || e->value.closing || e->value.refused) return;
    ++stats_.messages_in;
    stats_.bytes_in += payload.size();
    if (!e->value.bucket.try_take(std::chrono::steady_clock::now(), config_.rate_limit, config_.rate_burst)) {
      ++stats_.rate_limited;
      std::string_view id_raw;
      detail::parsed_request req;
      if (kind == frame_kind::text) {
        req = detail::request_parser::parse(payload);
        id_raw = req.id;
      }
      send_error(*e, id_raw, error::rate_limited, "rate limit exceeded");
      return;
    }
    if (kind == frame_kind::text)
      handle_text(*e, payload);
    else
      handle_binary(*e, payload);
    apply_backpressure(*e);
  }

  void on_write_complete(connection_id id) override {
    entry_type* e = registry_.find(id);
    if (!e) return;
    auto& c = e->value;
    c.writing = false;
    c.queued_frames -= c.inflight_frames;
    c.queued_bytes -= c.inflight_bytes;
    total_queued_ -= c.inflight_bytes;
    c.inflight_frames = 0;
    c.inflight_bytes = 0;
    if (!c.pending.empty() && !c.closing) mark_dirty(*e);
    resume_readers_if_drained();
  }

  void on_close(connection_id id) override {
    entry_type* e = registry_.find(id);
    if (!e) return;
    total_queued_ -= e->value.queued_bytes;
    broker_.unsubscribe_all(registry_.slot_of(id));
    std::optional<std::string> user;
    if (e->who.user && !e->value.refused) user = e->who.user;
    registry_.erase(id);
    if (user && registry_.connections_of(*user).empty()) announce_presence(*user, "offline");
    resume_readers_if_drained();
  }

  /// What a handler or command sees of the request it serves.
  class request_context {
   public:
    connection_id connection() const noexcept { return entry_->id; }
    const identity& who() const noexcept { return entry_->who; }
    user_data_type& user_data() noexcept { return entry_->value.data; }
    /// The whole frame as received.
    std::string_view frame() const noexcept { return frame_; }
    /// The request's `id` as raw JSON; empty when it has none.
    std::string_view id() const noexcept { return request_->id; }
    /// A command's `params` as raw JSON; empty when absent.
    std::string_view params_raw() const noexcept { return request_->params; }
    /// The whole frame, parsed on first use.
    const rapidjson::Document& json() {
      if (!document_) {
        document_ = std::make_unique<rapidjson::Document>();
        document_->Parse(frame_.data(), frame_.size());
      }
      return *document_;
    }
    /// A command's `params`, parsed on first use (null when absent).
    const rapidjson::Value& params() {
      if (!params_) {
        params_ = std::make_unique<rapidjson::Document>();
        if (!request_->params.empty()) params_->Parse(request_->params.data(), request_->params.size());
      }
      return *params_;
    }
    /// Acknowledges the request (`ack`, with `json_data` as its data when given) if it has an id.
    void reply(std::string_view json_data = {}) { hub_->send_ack(*entry_, request_->id, json_data); }
    /// Answers with an `error` frame.
    void fail(error code, std::string_view message) { hub_->send_error(*entry_, request_->id, code, message); }
    /// Queues any JSON object text to this connection.
    void send(std::string_view json_object) { hub_->enqueue(*entry_, make_frame(frame_kind::text, json_object)); }
    basic_hub& hub() noexcept { return *hub_; }

   private:
    friend class basic_hub;
    using entry_ptr = entry_type*;
    request_context(basic_hub* h, entry_ptr e, std::string_view frame, const detail::parsed_request* r)
        : hub_(h), entry_(e), frame_(frame), request_(r) {}
    basic_hub* hub_;
    entry_ptr entry_;
    std::string_view frame_;
    const detail::parsed_request* request_;
    std::unique_ptr<rapidjson::Document> document_, params_;
  };

 private:
  static constexpr std::uint32_t no_slot = 0xFFFFFFFFu;
  // Flushes shorter than this never delay the next one: small hubs and tests flush every turn.
  static constexpr std::chrono::microseconds min_write_delay{100};


  struct posted_publish {
    std::string topic;
    std::string data;
  };
  struct posted_queue {
    std::mutex mutex;
    std::deque<posted_publish> items;
  };

  static store_type make_store(const config& cfg) {
    if constexpr (std::is_constructible<store_type, const config&>::value)
      return store_type(cfg);
    else
      return store_type{};
  }

  // Validates without building a document (a DOM allocates a 64 KiB pool per call).
  static bool is_json_value(std::string_view text) {
    rapidjson::MemoryStream memory(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(memory);
    rapidjson::BaseReaderHandler<> ignore;
    rapidjson::Reader reader;
    return reader.Parse<rapidjson::kParseIterativeFlag>(stream, ignore) && stream.Tell() == text.size();
  }

  // --- sending --------------------------------------------------------------------

  // Queues `frame` to `e`; false when it is closing or was just cut as a slow consumer.
  bool enqueue(entry_type& e, const shared_frame& frame) {
    auto& c = e.value;
    if (c.closing) return false;
    const std::size_t bytes = frame.wire().size();
    if (c.queued_frames + 1 > config_.send_queue_frames || c.queued_bytes + bytes > config_.send_queue_bytes) {
      ++stats_.slow_consumers_dropped;
      close_connection(e, close_code::try_again_later, "slow consumer");
      return false;
    }
    c.pending.push_back(frame);
    ++c.queued_frames;
    c.queued_bytes += bytes;
    total_queued_ += bytes;
    ++stats_.messages_out;
    if (!c.dirty) mark_dirty(e);
    return true;
  }

  void mark_dirty(entry_type& e) {
    e.value.dirty = true;
    dirty_.push_back(registry_type::slot_of(e.id));
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    std::weak_ptr<posted_queue> weak = posted_;
    // Under load the flushes run back to back, each one a write per connection. Then the
    // next one waits as long as the last one took (at most max_write_delay), so that more
    // frames share each write; with no load it runs at the end of this loop turn.
    const auto gap = std::min<std::chrono::steady_clock::duration>(last_flush_duration_, config_.max_write_delay);
    const auto earliest = last_flush_end_ + gap;
    if (gap >= min_write_delay && std::chrono::steady_clock::now() < earliest) {
      flush_timer_.expires_at(earliest);
      flush_timer_.async_wait([this, weak](const std::error_code& ec) {
        if (!ec && weak.lock()) flush();
      });
      return;
    }
    asio::post(io_, [this, weak] {
      if (weak.lock()) flush();
    });
  }

  // Everything queued since the last flush leaves now: one transport write per connection.
  void flush() {
    const auto start = std::chrono::steady_clock::now();
    flush_scheduled_ = false;
    flushing_.swap(dirty_);
    for (const std::uint32_t slot : flushing_) {
      if (!registry_.live_slot(slot)) continue;
      entry_type& e = registry_.at_slot(slot);
      auto& c = e.value;
      if (!c.dirty) continue;
      c.dirty = false;
      if (!c.writing && !c.closing && !c.pending.empty()) write_pending(e);
      if (c.close_code != 0 && !c.closing) close_connection(e, c.close_code, "too many connections for this user");
    }
    flushing_.clear();
    last_flush_end_ = std::chrono::steady_clock::now();
    last_flush_duration_ = last_flush_end_ - start;
  }

  void write_pending(entry_type& e) {
    auto& c = e.value;
    c.writing = true;
    c.inflight_frames = c.queued_frames;  // nothing else is in flight
    c.inflight_bytes = c.queued_bytes;
    stats_.bytes_out += c.inflight_bytes;
    // The transport copies what it needs and never calls back from inside write().
    if (transport_) transport_->write(e.id, c.pending.data(), c.pending.size());
    c.pending.clear();
  }

  void close_connection(entry_type& e, std::uint16_t code, std::string_view reason) {
    auto& c = e.value;
    if (c.closing) return;
    c.closing = true;
    // Frames not yet handed to the transport are dropped; those in flight are counted
    // until the transport reports them done.
    const std::size_t dropped = c.queued_bytes - c.inflight_bytes;
    total_queued_ -= dropped;
    c.queued_bytes = c.inflight_bytes;
    c.queued_frames = c.inflight_frames;
    c.pending.clear();
    if (transport_) transport_->close(e.id, code, reason);
  }

  // Stop reading from a connection whose messages keep adding to a backlog the sockets
  // cannot drain; resume when it is half gone. Cut the largest queues if it does not drain.
  void apply_backpressure(entry_type& e) {
    if (total_queued_ <= config_.publish_backlog_bytes || e.value.paused || e.value.closing) return;
    e.value.paused = true;
    paused_.push_back(e.id);
    if (transport_) transport_->pause_reading(e.id);
    if (paused_.size() == 1) arm_backlog_timer();
  }

  void resume_readers_if_drained() {
    if (paused_.empty() || total_queued_ > config_.publish_backlog_bytes / 2) return;
    for (const connection_id id : paused_) {
      entry_type* e = registry_.find(id);
      if (!e || !e->value.paused) continue;
      e->value.paused = false;
      if (transport_ && !e->value.closing) transport_->resume_reading(id);
    }
    paused_.clear();
    backlog_timer_.cancel();
  }

  void arm_backlog_timer() {
    backlog_timer_.expires_after(config_.publish_backlog_timeout);
    std::weak_ptr<posted_queue> weak = posted_;
    backlog_timer_.async_wait([this, weak](const std::error_code& ec) {
      if (ec || !weak.lock() || paused_.empty()) return;
      cut_largest_queues();
      resume_readers_if_drained();
      if (!paused_.empty()) arm_backlog_timer();
    });
  }

  // The backlog did not drain in time: the consumers holding most of it are the slow ones.
  void cut_largest_queues() {
    std::vector<std::pair<std::size_t, connection_id>> by_size;
    registry_.for_each([&](entry_type& e) {
      if (!e.value.closing && e.value.queued_bytes > 0) by_size.emplace_back(e.value.queued_bytes, e.id);
    });
    std::sort(by_size.begin(), by_size.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& item : by_size) {
      if (total_queued_ <= config_.publish_backlog_bytes / 2) break;
      if (entry_type* e = registry_.find(item.second)) {
        ++stats_.slow_consumers_dropped;
        close_connection(*e, close_code::try_again_later, "slow consumer");
      }
    }
  }

  // --- frames ---------------------------------------------------------------------

  void send_welcome(entry_type& e) {
    frame_writer w(frame_kind::text, 160);
    w.append(std::string_view(R"({"type":"welcome","connection":")"));
    detail::append_uint(w, e.id);
    w.append(std::string_view(R"(","user":)"));
    detail::append_json_string_or_null(w, e.who.user);
    w.append(std::string_view(R"(,"server":)"));
    detail::append_json_string(w, config_.server_name + "/" SWITCHBOARD_VERSION_STRING);
    w.append(std::string_view(R"(,"heartbeat_ms":)"));
    detail::append_uint(w, static_cast<std::uint64_t>(config_.ping_interval.count()));
    w.push_back('}');
    enqueue(e, std::move(w).finish());
  }

  // `{"type":"<type>","id":<id>[,"data":<data>]}`; nothing when the request had no id.
  void send_reply(entry_type& e, std::string_view type, std::string_view id, std::string_view data) {
    if (id.empty()) return;
    frame_writer w(frame_kind::text, 32 + id.size() + data.size());
    w.append(std::string_view(R"({"type":")"));
    w.append(type);
    w.append(std::string_view(R"(","id":)"));
    w.append(id);
    if (!data.empty()) {
      w.append(std::string_view(R"(,"data":)"));
      w.append(data);
    }
    w.push_back('}');
    enqueue(e, std::move(w).finish());
  }
  void send_ack(entry_type& e, std::string_view id, std::string_view data = {}) { send_reply(e, "ack", id, data); }

  void send_error(entry_type& e, std::string_view id, error code, std::string_view message) {
    frame_writer w(frame_kind::text, 64 + id.size() + message.size());
    w.append(std::string_view(R"({"type":"error","id":)"));
    w.append(id.empty() ? std::string_view("null") : id);
    w.append(std::string_view(R"(,"code":")"));
    w.append(wire_name(code));
    w.append(std::string_view(R"(","message":)"));
    detail::append_json_string(w, message);
    w.push_back('}');
    enqueue(e, std::move(w).finish());
  }

  // `,"from":<user|null>` and, when configured, `,"ts":<ms since the epoch>`.
  void append_from_and_timestamp(frame_writer& w, const std::optional<std::string>* from) {
    w.append(std::string_view(R"(,"from":)"));
    if (from && *from)
      detail::append_json_string(w, **from);
    else
      w.append(std::string_view("null"));
    if (!config_.timestamps) return;
    w.append(std::string_view(R"(,"ts":)"));
    detail::append_uint(w, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                          std::chrono::system_clock::now().time_since_epoch())
                                                          .count()));
  }

  // --- publish and fan-out --------------------------------------------------------

  publish_result publish_json(std::string_view topic, std::string_view data, const std::optional<std::string>* from,
                              std::uint32_t exclude) {
    auto [seq, frame] = store_.append(topic, [&](std::uint64_t s) {
      frame_writer w(frame_kind::text, 96 + topic.size() + data.size());
      w.append(std::string_view(R"({"type":"message","topic":")"));
      w.append(topic);  // topic bytes need no escaping
      w.append(std::string_view(R"(","seq":)"));
      detail::append_uint(w, s);
      append_from_and_timestamp(w, from);
      w.append(std::string_view(R"(,"data":)"));
      w.append(data);
      w.push_back('}');
      return std::move(w).finish();
    });
    return {seq, fan_out(topic, frame, exclude), {}};
  }

  publish_result publish_bytes(std::string_view topic, std::string_view payload, std::uint32_t exclude) {
    auto [seq, frame] = store_.append(topic, [&](std::uint64_t s) {
      frame_writer w(frame_kind::binary, 10 + topic.size() + payload.size());
      w.push_back(static_cast<char>(0x02));
      w.push_back(static_cast<char>(topic.size()));
      w.append(topic);
      char* le = w.extend(8);
      for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((s >> (8 * i)) & 0xFF);
      w.append(payload);
      return std::move(w).finish();
    });
    return {seq, fan_out(topic, frame, exclude), {}};
  }

  // Queues `frame` once to every connection whose subscriptions match `topic`.
  std::size_t fan_out(std::string_view topic, const shared_frame& frame, std::uint32_t exclude) {
    const std::uint64_t stamp = ++publish_stamp_;
    std::size_t recipients = 0;
    broker_.for_each_subscriber(topic, [&](subscriber_index slot) {
      entry_type& e = registry_.at_slot(slot);
      if (e.value.stamp == stamp) return;
      e.value.stamp = stamp;
      if (slot == exclude && !config_.echo_to_publisher) return;
      if (enqueue(e, frame)) ++recipients;
    });
    return recipients;
  }

  direct_result direct(std::string_view user, std::string_view data, const std::optional<std::string>* from) {
    frame_writer w(frame_kind::text, 64 + data.size());
    w.append(std::string_view(R"({"type":"direct")"));
    append_from_and_timestamp(w, from);
    w.append(std::string_view(R"(,"data":)"));
    w.append(data);
    w.push_back('}');
    const shared_frame frame = std::move(w).finish();
    direct_result result;
    // A slow-consumer cut inside enqueue only starts a close; the user index changes in
    // on_close, later, so iterating it here is safe.
    const std::vector<connection_id>& targets = registry_.connections_of(user);
    for (const connection_id id : targets)
      if (entry_type* e = registry_.find(id))
        if (enqueue(*e, frame)) ++result.delivered;
    if (targets.empty()) result.stored = store_.store_direct(user, frame);
    return result;
  }

  void announce_presence(const std::string& user, std::string_view status) {
    std::string data = R"({"user":)";
    detail::append_json_string(data, user);
    data += R"(,"status":")";
    data += status;
    data += "\"}";
    publish_json(presence_topic, data, nullptr, no_slot);
  }

  // A bounded batch per loop turn, so that one batch's frames can leave (and their writes
  // complete) before the next: a burst of posted publishes must not look like a slow
  // consumer to subscribers that keep up.
  void drain_posted() {
    const std::size_t batch = std::max<std::size_t>(1, config_.send_queue_frames / 4);
    std::vector<posted_publish> items;
    bool more = false;
    {
      std::lock_guard<std::mutex> lock(posted_->mutex);
      auto& queue = posted_->items;
      const auto end = queue.begin() + static_cast<std::ptrdiff_t>(std::min(batch, queue.size()));
      items.assign(std::make_move_iterator(queue.begin()), std::make_move_iterator(end));
      queue.erase(queue.begin(), end);
      more = !queue.empty();
    }
    for (const auto& item : items) publish(item.topic, item.data);
    if (more) {
      std::weak_ptr<posted_queue> weak = posted_;
      asio::post(io_, [this, weak] {
        if (weak.lock()) drain_posted();
      });
    }
  }

  // --- requests -------------------------------------------------------------------

  void handle_text(entry_type& e, std::string_view text) {
    const detail::parsed_request req = detail::request_parser::parse(text);
    if (req.bad_json) return send_error(e, {}, error::bad_json, "frame is not a JSON object");
    if (req.problem && std::string_view(req.problem) == "id")
      return send_error(e, {}, error::bad_request, "id must be an integer in [0, 2^53) or a string of at most 64 bytes");
    if (!req.type) return send_error(e, req.id, error::bad_request, "type is missing or not a string");
    if (req.problem) return send_error(e, req.id, error::bad_request, std::string("invalid field: ") + req.problem);
    const std::string_view type = *req.type;
    if (type == "publish") return handle_publish(e, req);
    if (type == "subscribe") return handle_subscribe(e, req);
    if (type == "unsubscribe") return handle_unsubscribe(e, req);
    if (type == "ping") return send_pong(e, req.id);
    if (type == "direct") return handle_direct(e, req);
    if (type == "command") return handle_command(e, text, req);
    if (type == "presence") return handle_presence(e, req);
    if (type == "history") return handle_history(e, req);
    if (type == "auth") return send_error(e, req.id, error::bad_request, "in-band auth is not enabled on this server");
    if (const auto* handler = handlers_.find_type(type)) {
      request_context ctx(this, &e, text, &req);
      run_guarded(ctx, [&] { (*handler)(ctx); });
      return;
    }
    send_error(e, req.id, error::unknown_type, "no handler for type '" + std::string(type) + "'");
  }

  template <class F>
  void run_guarded(request_context& ctx, F&& f) {
    try {
      f();
    } catch (const std::exception& ex) {
      ctx.fail(error::internal, ex.what());
    } catch (...) {
      ctx.fail(error::internal, "handler failed");
    }
  }

  void send_pong(entry_type& e, std::string_view id) {
    if (id.empty()) {
      static const shared_frame pong = make_frame(frame_kind::text, R"({"type":"pong"})");
      enqueue(e, pong);
      return;
    }
    send_reply(e, "pong", id, {});
  }

  // A required exact topic; sends the error and returns false otherwise.
  bool require_exact_topic(entry_type& e, const detail::parsed_request& req) {
    if (!req.topic) {
      send_error(e, req.id, error::bad_request, "topic is required");
      return false;
    }
    switch (classify_topic(*req.topic)) {
      case topic_kind::exact: return true;
      case topic_kind::pattern: send_error(e, req.id, error::bad_request, "topic must not contain wildcards"); return false;
      case topic_kind::invalid: break;
    }
    send_error(e, req.id, error::bad_request, "invalid topic: " + *req.topic);
    return false;
  }

  void handle_publish(entry_type& e, const detail::parsed_request& req) {
    if (!require_exact_topic(e, req)) return;
    if (req.data.empty()) return send_error(e, req.id, error::bad_request, "data is required");
    if (!auth_.authorize(e.who, action::publish, *req.topic))
      return send_error(e, req.id, error::forbidden, "publish to '" + *req.topic + "' is not allowed");
    const auto result = publish_json(*req.topic, req.data, &e.who.user, registry_type::slot_of(e.id));
    if (req.id.empty()) return;
    std::string data = R"({"seq":)";
    detail::append_uint(data, result.seq);
    data += R"(,"recipients":)";
    detail::append_uint(data, result.recipients);
    data += '}';
    send_ack(e, req.id, data);
  }

  void handle_binary(entry_type& e, std::string_view bytes) {
    if (bytes.size() < 2 || static_cast<unsigned char>(bytes[0]) != 0x01 ||
        bytes.size() < 2u + static_cast<unsigned char>(bytes[1]))
      return send_error(e, {}, error::bad_request, "malformed binary frame: expected 0x01, topic length, topic, payload");
    const std::string_view topic = bytes.substr(2, static_cast<unsigned char>(bytes[1]));
    if (classify_topic(topic) != topic_kind::exact)
      return send_error(e, {}, error::bad_request, "invalid topic in binary frame");
    if (!auth_.authorize(e.who, action::publish, topic))
      return send_error(e, {}, error::forbidden, "publish to '" + std::string(topic) + "' is not allowed");
    publish_bytes(topic, bytes.substr(2 + topic.size()), registry_type::slot_of(e.id));
  }

  // The `topics` list of subscribe/unsubscribe: present, non-empty, within limits.
  bool require_topics(entry_type& e, const detail::parsed_request& req) {
    if (!req.topics || req.topics->empty()) {
      send_error(e, req.id, error::bad_request, "topics must be a non-empty array of strings");
      return false;
    }
    if (req.topics->size() > config_.max_topics_per_request) {
      send_error(e, req.id, error::too_large, "too many topics in one request");
      return false;
    }
    for (const auto& t : *req.topics)
      if (classify_topic(t) == topic_kind::invalid) {
        send_error(e, req.id, error::bad_request, "invalid topic: " + t);
        return false;
      }
    return true;
  }

  void handle_subscribe(entry_type& e, const detail::parsed_request& req) {
    if (!require_topics(e, req)) return;
    const auto& topics = *req.topics;
    for (const auto& s : req.since_topics) {
      if (std::find(topics.begin(), topics.end(), s.topic) == topics.end() ||
          classify_topic(s.topic) != topic_kind::exact)
        return send_error(e, req.id, error::bad_request, "since names '" + s.topic + "', which is not an exact topic of this request");
    }
    if (req.since_seq) return send_error(e, req.id, error::bad_request, "since must be an object of topic positions");
    for (const auto& t : topics)
      if (!auth_.authorize(e.who, action::subscribe, t)) return send_error(e, req.id, error::forbidden, "subscribe to '" + t + "' is not allowed");
    const subscriber_index slot = registry_type::slot_of(e.id);
    std::size_t new_topics = 0;
    for (auto it = topics.begin(); it != topics.end(); ++it)
      if (std::find(topics.begin(), it, *it) == it && !broker_.is_subscribed(slot, *it)) ++new_topics;
    if (broker_.subscription_count(slot) + new_topics > config_.max_subscriptions_per_connection)
      return send_error(e, req.id, error::too_large, "subscription limit reached");
    for (const auto& t : topics) broker_.subscribe(slot, t);

    std::string data = R"({"topics":{)";
    bool first = true;
    for (auto it = topics.begin(); it != topics.end(); ++it) {
      const auto& t = *it;
      if (std::find(topics.begin(), it, t) != it) continue;  // listed twice
      if (!first) data += ',';
      first = false;
      detail::append_json_string(data, t);
      if (classify_topic(t) == topic_kind::pattern) {
        data += R"(:{"seq":0,"epoch":""})";
        continue;
      }
      const auto since = std::find_if(req.since_topics.begin(), req.since_topics.end(),
                                      [&](const detail::since_position& s) { return s.topic == t; });
      std::optional<bool> recovered;
      if (since != req.since_topics.end())
        recovered = store_.replay(t, since->seq, since->epoch, [&](const shared_frame& f) { enqueue(e, f); });
      const stream_position pos = store_.position(t);
      data += R"(:{"seq":)";
      detail::append_uint(data, pos.seq);
      data += R"(,"epoch":)";
      detail::append_json_string(data, pos.epoch);
      if (recovered) data += *recovered ? R"(,"recovered":true)" : R"(,"recovered":false)";
      data += '}';
    }
    data += "}}";
    send_ack(e, req.id, data);
  }

  void handle_unsubscribe(entry_type& e, const detail::parsed_request& req) {
    if (!require_topics(e, req)) return;
    for (const auto& t : *req.topics) broker_.unsubscribe(registry_type::slot_of(e.id), t);
    send_ack(e, req.id);
  }

  void handle_direct(entry_type& e, const detail::parsed_request& req) {
    if (!req.to || req.to->empty()) return send_error(e, req.id, error::bad_request, "to is required");
    if (req.data.empty()) return send_error(e, req.id, error::bad_request, "data is required");
    const direct_result r = direct(*req.to, req.data, &e.who.user);
    if (req.id.empty()) return;
    std::string data = R"({"delivered":)";
    detail::append_uint(data, r.delivered);
    data += r.stored ? R"(,"stored":true})" : R"(,"stored":false})";
    send_ack(e, req.id, data);
  }

  void handle_command(entry_type& e, std::string_view text, const detail::parsed_request& req) {
    if (!req.name) return send_error(e, req.id, error::bad_request, "name is required");
    const auto* command = handlers_.find_command(*req.name);
    if (!command) return send_error(e, req.id, error::unknown_command, "no command '" + *req.name + "'");
    request_context ctx(this, &e, text, &req);
    run_guarded(ctx, [&] {
      command_result r = (*command)(ctx);
      if (r.failure)
        send_error(e, req.id, *r.failure, r.message);
      else
        send_reply(e, "result", req.id, r.data);
    });
  }

  void handle_presence(entry_type& e, const detail::parsed_request& req) {
    if (!require_exact_topic(e, req)) return;
    if (!auth_.authorize(e.who, action::presence, *req.topic))
      return send_error(e, req.id, error::forbidden, "presence of '" + *req.topic + "' is not allowed");
    const std::uint64_t stamp = ++publish_stamp_;
    std::size_t connections = 0;
    std::vector<std::string_view> users;
    broker_.for_each_subscriber(*req.topic, [&](subscriber_index slot) {
      entry_type& s = registry_.at_slot(slot);
      if (s.value.stamp == stamp) return;
      s.value.stamp = stamp;
      ++connections;
      if (s.who.user) users.push_back(*s.who.user);
    });
    std::sort(users.begin(), users.end());
    users.erase(std::unique(users.begin(), users.end()), users.end());
    std::string data = R"({"users":[)";
    for (std::size_t i = 0; i < users.size(); ++i) {
      if (i) data += ',';
      detail::append_json_string(data, users[i]);
    }
    data += R"(],"connections":)";
    detail::append_uint(data, connections);
    data += '}';
    send_reply(e, "result", req.id, data);
  }

  void handle_history(entry_type& e, const detail::parsed_request& req) {
    if (!require_exact_topic(e, req)) return;
    if (!auth_.authorize(e.who, action::history, *req.topic))
      return send_error(e, req.id, error::forbidden, "history of '" + *req.topic + "' is not allowed");
    const std::size_t limit =
        static_cast<std::size_t>(std::min<std::uint64_t>(req.limit.value_or(100), config_.max_history_limit));
    std::string data = R"({"messages":[)";
    bool first = true;
    const stream_position pos = store_.history(*req.topic, req.since_seq, limit, [&](const shared_frame& f) {
      if (!first) data += ',';
      first = false;
      append_history_entry(data, f);
    });
    data += R"(],"seq":)";
    detail::append_uint(data, pos.seq);
    data += R"(,"epoch":)";
    detail::append_json_string(data, pos.epoch);
    data += '}';
    send_reply(e, "result", req.id, data);
  }

  // A stored JSON `message` is spliced as is; a binary one becomes a message object with
  // base64 data.
  static void append_history_entry(std::string& out, const shared_frame& f) {
    const std::string_view p = f.payload();
    if (f.kind() == frame_kind::text) {
      out.append(p.data(), p.size());
      return;
    }
    const std::size_t topic_len = static_cast<unsigned char>(p[1]);
    std::uint64_t seq = 0;
    for (int i = 7; i >= 0; --i) seq = (seq << 8) | static_cast<unsigned char>(p[2 + topic_len + static_cast<std::size_t>(i)]);
    out += R"({"type":"message","topic":")";
    out.append(p.substr(2, topic_len));
    out += R"(","seq":)";
    detail::append_uint(out, seq);
    out += R"(,"from":null,"encoding":"base64","data":")";
    detail::append_base64(out, p.substr(2 + topic_len + 8));
    out += "\"}";
  }

  // --- built-in commands ----------------------------------------------------------

  void add_builtin_commands() {
    handlers_.add_command("ping", [](request_context&) { return command_result::ok(R"({"pong":true})"); });
    handlers_.add_command("echo", [](request_context& ctx) {
      return command_result::ok(ctx.params_raw().empty() ? std::string("null") : std::string(ctx.params_raw()));
    });
    handlers_.add_command("server_info", [this](request_context&) {
      std::string data = R"({"name":)";
      detail::append_json_string(data, config_.server_name);
      data += R"(,"version":")" SWITCHBOARD_VERSION_STRING R"(",)";
      detail::append_hub_counts(data, stats());
      data += '}';
      return command_result::ok(std::move(data));
    });
    handlers_.add_command("user_count", [this](request_context&) {
      std::string data = R"({"users":)";
      detail::append_uint(data, registry_.user_count());
      data += R"(,"connections":)";
      detail::append_uint(data, registry_.connection_count());
      data += '}';
      return command_result::ok(std::move(data));
    });
    handlers_.add_command("list_commands", [this](request_context&) {
      std::string data = R"({"commands":[)";
      const auto names = handlers_.command_names();
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (i) data += ',';
        detail::append_json_string(data, names[i]);
      }
      data += "]}";
      return command_result::ok(std::move(data));
    });
  }

  asio::io_context& io_;
  config config_;
  auth_type auth_;
  store_type store_;
  std::chrono::steady_clock::time_point started_;
  transport* transport_ = nullptr;
  registry_type registry_;
  broker broker_;
  handlers_type handlers_;
  hub_stats stats_;
  std::uint64_t publish_stamp_ = 0;
  std::size_t total_queued_ = 0;
  std::vector<std::uint32_t> dirty_, flushing_;
  std::vector<connection_id> paused_;
  bool flush_scheduled_ = false;
  asio::steady_timer flush_timer_{io_};
  std::chrono::steady_clock::time_point last_flush_end_{};
  std::chrono::steady_clock::duration last_flush_duration_{};
  asio::steady_timer backlog_timer_;
  // Shared with posted handlers: they find it expired once the hub is gone.
  std::shared_ptr<posted_queue> posted_ = std::make_shared<posted_queue>();
};

}  // namespace switchboard

#endif
