// Options of the WebSocket servers: where they listen and the limits of the transport.
// The hub's `config` holds the protocol limits (message size, heartbeat, queues).
#ifndef SWITCHBOARD_WEBSOCKET_OPTIONS_HPP
#define SWITCHBOARD_WEBSOCKET_OPTIONS_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace switchboard {

/// TLS for a listener (`wss://` and `https://`): PEM files, TLS 1.2 or later.
struct tls_options {
  std::string certificate_chain_file;  ///< the server's certificate, then its chain
  std::string private_key_file;
  /// True when both files are set: the listener speaks TLS.
  bool enabled() const noexcept { return !certificate_chain_file.empty() || !private_key_file.empty(); }
};

/// One listening socket. A server has the one in `websocket_options` and may add more
/// (plain and TLS side by side) with `websocket_server::add_listener`.
struct listener_options {
  std::string bind = "127.0.0.1";  ///< address to listen on
  std::uint16_t port = 9002;        ///< 0 picks a free port (see `websocket_server::port()`)
  tls_options tls;                  ///< TLS when set
};

/// Options of a WebSocket server.
struct websocket_options {
  std::string bind = "127.0.0.1";   ///< address to listen on
  std::uint16_t port = 9002;         ///< 0 picks a free port (see `websocket_server::port()`)
  tls_options tls;                   ///< the listener speaks TLS when set
  std::string path = "/ws";          ///< WebSocket path; other paths are HTTP
  /// Browser origins allowed to connect; empty allows any. A handshake without an
  /// `Origin` header (not a browser) is never refused by this list.
  std::vector<std::string> allowed_origins;
  int listen_backlog = 4096;         ///< pending connections the kernel may hold
  /// When accepting fails (out of file descriptors, say), the next attempt waits this
  /// long instead of spinning on the still-readable listening socket.
  std::chrono::milliseconds accept_retry_delay{100};
  /// A connection that has not sent a complete HTTP request (a WebSocket upgrade or any
  /// other) within this time of connecting, or of its last response, is closed: slow
  /// handshakes and idle keep-alive connections cost a descriptor each.
  std::chrono::milliseconds handshake_timeout{5000};
  /// Bytes of an HTTP request line and its headers together; past it: `431` (`414`
  /// when the request line alone is longer). Admits an 8,300-byte request line with
  /// 16 KiB of headers, as PROTOCOL section 1 requires; a connection holds at most this
  /// much while its request head is incomplete.
  std::size_t max_header_bytes = 32 * 1024;
  /// Header lines of an HTTP request; past it: `431`.
  std::size_t max_header_count = 100;
  /// The buffer each read goes into, one per server (not per connection): the most one
  /// read takes from a socket.
  std::size_t read_buffer_bytes = 64 * 1024;
  // The transport logs through its hub's logger: see `basic_hub::set_log_hook`.
};

}  // namespace switchboard

#endif
