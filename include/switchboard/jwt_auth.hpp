// An auth policy that takes the handshake's token as a JWT: its `sub` is the user, its
// `roles` the connection's roles.
//
// Link switchboard::security (or switchboard::switchboard) to get libsodium.
#ifndef SWITCHBOARD_JWT_AUTH_HPP
#define SWITCHBOARD_JWT_AUTH_HPP

#include <switchboard/auth.hpp>
#include <switchboard/jwt.hpp>

#include <string>
#include <string_view>
#include <utility>

namespace switchboard {

/// Auth policy (`is_auth_policy`) for JWT bearer tokens. A handshake must carry a token
/// (query `token` or `Authorization: Bearer`) that `verifier` accepts; otherwise the
/// upgrade is refused with HTTP 401 and the reason, which never quotes the token.
///
/// It authenticates only: `authorize` allows every action of an authenticated
/// connection. Restrict actions with an authorization policy on top of it.
///
/// Thread safety: as `jwt_verifier`; the hub calls it from its own thread.
///
/// Example:
/// @code
/// using secure_hub = switchboard::basic_hub<switchboard::policies<switchboard::jwt_auth>>;
/// switchboard::jwt_auth auth{switchboard::jwt_verifier{switchboard::jwt_key::hs256(secret)}};
/// secure_hub hub{io, cfg, std::move(auth)};
/// @endcode
class jwt_auth {
 public:
  explicit jwt_auth(jwt_verifier verifier) : verifier_(std::move(verifier)) {}

  auth_result authenticate(const handshake_info& handshake) const {
    if (handshake.token.empty()) return auth_result::refuse("a token is required");
    jwt_result verified = verifier_.verify(handshake.token);
    if (!verified) return auth_result::refuse(std::string(verified.reason()));
    jwt_claims claims = std::move(verified).claims();
    identity who{std::move(claims.subject), std::move(claims.roles)};
    // The hub closes the connection when the verifier would stop accepting the token.
    if (claims.expires_at) who.expires_at = *claims.expires_at + verifier_.options().leeway;
    return auth_result::accept(std::move(who));
  }

  bool authorize(const identity&, action, std::string_view /*target*/) const noexcept { return true; }

  const jwt_verifier& verifier() const noexcept { return verifier_; }

 private:
  jwt_verifier verifier_;
};

static_assert(is_auth_policy<jwt_auth>::value, "jwt_auth must model the auth policy");

}  // namespace switchboard

#endif
