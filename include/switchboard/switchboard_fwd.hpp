// Forward declarations and the default template arguments.
#ifndef SWITCHBOARD_SWITCHBOARD_FWD_HPP
#define SWITCHBOARD_SWITCHBOARD_FWD_HPP

namespace switchboard {

class insecure_token_auth;
class memory_store;
struct no_hooks;

/// Per-connection application state when the application keeps none.
struct no_user_data {};

/// The policies of a hub, as one type. `Auth` authenticates handshakes and authorizes
/// every action (`is_auth_policy`); `Store` assigns sequence numbers and keeps history
/// (`is_store_policy`); `UserData` is default-constructed per connection and reachable
/// from handlers without a lookup (like uWebSockets' `UserData`); `Hooks` hears of
/// connections, messages and publishes (hooks.hpp; `no_hooks` costs nothing).
template <class Auth = insecure_token_auth, class Store = memory_store, class UserData = no_user_data,
          class Hooks = no_hooks>
struct policies {
  using auth_type = Auth;
  using store_type = Store;
  using user_data_type = UserData;
  using hooks_type = Hooks;
};

/// The defaults: every connection accepted (INSECURE: demos and tests only), an
/// in-memory store, no per-connection user data.
using default_policies = policies<>;

template <class Policies = default_policies>
class basic_hub;

/// A hub with the default policies.
using hub = basic_hub<>;

}  // namespace switchboard

#endif
