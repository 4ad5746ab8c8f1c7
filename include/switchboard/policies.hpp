// The policy contracts in one include: auth (auth.hpp) and store (store.hpp).
#ifndef SWITCHBOARD_POLICIES_HPP
#define SWITCHBOARD_POLICIES_HPP

#include <switchboard/auth.hpp>
#include <switchboard/store.hpp>
#include <switchboard/switchboard_fwd.hpp>

#endif
