// An auth policy that adds authorization to another: access rules and an application
// callback on top of whatever policy authenticates.
#ifndef SWITCHBOARD_RULES_AUTH_HPP
#define SWITCHBOARD_RULES_AUTH_HPP

#include <switchboard/access_rules.hpp>
#include <switchboard/auth.hpp>

#include <functional>
#include <optional>
#include <string_view>
#include <utility>

namespace switchboard {

/// An application's own authorization decision (room membership, say): true permits.
/// It sees what the auth policy's `authorize` sees.
using authorization_callback = std::function<bool(const identity&, action, std::string_view target)>;

/// Auth policy (`is_auth_policy`) composing authorization onto the policy `Auth`:
///
/// - `authenticate` is `Auth`'s.
/// - `authorize` permits only when all of these do: `Auth`'s own `authorize`, the access
///   rules (when set; without rules they are not consulted), and the callback (when set).
///   A callback that throws refuses.
///
/// Template parameter: `Auth`, any auth policy (`jwt_auth`, `insecure_token_auth`, one of
/// the application's).
///
/// Thread safety: call only from the hub's thread (the hub calls it there); changing the
/// rules or the callback through `hub.auth()` takes effect at the next request.
///
/// Example:
/// @code
/// using secure_hub = basic_hub<policies<rules_auth<jwt_auth>>>;
/// access_rules_result loaded = load_access_rules_file("rules.json");
/// if (!loaded) throw std::runtime_error(loaded.error);
/// rules_auth<jwt_auth> auth{jwt_auth{jwt_verifier{jwt_key::hs256(secret)}}, std::move(loaded.rules),
///                           [&rooms](const identity& who, action what, std::string_view target) {
///                             return what != action::publish || rooms.is_member(who, target);
///                           }};
/// secure_hub hub{io, cfg, std::move(auth)};
/// @endcode
template <class Auth>
class rules_auth {
  static_assert(is_auth_policy<Auth>::value,
                "Auth policy requirements not met: needs authenticate(const handshake_info&) returning auth_result "
                "and authorize(const identity&, action, std::string_view) returning bool (see auth.hpp)");

 public:
  using inner_type = Auth;

  rules_auth() = default;

  /// `inner` authenticates; `rules`, when given, restrict every action; `callback`, when
  /// given, has the last word.
  explicit rules_auth(Auth inner, std::optional<access_rules> rules = std::nullopt,
                      authorization_callback callback = {})
      : inner_(std::move(inner)), rules_(std::move(rules)), callback_(std::move(callback)) {}

  auth_result authenticate(const handshake_info& handshake) { return inner_.authenticate(handshake); }

  bool authorize(const identity& who, action what, std::string_view target) {
    if (!inner_.authorize(who, what, target)) return false;
    if (rules_ && !rules_->permits(who, what, target)) return false;
    if (!callback_) return true;
    // An application's failure must not take the server down, nor let anything through.
    try {
      return callback_(who, what, target);
    } catch (...) {
      return false;
    }
  }

  /// The policy that authenticates.
  Auth& inner() noexcept { return inner_; }
  const Auth& inner() const noexcept { return inner_; }

  /// The access rules; null when none are set.
  const access_rules* rules() const noexcept { return rules_ ? &*rules_ : nullptr; }
  /// Replaces the access rules (nullopt: no rules, the inner policy and callback decide).
  void set_rules(std::optional<access_rules> rules) { rules_ = std::move(rules); }

  /// Replaces the callback (empty: none).
  void set_callback(authorization_callback callback) { callback_ = std::move(callback); }

 private:
  Auth inner_;
  std::optional<access_rules> rules_;
  authorization_callback callback_;
};

static_assert(is_auth_policy<rules_auth<insecure_token_auth>>::value, "rules_auth must model the auth policy");

}  // namespace switchboard

#endif
