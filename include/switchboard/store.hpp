// The store policy's contract: what the hub asks of the storage behind seq, history,
// recovery and offline direct messages. A custom store includes this, not memory_store.hpp.
#ifndef SWITCHBOARD_STORE_HPP
#define SWITCHBOARD_STORE_HPP

#include <switchboard/auth.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/user_keys.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace switchboard {

/// Where a topic's stream stands: the latest `seq` and the epoch it belongs to.
struct stream_position {
  std::uint64_t seq = 0;
  std::string_view epoch;  ///< valid until the store is next modified
};

/// One connection's life, as a hub hands it to a store that records sessions (see
/// `store_records_sessions`) when the connection closes. A store may cut `remote` and
/// `user_agent` to a bound of its own.
struct session_record {
  std::uint64_t connection = 0;
  std::string user;        ///< empty for an anonymous connection
  std::string remote;      ///< peer address and port
  std::string user_agent;  ///< the handshake's `User-Agent`; empty when none
  std::chrono::system_clock::time_point connected_at{};
  std::chrono::system_clock::time_point disconnected_at{};
  std::uint64_t messages_in = 0;   ///< frames received, rate-limited ones included
  std::uint64_t messages_out = 0;  ///< frames queued to the connection
};

namespace detail {
// A callable accepted by the store's enumeration members.
struct frame_sink {
  void operator()(const shared_frame&) const noexcept {}
};
struct frame_builder {
  shared_frame operator()(std::uint64_t) const { return {}; }
};
}  // namespace detail

/// True when `T` models the store policy:
/// | expression | type |
/// | `s.position(std::string_view topic)` | `stream_position`; never creates stored state |
/// | `s.append(topic, build)` with `build(std::uint64_t seq) -> shared_frame` | `std::pair<std::uint64_t, shared_frame>` |
/// | `s.replay(topic, std::uint64_t since, const std::optional<std::string>& epoch, f)` | convertible to bool |
/// | `s.history(topic, std::optional<std::uint64_t> since, std::size_t limit, f)` | `stream_position` |
/// | `s.store_direct(std::string_view user, const shared_frame&)` | convertible to bool |
/// | `s.take_directs(std::string_view user, f)` | any |
/// where `f(const shared_frame&)` is called once per frame, in ascending `seq`.
///
/// Reads (`position`, `replay`, `history`) of a topic nobody published to answer seq 0
/// with the epoch the stream will take at its first publish, and keep nothing.
///
/// Optional: `s.retain(std::string_view topic)` and `s.release(std::string_view topic)`.
/// The hub calls `retain` when an exact topic gets its first subscriber and `release`
/// when it loses its last; a store that forgets streams must never forget a retained
/// one (its subscribers hold its `seq` and epoch).
///
/// Optional, for challenge-response login (`store_keeps_user_keys`):
/// | expression | type |
/// | `s.register_user(std::string_view user, const user_keys& keys)` | `user_registration` |
/// | `s.find_user_keys(std::string_view user)` | `std::optional<user_keys>` |
/// `register_user` stores a new user's keys and never replaces a stored user's keys with
/// other ones (`conflict`): whoever registered a user id first keeps it.
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

/// True when the store wants `retain`/`release` calls (see `is_store_policy`).
template <class T, class = void>
struct store_tracks_subscriptions : std::false_type {};
template <class T>
struct store_tracks_subscriptions<T, detail::void_t<decltype(std::declval<T&>().retain(std::string_view())),
                                                    decltype(std::declval<T&>().release(std::string_view()))>>
    : std::true_type {};

/// True when the store keeps users' public keys (see `is_store_policy`); challenge-response
/// login needs it.
template <class T, class = void>
struct store_keeps_user_keys : std::false_type {};
template <class T>
struct store_keeps_user_keys<
    T, std::enable_if_t<std::is_same<decltype(std::declval<T&>().register_user(std::string_view(),
                                                                               std::declval<const user_keys&>())),
                                     user_registration>::value &&
                        std::is_same<decltype(std::declval<T&>().find_user_keys(std::string_view())),
                                     std::optional<user_keys>>::value>> : std::true_type {};

namespace detail {
struct read_sink {
  template <class Result>
  void operator()(Result&&) const noexcept {}
};
struct directs_sink {
  template <class Frames>
  void operator()(std::error_code, Frames&&) const noexcept {}
};
struct done_sink {
  void operator()(std::error_code) const noexcept {}
};
struct commit_sink {
  template <class Report>
  void operator()(const Report&) const noexcept {}
};
struct registered_sink {
  void operator()(std::error_code, user_registration) const noexcept {}
};
struct found_user_sink {
  void operator()(std::error_code, std::optional<user_keys>) const noexcept {}
};
}  // namespace detail

/// True when `T` models the asynchronous store policy, for stores whose reads wait for
/// a disk (`sqlite_store` is one). Every answer that needs the disk comes later, through
/// a handler run on the hub's `io_context`; docs/storage.md has the full table.
/// | expression | result |
/// | `s.position(topic)` | `stream_position`, from memory |
/// | `s.append(topic, build)` | `r.error`, `r.seq`, `r.ticket`, `r.frame`: a seq at once, or an error and no seq |
/// | `s.on_commit(h)` | `h(report)` with `report.last_ticket` and `report.error` after each commit |
/// | `s.ack_after_commit()` | true: a publish is acknowledged only once its ticket is committed |
/// | `s.pending_appends()` | appends not committed yet (a metric) |
/// | `s.last_error()` | why the last write failed, for the log (never a payload) |
/// | `s.read_since(topic, since, epoch, limit, max_bytes, h)` | `h(result)`: `error`, `epoch_matches`, `complete`, `more`, `seq`, `epoch`, `messages[i].frame` |
/// | `s.latest(topic, limit, max_bytes, h)` | `h(result)`, the newest messages |
/// | `s.store_direct(user, frame, h)` | `h(error_code)` once kept (or not) |
/// | `s.take_directs(user, h)` | `h(error_code, frames)`: taken, so handed out once |
/// `retain`/`release` are optional, as for `is_store_policy`.
template <class T, class = void>
struct is_async_store_policy : std::false_type {};
template <class T>
struct is_async_store_policy<
    T, detail::void_t<decltype(std::declval<T&>().position(std::string_view()).seq),
                      decltype(std::declval<T&>().append(std::string_view(), detail::frame_builder{}).ticket),
                      decltype(std::declval<T&>().on_commit(detail::commit_sink{})),
                      decltype(bool(std::declval<const T&>().ack_after_commit())),
                      decltype(std::size_t(std::declval<const T&>().pending_appends())),
                      decltype(std::string(std::declval<const T&>().last_error())),
                      decltype(std::declval<T&>().read_since(std::string_view(), std::uint64_t{},
                                                             std::declval<const std::optional<std::string>&>(),
                                                             std::size_t{}, std::size_t{}, detail::read_sink{})),
                      decltype(std::declval<T&>().latest(std::string_view(), std::size_t{}, std::size_t{},
                                                         detail::read_sink{})),
                      decltype(std::declval<T&>().store_direct(std::string_view(), std::declval<const shared_frame&>(),
                                                               detail::done_sink{})),
                      decltype(std::declval<T&>().take_directs(std::string_view(), detail::directs_sink{}))>>
    : std::true_type {};

/// True when the store records sessions, with either kind of store policy:
/// | expression | type |
/// | `s.records_sessions()` | convertible to bool: record this run's sessions (checked as each connection opens) |
/// | `s.record_session(session_record&&)` | any |
/// While `records_sessions()` is true, each connection keeps its address and user agent
/// (about 100 to 300 bytes) until it closes, so a store may leave it off by default.
template <class T, class = void>
struct store_records_sessions : std::false_type {};
template <class T>
struct store_records_sessions<T, detail::void_t<decltype(bool(std::declval<const T&>().records_sessions())),
                                                decltype(std::declval<T&>().record_session(session_record{}))>>
    : std::true_type {};

/// True when an asynchronous store keeps users' public keys (challenge-response login,
/// signed publishes):
/// | expression | result |
/// | `s.register_user(user, keys, h)` | `h(error_code, user_registration)` |
/// | `s.find_user(user, h)` | `h(error_code, std::optional<user_keys>)` |
template <class T, class = void>
struct async_store_keeps_user_keys : std::false_type {};
template <class T>
struct async_store_keeps_user_keys<
    T, detail::void_t<decltype(std::declval<T&>().register_user(std::string_view(), std::declval<const user_keys&>(),
                                                                detail::registered_sink{})),
                      decltype(std::declval<T&>().find_user(std::string_view(), detail::found_user_sink{}))>>
    : std::true_type {};

#ifdef __cpp_concepts
/// C++20 spelling of `is_store_policy`.
template <class T>
concept store_policy = is_store_policy<T>::value;
/// C++20 spelling of `is_async_store_policy`.
template <class T>
concept async_store_policy = is_async_store_policy<T>::value;
#endif

}  // namespace switchboard

#endif
