// The websocketpp adapter (optional: SWITCHBOARD_WITH_WEBSOCKETPP). websocketpp 0.8.2
// does not compile as C++20, so its headers stay in this file, which is built as C++17.
#include <switchboard/websocketpp_server.hpp>

#include <switchboard/detail/http_parser.hpp>
#include <switchboard/metrics.hpp>
#include <switchboard/detail/http_routes.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/detail/websocket_handshake.hpp>
#include <switchboard/error.hpp>

#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/logger/stub.hpp>
#include <websocketpp/server.hpp>

#include <asio/steady_timer.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace switchboard {
namespace {

constexpr std::string_view subprotocol = "switchboard.v1";

// Fields switchboard keeps on each websocketpp connection object (websocketpp derives
// its connection from the config's `connection_base`), so no map lookup is needed.
struct connection_fields {
  connection_id sb_id = 0;
  identity who;          // from the handshake until the hub takes it at open
  bool opened = false;
  bool gone = false;
  bool closing = false;
  bool paused = false;
  bool awaiting_pong = false;
  bool pong_pending = false;              // our pong to a client's ping is still queued
  bool counted = false;                   // counted against max_connections since validation
  std::optional<std::string> next_pong;   // the latest ping that arrived while a pong was queued
  std::shared_ptr<asio::steady_timer> close_timer;  // cancelled when the connection ends first
  std::shared_ptr<asio::steady_timer> pong_timer;   // our ping's deadline; cancelled on pong or end
};

using detail::trim_ows;

// websocketpp's request, checked as soon as its header is complete: websocketpp would
// otherwise pick a processor by Sec-WebSocket-Version and speak old drafts (hixie-76 has
// no size limit and no UTF-8 check, and is answered 500 when its 8-byte body comes in a
// later read). A refused upgrade loses its Upgrade header, so websocketpp hands it to the
// HTTP handler, which answers `refusal`.
class handshake_request : public websocketpp::http::parser::request {
 public:
  int refusal = 0;  // HTTP status for a refused upgrade; 0 when not refused

  std::size_t consume(const char* buf, std::size_t len) {
    const std::size_t used = request::consume(buf, len);
    if (ready() && !checked_) {
      checked_ = true;
      check();
    }
    return used;
  }

 private:
  void check() {
    if (!websocketpp::processor::is_websocket_handshake(*this)) return;
    if (trim_ows(get_header("Sec-WebSocket-Version")) != "13") {
      refusal = 426;
    } else if (!detail::is_valid_websocket_key(trim_ows(get_header("Sec-WebSocket-Key")))) {
      // A key given twice arrives joined with ", ", which is not base64.
      refusal = 400;
    }
    if (refusal) remove_header("Upgrade");
  }

  bool checked_ = false;
};

// websocketpp's error log, forwarded to the hub's logger (event `websocketpp`).
template <class Names>
class hook_logger {
 public:
  using level = websocketpp::log::level;
  explicit hook_logger(websocketpp::log::channel_type_hint::value = websocketpp::log::channel_type_hint::access) {}
  hook_logger(level, websocketpp::log::channel_type_hint::value) {}

  void set_channels(level channels) { channels_ |= channels; }
  void clear_channels(level channels) { channels_ &= ~channels; }
  void write(level channel, const std::string& message) { write(channel, message.c_str()); }
  void write(level channel, const char* message) {
    if ((channels_ & channel) == 0 || !log_) return;
    const log_level severity = channel & (websocketpp::log::elevel::fatal | websocketpp::log::elevel::rerror)
                                   ? log_level::error
                               : channel & websocketpp::log::elevel::warn ? log_level::warn
                                                                          : log_level::info;
    log_->write(severity, "websocketpp", {{"message", message}});
  }
  constexpr bool static_test(level) const { return true; }
  bool dynamic_test(level channel) const { return log_ && (channels_ & channel) != 0 && log_->enabled(log_level::warn); }

  void set_logger(const logger* log) { log_ = log; }

 private:
  level channels_ = 0;
  const logger* log_ = nullptr;
};

struct server_config : websocketpp::config::asio {
  using type = server_config;
  using base = websocketpp::config::asio;

  // One hub, one thread: no locks inside websocketpp either.
  using concurrency_type = websocketpp::concurrency::none;
  using request_type = handshake_request;
  using response_type = base::response_type;
  using message_type = base::message_type;
  using con_msg_manager_type = base::con_msg_manager_type;
  using endpoint_msg_manager_type = base::endpoint_msg_manager_type;
  using elog_type = hook_logger<websocketpp::log::elevel>;
  using alog_type = websocketpp::log::stub;  // the access log hex-dumps frames: never on
  using rng_type = base::rng_type;

  struct transport_config : base::transport_config {
    using concurrency_type = type::concurrency_type;
    using alog_type = type::alog_type;
    using elog_type = type::elog_type;
    using request_type = type::request_type;
    using response_type = type::response_type;
    using socket_type = websocketpp::transport::asio::basic_socket::endpoint;
    static const bool enable_multithreading = false;
  };
  using transport_type = websocketpp::transport::asio::endpoint<transport_config>;
  using connection_base = connection_fields;

  // Kept for symmetry with websocketpp's configs; only the transport's copy is read.
  [[maybe_unused]] static const bool enable_multithreading = false;
  // websocketpp embeds the read buffer in every connection object: 1 KiB keeps an idle
  // connection near 8 KiB (16 KiB, the default, costs 15 KiB more per connection).
  static const std::size_t connection_read_buffer_size = 1024;
};

}  // namespace
}  // namespace switchboard

namespace websocketpp {
namespace processor {
// RFC 6455 5.2 requires the minimal length encoding. websocketpp reports a longer one as
// an internal error (close 1011); here it is the protocol violation it is (close 1002).
template <>
lib::error_code hybi13<switchboard::server_config>::validate_incoming_extended_header(frame::basic_header h,
                                                                                     frame::extended_header e) const {
  const std::uint64_t size = frame::get_payload_size(h, e);
  const std::uint8_t code = frame::get_basic_size(h);
  if ((code == frame::payload_size_code_16bit && size <= frame::limits::payload_size_basic) ||
      (code == frame::payload_size_code_64bit && size <= frame::limits::payload_size_extended))
    return make_error_code(error::protocol_violation);
  if (sizeof(std::size_t) == 4 && (size >> 32)) return make_error_code(error::requires_64bit);
  return lib::error_code();
}
}  // namespace processor
}  // namespace websocketpp

namespace switchboard {
namespace {

using server_type = websocketpp::server<server_config>;
using connection_ptr = server_type::connection_ptr;
using message_type = server_config::message_type;
using message_ptr = message_type::ptr;

// websocketpp checks that a text message ends on a whole character only when it came in
// one frame; its incremental validator has checked every byte before, so only the final
// sequence can be unfinished. O(1): at most the last 4 bytes are looked at.
bool ends_on_whole_character(std::string_view s) {
  std::size_t tail = 0;
  while (tail < s.size() && tail < 4) {
    const auto b = static_cast<unsigned char>(s[s.size() - 1 - tail]);
    ++tail;
    if ((b & 0xC0u) != 0x80u) {
      const std::size_t length = b < 0x80u ? 1 : b >= 0xF0u ? 4 : b >= 0xE0u ? 3 : 2;
      return length == tail;
    }
  }
  return tail == 0;
}

}  // namespace

struct websocketpp_server::impl final : transport {
  // Outgoing websocketpp messages are recycled: the shared_ptr's deleter returns them
  // here, which is also how we learn that websocketpp has finished writing them.
  struct message_pool {
    impl* owner = nullptr;  // null once the server is gone
    std::vector<message_type*> free;
    ~message_pool() {
      for (auto* m : free) delete m;
    }
  };
  struct recycle {
    std::shared_ptr<message_pool> pool;
    connection_id id;
    void operator()(message_type* m) const noexcept {
      impl* owner = pool->owner;
      constexpr std::size_t max_pooled = 256, max_kept_capacity = 64 * 1024;
      if (!owner || pool->free.size() >= max_pooled || m->get_raw_payload().capacity() > max_kept_capacity) {
        delete m;
      } else {
        m->get_raw_payload().clear();
        pool->free.push_back(m);
      }
      if (owner) {
        // Posted: the deleter runs inside websocketpp's write handler (or destructor).
        std::weak_ptr<message_pool> weak = pool;
        const connection_id done = id;
        asio::post(owner->io, [weak, done] {
          if (auto p = weak.lock(); p && p->owner) p->owner->hub.on_write_complete(done);
        });
      }
    }
  };

  // Our pong to a client's ping: its deleter says it has left, so that at most one is
  // queued per connection (a client that floods pings and never reads pins nothing).
  struct pong_sent {
    std::shared_ptr<message_pool> pool;
    connection_id id;
    void operator()(message_type* m) const noexcept {
      delete m;
      if (impl* owner = pool->owner) {
        std::weak_ptr<message_pool> weak = pool;
        const connection_id done = id;
        asio::post(owner->io, [weak, done] {
          if (auto p = weak.lock(); p && p->owner) p->owner->on_pong_left(done);
        });
      }
    }
  };

  impl(hub_endpoint& h, websocket_options o)
      : hub(h), options(std::move(o)), io(h.context()), ping_timer(io), accept_timer(io) {}

  ~impl() override {
    pool->owner = nullptr;
    hub.attach(nullptr);
  }

  hub_endpoint& hub;
  websocket_options options;
  asio::io_context& io;
  server_type server;
  std::vector<connection_ptr> by_slot;  // open connections by registry slot
  std::size_t open_connections = 0;
  detail::http_routes routes;
  asio::steady_timer ping_timer;
  asio::steady_timer accept_timer;  // the next accept after a failed one
  std::size_t counted_connections = 0;  // validated and not gone: what max_connections bounds
  std::shared_ptr<message_pool> pool = std::make_shared<message_pool>();
  const connection_fields* reading = nullptr;  // the connection whose message is being handled
  std::uint16_t port = 0;
  bool stopped = false;

  static std::size_t slot_of(connection_id id) { return static_cast<std::size_t>((id & 0xFFFFFFFFu) - 1); }

  connection_ptr find(connection_id id) const {
    const std::size_t slot = slot_of(id);
    if (slot >= by_slot.size() || !by_slot[slot] || by_slot[slot]->sb_id != id) return nullptr;
    return by_slot[slot];
  }


  // --- transport (called by the hub) ----------------------------------------------

  bool write(connection_id id, const shared_frame* frames, std::size_t count) override {
    const connection_ptr con = find(id);
    if (!con || con->closing) return true;  // the hub learns of the end through on_close
    std::size_t total = 0;
    for (std::size_t i = 0; i < count; ++i) total += frames[i].wire().size();
    message_type* raw;
    if (!pool->free.empty()) {
      raw = pool->free.back();
      pool->free.pop_back();
    } else {
      raw = new message_type(message_type::con_msg_man_ptr(), websocketpp::frame::opcode::text, total);
      raw->set_prepared(true);  // the frames carry their own headers: websocketpp sends the bytes as they are
    }
    std::string& bytes = raw->get_raw_payload();
    bytes.reserve(total);
    for (std::size_t i = 0; i < count; ++i) {
      const std::string_view wire = frames[i].wire();
      bytes.append(wire.data(), wire.size());
    }
    const message_ptr message(raw, recycle{pool, id});
    if (const auto ec = con->send(message); ec && hub.log().enabled(log_level::warn))
      hub.log().write(log_level::warn, "send_failed", {{"connection", id}, {"error", ec.message()}});
    return false;  // the message's deleter reports completion
  }

  void close(connection_id id, std::uint16_t code, std::string_view reason) override {
    const connection_ptr con = find(id);
    if (!con || con->closing) return;
    con->closing = true;
    std::error_code ec;
    con->close(code, std::string(reason), ec);
    if (ec) return drop(con);
    // A peer that stops reading never completes the close handshake: cut it off.
    std::weak_ptr<server_type::connection_type> weak = con;
    con->close_timer = con->set_timer(static_cast<long>(hub.settings().close_timeout.count()), [this, weak](const std::error_code& e) {
      if (e) return;
      if (auto c = weak.lock(); c && !c->gone) drop(c);
    });
  }

  void pause_reading(connection_id id) override {
    const connection_ptr con = find(id);
    if (!con || con->paused) return;
    con->paused = true;
    con->pause_reading();
  }

  void resume_reading(connection_id id) override {
    const connection_ptr con = find(id);
    if (!con || !con->paused) return;
    con->paused = false;
    // websocketpp starts a new read on resume even if one is in flight, which corrupts
    // the stream. Reads are only paused from inside their own message handler, after
    // which none is outstanding; resuming from inside that handler must wait for it.
    if (reading == con.get()) {
      std::weak_ptr<server_type::connection_type> weak = con;
      asio::post(io, [weak] {
        if (auto c = weak.lock(); c && !c->paused && !c->gone) c->resume_reading();
      });
      return;
    }
    con->resume_reading();
  }

  // Closes the socket now, without a close handshake; websocketpp then reports the end.
  void drop(const connection_ptr& con) {
    std::error_code ec;
    con->get_raw_socket().close(ec);
  }

  // --- websocketpp handlers -------------------------------------------------------

  bool on_validate(const connection_ptr& con) {
    if (counted_connections >= hub.settings().max_connections) {
      con->set_status(websocketpp::http::status_code::service_unavailable);
      con->set_body(R"({"error":{"code":"overloaded","message":"too many connections"}})");
      con->append_header("Content-Type", "application/json");
      return false;
    }
    std::string_view path, query;
    detail::split_target(con->get_resource(), path, query);
    if (path != options.path) {
      con->set_status(websocketpp::http::status_code::not_found);
      return false;
    }
    const std::string& origin = con->get_origin();
    if (!origin.empty() && !options.allowed_origins.empty() &&
        std::find(options.allowed_origins.begin(), options.allowed_origins.end(), origin) == options.allowed_origins.end()) {
      con->set_status(websocketpp::http::status_code::forbidden);
      return false;
    }
    const auto& offered = con->get_requested_subprotocols();
    if (!offered.empty()) {
      if (std::find(offered.begin(), offered.end(), subprotocol) == offered.end()) {
        con->set_status(websocketpp::http::status_code::bad_request);
        return false;
      }
      std::error_code ec;
      con->select_subprotocol(std::string(subprotocol), ec);
    }
    std::string token;
    if (auto from_query = detail::query_param(query, "token")) {
      token = std::move(*from_query);
    } else {
      token = std::string(detail::bearer_credential(con->get_request_header("Authorization")));
    }
    const std::string remote = con->get_remote_endpoint();
    // get_request_header returns a reference into the request, which outlives the call.
    auto header = [&con](std::string_view name) -> std::string_view {
      return con->get_request_header(std::string(name));
    };
    auth_result auth = hub.on_handshake(handshake_info{token, origin, remote, path, query, header});
    if (!auth.accepted) {
      con->set_status(static_cast<websocketpp::http::status_code::value>(auth.http_status));
      std::string body = R"({"error":{"code":"unauthorized","message":)";
      detail::append_json_string(body, auth.reason);
      body += "}}";
      con->set_body(body);
      con->append_header("Content-Type", "application/json");
      return false;
    }
    con->who = std::move(auth.who);
    con->counted = true;
    ++counted_connections;
    return true;
  }

  void on_open(const connection_ptr& con) {
    const std::string remote = con->get_remote_endpoint();
    con->sb_id = hub.on_open(std::move(con->who), peer_info{remote, con->get_request_header("User-Agent")});
    con->opened = true;
    const std::size_t slot = slot_of(con->sb_id);
    if (slot >= by_slot.size()) by_slot.resize(slot + 1);
    by_slot[slot] = con;
    ++open_connections;
  }

  void on_message(const connection_ptr& con, const message_ptr& message) {
    if (!con->opened || con->gone) return;
    const frame_kind kind =
        message->get_opcode() == websocketpp::frame::opcode::binary ? frame_kind::binary : frame_kind::text;
    if (kind == frame_kind::text && !ends_on_whole_character(message->get_payload()))
      return close(con->sb_id, close_code::invalid_payload, "invalid UTF-8");
    reading = con.get();
    hub.on_message(con->sb_id, kind, message->get_payload());
    reading = nullptr;
  }

  void on_gone(const connection_ptr& con) {
    if (con->counted) {
      con->counted = false;
      --counted_connections;
    }
    if (!con->opened || con->gone) return;
    con->gone = true;
    // Each timer holds the connection (and its socket) until it fires.
    if (con->close_timer) con->close_timer->cancel();
    if (con->pong_timer) con->pong_timer->cancel();
    con->next_pong.reset();
    const connection_id id = con->sb_id;
    const std::size_t slot = slot_of(id);
    if (slot < by_slot.size() && by_slot[slot] == con) by_slot[slot].reset();
    --open_connections;
    hub.on_close(id);
  }

  void on_http(const connection_ptr& con) {
    const auto& request = con->get_request();
    std::string_view path, query;
    detail::split_target(request.get_uri(), path, query);
    http_response response;
    if (request.refusal == 426) {
      response = detail::http_error(426, "bad_request", "only WebSocket version 13 (RFC 6455) is supported");
      response.headers.emplace_back("Sec-WebSocket-Version", "13");
    } else if (request.refusal) {
      response = detail::http_error(request.refusal, "bad_request", "bad Sec-WebSocket-Key");
    } else if (path == options.path && !routes.has(request.get_method(), path)) {
      response = detail::http_error(426, "bad_request", "WebSocket upgrade required");
      response.headers.emplace_back("Sec-WebSocket-Version", "13");
    } else {
      http_request view{request.get_method(), path, query, request.get_body(),
                        [&request](std::string_view name) -> std::string_view {
                          return request.get_header(std::string(name));
                        }};
      // websocketpp answers before this handler returns: a route must reply at once.
      auto answer = std::make_shared<std::pair<bool, http_response>>();
      routes.dispatch(view, [answer](http_response r) {
        if (answer->first) return;
        answer->first = true;
        answer->second = std::move(r);
      });
      response = answer->first ? std::move(answer->second)
                               : detail::http_error(500, "internal", "asynchronous routes need the native transport");
      answer->first = true;  // a late reply is dropped
    }
    con->set_status(static_cast<websocketpp::http::status_code::value>(response.status));
    con->append_header("Content-Type", response.content_type);
    for (const auto& h : response.headers) con->append_header(h.first, h.second);
    con->set_body(std::move(response.body));
  }

  http_response health() const {
    std::string body = R"({"status":"ok",)";
    detail::append_hub_counts(body, hub.stats());
    body += '}';
    return {200, "application/json", std::move(body), {}};
  }

  void arm_heartbeat() {
    const auto interval = hub.settings().ping_interval;
    if (interval.count() <= 0 || stopped) return;
    ping_timer.expires_after(interval);
    ping_timer.async_wait([this](const std::error_code& ec) {
      if (ec || stopped) return;
      for (const auto& con : by_slot) {
        // A new ping would cancel websocketpp's timer for the one still unanswered.
        if (!con || con->closing || con->gone || con->awaiting_pong) continue;
        std::error_code ping_ec;
        con->ping(std::string(), ping_ec);
        if (ping_ec) continue;  // not awaiting anything: the next round pings again
        con->awaiting_pong = true;
        arm_pong_deadline(con);
      }
      arm_heartbeat();
    });
  }

  // Our own deadline rather than websocketpp's pong timer: that one holds the connection
  // (and its descriptor) until it fires, even after the peer has gone, and nothing can
  // cancel it from outside. This one is cancelled in on_gone.
  void arm_pong_deadline(const connection_ptr& con) {
    const long timeout = static_cast<long>(hub.settings().ping_timeout.count());
    if (timeout <= 0) return;
    std::weak_ptr<server_type::connection_type> weak = con;
    con->pong_timer = con->set_timer(timeout, [this, weak](const std::error_code& e) {
      if (e) return;
      if (auto c = weak.lock(); c && !c->gone && c->awaiting_pong) drop(c);
    });
  }

  void on_pong(const connection_ptr& con) {
    con->awaiting_pong = false;
    if (con->pong_timer) {
      con->pong_timer->cancel();
      con->pong_timer.reset();
    }
  }

  // Answers a client's ping unless a pong is already queued; then only the latest ping
  // is remembered, and answered once that pong has left (RFC 6455 5.5.3).
  void on_ping(const connection_ptr& con, std::string payload) {
    if (!con->opened || con->gone || con->closing) return;
    if (con->pong_pending) {
      con->next_pong = std::move(payload);
      return;
    }
    send_pong(con, payload);
  }

  void send_pong(const connection_ptr& con, std::string_view payload) {
    // A ping's payload is at most 125 bytes (websocketpp refuses longer control frames).
    auto* raw = new message_type(message_type::con_msg_man_ptr(), websocketpp::frame::opcode::pong, payload.size() + 2);
    raw->set_prepared(true);
    std::string& bytes = raw->get_raw_payload();
    bytes.push_back(static_cast<char>(0x8A));  // FIN, opcode pong
    bytes.push_back(static_cast<char>(payload.size()));
    bytes.append(payload.data(), payload.size());
    con->pong_pending = true;
    if (con->send(message_ptr(raw, pong_sent{pool, con->sb_id}))) {
      con->pong_pending = false;
      con->next_pong.reset();
    }
  }

  void on_pong_left(connection_id id) {
    const connection_ptr con = find(id);
    if (!con) return;
    con->pong_pending = false;
    if (!con->next_pong || con->closing) return;
    const std::string payload = std::move(*con->next_pong);
    con->next_pong.reset();
    send_pong(con, payload);
  }

  // Drives websocketpp's accept loop (as its server::start_accept does), but a failed
  // accept is retried after a delay: out of descriptors, the listening socket stays
  // readable, and retrying at once spins a core until one is free.
  void accept_next() {
    if (stopped || !server.is_listening()) return;
    const connection_ptr con = server.get_connection();
    if (!con) return retry_accept();
    std::error_code ec;
    server.async_accept(websocketpp::lib::static_pointer_cast<server_type::transport_con_type>(con),
                        [this, con](const std::error_code& e) { on_accept(con, e); }, ec);
    if (ec) {
      con->terminate(ec);
      retry_accept();
    }
  }

  void on_accept(const connection_ptr& con, const std::error_code& ec) {
    if (ec) {
      con->terminate(ec);  // websocketpp's way to release a connection that never started
      if (stopped || ec == websocketpp::error::operation_canceled) return;
      if (hub.log().enabled(log_level::warn))
        hub.log().write(log_level::warn, "accept_failed",
                        {{"error", ec.message()}, {"retry_ms", options.accept_retry_delay.count()}});
      return retry_accept();
    }
    con->start();
    accept_next();
  }

  void retry_accept() {
    if (stopped) return;
    accept_timer.expires_after(options.accept_retry_delay);
    accept_timer.async_wait([this](const std::error_code& e) {
      if (!e) accept_next();
    });
  }

  void configure() {
    const config& cfg = hub.settings();
    std::error_code ec;
    server.init_asio(&io, ec);
    if (ec) throw std::system_error(ec, "switchboard: init_asio");
    server.get_elog().set_logger(&hub.log());
    server.clear_error_channels(websocketpp::log::elevel::all);
    server.set_error_channels(websocketpp::log::elevel::warn | websocketpp::log::elevel::rerror |
                              websocketpp::log::elevel::fatal);
    server.set_reuse_addr(true);
    server.set_listen_backlog(options.listen_backlog);
    // Before any handshake: websocketpp reserves an incoming frame's declared size.
    server.set_max_message_size(cfg.max_message_bytes);
    server.set_max_http_body_size(cfg.max_message_bytes);
    server.set_close_handshake_timeout(static_cast<long>(cfg.close_timeout.count()));

    // After accept: websocketpp's socket_init handler runs before the socket is open,
    // where setting an option silently fails and leaves Nagle's algorithm on.
    server.set_tcp_post_init_handler([this](websocketpp::connection_hdl h) {
      std::error_code ignored;
      server.get_con_from_hdl(h)->get_raw_socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    });
    server.set_validate_handler([this](websocketpp::connection_hdl h) { return on_validate(server.get_con_from_hdl(h)); });
    server.set_open_handler([this](websocketpp::connection_hdl h) { on_open(server.get_con_from_hdl(h)); });
    server.set_message_handler([this](websocketpp::connection_hdl h, message_ptr m) { on_message(server.get_con_from_hdl(h), m); });
    server.set_close_handler([this](websocketpp::connection_hdl h) { on_gone(server.get_con_from_hdl(h)); });
    server.set_fail_handler([this](websocketpp::connection_hdl h) { on_gone(server.get_con_from_hdl(h)); });
    server.set_http_handler([this](websocketpp::connection_hdl h) { on_http(server.get_con_from_hdl(h)); });
    server.set_pong_handler([this](websocketpp::connection_hdl h, std::string) { on_pong(server.get_con_from_hdl(h)); });
    // false: websocketpp would queue one pong per ping, without any bound.
    server.set_ping_handler([this](websocketpp::connection_hdl h, std::string payload) {
      on_ping(server.get_con_from_hdl(h), std::move(payload));
      return false;
    });
    if (!routes.has("GET", "/health"))
      routes.add("GET", "/health", http_handler([this](const http_request&) { return health(); }));
    if (!routes.has("GET", "/metrics"))
      routes.add("GET", "/metrics",
                 http_handler([this](const http_request&) { return prometheus_metrics_response(hub.stats()); }));
  }
};

websocketpp_server::websocketpp_server(hub_endpoint& hub, websocket_options options)
    : impl_(std::make_unique<impl>(hub, std::move(options))) {
  impl_->pool->owner = impl_.get();
  hub.attach(impl_.get());
}

websocketpp_server::~websocketpp_server() = default;

void websocketpp_server::start() {
  if (impl_->options.tls.enabled())
    throw std::invalid_argument("switchboard: the websocketpp adapter does not serve TLS; use websocket_server");
  impl_->configure();
  std::error_code ec;
  const auto address = asio::ip::make_address(impl_->options.bind, ec);
  if (ec) throw std::system_error(ec, "switchboard: bad bind address '" + impl_->options.bind + "'");
  impl_->server.listen(asio::ip::tcp::endpoint(address, impl_->options.port), ec);
  if (ec) throw std::system_error(ec, "switchboard: listen on " + impl_->options.bind + ":" + std::to_string(impl_->options.port));
  impl_->port = impl_->server.get_local_endpoint(ec).port();
  impl_->accept_next();
  impl_->arm_heartbeat();
}

std::uint16_t websocketpp_server::port() const noexcept { return impl_->port; }

void websocketpp_server::add_route(std::string method, std::string path, http_handler handler) {
  impl_->routes.add(std::move(method), std::move(path), std::move(handler));
}

void websocketpp_server::shutdown() {
  impl& i = *impl_;
  if (i.stopped) return;
  i.stopped = true;
  i.ping_timer.cancel();
  i.accept_timer.cancel();
  std::error_code ec;
  if (i.server.is_listening()) i.server.stop_listening(ec);
  i.hub.close_all(close_code::going_away, "server shutting down");
}

std::size_t websocketpp_server::connection_count() const noexcept { return impl_->open_connections; }

}  // namespace switchboard
