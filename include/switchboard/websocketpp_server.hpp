// The websocketpp adapter: the transport switchboard had before its own, for users who
// ask for it by name (CMake option SWITCHBOARD_WITH_WEBSOCKETPP, target
// switchboard::websocketpp). It serves plain ws:// only and has no asynchronous HTTP
// routes; docs/websocketpp.md lists what else it cannot do. No websocketpp type
// appears here.
#ifndef SWITCHBOARD_WEBSOCKETPP_SERVER_HPP
#define SWITCHBOARD_WEBSOCKETPP_SERVER_HPP

#include <switchboard/http.hpp>
#include <switchboard/transport.hpp>
#include <switchboard/websocket_options.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace switchboard {

/// Serves a hub over WebSocket through websocketpp, with the same options, routes and
/// behaviour as `websocket_server` where websocketpp allows (see docs/websocketpp.md).
/// Thread safety: as `websocket_server`.
class websocketpp_server {
 public:
  template <class Policies>
  explicit websocketpp_server(basic_hub<Policies>& hub, websocket_options options = {})
      : websocketpp_server(hub_access::endpoint(hub), std::move(options)) {}
  explicit websocketpp_server(hub_endpoint& hub, websocket_options options = {});
  ~websocketpp_server();
  websocketpp_server(const websocketpp_server&) = delete;
  websocketpp_server& operator=(const websocketpp_server&) = delete;

  /// Starts listening. Throws std::system_error when the address cannot be bound, and
  /// std::invalid_argument when TLS is asked for.
  void start();
  /// The port listened on (the real one when 0 was asked); 0 before `start`.
  std::uint16_t port() const noexcept;
  /// Adds an HTTP route; `method` is e.g. "GET". Replaces `GET /health` if given that.
  void add_route(std::string method, std::string path, http_handler handler);
  /// Stops accepting, closes every connection with 1001 and stops the heartbeat.
  void shutdown();
  /// Open WebSocket connections.
  std::size_t connection_count() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace switchboard

#endif
