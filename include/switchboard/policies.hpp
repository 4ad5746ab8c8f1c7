// Policy requirements, checked at compile time with readable messages.
#ifndef SWITCHBOARD_POLICIES_HPP
#define SWITCHBOARD_POLICIES_HPP

#include <switchboard/auth.hpp>
#include <switchboard/frame.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace switchboard {

namespace detail {
template <class...>
using void_t = void;

// A callable accepted by the store's enumeration members.
struct frame_sink {
  void operator()(const shared_frame&) const noexcept {}
};
struct frame_builder {
  shared_frame operator()(std::uint64_t) const { return {}; }
};
}  // namespace detail

/// True when `T` models the auth policy:
/// | expression | type |
/// | `a.authenticate(std::string_view token)` | convertible to `auth_result` |
/// | `a.can_subscribe(const identity&, std::string_view topic_or_pattern)` | convertible to bool |
/// | `a.can_publish(const identity&, std::string_view topic)` | convertible to bool |
template <class T, class = void>
struct is_auth_policy : std::false_type {};
template <class T>
struct is_auth_policy<
    T, detail::void_t<decltype(std::declval<T&>().authenticate(std::string_view())),
                      decltype(std::declval<T&>().can_subscribe(std::declval<const identity&>(), std::string_view())),
                      decltype(std::declval<T&>().can_publish(std::declval<const identity&>(), std::string_view()))>>
    : std::integral_constant<
          bool,
          std::is_convertible<decltype(std::declval<T&>().authenticate(std::string_view())), auth_result>::value &&
              std::is_convertible<decltype(std::declval<T&>().can_subscribe(std::declval<const identity&>(),
                                                                            std::string_view())),
                                  bool>::value &&
              std::is_convertible<decltype(std::declval<T&>().can_publish(std::declval<const identity&>(),
                                                                          std::string_view())),
                                  bool>::value> {};

/// True when `T` models the store policy:
/// | expression | type |
/// | `s.position(std::string_view topic)` | `stream_position` (creates the stream) |
/// | `s.append(topic, build)` with `build(std::uint64_t seq) -> shared_frame` | `std::pair<std::uint64_t, shared_frame>` |
/// | `s.replay(topic, std::uint64_t since, const std::optional<std::string>& epoch, f)` | convertible to bool |
/// | `s.history(topic, std::optional<std::uint64_t> since, std::size_t limit, f)` | `stream_position` |
/// | `s.store_direct(std::string_view user, const shared_frame&)` | convertible to bool |
/// | `s.take_directs(std::string_view user, f)` | any |
/// where `f(const shared_frame&)` is called once per frame.
template <class T, class = void>
struct is_store_policy : std::false_type {};
template <class T>
struct is_store_policy<
    T, detail::void_t<decltype(std::declval<T&>().position(std::string_view()).seq),
                      decltype(std::declval<T&>().append(std::string_view(), detail::frame_builder{}).second),
                      decltype(std::declval<T&>().replay(std::string_view(), std::uint64_t{},
                                                         std::declval<const std::optional<std::string>&>(),
                                                         detail::frame_sink{})),
                      decltype(std::declval<T&>().history(std::string_view(), std::optional<std::uint64_t>(),
                                                          std::size_t{}, detail::frame_sink{})),
                      decltype(std::declval<T&>().store_direct(std::string_view(), std::declval<const shared_frame&>())),
                      decltype(std::declval<T&>().take_directs(std::string_view(), detail::frame_sink{}))>>
    : std::true_type {};

#ifdef __cpp_concepts
/// C++20 spelling of `is_auth_policy`.
template <class T>
concept auth_policy = is_auth_policy<T>::value;
/// C++20 spelling of `is_store_policy`.
template <class T>
concept store_policy = is_store_policy<T>::value;
#endif

}  // namespace switchboard

#endif
