// Authentication and authorization: what an auth policy decides, and the default one.
#ifndef SWITCHBOARD_AUTH_HPP
#define SWITCHBOARD_AUTH_HPP

#include <optional>
#include <string>
#include <string_view>

namespace switchboard {

/// Who is on the other end of a connection, as the auth policy established it.
struct identity {
  std::optional<std::string> user;  ///< null for an anonymous connection
};

/// The outcome of authenticating a handshake credential.
struct auth_result {
  bool accepted = false;
  identity who;                ///< meaningful when accepted
  int http_status = 401;       ///< the refusal's HTTP status when not accepted
  std::string reason;          ///< human-readable refusal reason

  static auth_result accept(std::optional<std::string> user) { return {true, identity{std::move(user)}, 0, {}}; }
  static auth_result refuse(std::string reason, int http_status = 401) {
    return {false, identity{}, http_status, std::move(reason)};
  }
};

/// The default auth policy, for demos and tests only: it accepts everyone, takes the
/// handshake token verbatim as the user id (no token: anonymous) and allows every
/// subscribe and publish. INSECURE: anyone can claim to be anyone. Use a real policy
/// (JWT, Ed25519) in production.
///
/// Model of the auth policy requirements (see `is_auth_policy`).
class insecure_token_auth {
 public:
  auth_result authenticate(std::string_view token) const {
    if (token.empty()) return auth_result::accept(std::nullopt);
    return auth_result::accept(std::string(token));
  }
  bool can_subscribe(const identity&, std::string_view /*topic or pattern*/) const noexcept { return true; }
  bool can_publish(const identity&, std::string_view /*topic*/) const noexcept { return true; }
};

}  // namespace switchboard

#endif
