// The policy contracts in one include: auth (auth.hpp), store (store.hpp) and hooks (hooks.hpp).
#ifndef SWITCHBOARD_POLICIES_HPP
#define SWITCHBOARD_POLICIES_HPP

#include <switchboard/auth.hpp>
#include <switchboard/hooks.hpp>
#include <switchboard/store.hpp>
#include <switchboard/switchboard_fwd.hpp>

#endif
