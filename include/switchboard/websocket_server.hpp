// The WebSocket transport: a websocketpp server (compiled into switchboard::websocket)
// with HTTP routes on the same port. No websocketpp type appears here.
#ifndef SWITCHBOARD_WEBSOCKET_SERVER_HPP
#define SWITCHBOARD_WEBSOCKET_SERVER_HPP

#include <switchboard/transport.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

/// Severity of a transport log line.
enum class log_level { debug, info, warning, error };

/// An HTTP request on the server's port, as a route handler sees it.
struct http_request {
  std::string_view method;  ///< "GET", "POST", ...
  std::string_view path;    ///< without the query string
  std::string_view query;   ///< after `?`, undecoded; empty when none
  std::string_view body;
  /// A request header by name (case-insensitive); empty when absent.
  std::function<std::string_view(std::string_view name)> header;
};

/// The answer of a route handler.
struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

/// Answers one HTTP route. Runs on the hub's thread.
using http_handler = std::function<http_response(const http_request&)>;

/// Options of a `websocket_server`. The hub's `config` holds the protocol limits
/// (message size, heartbeat, queues); these are about the listening socket.
struct websocket_options {
  std::string bind = "127.0.0.1";   ///< address to listen on
  std::uint16_t port = 9002;         ///< 0 picks a free port (see `websocket_server::port()`)
  std::string path = "/ws";          ///< WebSocket path; other paths are HTTP
  /// Browser origins allowed to connect; empty allows any. A handshake without an
  /// `Origin` header (not a browser) is never refused by this list.
  std::vector<std::string> allowed_origins;
  int listen_backlog = 4096;         ///< pending connections the kernel may hold
  /// When accepting fails (out of file descriptors, say), the next attempt waits this
  /// long instead of spinning on the still-readable listening socket.
  std::chrono::milliseconds accept_retry_delay{100};
  /// Receives the transport's warnings and errors; logging is off while empty.
  std::function<void(log_level, std::string_view)> log;
};

/// Serves a hub over WebSocket on the hub's `io_context`, with HTTP on the same port:
/// `GET /health`, routes added with `add_route`, 404 for anything else.
///
/// Per connection: subprotocol `switchboard.v1` negotiation, the handshake token (query
/// `token` or `Authorization: Bearer`) given to the hub's auth policy (refusal: HTTP
/// 401), the Origin allow-list (403), `max_message_bytes` (close 1009), UTF-8 validation
/// of text frames (close 1007), ping every `ping_interval` and drop after `ping_timeout`,
/// TCP_NODELAY, and everything the hub queued in one loop turn sent as one write.
///
/// Thread safety: construct, start and shut down on the hub's thread (or before the
/// io_context runs). The hub and io_context must outlive the server.
class websocket_server {
 public:
  /// Serves `hub` (which must outlive the server) on its io_context.
  template <class Policies>
  explicit websocket_server(basic_hub<Policies>& hub, websocket_options options = {})
      : websocket_server(hub_access::endpoint(hub), std::move(options)) {}
  /// Serves any hub endpoint (see `hub_access`).
  explicit websocket_server(hub_endpoint& hub, websocket_options options = {});
  ~websocket_server();
  websocket_server(const websocket_server&) = delete;
  websocket_server& operator=(const websocket_server&) = delete;

  /// Starts listening. Throws std::system_error when the address cannot be bound.
  void start();
  /// The port listened on (the real one when 0 was asked); 0 before `start`.
  std::uint16_t port() const noexcept;
  /// Adds an HTTP route; `method` is e.g. "GET". Replaces `GET /health` if given that.
  void add_route(std::string method, std::string path, http_handler handler);
  /// Stops accepting, closes every connection with 1001 and stops the heartbeat, so the
  /// io_context runs out of work once the closes complete.
  void shutdown();
  /// Open WebSocket connections.
  std::size_t connection_count() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace switchboard

#endif
