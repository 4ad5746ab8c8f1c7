// Security events, for an application's audit log: what was refused, to whom, and why.
#ifndef SWITCHBOARD_AUDIT_HPP
#define SWITCHBOARD_AUDIT_HPP

#include <cstdint>
#include <functional>
#include <string_view>

namespace switchboard {

/// What happened. Every refusal a client can provoke has a kind here.
enum class audit_kind : std::uint8_t {
  handshake_refused,  ///< a WebSocket upgrade refused by the auth policy (bad or missing token, ...)
  auth_failed,        ///< an in-band `auth` (or refresh) refused: invalid token, another user's token
  auth_timeout,       ///< no in-band `auth` succeeded within `auth_timeout`; closed with 1008
  token_expired,      ///< a connection's token expired; closed with 1008
  action_refused,     ///< a request refused by authorization (`forbidden`)
  rate_limited,       ///< a frame refused by the connection's rate limit
  login_refused,      ///< a challenge-response login step refused (replayed, expired or unknown nonce, bad signature)
  api_key_refused,    ///< an HTTP request to a protected route without a valid API key
};

/// The protocol-style name of a kind ("handshake_refused", ...), for logs.
constexpr std::string_view audit_kind_name(audit_kind k) noexcept {
  switch (k) {
    case audit_kind::handshake_refused: return "handshake_refused";
    case audit_kind::auth_failed: return "auth_failed";
    case audit_kind::auth_timeout: return "auth_timeout";
    case audit_kind::token_expired: return "token_expired";
    case audit_kind::action_refused: return "action_refused";
    case audit_kind::rate_limited: return "rate_limited";
    case audit_kind::login_refused: return "login_refused";
    case audit_kind::api_key_refused: return "api_key_refused";
  }
  return "unknown";
}

/// One security event. The views are valid during the hook's call only. None of them
/// ever holds a token, a signature, a secret or a message payload: `detail` is a
/// reason or an action and its target (a topic, a command name, a user id).
struct audit_event {
  audit_kind kind;
  std::uint64_t connection = 0;  ///< the connection's id; 0 when there is none (handshakes, HTTP)
  std::string_view user;         ///< the user concerned; empty when unknown or anonymous
  std::string_view remote;       ///< peer address and port, when known
  std::string_view detail;       ///< why, or what was refused (`"subscribe admin.x"`)
};

/// Receives every security event, on the hub's thread. Keep it cheap: a flood of
/// refused frames calls it once per frame (hand the event to a queue if logging is slow).
using audit_hook = std::function<void(const audit_event&)>;

}  // namespace switchboard

#endif
