// The auth policy's contract: what a handshake shows it, what it decides, which actions
// it authorizes; and the default (insecure) policy.
#ifndef SWITCHBOARD_AUTH_HPP
#define SWITCHBOARD_AUTH_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace switchboard {

/// Who is on the other end of a connection, as the auth policy established it.
struct identity {
  std::optional<std::string> user;  ///< null for an anonymous connection
  /// What the credential grants (a token's `roles`), for authorization. The `{}` keeps
  /// `identity{user}` free of missing-initializer warnings.
  std::vector<std::string> roles{};
  /// When the credential stops being valid (a token's `exp`, plus any leeway): the hub
  /// closes the connection with 1008 then, unless an in-band `auth` refreshed it
  /// (PROTOCOL section 3.1). Empty: it never expires.
  std::optional<std::chrono::system_clock::time_point> expires_at{};

  /// True when `role` is one of `roles`.
  bool has_role(std::string_view role) const noexcept {
    for (const std::string& r : roles)
      if (r == role) return true;
    return false;
  }
};

/// The outcome of authenticating a handshake.
struct auth_result {
  bool accepted = false;
  identity who;                ///< meaningful when accepted
  int http_status = 401;       ///< the refusal's HTTP status when not accepted
  std::string reason;          ///< human-readable refusal reason

  static auth_result accept(std::optional<std::string> user) { return accept(identity{std::move(user)}); }
  static auth_result accept(identity who) { return {true, std::move(who), 0, {}}; }
  static auth_result refuse(std::string reason, int http_status = 401) {
    return {false, identity{}, http_status, std::move(reason)};
  }
};

/// Everything a transport learnt from a WebSocket handshake, for the auth policy. The
/// views are valid only during `authenticate`.
struct handshake_info {
  std::string_view token;   ///< query parameter `token`, or the `Authorization: Bearer` value; empty when none
  std::string_view origin;  ///< `Origin` header; empty when none
  std::string_view remote;  ///< peer address and port
  std::string_view path;    ///< request path, without the query string
  std::string_view query;   ///< after `?`, undecoded; empty when none
  /// A request header by name (case-insensitive); empty when absent. May be empty
  /// (not callable) for transports without headers, such as `memory_transport`.
  std::function<std::string_view(std::string_view name)> header;
};

/// What a connection asks to do; the auth policy's `authorize` sees each one with its
/// target, so rules can cover every request, not only subscribe and publish.
enum class action : std::uint8_t {
  subscribe,  ///< target: the topic or pattern
  publish,    ///< target: the topic (JSON or binary publish)
  presence,   ///< target: the topic
  history,    ///< target: the topic
  direct,     ///< target: the recipient's user id
  command,    ///< target: the command's name
};

/// The protocol name of an action ("subscribe", "publish", ...), for messages and logs.
constexpr std::string_view action_name(action a) noexcept {
  switch (a) {
    case action::subscribe: return "subscribe";
    case action::publish: return "publish";
    case action::presence: return "presence";
    case action::history: return "history";
    case action::direct: return "direct";
    case action::command: return "command";
  }
  return "unknown";
}

namespace detail {
template <class...>
using void_t = void;
}  // namespace detail

/// True when `T` models the auth policy:
/// | expression | type |
/// | `a.authenticate(const handshake_info&)` | convertible to `auth_result` |
/// | `a.authorize(const identity&, action, std::string_view target)` | convertible to bool |
///
/// The hub validates the user id an accepted handshake yields (PROTOCOL section 1:
/// 1 to 128 bytes of UTF-8 without control characters) and refuses anything else with 401.
template <class T, class = void>
struct is_auth_policy : std::false_type {};
template <class T>
struct is_auth_policy<
    T, detail::void_t<decltype(std::declval<T&>().authenticate(std::declval<const handshake_info&>())),
                      decltype(std::declval<T&>().authorize(std::declval<const identity&>(), action::publish,
                                                            std::string_view()))>>
    : std::integral_constant<
          bool, std::is_convertible<decltype(std::declval<T&>().authenticate(std::declval<const handshake_info&>())),
                                    auth_result>::value &&
                    std::is_convertible<decltype(std::declval<T&>().authorize(std::declval<const identity&>(),
                                                                              action::publish, std::string_view())),
                                        bool>::value> {};

#ifdef __cpp_concepts
/// C++20 spelling of `is_auth_policy`.
template <class T>
concept auth_policy = is_auth_policy<T>::value;
#endif

/// The default auth policy, for demos and tests only: it accepts everyone, takes the
/// handshake token verbatim as the user id (no token: anonymous) and authorizes every
/// action. INSECURE: anyone can claim to be anyone. Use a real policy (JWT, Ed25519)
/// in production.
class insecure_token_auth {
 public:
  auth_result authenticate(const handshake_info& handshake) const {
    if (handshake.token.empty()) return auth_result::accept(std::nullopt);
    return auth_result::accept(std::string(handshake.token));
  }
  bool authorize(const identity&, action, std::string_view /*target*/) const noexcept { return true; }
};

}  // namespace switchboard

#endif
