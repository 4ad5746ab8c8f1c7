// The hub: the public face of one switchboard core. It owns the registry, broker,
// store, outbox and policies (detail/hub_core.hpp), routes each frame to its request
// (requests.hpp, detail/dispatch.hpp) and serves transports through `hub_endpoint`.
#ifndef SWITCHBOARD_HUB_HPP
#define SWITCHBOARD_HUB_HPP

#include <switchboard/audit.hpp>
#include <switchboard/auth.hpp>
#include <switchboard/config.hpp>
#include <switchboard/detail/dispatch.hpp>
#include <switchboard/detail/hub_core.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/detail/utf8.hpp>
#include <switchboard/error.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/frames.hpp>
#include <switchboard/handlers.hpp>
#include <switchboard/logging.hpp>
#include <switchboard/memory_store.hpp>
#include <switchboard/policies.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/requests.hpp>
#include <switchboard/signed_publish.hpp>
#include <switchboard/switchboard_fwd.hpp>
#include <switchboard/topic.hpp>
#include <switchboard/transport.hpp>
#include <switchboard/version.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
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

/// The core of switchboard: one hub owns the connection registry, the topic broker, the
/// handler registry and the policies, and runs on the thread of the `asio::io_context`
/// it is given — no locks on the hot path. The host drives that context (`run()`,
/// `poll()` once per tick, or a busy poll); the hub owns no thread.
///
/// A transport (`websocket_server`, `memory_transport`) attaches to the hub and feeds
/// it connections and messages through `hub_endpoint`, which the hub implements
/// privately: applications cannot call `on_message` by mistake. Transports reach it with
/// `hub_access::endpoint(hub)`.
///
/// Template parameter `Policies`: a `policies<Auth, Store, UserData>` (see
/// switchboard_fwd.hpp, auth.hpp and store.hpp).
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
/// switchboard::websocket_server server{hub, {}};
/// server.start();
/// io.run();
/// @endcode
template <class Policies>
class basic_hub final : private hub_endpoint {
  using core_type = detail::hub_core<Policies>;
  using entry_type = typename core_type::entry_type;
  using registry_type = typename core_type::registry_type;

 public:
  using policies_type = Policies;
  using auth_type = typename Policies::auth_type;
  using store_type = typename Policies::store_type;
  using user_data_type = typename Policies::user_data_type;
  using hooks_type = typename Policies::hooks_type;

  static_assert(is_auth_policy<auth_type>::value,
                "Auth policy requirements not met: needs authenticate(const handshake_info&) returning auth_result "
                "and authorize(const identity&, action, std::string_view) returning bool (see auth.hpp)");
  static_assert(is_store_policy<store_type>::value || is_async_store_policy<store_type>::value,
                "Store policy requirements not met: needs position, append, replay, history, store_direct and "
                "take_directs (see is_store_policy in store.hpp), or the asynchronous ones of "
                "is_async_store_policy");
  static_assert(std::is_default_constructible<user_data_type>::value,
                "UserData policy requirements not met: must be default-constructible");

  class request_context;
  using handlers_type = handler_registry<request_context>;

  /// Creates a hub on `io`. The store is built from `cfg` when it can be (the in-memory
  /// store takes `history_size` and `store_max_bytes` from it).
  explicit basic_hub(asio::io_context& io, config cfg = {}, auth_type auth = auth_type{})
      : basic_hub(io, cfg, std::move(auth), make_store(cfg)) {}
  basic_hub(asio::io_context& io, config cfg, auth_type auth, store_type store)
      : core_(io, std::move(cfg), std::move(auth), std::move(store)) {
    add_builtin_commands();
  }
  basic_hub(const basic_hub&) = delete;
  basic_hub& operator=(const basic_hub&) = delete;
  ~basic_hub() = default;

  // --- application interface (hub thread) ---------------------------------------

  /// Application message types and commands.
  handlers_type& handlers() noexcept { return handlers_; }
  auth_type& auth() noexcept { return core_.auth; }
  /// The hooks policy's instance (hooks.hpp).
  hooks_type& hooks() noexcept { return core_.hooks; }
  store_type& store() noexcept { return core_.store; }
  const config& settings() const noexcept override { return core_.settings; }
  asio::io_context& context() noexcept override { return core_.io; }

  /// Publishes `json_data` (any JSON value, valid UTF-8, spliced verbatim) on the exact
  /// `topic`, from no user. Fails with `bad_request` for an invalid topic or JSON. The
  /// server may publish on `system.` topics; clients may not.
  publish_result publish(std::string_view topic, std::string_view json_data) {
    if (classify_topic(topic) != topic_kind::exact) return {0, 0, make_error_code(error::bad_request)};
    if (!is_json_value(json_data)) return {0, 0, make_error_code(error::bad_request)};
    return core_.publish_json(topic, json_data, nullptr, core_type::no_slot);
  }

  /// Calls `done(error)` once the publish that returned `published` is stored: at once
  /// unless the store acknowledges after a commit (`sqlite_store` in `acknowledged`
  /// mode), then after it, with `internal` when it could not be stored (subscribers got it
  /// anyway). With a failed publish, at once with its failure.
  void when_stored(const publish_result& published, std::function<void(std::error_code)> done) {
    if (published.failure) return done(published.failure);
    core_.when_committed(published.commit_ticket, std::move(done));
  }

  /// Publishes raw bytes on `topic`; subscribers receive the binary envelope.
  publish_result publish_binary(std::string_view topic, std::string_view bytes) {
    if (classify_topic(topic) != topic_kind::exact) return {0, 0, make_error_code(error::bad_request)};
    return core_.publish_bytes(topic, bytes, nullptr, core_type::no_slot);
  }

  /// Sends `json_data` as a `direct` frame, from no user, to every connection of `user`.
  direct_result send_direct(std::string_view user, std::string_view json_data) {
    if (!is_json_value(json_data)) return {};
    return core_.direct(user, json_data, nullptr);
  }

  /// Queues any JSON object text as a frame to one connection; false when it is gone.
  bool send(connection_id id, std::string_view json_object) {
    auto* e = core_.registry.find(id);
    return e && core_.send(*e, make_frame(frame_kind::text, json_object));
  }

  /// Safe from any thread: hands a publish to the hub's thread, which performs it on its
  /// next loop turn. Returns false (and drops it) when `config::post_queue_capacity`
  /// publishes are already waiting. Topic and data are validated on the hub's thread,
  /// like `publish`; invalid ones are dropped.
  bool post_publish(std::string topic, std::string json_data) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(posted_->mutex);
      if (posted_->items.size() >= core_.settings.post_queue_capacity) return false;
      wake = posted_->items.empty();
      posted_->items.push_back({std::move(topic), std::move(json_data)});
    }
    if (wake) {
      std::weak_ptr<posted_queue> weak = posted_;
      asio::post(core_.io, [this, weak] {
        if (weak.lock()) drain_posted();
      });
    }
    return true;
  }

  /// Receives every security event of this hub and its transports (refused handshakes,
  /// refused actions, rate limiting, expiry closes, ...); replaces the previous hook.
  void set_audit_hook(audit_hook hook) {
    audit_router_.set_application_hook(std::move(hook));
    core_.on_audit = audit_router_.hook();
  }
  /// Sends this hub's and its transports' log records at `threshold` and above to `hook`
  /// (logging.hpp; an empty hook turns logging off); replaces the previous hook. Security
  /// events are among them, at warn, besides going to the audit hook. No record carries a
  /// token, a secret or a message payload. Below the threshold nothing is built or called.
  void set_log_hook(log_level threshold, log_hook hook) {
    core_.log.set_hook(threshold, std::move(hook));
    core_.on_audit = audit_router_.hook();
  }
  /// The logger of this hub and its transports, for components that work on its behalf.
  const logger& log() const noexcept override { return core_.log; }
  /// Makes signed publishes (a `sig` beside `data`) deliverable: each is checked with
  /// `check` against the publisher's key in the store (which must keep user keys), and
  /// refused with `forbidden` when it does not verify. Null (the default) refuses every
  /// signed publish. e2e.hpp's `verify_signed_publishes(hub)` installs libsodium's check.
  void set_signature_check(signature_check check) noexcept { core_.check_signature = check; }
  /// Reports a security event to the audit hook, if one is set: for components outside
  /// the hub (login routes, API-key checks) that refuse on the hub's behalf.
  void audit(const audit_event& event) const {
    if (core_.on_audit) core_.on_audit(event);
  }

  /// Per-connection application state, or null when `id` is not open.
  user_data_type* user_data(connection_id id) noexcept {
    auto* e = core_.registry.find(id);
    return e ? &e->value.data : nullptr;
  }

  /// Closes every connection with `code` (1001 on shutdown).
  void close_all(std::uint16_t code = close_code::going_away,
                 std::string_view reason = "server shutting down") override {
    core_.registry.for_each([&](entry_type& e) { core_.out.close(e, code, reason); });
  }

  std::size_t connection_count() const noexcept { return core_.registry.connection_count(); }
  std::size_t user_count() const noexcept { return core_.registry.user_count(); }
  /// Bytes queued to all connections and not yet written.
  std::size_t queued_bytes() const noexcept { return core_.out.queued_bytes(); }
  /// Counters (connections, users, topics, messages and bytes in and out, drops).
  hub_stats stats() const override { return core_.snapshot(); }

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
    /// The whole frame, parsed on first use (iteratively: nesting cannot exhaust the stack).
    const rapidjson::Document& json() {
      if (!document_) {
        document_ = std::make_unique<rapidjson::Document>();
        document_->Parse<rapidjson::kParseIterativeFlag>(frame_.data(), frame_.size());
      }
      return *document_;
    }
    /// A command's `params`, parsed on first use (null when absent).
    const rapidjson::Value& params() {
      if (!params_) {
        params_ = std::make_unique<rapidjson::Document>();
        if (!request_->params.empty())
          params_->Parse<rapidjson::kParseIterativeFlag>(request_->params.data(), request_->params.size());
      }
      return *params_;
    }
    /// Acknowledges the request (`ack`, with `json_data` as its data when given) if it has an id.
    void reply(std::string_view json_data = {}) { hub_->core_.send_ack(*entry_, request_->id, json_data); }
    /// Answers with an `error` frame.
    void fail(error code, std::string_view message) { hub_->core_.send_error(*entry_, request_->id, code, message); }
    /// Queues any JSON object text to this connection.
    void send(std::string_view json_object) { hub_->core_.send(*entry_, make_frame(frame_kind::text, json_object)); }
    basic_hub& hub() noexcept { return *hub_; }

   private:
    friend class basic_hub;
    request_context(basic_hub* h, entry_type* e, std::string_view frame, const detail::parsed_request* r)
        : hub_(h), entry_(e), frame_(frame), request_(r) {}
    basic_hub* hub_;
    entry_type* entry_;
    std::string_view frame_;
    const detail::parsed_request* request_;
    std::unique_ptr<rapidjson::Document> document_, params_;
  };

 private:
  friend class hub_access;

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
    return reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(stream, ignore) &&
           stream.Tell() == text.size();
  }

  // --- hub_endpoint (called by the transport, hub thread) ------------------------

  void attach(transport* t) override { core_.out.attach(t); }

  auth_result on_handshake(const handshake_info& info) override {
    // A token-less handshake authenticates in-band later (PROTOCOL section 3.1).
    if (core_.settings.in_band_auth && info.token.empty()) return auth_result::accept(std::nullopt);
    auth_result result = authenticate(info);
    if (result.accepted) return result;
    ++core_.stats.handshakes_refused;
    if (core_.on_audit) core_.on_audit(audit_event{audit_kind::handshake_refused, 0, {}, info.remote, result.reason});
    return result;
  }

  connection_id on_open(identity who, const peer_info& peer) override {
    std::unique_ptr<typename core_type::session_log> session;
    if constexpr (store_records_sessions<store_type>::value) {
      if (core_.store.records_sessions())
        session.reset(new typename core_type::session_log{std::string(peer.remote), std::string(peer.user_agent),
                                                         std::chrono::system_clock::now(), 0});
    } else {
      (void)peer;
    }
    if (core_.settings.in_band_auth && !who.user) {
      // No welcome yet: the connection has `auth_timeout` to authenticate.
      who.expires_at = std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(core_.settings.auth_timeout);
      typename core_type::connection_state state{};
      state.awaiting_auth = true;
      state.session = std::move(session);
      const connection_id id = core_.registry.insert(std::move(who), std::move(state));
      core_.watch_deadline(*core_.registry.find(id));
      return id;
    }
    const bool over_limit = over_user_limit(who);
    typename core_type::connection_state state{};
    state.session = std::move(session);
    const connection_id id = core_.registry.insert(std::move(who), std::move(state), !over_limit);
    entry_type& e = *core_.registry.find(id);
    if (over_limit)
      refuse_over_user_limit(e);
    else
      start_session(e);
    return id;
  }

  void on_message(connection_id id, frame_kind kind, std::string_view payload) override {
    entry_type* e = core_.registry.find(id);
    if (!e || e->value.out.closing || e->value.refused) return;
    ++core_.stats.messages_in;
    core_.stats.bytes_in += payload.size();
    if (e->value.session) ++e->value.session->messages_in;
    if (!e->value.bucket.try_take(std::chrono::steady_clock::now(), core_.settings.rate_limit,
                                  core_.settings.rate_burst)) {
      ++core_.stats.rate_limited;
      core_.audit(audit_kind::rate_limited, *e, "rate limit exceeded");
      // A refused frame costs a scan for its id, never a parse.
      const std::string_view request_id = kind == frame_kind::text ? detail::scan_request_id(payload) : std::string_view();
      core_.send_error(*e, request_id, error::rate_limited, "rate limit exceeded");
      return;
    }
    if constexpr (detail::has_on_message<hooks_type>::value) core_.hooks.on_message(id, e->who, kind, payload);
    core_.arrival = std::chrono::steady_clock::now();
    if (kind == frame_kind::text) {
      dispatch_text(*e, payload);
    } else {
      core_.stats.in.add(message_class::binary, 1, payload.size());
      if (e->value.awaiting_auth)
        core_.send_error(*e, {}, error::unauthorized, "authenticate first with an auth request");
      else
        requests::publish_binary(core_, *e, payload);
    }
    core_.arrival = {};
  }

  std::string_view user_of(connection_id id) noexcept override {
    const entry_type* e = core_.registry.find(id);
    return e && e->who.user ? std::string_view(*e->who.user) : std::string_view();
  }

  void on_write_complete(connection_id id) override {
    if (entry_type* e = core_.registry.find(id)) core_.out.write_complete(*e);
  }

  void on_close(connection_id id) override {
    entry_type* e = core_.registry.find(id);
    if (!e) return;
    if constexpr (detail::has_on_disconnect<hooks_type>::value)
      if (!e->value.refused && !e->value.awaiting_auth) core_.hooks.on_disconnect(id, e->who);
    if constexpr (store_records_sessions<store_type>::value)
      if (e->value.session) record_session(*e);
    core_.out.remove(*e);
    core_.unsubscribe_all(registry_type::slot_of(id));
    std::optional<std::string> user;
    if (e->who.user && !e->value.refused) user = e->who.user;
    core_.registry.erase(id);
    // With nobody connected no deadline matters; an armed timer would keep the host's
    // run() from returning after a shutdown until the latest token expired.
    if (core_.registry.connection_count() == 0) core_.deadlines.clear();
    if (user && core_.registry.connections_of(*user).empty()) core_.announce_presence(*user, "offline");
    core_.out.removed();
  }

  void record_session(entry_type& e) {
    typename core_type::session_log& log = *e.value.session;
    session_record r;
    r.connection = e.id;
    if (e.who.user) r.user = *e.who.user;
    r.remote = std::move(log.remote);
    r.user_agent = std::move(log.user_agent);
    r.connected_at = log.connected_at;
    r.disconnected_at = std::chrono::system_clock::now();
    r.messages_in = log.messages_in;
    r.messages_out = e.value.out.frames_total;
    core_.store.record_session(std::move(r));
  }

  // --- requests -------------------------------------------------------------------

  // The class a text frame is counted under, from its type.
  static message_class class_of(const detail::parsed_request& req) noexcept {
    if (req.bad_json || !req.type) return message_class::invalid;
    const std::string_view type = *req.type;
    if (type == "publish") return message_class::publish;
    if (type == "subscribe" || type == "unsubscribe") return message_class::subscribe;
    if (type == "direct") return message_class::direct;
    if (type == "command") return message_class::command;
    if (type == "presence" || type == "history" || type == "ping") return message_class::query;
    if (type == "auth") return message_class::auth;
    return message_class::application;
  }

  void dispatch_text(entry_type& e, std::string_view text) {
    const detail::parsed_request req = detail::request_parser::parse(text);
    core_.stats.in.add(class_of(req), 1, text.size());
    if (req.bad_json) return core_.send_error(e, {}, error::bad_json, "frame is not a JSON object");
    if (req.problem && std::string_view(req.problem) == "id")
      return core_.send_error(e, {}, error::bad_request,
                              "id must be an integer in [0, 2^53) or a string of at most 64 bytes");
    if (!req.type) return core_.send_error(e, req.id, error::bad_request, "type is missing or not a string");
    const std::string_view type = *req.type;
    if (type == "auth") return handle_auth(e, req);
    if (e.value.awaiting_auth)
      return core_.send_error(e, req.id, error::unauthorized, "authenticate first with an auth request");
    // Built-in fields are checked for built-in types only: an application type may use
    // `to` or `topic` as it likes.
    const bool builtin = is_builtin_type(type);
    if (builtin && req.problem)
      return core_.send_error(e, req.id, error::bad_request, std::string("invalid field: ") + req.problem);
    if (const auto handle = detail::builtin_request<core_type>(type)) return handle(core_, e, req);
    if (type == "command") return run_command(e, text, req);
    if (const auto* handler = handlers_.find_type(type)) {
      request_context ctx(this, &e, text, &req);
      run_guarded(ctx, [&] { (*handler)(ctx); });
      return;
    }
    core_.send_error(e, req.id, error::unknown_type, "no handler for type '" + std::string(type) + "'");
  }

  // --- sessions and in-band auth ---------------------------------------------------

  auth_result authenticate(const handshake_info& info) {
    auth_result result = core_.auth.authenticate(info);
    // Whatever the policy, an identity that would break clients' UTF-8 or logs is refused.
    if (result.accepted && result.who.user && !detail::is_valid_user_id(*result.who.user))
      return auth_result::refuse("invalid user id");
    return result;
  }

  bool over_user_limit(const identity& who) const {
    return who.user && core_.settings.max_connections_per_user > 0 &&
           core_.registry.connections_of(*who.user).size() >= core_.settings.max_connections_per_user;
  }

  void refuse_over_user_limit(entry_type& e) {
    e.value.refused = true;
    core_.send_error(e, {}, error::forbidden, "too many connections for this user");
    core_.out.close_after_flush(e, close_code::policy_violation);
  }

  // An authenticated connection's start: welcome, the directs kept for it, presence.
  void start_session(entry_type& e) {
    core_.send(e, frames::welcome(e.id, e.who.user, core_.settings.server_name + "/" SWITCHBOARD_VERSION_STRING,
                                  static_cast<std::uint64_t>(core_.settings.ping_interval.count())));
    core_.watch_deadline(e);
    if constexpr (detail::has_on_connect<hooks_type>::value) core_.hooks.on_connect(e.id, e.who);
    if (e.who.user) {
      core_.send_kept_directs(e);
      if (core_.registry.connections_of(*e.who.user).size() == 1) core_.announce_presence(*e.who.user, "online");
    }
  }

  // PROTOCOL section 3.1: the first `auth` of a connection waiting for it, or a refresh
  // of an authenticated one (same user, new expiry). A refusal changes nothing.
  void handle_auth(entry_type& e, const detail::parsed_request& req) {
    if (!e.value.awaiting_auth && !e.who.user)
      return core_.send_error(e, req.id, error::bad_request, "in-band auth is not enabled on this server");
    if (!req.token || req.token->empty())
      return core_.send_error(e, req.id, error::bad_request, "token must be a non-empty string");
    handshake_info info;
    info.token = *req.token;
    auth_result result = authenticate(info);
    if (result.accepted && !result.who.user) result = auth_result::refuse("the token names no user");
    if (!result.accepted) {
      ++core_.stats.auth_failures;
      core_.audit(audit_kind::auth_failed, e, result.reason);
      return core_.send_error(e, req.id, error::unauthorized, result.reason);
    }
    if (!e.value.awaiting_auth) {
      if (*result.who.user != *e.who.user) {
        ++core_.stats.auth_failures;
        core_.audit(audit_kind::auth_failed, e, "refresh with another user's token");
        return core_.send_error(e, req.id, error::forbidden, "the token is for another user");
      }
      // The new token's roles and expiry replace the old: a refresh may also narrow.
      e.who.roles = std::move(result.who.roles);
      e.who.expires_at = result.who.expires_at;
      core_.watch_deadline(e);
      return core_.send_ack(e, req.id);
    }
    e.value.awaiting_auth = false;
    const bool over_limit = over_user_limit(result.who);
    core_.registry.identify(e.id, std::move(result.who), !over_limit);
    if (over_limit) return refuse_over_user_limit(e);
    core_.send_ack(e, req.id);
    start_session(e);
  }

  void run_command(entry_type& e, std::string_view text, const detail::parsed_request& req) {
    if (!req.name) return core_.send_error(e, req.id, error::bad_request, "name is required");
    const auto* command = handlers_.find_command(*req.name);
    if (!command) return core_.send_error(e, req.id, error::unknown_command, "no command '" + *req.name + "'");
    if (!core_.auth.authorize(e.who, action::command, *req.name))
      return requests::detail::refuse_action(core_, e, req.id, action::command, *req.name);
    request_context ctx(this, &e, text, &req);
    run_guarded(ctx, [&] {
      command_result r = (*command)(ctx);
      if (r.failure)
        core_.send_error(e, req.id, *r.failure, r.message);
      else
        core_.send_reply(e, "result", req.id, r.data);
    });
  }

  template <class F>
  void run_guarded(request_context& ctx, F&& f) {
    try {
      f();
    } catch (const std::exception& ex) {
      log_handler_failure(ctx);
      ctx.fail(error::internal, ex.what());
    } catch (...) {
      log_handler_failure(ctx);
      ctx.fail(error::internal, "handler failed");
    }
  }

  // The exception's text stays out of the record: it may quote the request's data.
  void log_handler_failure(const request_context& ctx) {
    if (!core_.log.enabled(log_level::error) || !handler_failures_.admit(detail::log_limit::clock::now())) return;
    // Both names were matched against registered handlers: neither is free client text.
    const detail::parsed_request& req = *ctx.request_;
    const bool command = req.type && *req.type == "command" && req.name;
    core_.log.write(log_level::error, "handler_failed",
                    {{"connection", ctx.connection()},
                     {"user", ctx.who().user ? log_value(*ctx.who().user) : log_value()},
                     {"type", req.type ? log_value(*req.type) : log_value()},
                     {"command", command ? log_value(*req.name) : log_value()},
                     {"suppressed", detail::suppressed_count(handler_failures_.take_suppressed())}});
  }

  // A bounded batch per loop turn, so that one batch's frames can leave (and their writes
  // complete) before the next: a burst of posted publishes must not look like a slow
  // consumer to subscribers that keep up.
  void drain_posted() {
    const std::size_t batch = std::max<std::size_t>(1, core_.settings.send_queue_frames / 4);
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
      asio::post(core_.io, [this, weak] {
        if (weak.lock()) drain_posted();
      });
    }
  }

  // --- built-in commands ----------------------------------------------------------

  void add_builtin_commands() {
    handlers_.add_command("ping", [](request_context&) { return command_result::ok(R"({"pong":true})"); });
    handlers_.add_command("echo", [](request_context& ctx) {
      return command_result::ok(ctx.params_raw().empty() ? std::string("null") : std::string(ctx.params_raw()));
    });
    handlers_.add_command("server_info", [this](request_context&) {
      std::string data = R"({"name":)";
      detail::append_json_string(data, core_.settings.server_name);
      data += R"(,"version":")" SWITCHBOARD_VERSION_STRING R"(",)";
      detail::append_hub_counts(data, stats());
      data += '}';
      return command_result::ok(std::move(data));
    });
    handlers_.add_command("user_count", [this](request_context&) {
      std::string data = R"({"users":)";
      detail::append_uint(data, core_.registry.user_count());
      data += R"(,"connections":)";
      detail::append_uint(data, core_.registry.connection_count());
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

  core_type core_;
  detail::audit_router audit_router_{core_.log};
  detail::log_limit handler_failures_;
  handlers_type handlers_;
  // Shared with posted handlers: they find it expired once the hub is gone.
  std::shared_ptr<posted_queue> posted_ = std::make_shared<posted_queue>();
};

}  // namespace switchboard

#endif
