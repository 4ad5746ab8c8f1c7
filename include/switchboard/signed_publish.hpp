// Signed publishes on the server: a publish carrying `sig` (the publisher's Ed25519
// signature of its topic and data, see e2e.hpp) is delivered only when the signature
// verifies against the key the publisher registered in the hub's store, and then
// subscribers receive the `sig` with the message to check it themselves.
//
// The check itself needs libsodium, which the core does not link: the hub holds a
// `signature_check` that e2e.hpp's `verify_signed_publishes(hub)` installs. Until one is
// installed, every signed publish is refused (a `sig` the server did not check is never
// passed on as if it had been).
#ifndef SWITCHBOARD_SIGNED_PUBLISH_HPP
#define SWITCHBOARD_SIGNED_PUBLISH_HPP

#include <switchboard/store.hpp>
#include <switchboard/user_keys.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace switchboard {

/// True when `sig` (as the publish carried it) is the signature of `data` (its exact JSON
/// text) on `topic` by the Ed25519 key in `publisher`. Must not throw for bad input.
/// e2e.hpp's `registered_key_signed` is the one switchboard ships.
using signature_check = bool (*)(const user_keys& publisher, std::string_view topic, std::string_view data,
                                 std::string_view sig);

namespace detail {

/// Why a publish of `data` on `topic` by `user` carrying `sig` may not be delivered, or
/// empty when the signature verifies against `user`'s registered key in `store`. The
/// reason names no key, signature or payload: it goes to the client and the audit hook.
template <class Store>
std::string_view signed_publish_refusal([[maybe_unused]] Store& store, signature_check check,
                                        const std::optional<std::string>& user, [[maybe_unused]] std::string_view topic,
                                        [[maybe_unused]] std::string_view data, [[maybe_unused]] std::string_view sig) {
  if (!user) return "a signed message needs a publishing user";
  if constexpr (store_keeps_user_keys<Store>::value) {
    if (!check) return "this server does not verify message signatures";
    const std::optional<user_keys> keys = store.find_user_keys(*user);
    if (!keys) return "the publisher has no registered key";
    if (!check(*keys, topic, data, sig)) return "the signature does not verify";
    return {};
  } else {
    return "this server does not verify message signatures";
  }
}

}  // namespace detail
}  // namespace switchboard

#endif
