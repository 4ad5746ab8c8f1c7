// The hooks policy: the application hears of connections, messages and publishes, in
// order, with what it needs; a hook it does not define is never called.
#include "support/hub_harness.hpp"

#include <switchboard/hooks.hpp>

#include <string>
#include <vector>

namespace {

struct recording_hooks {
  std::vector<std::string> events;

  void on_connect(connection_id, const sb::identity& who) { events.push_back("connect " + who.user.value_or("-")); }
  void on_disconnect(connection_id, const sb::identity& who) {
    events.push_back("disconnect " + who.user.value_or("-"));
  }
  void on_message(connection_id, const sb::identity& who, sb::frame_kind kind, std::string_view payload) {
    events.push_back("message " + who.user.value_or("-") + (kind == sb::frame_kind::text ? " text " : " binary ") +
                     std::to_string(payload.size()));
  }
  void on_publish(std::string_view topic, std::uint64_t seq, const std::optional<std::string>& from,
                  std::size_t recipients) {
    events.push_back("publish " + std::string(topic) + " " + std::to_string(seq) + " " + from.value_or("null") + " " +
                     std::to_string(recipients));
  }
};

// Only one hook: the others are not required.
struct publish_counter {
  int publishes = 0;
  void on_publish(std::string_view, std::uint64_t, const std::optional<std::string>&, std::size_t) { ++publishes; }
};

using hooked_hub = sb::basic_hub<sb::policies<sb::insecure_token_auth, sb::memory_store, sb::no_user_data, recording_hooks>>;
using counting_hub = sb::basic_hub<sb::policies<sb::insecure_token_auth, sb::memory_store, sb::no_user_data, publish_counter>>;

static_assert(sb::detail::has_on_publish<publish_counter>::value, "on_publish is detected");
static_assert(!sb::detail::has_on_connect<publish_counter>::value, "an absent hook is not detected");
static_assert(!sb::detail::has_on_message<sb::no_hooks>::value, "no_hooks has none");

}  // namespace

TEST_CASE("hooks: connect, message, publish and disconnect reach the hooks policy in order", "[hooks]") {
  harness<hooked_hub> h(no_timestamps());
  const connection_id alice = h.join("alice");
  const connection_id bob = h.join("bob");
  h.subscribe(bob, R"(["room"])");
  h.send(alice, R"({"type":"publish","topic":"room","data":1})");
  h.texts(bob);
  h.send_binary(alice, binary_publish("room", "xyz"));
  REQUIRE(h.hub.publish("room", "2").seq == 3);
  h.net.disconnect(alice);
  h.pump();

  const std::vector<std::string> expected = {
      "connect alice",
      "publish system.presence 1 null 0",  // alice online: nobody listens yet
      "connect bob",
      "publish system.presence 2 null 0",
      "message bob text " + std::to_string(std::string(R"({"type":"subscribe","id":"s","topics":["room"]})").size()),
      "message alice text " + std::to_string(std::string(R"({"type":"publish","topic":"room","data":1})").size()),
      "publish room 1 alice 1",
      "message alice binary " + std::to_string(binary_publish("room", "xyz").size()),
      "publish room 2 alice 1",
      "publish room 3 null 1",
      "disconnect alice",
      "publish system.presence 3 null 0",
  };
  CHECK(h.hub.hooks().events == expected);
}

TEST_CASE("hooks: a policy with one hook gets only that one", "[hooks]") {
  harness<counting_hub> h;
  const connection_id c = h.join("carol");
  h.send(c, R"({"type":"publish","topic":"a","data":1})");
  CHECK(h.hub.hooks().publishes == 2);  // carol's presence event, then her publish
}

TEST_CASE("hooks: refused and unauthenticated connections never connect or disconnect", "[hooks]") {
  sb::config cfg = no_timestamps();
  cfg.max_connections_per_user = 1;
  harness<hooked_hub> h(cfg);
  h.join("dave");
  const connection_id second = h.connect("dave");  // over the per-user limit
  h.net.disconnect(second);
  h.pump();
  std::size_t connects = 0, disconnects = 0;
  for (const auto& e : h.hub.hooks().events) {
    connects += e == "connect dave";
    disconnects += e == "disconnect dave";
  }
  CHECK(connects == 1);
  CHECK(disconnects == 0);
}
