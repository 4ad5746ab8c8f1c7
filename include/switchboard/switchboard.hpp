// Umbrella header: the whole header-only core of switchboard.
#ifndef SWITCHBOARD_SWITCHBOARD_HPP
#define SWITCHBOARD_SWITCHBOARD_HPP

#include <switchboard/access_rules.hpp>
#include <switchboard/auth.hpp>
#include <switchboard/broker.hpp>
#include <switchboard/config.hpp>
#include <switchboard/error.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/handlers.hpp>
#include <switchboard/hooks.hpp>
#include <switchboard/hub.hpp>
#include <switchboard/logging.hpp>
#include <switchboard/memory_store.hpp>
#include <switchboard/memory_transport.hpp>
#include <switchboard/policies.hpp>
#include <switchboard/rate_limiter.hpp>
#include <switchboard/registry.hpp>
#include <switchboard/rules_auth.hpp>
#include <switchboard/switchboard_fwd.hpp>
#include <switchboard/topic.hpp>
#include <switchboard/transport.hpp>
#include <switchboard/version.hpp>

#endif
