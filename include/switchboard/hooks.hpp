// Event hooks: the application hears of connections, messages and publishes as they
// happen, without wrapping the transport. A policy, so that a hub without hooks pays
// nothing for them.
#ifndef SWITCHBOARD_HOOKS_HPP
#define SWITCHBOARD_HOOKS_HPP

#include <switchboard/auth.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/registry.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace switchboard {

/// The hooks policy of a hub when the application has none: every call compiles away.
struct no_hooks {};

/// A hooks policy may define any of these members (each is optional; the hub calls
/// only those that exist, on its own thread, after the event took effect):
/// | member | called |
/// | `void on_connect(connection_id, const identity&)` | a connection got its `welcome` |
/// | `void on_disconnect(connection_id, const identity&)` | a connection that got `welcome` ended |
/// | `void on_message(connection_id, const identity&, frame_kind, std::string_view payload)` | a message passed the rate limit, before it is handled |
/// | `void on_publish(std::string_view topic, std::uint64_t seq, const std::optional<std::string>& from, std::size_t recipients)` | a publish was queued to its subscribers |
///
/// A hook must not throw and must not call back into the hub's request path (it may
/// publish: that is queued like any publish). Payloads reach `on_message` only: keep
/// them out of logs.
namespace detail {
template <class H, class = void>
struct has_on_connect : std::false_type {};
template <class H>
struct has_on_connect<H, void_t<decltype(std::declval<H&>().on_connect(connection_id{}, std::declval<const identity&>()))>>
    : std::true_type {};

template <class H, class = void>
struct has_on_disconnect : std::false_type {};
template <class H>
struct has_on_disconnect<
    H, void_t<decltype(std::declval<H&>().on_disconnect(connection_id{}, std::declval<const identity&>()))>>
    : std::true_type {};

template <class H, class = void>
struct has_on_message : std::false_type {};
template <class H>
struct has_on_message<H, void_t<decltype(std::declval<H&>().on_message(connection_id{}, std::declval<const identity&>(),
                                                                       frame_kind::text, std::string_view()))>>
    : std::true_type {};

template <class H, class = void>
struct has_on_publish : std::false_type {};
template <class H>
struct has_on_publish<H, void_t<decltype(std::declval<H&>().on_publish(
                             std::string_view(), std::uint64_t{}, std::declval<const std::optional<std::string>&>(),
                             std::size_t{}))>> : std::true_type {};
}  // namespace detail

}  // namespace switchboard

#endif
