// The WebSocket transport's implementation: included by websocket_server.hpp when
// header-only, compiled once in src/websocket_server.cpp otherwise.
//
// Shape of a connection's life: accept (TCP_NODELAY, non-blocking) → [TLS handshake] →
// HTTP requests (keep-alive; routes, /health) → upgrade → WebSocket → close handshake →
// draining (our close frame sent, FIN sent, reading until the peer's FIN) → gone.
//
// Reads (plain TCP) wait for readiness and then read into one buffer per server: an idle
// connection holds no read buffer. Only bytes that cannot be handled yet (a partial
// request head, the rest of a read while the hub has paused the connection) are copied
// into the connection. Writes go out at once, non-blocking, gathered straight from the
// hub's shared frames; only what the socket did not take waits for writability.
#ifndef SWITCHBOARD_IMPL_WEBSOCKET_SERVER_IPP
#define SWITCHBOARD_IMPL_WEBSOCKET_SERVER_IPP

#include <switchboard/websocket_server.hpp>

#include <switchboard/detail/frame_queue.hpp>
#include <switchboard/detail/http_parser.hpp>
#include <switchboard/detail/http_routes.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/detail/websocket_handshake.hpp>
#include <switchboard/detail/websocket_reader.hpp>
#include <switchboard/error.hpp>
#include <switchboard/metrics.hpp>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#ifdef SWITCHBOARD_SEPARATE_COMPILATION
#define SWITCHBOARD_DECL
#else
#define SWITCHBOARD_DECL inline
#endif

namespace switchboard {
namespace detail {

constexpr std::string_view websocket_subprotocol = "switchboard.v1";

class ws_server;

/// The first `n` of an array of buffers, as a buffer sequence for one gathering write.
struct const_buffer_span {
  using value_type = asio::const_buffer;
  using const_iterator = const asio::const_buffer*;
  const asio::const_buffer* first;
  const asio::const_buffer* last;
  const_iterator begin() const noexcept { return first; }
  const_iterator end() const noexcept { return last; }
};

/// What the server keeps of every connection, whatever its stream type.
class ws_connection_base {
 public:
  enum class phase : std::uint8_t { tls_handshake, http, open, closing, draining, dead };
  static constexpr std::uint32_t no_deadline = 0xFFFFFFFFu;

  virtual ~ws_connection_base() = default;
  virtual bool write(const shared_frame* frames, std::size_t count) = 0;
  virtual void close(std::uint16_t code, std::string_view reason) = 0;
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;
  virtual void on_deadline() = 0;
  virtual void start() = 0;
  /// Closes the socket at once (no close handshake); the object goes once idle.
  virtual void drop() = 0;
  /// The server is going away before its connections: nothing may call it any more.
  void orphan() noexcept { server_ = nullptr; }

  ws_server* server_;
  connection_id id_ = 0;      // the hub's id while open
  // For the record of the connection's end (`connection_closed`).
  asio::ip::tcp::endpoint remote_;
  std::chrono::steady_clock::time_point opened_at_{};
  std::uint64_t messages_in_ = 0;
  std::uint64_t messages_out_ = 0;
  std::uint32_t slot_ = 0;    // index in the server's table of connections
  std::uint32_t generation_ = 0;
  std::uint32_t deadline_ = no_deadline;  // tick at which on_deadline runs
  phase phase_ = phase::http;
  bool admitted_ = false;  // counted against max_connections
  bool closed_by_peer_ = false;
  std::uint16_t close_code_ = 0;  // the first close code sent or received; 0: none yet

 protected:
  explicit ws_connection_base(ws_server& server) : server_(&server) {}
};

/// The state shared by a server's connections: the hub, the options, the listeners,
/// the routes, the read buffer and the timer wheel.
class ws_server final : public transport {
 public:
  ws_server(hub_endpoint& hub, websocket_options options);
  ~ws_server() override;

  // transport
  bool write(connection_id id, const shared_frame* frames, std::size_t count) override;
  void close(connection_id id, std::uint16_t code, std::string_view reason) override;
  void pause_reading(connection_id id) override;
  void resume_reading(connection_id id) override;

  void add_listener(listener_options listener);
  void start();
  std::uint16_t port(std::size_t listener) const noexcept {
    return listener < listeners_.size() ? listeners_[listener]->port : 0;
  }
  void shutdown();

  // For connections.
  hub_endpoint& hub() noexcept { return hub_; }
  const websocket_options& options() const noexcept { return options_; }
  const config& settings() const noexcept { return hub_.settings(); }
  asio::io_context& io() noexcept { return io_; }
  std::vector<char>& read_buffer() noexcept { return read_buffer_; }
  /// Where a connection packs small frames for one write (`ws_connection::flush_output`).
  std::vector<char>& write_scratch() noexcept { return write_scratch_; }
  static constexpr std::size_t write_scratch_bytes = 16 * 1024;
  http_request_head& request_head() noexcept { return request_head_; }
  const http_limits& limits() const noexcept { return limits_; }
  const http_routes& routes() const noexcept { return routes_; }
  http_routes& routes() noexcept { return routes_; }
  const shared_frame& ping_frame() const noexcept { return ping_frame_; }
  const shared_frame& going_away_frame() const noexcept { return going_away_frame_; }
  bool stopped() const noexcept { return stopped_; }
  std::size_t open_connections() const noexcept { return open_connections_; }
  const std::shared_ptr<char>& alive() const noexcept { return alive_; }

  std::uint32_t now_tick() const noexcept {
    return static_cast<std::uint32_t>((std::chrono::steady_clock::now() - epoch_) / tick_);
  }
  std::uint32_t ticks(std::chrono::milliseconds d) const noexcept {
    const auto t = std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
    return static_cast<std::uint32_t>((t + tick_ - std::chrono::steady_clock::duration(1)) / tick_);
  }
  /// Sets `c`'s deadline `after` from now (`no_deadline` to clear it).
  void schedule(ws_connection_base& c, std::uint32_t tick);
  void schedule_after(ws_connection_base& c, std::chrono::milliseconds after) {
    schedule(c, after.count() > 0 ? now_tick() + ticks(after) : ws_connection_base::no_deadline);
  }

  /// Whether another WebSocket may open now (`max_connections`).
  bool may_admit() const noexcept { return counted_ < hub_.settings().max_connections; }
  void admitted(ws_connection_base& c) noexcept {
    ++counted_;
    c.admitted_ = true;
  }
  /// An open WebSocket: registered with the hub under `c.id_`.
  void opened(ws_connection_base& c);
  /// The WebSocket of `c` is over (closed or dropped): the hub forgets it.
  void websocket_ended(ws_connection_base& c, bool gone);
  /// The connection in `slot` if it is still the one of `generation`.
  ws_connection_base* connection_at(std::uint32_t slot, std::uint32_t generation) const noexcept {
    ws_connection_base* c = slot < connections_.size() ? connections_[slot] : nullptr;
    return c && c->generation_ == generation ? c : nullptr;
  }
  /// `c` is gone and may be destroyed.
  void remove(ws_connection_base& c);

  const logger& log() const noexcept { return log_; }
  /// Logs a failed TLS handshake with `remote` (bounded: a scanner makes many).
  void tls_handshake_failed(const asio::ip::tcp::endpoint& remote, const std::error_code& ec);
  /// Logs a WebSocket refused because `max_connections` are open (bounded).
  void connection_limit_reached(const asio::ip::tcp::endpoint& remote);
  http_response health() const;

 private:
  struct listener {
    explicit listener(asio::io_context& io) : acceptor(io), retry_timer(io) {}
    listener_options options;
    asio::ip::tcp::acceptor acceptor;
    asio::steady_timer retry_timer;
    std::unique_ptr<asio::ssl::context> tls;
    std::uint16_t port = 0;
  };

  void accept_next(listener& l);
  void retry_accept(listener& l);
  void adopt(listener& l, asio::ip::tcp::socket socket);
  void arm_tick();
  void on_tick();
  ws_connection_base* find(connection_id id) const noexcept;

  hub_endpoint& hub_;
  const logger& log_;
  websocket_options options_;
  asio::io_context& io_;
  std::vector<std::unique_ptr<listener>> listeners_;
  http_routes routes_;
  http_limits limits_;
  http_request_head request_head_;  // reused by every parse
  std::vector<char> read_buffer_;
  std::vector<char> write_scratch_;  // small frames packed for one write; holds nothing between writes
  shared_frame ping_frame_;
  shared_frame going_away_frame_;

  // Connections by their slot here (all phases), and open ones by the hub's slot.
  std::vector<ws_connection_base*> connections_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<ws_connection_base*> by_hub_slot_;
  std::size_t live_ = 0;
  std::size_t counted_ = 0;  // admitted WebSockets not yet gone: what max_connections bounds
  std::size_t open_connections_ = 0;
  std::uint32_t generations_ = 0;

  // The timer wheel: one steady_timer for every deadline of every connection. Entries
  // are (slot, generation, tick); a connection whose deadline moved leaves a stale entry
  // behind, skipped when its bucket comes round.
  struct wheel_entry {
    std::uint32_t slot, generation, tick;
  };
  static constexpr std::uint32_t wheel_size = 1024;
  std::vector<std::vector<wheel_entry>> wheel_;
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration tick_;
  std::uint32_t next_tick_ = 0;  // the first tick whose bucket has not been processed
  asio::steady_timer tick_timer_;
  bool tick_armed_ = false;
  std::size_t scheduled_ = 0;  // connections with a deadline

  bool started_ = false;
  bool stopped_ = false;
  // Failures a flood can repeat are logged a few at a time (see detail::log_limit).
  log_limit accept_failures_, tls_failures_, connection_limit_refusals_;
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

/// `address:port`, the IPv6 address in brackets; empty for an endpoint never set.
inline std::string format_remote(const asio::ip::tcp::endpoint& remote) {
  if (remote.port() == 0) return {};
  const auto address = remote.address();
  std::string text = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  text += ':';
  text += std::to_string(remote.port());
  return text;
}

/// The stream types a connection runs on.
using tcp_stream = asio::ip::tcp::socket;
using tls_stream = asio::ssl::stream<asio::ip::tcp::socket>;

template <class Stream>
class ws_connection final : public ws_connection_base {
  static constexpr bool is_tls = std::is_same<Stream, tls_stream>::value;

 public:
  template <class... Args>
  ws_connection(ws_server& server, Args&&... args)
      : ws_connection_base(server), stream_(std::forward<Args>(args)...), reader_(server.settings().max_message_bytes) {}

  void start() override {
    const hold guard(this);
    std::error_code ignored;
    socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    server_->schedule_after(*this, server_->options().handshake_timeout);
    if constexpr (is_tls) {
      phase_ = phase::tls_handshake;
      ++ops_;
      stream_.async_handshake(asio::ssl::stream_base::server, [this](const std::error_code& ec) {
        const adopt guard(this);
        if (phase_ == phase::dead) return;
        if (ec) {
          std::error_code ignored;
          if (server_) server_->tls_handshake_failed(socket().remote_endpoint(ignored), ec);
          return drop_now();
        }
        phase_ = phase::http;
        read_more();
      });
    } else {
      socket().non_blocking(true, ignored);
      read_more();
    }
  }

  // --- from the hub --------------------------------------------------------------

  bool write(const shared_frame* frames, std::size_t count) override {
    if (phase_ != phase::open) return true;  // dropped: the hub hears of the end through on_close
    const hold guard(this);
    messages_out_ += count;
    for (std::size_t i = 0; i < count; ++i) out_frames_.push_back(frames[i]);
    if (!writing_) flush_output();
    if (!writing_ || phase_ == phase::dead) return true;  // everything left in this call
    hub_write_completes_ = true;  // written() tells the hub
    return false;
  }

  void close(std::uint16_t code, std::string_view reason) override {
    if (phase_ != phase::open) return;
    const hold guard(this);
    phase_ = phase::closing;
    if (close_code_ == 0) close_code_ = code;
    const shared_frame frame =
        code == close_code::going_away && server_->stopped() ? server_->going_away_frame() : close_frame(code, reason);
    send_control(frame);
    server_->schedule_after(*this, server_->settings().close_timeout);
  }

  void pause_reading() override { paused_ = true; }

  void resume_reading() override {
    if (!paused_) return;
    const hold guard(this);
    paused_ = false;
    // Never from inside the hub's call: the hub may be in the middle of its bookkeeping.
    post_read();
  }

  void on_deadline() override {
    const hold guard(this);
    switch (phase_) {
      case phase::open:
        if (awaiting_pong_) {
          server_->log().write(log_level::debug, "ping_timeout", {{"connection", id_}});
          return drop_now();
        }
        send_control(server_->ping_frame());
        awaiting_pong_ = true;
        ping_sent_ = server_->now_tick();
        if (server_->settings().ping_timeout.count() > 0) {
          server_->schedule_after(*this, server_->settings().ping_timeout);
        } else {
          awaiting_pong_ = false;
          schedule_ping();
        }
        return;
      case phase::http:
        // A request being answered (asynchronously, or a response being written) is
        // waited for; an idle or slow one is closed.
        if (answering_) return server_->schedule_after(*this, server_->options().handshake_timeout);
        return drop_now();
      default: return drop_now();
    }
  }

  void drop() override {
    const hold guard(this);
    drop_now();
  }

 private:
  // Keeps the connection alive while one of its functions runs: it is destroyed when
  // it is dead and the last pending handler or running call lets go.
  struct hold {
    explicit hold(ws_connection* c) noexcept : c(c) { ++c->ops_; }
    hold(const hold&) = delete;
    hold& operator=(const hold&) = delete;
    ~hold() { c->let_go(); }
    ws_connection* c;
  };
  // Takes over the count a pending handler held.
  struct adopt {
    explicit adopt(ws_connection* c) noexcept : c(c) {}
    adopt(const adopt&) = delete;
    adopt& operator=(const adopt&) = delete;
    ~adopt() { c->let_go(); }
    ws_connection* c;
  };
  void let_go() {
    if (--ops_ != 0 || phase_ != phase::dead) return;
    if (server_) server_->remove(*this);  // deletes this
    else delete this;
  }

  void drop_now() {
    if (phase_ == phase::dead) return;
    const bool was_websocket = phase_ == phase::open || phase_ == phase::closing || phase_ == phase::draining;
    phase_ = phase::dead;
    std::error_code ignored;
    socket().close(ignored);  // cancels every pending operation
    if (server_) {
      if (was_websocket || admitted_) server_->websocket_ended(*this, true);
      server_->schedule(*this, no_deadline);
    }
    release_buffers();
  }

  asio::ip::tcp::socket& socket() noexcept {
    if constexpr (is_tls)
      return stream_.next_layer();
    else
      return stream_;
  }

  void release_buffers() noexcept {
    out_frames_.clear();
    std::string().swap(out_bytes_);
    std::string().swap(input_);
    next_pong_ = shared_frame();
    tls_buffer_.reset();
  }

  // --- reading ---------------------------------------------------------------------

  bool reading_stopped() const noexcept { return paused_ || phase_ == phase::dead || handling_ || answering_; }

  void post_read() {
    if (read_posted_) return;
    read_posted_ = true;
    ++ops_;
    asio::post(server_->io(), [this] {
      const adopt guard(this);
      read_posted_ = false;
      if (phase_ == phase::dead) return;
      read_more();
    });
  }

  // Handles what is held from before, then reads from the socket until it would block
  // (or a few reads have been taken: then the others get their turn first).
  void read_more() {
    if (!server_ || reading_stopped()) return;
    if (!input_.empty()) {
      std::string held;
      held.swap(input_);
      const std::size_t used = handle_input(&held[0], held.size());
      if (used < held.size()) {
        held.erase(0, used);
        if (input_.empty()) input_.swap(held);
        else input_.insert(0, held);  // cannot happen: nothing is added while handling stops
      }
      send_held_pong();
      if (reading_stopped() || phase_ == phase::dead) return;
    }
    if constexpr (is_tls) {
      if (waiting_read_) return;
      if (!tls_buffer_) tls_buffer_.reset(new char[tls_read_size]);
      waiting_read_ = true;
      ++ops_;
      stream_.async_read_some(asio::buffer(tls_buffer_.get(), tls_read_size), [this](const std::error_code& ec, std::size_t n) {
        const adopt guard(this);
        waiting_read_ = false;
        if (phase_ == phase::dead) return;
        if (ec) return on_read_error(ec);
        take(tls_buffer_.get(), n);
        read_more();
      });
    } else {
      for (int reads = 0; reads < 4; ++reads) {
        if (reading_stopped()) return;
        std::vector<char>& buffer = server_->read_buffer();
        std::error_code ec;
        const std::size_t n = stream_.read_some(asio::buffer(buffer), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_readable();
        if (ec) return on_read_error(ec);
        take(buffer.data(), n);
      }
      post_read();
    }
  }

  void wait_readable() {
    if (waiting_read_) return;
    waiting_read_ = true;
    ++ops_;
    stream_.async_wait(asio::socket_base::wait_read, [this](const std::error_code& ec) {
      const adopt guard(this);
      waiting_read_ = false;
      if (phase_ == phase::dead) return;
      if (ec) return on_read_error(ec);
      read_more();
    });
  }

  // Bytes just read: handled in place; what cannot be handled now is kept.
  void take(char* data, std::size_t n) {
    if (input_.empty()) {
      const std::size_t used = handle_input(data, n);
      if (used < n && phase_ != phase::dead) input_.assign(data + used, n - used);
    } else {
      input_.append(data, n);
      std::string held;
      held.swap(input_);
      const std::size_t used = handle_input(&held[0], held.size());
      if (used < held.size()) {
        held.erase(0, used);
        input_.swap(held);
      }
    }
    // Reading stops while a request is answered, so what is held is at most one
    // incomplete request and one read: a last guard against a mistake in that logic.
    if (phase_ == phase::http && input_.size() > server_->limits().max_head_bytes + server_->limits().max_body_bytes +
                                                     server_->read_buffer().size())
      drop_now();
    send_held_pong();
  }

  void on_read_error(const std::error_code& ec) {
    if (phase_ == phase::http && answering_ && ec == asio::error::eof) {
      peer_done_ = true;  // answer the request in hand, then close
      return;
    }
    drop_now();
  }

  // Returns the bytes of `data` handled; stops early while reading is stopped.
  std::size_t handle_input(char* data, std::size_t n) {
    std::size_t used = 0;
    while (used < n && !reading_stopped()) {
      if (phase_ == phase::http) {
        const std::size_t request = handle_http(data + used, n - used);
        if (request == 0) break;  // incomplete: keep the bytes
        used += request;
      } else if (phase_ == phase::open || phase_ == phase::closing) {
        if (reader_.finished()) return n;  // after the peer's close frame: nothing counts
        handling_ = true;
        sink s{*this};
        used += reader_.consume(data + used, n - used, s);
        handling_ = false;
        if (paused_ || phase_ == phase::dead) break;
      } else {
        return n;
      }
    }
    return used;
  }

  // --- HTTP ------------------------------------------------------------------------

  // One request from the start of `data`; returns its size, or 0 when incomplete.
  std::size_t handle_http(char* data, std::size_t n) {
    ws_server& server = *server_;
    http_request_head& head = server.request_head();
    const std::string_view buffer(data, n);
    // A request dribbled in a byte at a time must not cost a scan of all it sent so far
    // for every byte: only new bytes are searched for the head's end, and a body still
    // coming is not parsed again until it is complete.
    if (request_bytes_ > n) return 0;
    if (request_bytes_ == 0 && n < server.limits().max_head_bytes &&
        buffer.find("\r\n\r\n", scanned_ > 3 ? scanned_ - 3 : 0) == std::string_view::npos) {
      scanned_ = n;
      return 0;
    }
    const http_parse_result parsed = parse_http_request_head(buffer, head, server.limits());
    if (parsed.status == http_parse_result::incomplete) return 0;
    scanned_ = 0;
    if (parsed.status == http_parse_result::failed) {
      request_bytes_ = 0;
      respond(http_error(parsed.http_status, "bad_request", parsed.reason), false, false);
      return n;
    }
    const std::size_t total = head.head_size + static_cast<std::size_t>(head.content_length);
    if (n < total) {
      request_bytes_ = total;
      // Clients such as curl wait for this before sending a body (RFC 9110 10.1.1).
      if (!continue_sent_ && header_list_contains(head.header("Expect"), "100-continue") && !writing_) {
        continue_sent_ = true;
        out_bytes_ += "HTTP/1.1 100 Continue\r\n\r\n";
        flush_output();
      }
      return 0;
    }
    request_bytes_ = 0;
    continue_sent_ = false;
    const std::string_view body = buffer.substr(head.head_size, static_cast<std::size_t>(head.content_length));
    std::string_view path, query;
    split_target(head.target, path, query);
    const bool keep_alive = head.keep_alive();
    if (head.method == "GET" && header_list_contains(head.header("Upgrade"), "websocket")) {
      upgrade(head, path, query);
      return total;
    }
    const bool is_head = head.method == "HEAD";
    if (path == server.options().path && !server.routes().has(head.method, path)) {
      http_response r = http_error(426, "bad_request", "WebSocket upgrade required");
      r.headers.emplace_back("Sec-WebSocket-Version", "13");
      respond(std::move(r), keep_alive, is_head);
      return total;
    }
    answering_ = true;
    auto state = std::make_shared<reply_state>(server, slot_, generation_, keep_alive, is_head);
    const http_request request{head.method, path, query, body, [&head](std::string_view name) { return head.header(name); }};
    server.routes().dispatch(request, http_reply([state](http_response r) { state->send(std::move(r)); }));
    return total;
  }

  // The pending answer to one request; a reply dropped unanswered becomes a 500.
  struct reply_state {
    reply_state(ws_server& server, std::uint32_t slot, std::uint32_t generation, bool keep_alive, bool head)
        : alive(server.alive()), server(&server), slot(slot), generation(generation), keep_alive(keep_alive), head_only(head) {}
    ~reply_state() {
      if (!sent) send(http_error(500, "internal", "the route did not answer"));
    }
    void send(http_response r) {
      if (sent) return;
      sent = true;
      if (alive.expired()) return;
      auto* c = static_cast<ws_connection*>(server->connection_at(slot, generation));
      if (!c || c->phase_ != phase::http || !c->answering_) return;
      const hold guard(c);
      c->respond(std::move(r), keep_alive, head_only);
    }
    std::weak_ptr<char> alive;
    ws_server* server;  // valid while `alive`
    std::uint32_t slot, generation;
    bool keep_alive, head_only, sent = false;
  };

  void respond(http_response r, bool keep_alive, bool head_only) {
    if (r.content_type.find_first_of("\r\n") != std::string::npos) r.content_type = "application/octet-stream";
    keep_alive = keep_alive && !peer_done_ && !server_->stopped();
    append_http_response_head(out_bytes_, r, r.body.size(), keep_alive);
    if (!head_only) out_bytes_ += r.body;
    answering_ = true;  // until written
    close_after_response_ = !keep_alive;
    flush_output();
  }

  // The response has left: the next request may come.
  void response_written() {
    answering_ = false;
    if (close_after_response_) return finish_with_fin();
    server_->schedule_after(*this, server_->options().handshake_timeout);
    post_read();
  }

  void upgrade(const http_request_head& head, std::string_view path, std::string_view query) {
    ws_server& server = *server_;
    const std::string_view version = head.header("Sec-WebSocket-Version");
    const std::string_view key = head.header("Sec-WebSocket-Key");
    std::size_t keys = 0, versions = 0;
    for (const auto& f : head.fields) {
      keys += iequals(f.name, "Sec-WebSocket-Key") ? 1 : 0;
      versions += iequals(f.name, "Sec-WebSocket-Version") ? 1 : 0;
    }
    const auto refuse = [this](http_response r) { respond(std::move(r), false, false); };
    if (versions != 1 || version != "13") {
      http_response r = http_error(426, "bad_request", "only WebSocket version 13 (RFC 6455) is supported");
      r.headers.emplace_back("Sec-WebSocket-Version", "13");
      return refuse(std::move(r));
    }
    if (keys != 1 || !is_valid_websocket_key(key)) return refuse(http_error(400, "bad_request", "bad Sec-WebSocket-Key"));
    if (!header_list_contains(head.header("Connection"), "upgrade"))
      return refuse(http_error(400, "bad_request", "Connection: Upgrade required"));
    if (path != server.options().path) return refuse(http_error(404, "not_found", "no such path"));
    if (!server.may_admit()) {
      std::error_code ignored;
      server.connection_limit_reached(socket().remote_endpoint(ignored));
      return refuse(http_error(503, "overloaded", "too many connections"));
    }
    const std::string_view origin = head.header("Origin");
    const auto& allowed = server.options().allowed_origins;
    if (!origin.empty() && !allowed.empty() && std::find(allowed.begin(), allowed.end(), origin) == allowed.end())
      return refuse(http_error(403, "forbidden", "origin not allowed"));
    bool offered = false, offered_ours = false;
    for (const auto& f : head.fields) {
      if (!iequals(f.name, "Sec-WebSocket-Protocol")) continue;
      offered = true;
      offered_ours = offered_ours || header_list_contains(f.value, websocket_subprotocol);
    }
    if (offered && !offered_ours)
      return refuse(http_error(400, "bad_request", "subprotocol switchboard.v1 not offered"));

    std::string token;
    if (auto from_query = query_param(query, "token")) {
      token = std::move(*from_query);
    } else {
      token = std::string(bearer_credential(head.header("Authorization")));
    }
    std::error_code ec;
    remote_ = socket().remote_endpoint(ec);
    if (ec) remote_ = asio::ip::tcp::endpoint();
    const std::string remote = format_remote(remote_);
    auto header = [&head](std::string_view name) { return head.header(name); };
    auth_result auth = server.hub().on_handshake(handshake_info{token, origin, remote, path, query, header});
    if (phase_ != phase::http) return;  // cannot happen: the hub does not call back
    if (!auth.accepted) {
      const int status = auth.http_status >= 400 && auth.http_status < 600 ? auth.http_status : 401;
      return refuse(http_error(status, status == 403 ? "forbidden" : "unauthorized", auth.reason));
    }

    std::string& out = out_bytes_;
    out += "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    out += websocket_accept_key(key);
    if (offered) {
      out += "\r\nSec-WebSocket-Protocol: ";
      out += websocket_subprotocol;
    }
    out += "\r\n\r\n";
    server.admitted(*this);
    phase_ = phase::open;
    opened_at_ = std::chrono::steady_clock::now();
    const bool anonymous = !auth.who.user;
    id_ = server.hub().on_open(std::move(auth.who), peer_info{remote, head.header("User-Agent")});
    if (server.log().enabled(log_level::debug))
      server.log().write(log_level::debug, "connection_opened",
                         {{"connection", id_},
                          {"user", anonymous ? log_value() : log_value(server.hub().user_of(id_))},
                          {"remote", unless_empty(remote)},
                          {"tls", is_tls}});
    server.opened(*this);
    schedule_ping();
    flush_output();
  }

  // --- WebSocket -------------------------------------------------------------------

  struct sink {
    ws_connection& c;
    bool on_message(frame_kind kind, std::string_view payload) {
      if (c.phase_ != phase::open) return true;  // closing: the peer's data is discarded
      ++c.messages_in_;
      c.server_->hub().on_message(c.id_, kind, payload);
      return !c.paused_ && c.phase_ != phase::dead;
    }
    void on_ping(std::string_view payload) {
      // Answered once the read is handled: a read full of pings gets one pong, for the
      // latest (RFC 6455 5.5.3 allows it), and a flood pins no memory.
      if (c.phase_ == phase::open) c.next_pong_ = make_control_frame(ws_opcode::pong, payload);
    }
    void on_pong(std::string_view) {
      if (!c.awaiting_pong_) return;  // unsolicited: ignored (RFC 6455 5.5.3)
      c.awaiting_pong_ = false;
      if (c.phase_ == phase::open) c.schedule_ping();
    }
    void on_close(std::uint16_t code, std::string_view) { c.peer_closed(code); }
    void on_failure(std::uint16_t code, const char* reason) { c.protocol_failure(code, reason); }
  };

  void schedule_ping() {
    const auto interval = server_->settings().ping_interval;
    if (interval.count() <= 0) return server_->schedule(*this, no_deadline);
    const std::uint32_t base = awaiting_pong_ || ping_sent_ == 0 ? server_->now_tick() : ping_sent_;
    server_->schedule(*this, std::max(base + server_->ticks(interval), server_->now_tick() + 1));
  }

  static shared_frame close_frame(std::uint16_t code, std::string_view reason) {
    char payload[125];
    payload[0] = static_cast<char>(code >> 8);
    payload[1] = static_cast<char>(code & 0xFF);
    std::size_t n = std::min<std::size_t>(reason.size(), 123);
    // Never cut a UTF-8 sequence in two: the peer would fail the connection with 1007.
    while (n > 0 && n < reason.size() && (static_cast<unsigned char>(reason[n]) & 0xC0u) == 0x80u) --n;
    std::memcpy(payload + 2, reason.data(), n);
    return make_control_frame(ws_opcode::close, std::string_view(payload, n + 2));
  }

  // The peer's close frame arrived: the close handshake is complete once ours has left,
  // and then the server closes the TCP connection first (RFC 6455 7.1.1).
  void peer_closed(std::uint16_t code) {
    if (close_code_ == 0) {
      close_code_ = code ? code : close_code::no_status;
      closed_by_peer_ = true;
    }
    if (phase_ == phase::open) {
      // Echo its code (RFC 6455 5.5.1); an empty close is answered with an empty one.
      send_control(code ? close_frame(code, {}) : make_control_frame(ws_opcode::close, {}));
    }
    clean_close_ = true;
    closed_both_ways();
  }

  // A protocol violation: close with its code, then stop listening to the peer.
  void protocol_failure(std::uint16_t code, const char* reason) {
    if (phase_ == phase::open) {
      if (close_code_ == 0) close_code_ = code;
      server_->log().write(log_level::debug, "protocol_error", {{"connection", id_}, {"code", code}, {"reason", reason}});
      send_control(close_frame(code, reason));
    }
    closed_both_ways();
  }

  // Both close frames are decided. Once ours has left: after a close handshake, close
  // the socket; after a failure, send FIN and wait for the peer's.
  void closed_both_ways() {
    if (phase_ == phase::draining || phase_ == phase::dead) return;
    phase_ = phase::draining;
    server_->websocket_ended(*this, false);
    server_->schedule_after(*this, server_->settings().close_timeout);
    if (!writing_) last_bytes_written();
  }

  void last_bytes_written() {
    if (clean_close_) return drop_now();  // nothing unread is left: the FIN goes after our bytes
    finish_with_fin();
  }

  // Our last bytes have left: half-close and read until the peer's FIN, so that the
  // peer reads everything we sent (closing with unread input would reset the link).
  void finish_with_fin() {
    if (phase_ == phase::dead) return;
    fin_sent_ = true;
    if (phase_ != phase::draining) {
      phase_ = phase::draining;
      server_->schedule_after(*this, server_->settings().close_timeout);
    }
    if constexpr (is_tls) {
      // A TLS close_notify would need its own round trip; the timeout bounds the wait.
      std::error_code ignored;
      socket().shutdown(asio::socket_base::shutdown_send, ignored);
    } else {
      std::error_code ignored;
      socket().shutdown(asio::socket_base::shutdown_send, ignored);
    }
    std::string().swap(input_);
    post_read();
  }

  // Sends the pong held for the latest ping, unless a write is in flight (then it goes
  // when that write has left: at most one pong waits).
  void send_held_pong() {
    if (!next_pong_ || writing_ || phase_ != phase::open) return;
    out_frames_.push_back(std::move(next_pong_));
    next_pong_ = shared_frame();
    flush_output();
  }

  void send_control(const shared_frame& frame) {
    out_frames_.push_back(frame);
    if (!writing_) flush_output();
  }

  // --- writing ---------------------------------------------------------------------

  // Writes out_bytes_ then out_frames_ from out_offset_: at once as far as the socket
  // takes them, the rest when it is writable again.
  void flush_output() {
    if (writing_ || phase_ == phase::dead) return;
    if constexpr (is_tls) {
      if (out_frames_.size() == 0 && out_bytes_.empty()) return written();
      for (std::size_t i = 0; i < out_frames_.size(); ++i) {
        const std::string_view wire = out_frames_.data()[i].wire();
        out_bytes_.append(wire.data(), wire.size());
      }
      out_frames_.clear();
      writing_ = true;
      ++ops_;
      asio::async_write(stream_, asio::buffer(out_bytes_), [this](const std::error_code& ec, std::size_t) {
        const adopt guard(this);
        writing_ = false;
        if (phase_ == phase::dead) return;
        if (ec) return drop_now();
        std::string().swap(out_bytes_);
        flush_output();  // what was queued meanwhile; written() once nothing is left
      });
    } else {
      std::vector<char>& scratch = server_->write_scratch();
      for (;;) {
        // The next batch: up to 64 buffers straight from the frames, or, when they are
        // small, as many bytes as the server's write buffer holds copied into it. The
        // kernel's copy walks iovecs one at a time, which for frames of a few dozen
        // bytes costs more than one copy here and a single buffer.
        std::array<asio::const_buffer, 64> buffers;
        std::size_t count = 0, total = 0, skip = out_offset_;
        std::size_t next = 0;  // the first of out_frames_ not yet in the batch
        const auto add = [&](std::string_view bytes) {
          if (skip >= bytes.size()) {
            skip -= bytes.size();
            return;
          }
          buffers[count++] = asio::const_buffer(bytes.data() + skip, bytes.size() - skip);
          total += bytes.size() - skip;
          skip = 0;
        };
        if (!out_bytes_.empty()) add(out_bytes_);
        for (; next < out_frames_.size() && count < buffers.size(); ++next) add(out_frames_.data()[next].wire());
        if (count == 0) break;
        std::error_code ec;
        std::size_t n = 0;
        bool more = count == buffers.size();
        if (count > 1 && total <= scratch.size()) {
          char* at = scratch.data();
          for (std::size_t i = 0; i < count; ++i) at = std::copy_n(static_cast<const char*>(buffers[i].data()), buffers[i].size(), at);
          for (; next < out_frames_.size(); ++next) {
            const std::string_view wire = out_frames_.data()[next].wire();
            if (total + wire.size() > scratch.size()) break;
            at = std::copy_n(wire.data(), wire.size(), at);
            total += wire.size();
          }
          more = next < out_frames_.size();
          n = stream_.write_some(asio::buffer(scratch.data(), total), ec);
        } else {
          n = stream_.write_some(const_buffer_span{buffers.data(), buffers.data() + count}, ec);
        }
        if (ec == asio::error::would_block || ec == asio::error::try_again) return wait_writable();
        if (ec) return drop_now();
        out_offset_ += n;
        if (n < total) return wait_writable();
        if (!more) break;  // everything was in this batch
      }
      out_offset_ = 0;
      out_frames_.clear();
      if (!out_bytes_.empty()) std::string().swap(out_bytes_);
      written();
    }
  }

  void wait_writable() {
    writing_ = true;
    ++ops_;
    stream_.async_wait(asio::socket_base::wait_write, [this](const std::error_code& ec) {
      const adopt guard(this);
      writing_ = false;
      if (phase_ == phase::dead) return;
      if (ec) return drop_now();
      flush_output();
    });
  }

  // Everything queued has left.
  void written() {
    if (answering_ && phase_ == phase::http) return response_written();
    if (next_pong_ && phase_ == phase::open) return send_held_pong();
    if (hub_write_completes_) {
      hub_write_completes_ = false;
      if (phase_ == phase::open || phase_ == phase::closing) server_->hub().on_write_complete(id_);
    }
    if (phase_ == phase::draining && !fin_sent_) last_bytes_written();
  }

  static constexpr std::size_t tls_read_size = 16 * 1024;

  Stream stream_;
  websocket_reader reader_;
  std::string input_;      // bytes read but not handled yet (partial request, paused reading)
  std::string out_bytes_;  // HTTP bytes to write before the frames (or, with TLS, everything)
  frame_queue out_frames_;
  std::size_t out_offset_ = 0;  // bytes of out_bytes_ + out_frames_ already written
  std::size_t scanned_ = 0;        // bytes of the incomplete request head searched already
  std::size_t request_bytes_ = 0;  // size of the request whose body is still coming
  shared_frame next_pong_;
  std::unique_ptr<char[]> tls_buffer_;
  std::uint32_t ping_sent_ = 0;
  std::uint16_t ops_ = 0;  // handlers pending that point at this connection
  bool writing_ = false;
  bool waiting_read_ = false;
  bool read_posted_ = false;
  bool paused_ = false;
  bool handling_ = false;     // inside the reader's consume: input stays in place
  bool answering_ = false;    // an HTTP request is being answered
  bool close_after_response_ = false;
  bool peer_done_ = false;    // the peer half-closed while a request was answered
  bool awaiting_pong_ = false;
  bool hub_write_completes_ = false;  // the hub waits to hear that its write has left
  bool fin_sent_ = false;
  bool clean_close_ = false;  // the peer's close frame arrived
  bool continue_sent_ = false;  // "100 Continue" answered the request being received
};

// --- ws_server ------------------------------------------------------------------------

SWITCHBOARD_DECL ws_server::ws_server(hub_endpoint& hub, websocket_options options)
    : hub_(hub), log_(hub.log()), options_(std::move(options)), io_(hub.context()), tick_timer_(io_) {
  limits_.max_head_bytes = options_.max_header_bytes;
  limits_.max_fields = options_.max_header_count;
  limits_.max_body_bytes = hub.settings().max_message_bytes;
  read_buffer_.resize(std::max<std::size_t>(options_.read_buffer_bytes, 4096));
  write_scratch_.resize(write_scratch_bytes);
  ping_frame_ = make_control_frame(ws_opcode::ping, {});
  static constexpr char going_away[] = "\x03\xE9server shutting down";
  going_away_frame_ = make_control_frame(ws_opcode::close, std::string_view(going_away, sizeof going_away - 1));
  // The wheel turns at an eighth of the shortest timeout, between 1 ms and 100 ms.
  const config& cfg = hub.settings();
  std::chrono::milliseconds shortest = options_.handshake_timeout;
  for (const auto d : {cfg.ping_interval, cfg.ping_timeout, cfg.close_timeout})
    if (d.count() > 0) shortest = std::min(shortest, d);
  tick_ = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::clamp(shortest / 8, std::chrono::milliseconds(1), std::chrono::milliseconds(100)));
  wheel_.resize(wheel_size);
  listeners_.push_back(std::make_unique<listener>(io_));
  listeners_.back()->options = listener_options{options_.bind, options_.port, options_.tls};
  routes_.add("GET", "/health", http_handler([this](const http_request&) { return health(); }));
  routes_.add("GET", "/metrics",
              http_handler([this](const http_request&) { return prometheus_metrics_response(hub_.stats()); }));
  hub_.attach(this);
}

SWITCHBOARD_DECL ws_server::~ws_server() {
  hub_.attach(nullptr);
  for (ws_connection_base* c : connections_) {
    if (!c) continue;
    c->orphan();
    c->drop();  // deleted now, or by its last pending handler
  }
}

SWITCHBOARD_DECL void ws_server::add_listener(listener_options options) {
  listeners_.push_back(std::make_unique<listener>(io_));
  listeners_.back()->options = std::move(options);
}

SWITCHBOARD_DECL void ws_server::start() {
  if (started_) return;
  started_ = true;
  for (auto& l : listeners_) {
    const listener_options& o = l->options;
    if (o.tls.enabled()) {
      l->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      l->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
      std::error_code ec;
      l->tls->use_certificate_chain_file(o.tls.certificate_chain_file, ec);
      if (ec) throw std::runtime_error("switchboard: TLS certificate '" + o.tls.certificate_chain_file + "': " + ec.message());
      l->tls->use_private_key_file(o.tls.private_key_file, asio::ssl::context::pem, ec);
      if (ec) throw std::runtime_error("switchboard: TLS private key '" + o.tls.private_key_file + "': " + ec.message());
    }
    std::error_code ec;
    const auto address = asio::ip::make_address(o.bind, ec);
    if (ec) throw std::system_error(ec, "switchboard: bad bind address '" + o.bind + "'");
    const asio::ip::tcp::endpoint endpoint(address, o.port);
    const std::string where = o.bind + ":" + std::to_string(o.port);
    l->acceptor.open(endpoint.protocol(), ec);
    if (ec) throw std::system_error(ec, "switchboard: listen on " + where);
    l->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    l->acceptor.bind(endpoint, ec);
    if (ec) throw std::system_error(ec, "switchboard: listen on " + where);
    l->acceptor.listen(options_.listen_backlog, ec);
    if (ec) throw std::system_error(ec, "switchboard: listen on " + where);
    l->port = l->acceptor.local_endpoint(ec).port();
    if (log_.enabled(log_level::info))
      log_.write(log_level::info, "listening",
                 {{"address", format_remote(asio::ip::tcp::endpoint(address, l->port))},
                  {"tls", o.tls.enabled()},
                  {"path", options_.path}});
  }
  for (auto& l : listeners_) accept_next(*l);
}

SWITCHBOARD_DECL void ws_server::accept_next(listener& l) {
  if (stopped_) return;
  std::weak_ptr<char> alive = alive_;
  l.acceptor.async_accept([this, &l, alive](const std::error_code& ec, asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !alive.lock() || stopped_) return;
    if (ec) {
      std::error_code ignored;
      // Out of descriptors the listening socket stays readable: retrying at once would
      // spin a core until one is free.
      if (log_.enabled(log_level::warn) && accept_failures_.admit(std::chrono::steady_clock::now()))
        log_.write(log_level::warn, "accept_failed",
                   {{"address", format_remote(asio::ip::tcp::endpoint(l.acceptor.local_endpoint(ignored).address(), l.port))},
                    {"error", ec.message()},
                    {"errno", ec.value()},
                    {"retry_ms", options_.accept_retry_delay.count()},
                    {"suppressed", suppressed_count(accept_failures_.take_suppressed())}});
      return retry_accept(l);
    }
    adopt(l, std::move(socket));
    accept_next(l);
  });
}

SWITCHBOARD_DECL void ws_server::retry_accept(listener& l) {
  l.retry_timer.expires_after(options_.accept_retry_delay);
  std::weak_ptr<char> alive = alive_;
  l.retry_timer.async_wait([this, &l, alive](const std::error_code& ec) {
    if (!ec && alive.lock()) accept_next(l);
  });
}

SWITCHBOARD_DECL void ws_server::adopt(listener& l, asio::ip::tcp::socket socket) {
  ws_connection_base* c;
  if (l.tls)
    c = new ws_connection<tls_stream>(*this, std::move(socket), *l.tls);
  else
    c = new ws_connection<tcp_stream>(*this, std::move(socket));
  if (free_slots_.empty()) {
    c->slot_ = static_cast<std::uint32_t>(connections_.size());
    connections_.push_back(c);
  } else {
    c->slot_ = free_slots_.back();
    free_slots_.pop_back();
    connections_[c->slot_] = c;
  }
  c->generation_ = ++generations_;
  ++live_;
  c->start();
}

SWITCHBOARD_DECL void ws_server::remove(ws_connection_base& c) {
  schedule(c, ws_connection_base::no_deadline);
  connections_[c.slot_] = nullptr;
  free_slots_.push_back(c.slot_);
  --live_;
  delete &c;
}

SWITCHBOARD_DECL void ws_server::opened(ws_connection_base& c) {
  const std::size_t slot = static_cast<std::size_t>((c.id_ & 0xFFFFFFFFu) - 1);
  if (slot >= by_hub_slot_.size()) by_hub_slot_.resize(slot + 1, nullptr);
  by_hub_slot_[slot] = &c;
  ++open_connections_;
}

SWITCHBOARD_DECL void ws_server::websocket_ended(ws_connection_base& c, bool gone) {
  if (c.id_ != 0) {
    const std::size_t slot = static_cast<std::size_t>((c.id_ & 0xFFFFFFFFu) - 1);
    if (slot < by_hub_slot_.size() && by_hub_slot_[slot] == &c) {
      by_hub_slot_[slot] = nullptr;
      --open_connections_;
      // Before the hub forgets the connection, which it does in on_close below.
      if (log_.enabled(log_level::info)) {
        const auto lived = std::chrono::steady_clock::now() - c.opened_at_;
        log_.write(log_level::info, "connection_closed",
                   {{"connection", c.id_},
                    {"user", unless_empty(hub_.user_of(c.id_))},
                    {"remote", unless_empty(format_remote(c.remote_))},
                    {"code", c.close_code_ ? c.close_code_ : close_code::abnormal},
                    {"closed_by", c.close_code_ == 0 ? "none" : c.closed_by_peer_ ? "peer" : "server"},
                    {"duration_ms", std::chrono::duration_cast<std::chrono::milliseconds>(lived).count()},
                    {"messages_in", c.messages_in_},
                    {"messages_out", c.messages_out_}});
      }
      // Posted: this may run inside a call from the hub (a close, a write).
      const connection_id id = c.id_;
      std::weak_ptr<char> alive = alive_;
      asio::post(io_, [this, alive, id] {
        if (alive.lock()) hub_.on_close(id);
      });
    }
  }
  if (gone && c.admitted_) {
    c.admitted_ = false;
    --counted_;
  }
}

SWITCHBOARD_DECL ws_connection_base* ws_server::find(connection_id id) const noexcept {
  const std::size_t slot = static_cast<std::size_t>((id & 0xFFFFFFFFu) - 1);
  if (slot >= by_hub_slot_.size()) return nullptr;
  ws_connection_base* c = by_hub_slot_[slot];
  return c && c->id_ == id ? c : nullptr;
}

SWITCHBOARD_DECL bool ws_server::write(connection_id id, const shared_frame* frames, std::size_t count) {
  ws_connection_base* c = find(id);
  return c ? c->write(frames, count) : true;  // gone: nothing will leave, nothing to wait for
}
SWITCHBOARD_DECL void ws_server::close(connection_id id, std::uint16_t code, std::string_view reason) {
  if (ws_connection_base* c = find(id)) c->close(code, reason);
}
SWITCHBOARD_DECL void ws_server::pause_reading(connection_id id) {
  if (ws_connection_base* c = find(id)) c->pause_reading();
}
SWITCHBOARD_DECL void ws_server::resume_reading(connection_id id) {
  if (ws_connection_base* c = find(id)) c->resume_reading();
}

SWITCHBOARD_DECL void ws_server::schedule(ws_connection_base& c, std::uint32_t tick) {
  if (c.deadline_ == tick) return;
  if (c.deadline_ == ws_connection_base::no_deadline) ++scheduled_;
  if (tick == ws_connection_base::no_deadline) --scheduled_;
  c.deadline_ = tick;
  if (tick == ws_connection_base::no_deadline) return;
  wheel_[tick % wheel_size].push_back({c.slot_, c.generation_, tick});
  arm_tick();
}

SWITCHBOARD_DECL void ws_server::arm_tick() {
  if (tick_armed_) return;
  tick_armed_ = true;
  tick_timer_.expires_at(epoch_ + tick_ * (std::max(next_tick_, now_tick()) + 1));
  std::weak_ptr<char> alive = alive_;
  tick_timer_.async_wait([this, alive](const std::error_code& ec) {
    if (ec || !alive.lock()) return;
    tick_armed_ = false;
    on_tick();
  });
}

SWITCHBOARD_DECL void ws_server::on_tick() {
  const std::uint32_t now = now_tick();
  std::vector<wheel_entry> due;
  // Every bucket since the last turn (a busy loop may be late), at most once round.
  for (std::uint32_t t = next_tick_; t <= now && t - next_tick_ < wheel_size; ++t) {
    std::vector<wheel_entry>& bucket = wheel_[t % wheel_size];
    std::size_t kept = 0;
    for (const wheel_entry& e : bucket) {
      ws_connection_base* c = e.slot < connections_.size() ? connections_[e.slot] : nullptr;
      if (!c || c->generation_ != e.generation || c->deadline_ != e.tick) continue;  // stale
      if (e.tick > now) bucket[kept++] = e;  // due on a later turn of the wheel
      else due.push_back(e);
    }
    bucket.resize(kept);
  }
  next_tick_ = now + 1;
  for (const wheel_entry& e : due) {
    ws_connection_base* c = e.slot < connections_.size() ? connections_[e.slot] : nullptr;
    if (!c || c->generation_ != e.generation || c->deadline_ != e.tick) continue;
    c->deadline_ = ws_connection_base::no_deadline;
    --scheduled_;
    c->on_deadline();
  }
  // Stale entries alone do not keep the timer (and so the io_context) busy.
  if (scheduled_ > 0) arm_tick();
}

SWITCHBOARD_DECL void ws_server::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  std::error_code ignored;
  for (auto& l : listeners_) {
    l->acceptor.close(ignored);
    l->retry_timer.cancel();
  }
  hub_.close_all(close_code::going_away, "server shutting down");
  // Connections that are not WebSockets have nothing to say: closed now.
  std::vector<ws_connection_base*> plain;
  for (ws_connection_base* c : connections_)
    if (c && (c->phase_ == ws_connection_base::phase::http || c->phase_ == ws_connection_base::phase::tls_handshake))
      plain.push_back(c);
  for (ws_connection_base* c : plain) c->drop();
}

SWITCHBOARD_DECL void ws_server::tls_handshake_failed(const asio::ip::tcp::endpoint& remote, const std::error_code& ec) {
  if (!log_.enabled(log_level::warn) || !tls_failures_.admit(std::chrono::steady_clock::now())) return;
  log_.write(log_level::warn, "tls_handshake_failed",
             {{"remote", unless_empty(format_remote(remote))},
              {"error", ec.message()},
              {"suppressed", suppressed_count(tls_failures_.take_suppressed())}});
}

SWITCHBOARD_DECL void ws_server::connection_limit_reached(const asio::ip::tcp::endpoint& remote) {
  if (!log_.enabled(log_level::warn) || !connection_limit_refusals_.admit(std::chrono::steady_clock::now())) return;
  log_.write(log_level::warn, "connection_limit",
             {{"remote", unless_empty(format_remote(remote))},
              {"max_connections", settings().max_connections},
              {"suppressed", suppressed_count(connection_limit_refusals_.take_suppressed())}});
}

SWITCHBOARD_DECL http_response ws_server::health() const {
  std::string body = R"({"status":"ok",)";
  append_hub_counts(body, hub_.stats());
  body += '}';
  return {200, "application/json", std::move(body), {}};
}

}  // namespace detail

struct websocket_server::impl {
  impl(hub_endpoint& hub, websocket_options options) : server(hub, std::move(options)) {}
  detail::ws_server server;
};

SWITCHBOARD_DECL websocket_server::websocket_server(hub_endpoint& hub, websocket_options options)
    : impl_(std::make_unique<impl>(hub, std::move(options))) {}

SWITCHBOARD_DECL websocket_server::~websocket_server() = default;

SWITCHBOARD_DECL void websocket_server::add_listener(listener_options listener) {
  impl_->server.add_listener(std::move(listener));
}

SWITCHBOARD_DECL void websocket_server::start() { impl_->server.start(); }

SWITCHBOARD_DECL std::uint16_t websocket_server::port(std::size_t listener) const noexcept {
  return impl_->server.port(listener);
}

SWITCHBOARD_DECL void websocket_server::add_route(std::string method, std::string path, http_handler handler) {
  impl_->server.routes().add(std::move(method), std::move(path), std::move(handler));
}

SWITCHBOARD_DECL void websocket_server::add_async_route(std::string method, std::string path, http_async_handler handler) {
  impl_->server.routes().add(std::move(method), std::move(path), std::move(handler));
}

SWITCHBOARD_DECL void websocket_server::shutdown() { impl_->server.shutdown(); }

SWITCHBOARD_DECL std::size_t websocket_server::connection_count() const noexcept {
  return impl_->server.open_connections();
}

}  // namespace switchboard

#undef SWITCHBOARD_DECL

#endif
