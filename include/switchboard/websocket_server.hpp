// The WebSocket transport: RFC 6455 and HTTP/1.1 on the hub's io_context, ws:// and
// wss://, with HTTP routes on the same port. No transport internals appear here.
//
// Header-only by default. Define SWITCHBOARD_SEPARATE_COMPILATION (the CMake target
// switchboard::websocket does) to compile it once, in src/websocket_server.cpp, instead
// of in every file that includes this header.
#ifndef SWITCHBOARD_WEBSOCKET_SERVER_HPP
#define SWITCHBOARD_WEBSOCKET_SERVER_HPP

#include <switchboard/http.hpp>
#include <switchboard/transport.hpp>
#include <switchboard/websocket_options.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace switchboard {

/// Serves a hub over WebSocket on the hub's `io_context`, with HTTP on the same port:
/// `GET /health`, routes added with `add_route`, 404 for anything else.
///
/// Per connection: subprotocol `switchboard.v1` negotiation, the handshake token (query
/// `token` or `Authorization: Bearer`) given to the hub's auth policy (refusal: HTTP
/// 401), the Origin allow-list (403), `max_connections` (503), `max_message_bytes`
/// (close 1009, decided from the frame header), UTF-8 validation of text messages as
/// they arrive (close 1007), ping every `ping_interval` and drop after `ping_timeout`,
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

  /// Adds a listening socket besides the one in the options (before `start`).
  void add_listener(listener_options listener);
  /// Starts listening. Throws std::system_error when an address cannot be bound, and
  /// std::runtime_error when a TLS certificate or key cannot be loaded.
  void start();
  /// The port `listener` listens on (0: the options' own, 1...: in `add_listener` order;
  /// the real one when 0 was asked); 0 before `start`.
  std::uint16_t port(std::size_t listener = 0) const noexcept;
  /// Adds an HTTP route; `method` is e.g. "GET". Replaces `GET /health` if given that.
  void add_route(std::string method, std::string path, http_handler handler);
  /// Adds an HTTP route that answers later, through its `http_reply`.
  void add_async_route(std::string method, std::string path, http_async_handler handler);
  /// Stops accepting, closes every connection (WebSocket: 1001) and stops the timers, so
  /// the io_context runs out of work once the closes complete.
  void shutdown();
  /// Open WebSocket connections.
  std::size_t connection_count() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace switchboard

#ifndef SWITCHBOARD_SEPARATE_COMPILATION
#include <switchboard/impl/websocket_server.ipp>
#endif

#endif
