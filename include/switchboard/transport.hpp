// The seam between the core and the transports that carry its frames.
#ifndef SWITCHBOARD_TRANSPORT_HPP
#define SWITCHBOARD_TRANSPORT_HPP

#include <switchboard/auth.hpp>
#include <switchboard/config.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/logging.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/stats.hpp>
#include <switchboard/switchboard_fwd.hpp>

#include <asio/io_context.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace switchboard {

namespace detail {
/// Appends `"connections":N,"users":M,"topics":K,"uptime_s":S` (for `/health` and `server_info`).
template <class Out>
void append_hub_counts(Out& out, const hub_stats& s) {
  out.append(std::string_view(R"("connections":)"));
  append_uint(out, s.connections);
  out.append(std::string_view(R"(,"users":)"));
  append_uint(out, s.users);
  out.append(std::string_view(R"(,"topics":)"));
  append_uint(out, s.topics);
  out.append(std::string_view(R"(,"uptime_s":)"));
  append_uint(out, s.uptime_s);
}
}  // namespace detail

/// What a hub asks of a transport. Implementations must not call back into the hub
/// from inside these functions (post instead): the hub calls them in the middle of
/// its own bookkeeping.
class transport {
 public:
  virtual ~transport() = default;
  /// Sends `count` frames to `id`, in order, ideally as one socket write. The transport
  /// copies or references what it needs before returning. Returns true when the frames
  /// have already left (or were dropped); otherwise it calls
  /// `hub_endpoint::on_write_complete(id)` once they have.
  virtual bool write(connection_id id, const shared_frame* frames, std::size_t count) = 0;
  /// Starts a close handshake with `code`; the socket is closed within
  /// `config::close_timeout` even if the peer never answers.
  virtual void close(connection_id id, std::uint16_t code, std::string_view reason) = 0;
  /// Stops reading from `id` (backpressure) until `resume_reading`.
  virtual void pause_reading(connection_id id) = 0;
  virtual void resume_reading(connection_id id) = 0;
};

/// Where a connection comes from, for the session record (`store_records_sessions`).
struct peer_info {
  std::string_view remote;      ///< peer address and port
  std::string_view user_agent;  ///< the handshake's `User-Agent`; empty when none
};

/// What a transport asks of a hub. `basic_hub` implements it, so a compiled transport
/// can drive any instantiation of the template. Call only from the hub's thread.
class hub_endpoint {
 public:
  /// Authenticates a handshake before the WebSocket opens; a refusal carries the HTTP status.
  virtual auth_result on_handshake(const handshake_info& info) = 0;
  /// The WebSocket is open: registers it and queues `welcome` (or a refusal and close).
  /// `peer`'s views are valid during the call only.
  virtual connection_id on_open(identity who, const peer_info& peer) = 0;
  /// A complete message arrived (text: valid UTF-8, checked by the transport).
  virtual void on_message(connection_id id, frame_kind kind, std::string_view payload) = 0;
  /// The frames of the last `transport::write` to `id` have left.
  virtual void on_write_complete(connection_id id) = 0;
  /// The connection is gone.
  virtual void on_close(connection_id id) = 0;
  /// Closes every connection with `code` through the transport (shutdown: 1001); the
  /// hub queues nothing more to them.
  virtual void close_all(std::uint16_t code, std::string_view reason) = 0;

  /// The transport that carries this hub's frames (one per hub).
  virtual void attach(transport* t) = 0;
  virtual const config& settings() const noexcept = 0;
  virtual asio::io_context& context() noexcept = 0;
  virtual hub_stats stats() const = 0;
  /// The hub's logger: a transport writes its records through it, so that the hook the
  /// host installed on the hub (`set_log_hook`) hears the hub and its transports alike.
  virtual const logger& log() const noexcept {
    static const logger disabled;
    return disabled;
  }
  /// The user of connection `id`; empty when it has none (anonymous, not authenticated
  /// yet, or gone). For log records.
  virtual std::string_view user_of(connection_id) noexcept { return {}; }

 protected:
  ~hub_endpoint() = default;
};

/// The door from a hub to its `hub_endpoint`, for transports only. A hub implements
/// the endpoint privately, so that applications cannot call `on_message` and friends by
/// mistake; a transport's constructor takes the hub and asks for its endpoint here.
class hub_access {
 public:
  template <class Policies>
  static hub_endpoint& endpoint(basic_hub<Policies>& hub) noexcept {
    return hub;
  }
};

}  // namespace switchboard

#endif
