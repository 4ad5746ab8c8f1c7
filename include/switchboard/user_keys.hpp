// A user's public keys, as challenge-response login registers them and end-to-end
// encryption looks them up: what a store keeps per user.
#ifndef SWITCHBOARD_USER_KEYS_HPP
#define SWITCHBOARD_USER_KEYS_HPP

#include <array>
#include <cstddef>
#include <cstdint>

namespace switchboard {

/// A user's two raw public keys. Both are public: they are compared and copied as
/// plain bytes.
struct user_keys {
  static constexpr std::size_t key_bytes = 32;
  /// Proves the user's identity: login challenges are signed with its secret half.
  std::array<unsigned char, key_bytes> ed25519{};
  /// Lets others encrypt to the user (direct messages only the user can read).
  std::array<unsigned char, key_bytes> x25519{};

  friend bool operator==(const user_keys& a, const user_keys& b) noexcept {
    return a.ed25519 == b.ed25519 && a.x25519 == b.x25519;
  }
  friend bool operator!=(const user_keys& a, const user_keys& b) noexcept { return !(a == b); }
};

/// What `register_user` did.
enum class user_registration : std::uint8_t {
  created,             ///< the user is new; its keys are stored
  already_registered,  ///< the user was stored with exactly these keys; nothing changed
  conflict,            ///< the user is stored with other keys, which stay: no takeover
  full,                ///< the store holds as many users as it may; nothing stored
};

}  // namespace switchboard

#endif
