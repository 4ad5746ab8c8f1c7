// Which function serves which built-in request type. Adding a request (in-band `auth`,
// say) is one line here and one function in requests.hpp.
#ifndef SWITCHBOARD_DETAIL_DISPATCH_HPP
#define SWITCHBOARD_DETAIL_DISPATCH_HPP

#include <switchboard/detail/json.hpp>
#include <switchboard/requests.hpp>

#include <string_view>

namespace switchboard {
namespace detail {

template <class Core>
using request_handler = void (*)(Core&, typename Core::entry_type&, const parsed_request&);

/// The handler of a built-in request type, or null (`command` and application types
/// are the hub's: they need its handler registry).
template <class Core>
request_handler<Core> builtin_request(std::string_view type) noexcept {
  struct route {
    std::string_view type;
    request_handler<Core> handle;
  };
  // Most frequent first: the list is scanned in order.
  static constexpr route routes[] = {
      {"publish", &requests::publish<Core>},         {"subscribe", &requests::subscribe<Core>},
      {"unsubscribe", &requests::unsubscribe<Core>}, {"ping", &requests::ping<Core>},
      {"direct", &requests::direct<Core>},           {"presence", &requests::presence<Core>},
      {"history", &requests::history<Core>},
  };
  for (const route& r : routes)
    if (r.type == type) return r.handle;
  return nullptr;
}

}  // namespace detail
}  // namespace switchboard

#endif
