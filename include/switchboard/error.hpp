// Error codes of the wire protocol as std::error_code, and WebSocket close codes.
#ifndef SWITCHBOARD_ERROR_HPP
#define SWITCHBOARD_ERROR_HPP

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace switchboard {

/// The `code` values of an `error` frame (PROTOCOL.md section 6).
enum class error {
  bad_json = 1,     ///< not JSON, or not an object
  bad_request,      ///< missing or invalid field
  unauthorized,     ///< no valid credential
  forbidden,        ///< the auth policy refused, or a per-user limit was hit
  unknown_type,     ///< no handler for the frame's `type`
  unknown_command,  ///< no command of that name
  not_found,        ///< the thing asked for does not exist
  rate_limited,     ///< the connection's token bucket is empty
  too_large,        ///< a field or request exceeds a limit
  overloaded,       ///< the server cannot take more work now
  internal,         ///< a handler failed unexpectedly
};

/// The wire spelling of an error code, e.g. "bad_json".
constexpr std::string_view wire_name(error e) noexcept {
  switch (e) {
    case error::bad_json: return "bad_json";
    case error::bad_request: return "bad_request";
    case error::unauthorized: return "unauthorized";
    case error::forbidden: return "forbidden";
    case error::unknown_type: return "unknown_type";
    case error::unknown_command: return "unknown_command";
    case error::not_found: return "not_found";
    case error::rate_limited: return "rate_limited";
    case error::too_large: return "too_large";
    case error::overloaded: return "overloaded";
    case error::internal: return "internal";
  }
  return "internal";
}

namespace detail {
class error_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "switchboard"; }
  std::string message(int value) const override { return std::string(wire_name(static_cast<error>(value))); }
};
}  // namespace detail

/// The category of switchboard's error codes. Safe from any thread.
inline const std::error_category& error_category() noexcept {
  static const detail::error_category_impl category;
  return category;
}

inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), error_category()}; }

/// The protocol code for `ec`: itself when it is one of switchboard's, `internal` otherwise.
inline error protocol_error_of(std::error_code ec) noexcept {
  if (ec.category() == error_category() && ec.value() >= static_cast<int>(error::bad_json) &&
      ec.value() <= static_cast<int>(error::internal))
    return static_cast<error>(ec.value());
  return error::internal;
}

/// WebSocket close codes the server uses (RFC 6455 section 7.4).
namespace close_code {
constexpr std::uint16_t normal = 1000;
constexpr std::uint16_t going_away = 1001;         ///< server shutting down
constexpr std::uint16_t protocol_error = 1002;     ///< a frame breaking RFC 6455
constexpr std::uint16_t no_status = 1005;          ///< reported only: the peer's close frame had no code
constexpr std::uint16_t abnormal = 1006;           ///< reported only: the connection ended without a close frame
constexpr std::uint16_t invalid_payload = 1007;    ///< invalid UTF-8 in a text frame
constexpr std::uint16_t policy_violation = 1008;   ///< auth failure, expired token, per-user limit
constexpr std::uint16_t message_too_big = 1009;    ///< larger than max_message_bytes
constexpr std::uint16_t try_again_later = 1013;    ///< slow consumer: send queue over its limit
}  // namespace close_code

}  // namespace switchboard

template <>
struct std::is_error_code_enum<switchboard::error> : std::true_type {};

#endif
