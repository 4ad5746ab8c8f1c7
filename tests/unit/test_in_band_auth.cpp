// In-band auth, refresh and token expiry (PROTOCOL section 3.1), through the in-memory
// transport, with a test policy whose tokens say their own user, roles and lifetime.
#include "support/hub_harness.hpp"

#include <switchboard/audit.hpp>
#include <switchboard/detail/deadline_queue.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;

// Tokens are `user`, `user;ttl_ms=N` or `user;role=R`; "bad" and "" are refused.
class test_token_auth {
 public:
  sb::auth_result authenticate(const sb::handshake_info& info) const {
    std::string_view rest = info.token;
    if (rest.empty() || rest == "bad") return sb::auth_result::refuse("invalid token");
    sb::identity who{std::string(rest.substr(0, rest.find(';')))};
    for (auto semicolon = rest.find(';'); semicolon != std::string_view::npos; semicolon = rest.find(';')) {
      rest = rest.substr(semicolon + 1);
      const std::string_view field = rest.substr(0, rest.find(';'));
      if (field.rfind("ttl_ms=", 0) == 0)
        who.expires_at = std::chrono::system_clock::now() + std::chrono::milliseconds(std::stoi(std::string(field.substr(7))));
      else if (field.rfind("role=", 0) == 0)
        who.roles.emplace_back(field.substr(5));
    }
    return sb::auth_result::accept(std::move(who));
  }
  bool authorize(const sb::identity& who, sb::action what, std::string_view) const {
    return what != sb::action::command || who.has_role("admin");
  }
};

using auth_hub = sb::basic_hub<sb::policies<test_token_auth>>;

struct auth_harness : harness<auth_hub> {
  std::vector<std::string> audited;  // "kind detail"

  explicit auth_harness(sb::config cfg) : harness<auth_hub>(std::move(cfg), test_token_auth{}) {
    hub.set_audit_hook([this](const sb::audit_event& e) {
      audited.push_back(std::string(sb::audit_kind_name(e.kind)) + " " + std::string(e.detail));
    });
  }

  // Runs the loop, timers included, until `done()` or a generous deadline.
  template <class Done>
  bool run_until(Done done, std::chrono::seconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io.restart();
      io.run_for(5ms);
    }
    pump();
    return true;
  }

  bool audited_kind(std::string_view kind) const {
    for (const auto& a : audited)
      if (a.compare(0, kind.size(), kind) == 0) return true;
    return false;
  }
};

sb::config in_band() {
  sb::config cfg;
  cfg.in_band_auth = true;
  cfg.timestamps = false;
  return cfg;
}

}  // namespace

TEST_CASE("in-band auth: nothing but auth is served until it succeeds, then ack and welcome", "[auth][in_band]") {
  auth_harness h(in_band());
  const connection_id c = h.connect();
  REQUIRE(c != 0);
  CHECK(h.texts(c).empty());  // no welcome yet
  CHECK(h.hub.user_count() == 0);

  require_error(h.request(c, R"({"type":"ping","id":1})"), "unauthorized", "1");
  require_error(h.request(c, R"({"type":"subscribe","id":2,"topics":["a"]})"), "unauthorized", "2");
  require_error(h.request(c, R"({"type":"publish","id":3,"topic":"a","data":1})"), "unauthorized", "3");
  require_error(h.request(c, R"({"type":"command","id":4,"name":"ping"})"), "unauthorized", "4");
  h.send_binary(c, binary_publish("a", "x"));
  require_error(h.one(c), "unauthorized", "null");

  // A failed attempt leaves the connection open and waiting.
  require_error(h.request(c, R"({"type":"auth","id":5,"token":"bad"})"), "unauthorized", "5");
  require_error(h.request(c, R"({"type":"auth","id":6})"), "bad_request", "6");
  CHECK(h.net.close_code_of(c) == 0);
  CHECK(h.audited_kind("auth_failed"));

  h.send(c, R"({"type":"auth","id":7,"token":"alice"})");
  const auto frames = h.frames(c);
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].type() == "ack");
  CHECK(frames[0].text.find(R"("id":7)") != std::string::npos);
  CHECK(frames[1].type() == "welcome");
  CHECK(frames[1].str("/user") == "alice");
  CHECK(h.hub.user_count() == 1);

  CHECK(h.request(c, R"({"type":"ping","id":8})").type() == "pong");
}

TEST_CASE("in-band auth: presence says online only once auth succeeds",
          "[auth][in_band]") {
  auth_harness h(in_band());
  const connection_id watcher = h.connect("watcher");
  h.texts(watcher);
  h.subscribe(watcher, R"(["system.presence"])");

  const connection_id c = h.connect();
  CHECK(h.texts(watcher).empty());  // not online before it authenticates
  h.send(c, R"({"type":"auth","id":1,"token":"alice"})");
  const auto frames = h.frames(c);
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].type() == "ack");
  CHECK(frames[1].type() == "welcome");
  const json presence = h.one(watcher);
  CHECK(presence.str("/data/user") == "alice");
  CHECK(presence.str("/data/status") == "online");
}

TEST_CASE("in-band auth: a handshake with a token is authenticated there, as without it", "[auth][in_band]") {
  auth_harness h(in_band());
  const connection_id c = h.connect("bob");
  const json welcome = h.one(c);
  CHECK(welcome.type() == "welcome");
  CHECK(welcome.str("/user") == "bob");
  CHECK(h.net.connect("bad") == 0);
  CHECK(h.audited_kind("handshake_refused"));
}

TEST_CASE("in-band auth: the per-user connection limit applies when auth succeeds", "[auth][in_band]") {
  sb::config cfg = in_band();
  cfg.max_connections_per_user = 1;
  auth_harness h(cfg);
  const connection_id first = h.connect("alice");
  h.texts(first);
  const connection_id second = h.connect();
  h.send(second, R"({"type":"auth","id":1,"token":"alice"})");
  require_error(h.one(second), "forbidden", "null");
  CHECK(h.net.close_code_of(second) == sb::close_code::policy_violation);
  CHECK(h.hub.user_count() == 1);
}

TEST_CASE("in-band auth: no successful auth within auth_timeout closes with 1008", "[auth][in_band]") {
  sb::config cfg = in_band();
  cfg.auth_timeout = 50ms;
  auth_harness h(cfg);
  const connection_id idle = h.connect();
  const connection_id failing = h.connect();
  require_error(h.request(failing, R"({"type":"auth","id":1,"token":"bad"})"), "unauthorized", "1");
  REQUIRE(h.run_until([&] { return h.net.close_code_of(idle) != 0 && h.net.close_code_of(failing) != 0; }));
  CHECK(h.net.close_code_of(idle) == sb::close_code::policy_violation);
  CHECK(h.net.close_code_of(failing) == sb::close_code::policy_violation);
  CHECK(h.audited_kind("auth_timeout"));
}

TEST_CASE("in-band auth off: auth on an anonymous connection is bad_request", "[auth]") {
  sb::config cfg;
  cfg.timestamps = false;
  auth_harness h(cfg);
  CHECK(h.net.connect() == 0);  // this policy wants a token at the handshake
  const connection_id c = h.connect("carol");
  h.texts(c);
  // Refresh works without in-band auth: it is not a first authentication.
  CHECK(h.request(c, R"({"type":"auth","id":1,"token":"carol"})").type() == "ack");
}

TEST_CASE("refresh: the same user's new token is acked, another user's is forbidden, a bad one unauthorized",
          "[auth][refresh]") {
  auth_harness h(in_band());
  const connection_id c = h.connect("alice");
  CHECK(h.one(c).type() == "welcome");

  require_error(h.request(c, R"({"type":"auth","id":1,"token":"mallory;role=admin"})"), "forbidden", "1");
  require_error(h.request(c, R"({"type":"auth","id":2,"token":"bad"})"), "unauthorized", "2");
  // Neither changed anything: still alice, still without the admin role.
  require_error(h.request(c, R"({"type":"command","id":3,"name":"ping"})"), "forbidden", "3");
  CHECK(h.audited_kind("action_refused"));

  // The same user: acked, no second welcome, and the new token's roles apply.
  CHECK(h.request(c, R"({"type":"auth","id":4,"token":"alice;role=admin"})").type() == "ack");
  CHECK(h.request(c, R"({"type":"command","id":5,"name":"ping"})").type() == "result");
  CHECK(h.hub.user_count() == 1);
}

TEST_CASE("expiry: a token that expires while connected closes the connection with 1008", "[auth][expiry]") {
  auth_harness h(in_band());
  const connection_id c = h.connect("alice;ttl_ms=50");
  CHECK(h.one(c).type() == "welcome");
  REQUIRE(h.run_until([&] { return h.net.close_code_of(c) != 0; }));
  CHECK(h.net.close_code_of(c) == sb::close_code::policy_violation);
  CHECK(h.audited_kind("token_expired"));

  // Also after in-band auth.
  const connection_id d = h.connect();
  h.send(d, R"({"type":"auth","id":1,"token":"bob;ttl_ms=50"})");
  CHECK(h.frames(d).size() == 2);
  REQUIRE(h.run_until([&] { return h.net.close_code_of(d) != 0; }));
  CHECK(h.net.close_code_of(d) == sb::close_code::policy_violation);
}

TEST_CASE("expiry: a refresh before expiry moves it; the old expiry passes harmlessly", "[auth][expiry]") {
  auth_harness h(in_band());
  const auto first_expiry = std::chrono::system_clock::now() + 300ms;
  const connection_id c = h.connect("alice;ttl_ms=300");
  CHECK(h.one(c).type() == "welcome");
  CHECK(h.request(c, R"({"type":"auth","id":1,"token":"alice;ttl_ms=3600000"})").type() == "ack");
  // A machine too stalled to refresh within 300 ms cannot tell us anything here.
  if (std::chrono::system_clock::now() >= first_expiry) {
    WARN("the refresh came after the first token's expiry; nothing to check");
    return;
  }
  // Past the first token's expiry (its timer fired and found it moved), still open.
  const connection_id probe = h.connect("probe;ttl_ms=400");
  h.texts(probe);
  REQUIRE(h.run_until([&] { return h.net.close_code_of(probe) != 0; }));
  CHECK(std::chrono::system_clock::now() > first_expiry);
  CHECK(h.net.close_code_of(c) == 0);
  CHECK(h.request(c, R"({"type":"ping","id":2})").type() == "pong");
}

TEST_CASE("expiry: many connections share one timer; each closes at its own deadline", "[auth][expiry]") {
  auth_harness h(in_band());
  std::vector<connection_id> short_lived, long_lived;
  for (int i = 0; i < 200; ++i) {
    short_lived.push_back(h.net.connect("s" + std::to_string(i) + ";ttl_ms=" + std::to_string(10 + i % 50)));
    long_lived.push_back(h.net.connect("l" + std::to_string(i) + ";ttl_ms=3600000"));
  }
  h.pump();
  REQUIRE(h.run_until([&] {
    for (const connection_id id : short_lived)
      if (h.net.close_code_of(id) == 0) return false;
    return true;
  }));
  for (const connection_id id : long_lived) CHECK(h.net.close_code_of(id) == 0);
}

TEST_CASE("expiry: once every connection is gone, no deadline keeps the host's run() going", "[auth][expiry]") {
  auth_harness h(in_band());
  const connection_id a = h.join("alice;ttl_ms=3600000");  // an hour away
  const connection_id b = h.join("bob;ttl_ms=7200000");
  h.net.disconnect(a);
  h.pump();
  // bob still holds a deadline: the loop has work.
  h.io.restart();
  h.io.run_for(20ms);
  CHECK_FALSE(h.io.stopped());
  h.net.disconnect(b);
  h.pump();
  // A shutdown closes every connection; then run() must return, not wait an hour.
  h.io.restart();
  h.io.run_for(2s);
  CHECK(h.io.stopped());
}

TEST_CASE("deadline_queue: stale entries are dropped by compact, due ones fire in order", "[auth][expiry]") {
  asio::io_context io;
  std::vector<std::uint64_t> fired;
  sb::detail::deadline_queue queue(io, [&](std::uint64_t id, sb::detail::deadline_queue::clock::time_point) {
    fired.push_back(id);
  });
  const auto now = sb::detail::deadline_queue::clock::now();
  queue.schedule(now + 30ms, 3);
  queue.schedule(now + 10ms, 1);
  queue.schedule(now + 20ms, 2);
  queue.schedule(now + 1h, 4);
  queue.compact([](std::uint64_t id, auto) { return id != 2; });
  CHECK(queue.size() == 3);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (fired.size() < 2 && std::chrono::steady_clock::now() < deadline) io.run_for(5ms);
  CHECK(fired == std::vector<std::uint64_t>{1, 3});
  CHECK(queue.size() == 1);
}
