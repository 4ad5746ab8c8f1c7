// The dashboard over real sockets: GET / answers the page only when the host added it,
// system.stats arrives once subscribed, with counters that follow the traffic and the
// busiest topics, and the rules decide who reads it. The page itself is driven in
// Chromium by tests/interop/dashboard_chromium.mjs.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <switchboard/dashboard.hpp>
#include <switchboard/jwt.hpp>
#include <switchboard/jwt_auth.hpp>
#include <switchboard/rules_auth.hpp>
#include <switchboard/stats_publisher.hpp>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace switchboard::test;
namespace sb = switchboard;

namespace {

// Generous: stats come once per interval, and the machine may be busy.
constexpr auto stats_wait = std::chrono::milliseconds(15000);

// A test server with the dashboard added (when `with_dashboard`), its publisher kept
// where the test can stop it before the server shuts down.
template <class Policies = sb::default_policies>
struct dashboard_server {
  std::shared_ptr<std::optional<sb::stats_publisher>> publisher = std::make_shared<std::optional<sb::stats_publisher>>();
  basic_test_server<Policies> server;

  explicit dashboard_server(bool with_dashboard, typename basic_test_server<Policies>::auth_type auth = {},
                            std::chrono::milliseconds interval = std::chrono::milliseconds(100))
      : server(test_config(), {},
               [publisher = publisher, with_dashboard, interval](auto& hub, auto& transport) {
                 if (!with_dashboard) return;
                 sb::dashboard_options options;
                 options.stats.interval = interval;
                 *publisher = sb::add_dashboard(hub, transport, options);
               },
               std::move(auth)) {}

  ~dashboard_server() {
    // Without this the timer would keep the server's io_context busy after shutdown.
    server.call([p = publisher](auto&, auto&) { p->reset(); });
  }

  std::uint16_t port() const { return server.port(); }
};

// The next `system.stats` message's data, skipping anything else.
rapidjson::Document next_stats(ws_test_client& c) {
  const auto deadline = std::chrono::steady_clock::now() + stats_wait;
  while (std::chrono::steady_clock::now() < deadline) {
    const rapidjson::Document frame = c.recv_json(stats_wait);
    if (str(frame, "type") != "message" || str(frame, "topic") != "system.stats") continue;
    REQUIRE(frame.HasMember("data"));
    REQUIRE(frame["data"].IsObject());
    rapidjson::Document data;
    data.CopyFrom(frame["data"], data.GetAllocator());
    return data;
  }
  FAIL("no system.stats message within " << stats_wait.count() << " ms");
  return rapidjson::Document();
}

std::uint64_t number(const rapidjson::Value& v, const char* name) {
  INFO("field " << name);
  REQUIRE(v.HasMember(name));
  REQUIRE(v[name].IsUint64());
  return v[name].GetUint64();
}

}  // namespace

TEST_CASE("dashboard: GET / answers the page and /switchboard.js the client when added", "[socket][dashboard]") {
  dashboard_server<> added(true);
  const http_result page = http_request(added.port(), "GET", "/");
  CHECK(page.status == 200);
  CHECK(page.header("Content-Type").rfind("text/html", 0) == 0);
  CHECK(page.body.find("<title>switchboard dashboard</title>") != std::string::npos);
  // The page learns where to connect and what to read.
  CHECK(page.body.find(R"("websocket_path":"/ws")") != std::string::npos);
  CHECK(page.body.find(R"("stats_topic":"system.stats")") != std::string::npos);
  CHECK(page.header("Referrer-Policy") == "no-referrer");
  CHECK_FALSE(page.header("Content-Security-Policy").empty());

  const http_result script = http_request(added.port(), "GET", "/switchboard.js");
  CHECK(script.status == 200);
  CHECK(script.header("Content-Type").rfind("text/javascript", 0) == 0);
  CHECK(script.body.find("export class SwitchboardClient") != std::string::npos);

  dashboard_server<> plain(false);
  CHECK(http_request(plain.port(), "GET", "/").status == 404);
  CHECK(http_request(plain.port(), "GET", "/switchboard.js").status == 404);
}

TEST_CASE("dashboard: system.stats arrives once subscribed, following the traffic", "[socket][dashboard]") {
  dashboard_server<sb::policies<sb::insecure_token_auth, sb::memory_store, sb::no_user_data, sb::topic_rate_sampler>>
      server(true);
  ws_test_client watcher, publisher, subscriber;
  watcher.open(server.port(), {"/ws?token=operator", {}, {}, 0});
  publisher.open(server.port(), {"/ws?token=alice", {}, {}, 0});
  subscriber.open(server.port(), {"/ws?token=bob", {}, {}, 0});
  REQUIRE(subscriber.send_text(R"({"type":"subscribe","id":1,"topics":["room.busy","room.quiet"]})"));
  REQUIRE(str(subscriber.recv_json(), "type") == "ack");
  REQUIRE(watcher.send_text(R"({"type":"subscribe","id":1,"topics":["system.stats"]})"));
  REQUIRE(str(watcher.recv_json(), "type") == "ack");

  const rapidjson::Document first = next_stats(watcher);
  CHECK(number(first, "connections") == 3);
  CHECK(number(first, "users") == 3);
  CHECK(number(first, "interval_ms") == 100);
  for (const char* field : {"ts", "uptime_s", "topics", "subscriptions", "publishes", "deliveries", "messages_in",
                            "messages_out", "bytes_in", "bytes_out", "send_queue_cuts", "backlog_cuts", "rate_limited"})
    number(first, field);
  REQUIRE(first.HasMember("top_topics"));
  CHECK(first["top_topics"].IsArray());

  // Five publishes on one topic and one on another, each acknowledged.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(publisher.send_text(R"({"type":"publish","id":1,"topic":"room.busy","data":1})"));
    REQUIRE(str(publisher.recv_json(), "type") == "ack");
  }
  REQUIRE(publisher.send_text(R"({"type":"publish","id":2,"topic":"room.quiet","data":2})"));
  REQUIRE(str(publisher.recv_json(), "type") == "ack");

  // Counters are totals: wait for a message that has seen all six (the stats messages
  // themselves are left out of publishes and deliveries).
  const std::uint64_t publishes_before = number(first, "publishes");
  const std::uint64_t deliveries_before = number(first, "deliveries");
  std::vector<std::string> top_seen;
  bool counted = false;
  for (int i = 0; i < 100 && !counted; ++i) {
    const rapidjson::Document stats = next_stats(watcher);
    for (const auto& entry : stats["top_topics"].GetArray()) top_seen.push_back(str(entry, "topic"));
    counted = number(stats, "publishes") - publishes_before == 6 && number(stats, "deliveries") - deliveries_before == 6;
  }
  CHECK(counted);
  // Each interval's busiest topics: room.busy, which got most, ranked in one of them.
  CHECK(std::find(top_seen.begin(), top_seen.end(), "room.busy") != top_seen.end());
  CHECK(std::find(top_seen.begin(), top_seen.end(), "system.stats") == top_seen.end());
}

TEST_CASE("dashboard: clients cannot publish on system.stats", "[socket][dashboard]") {
  dashboard_server<> server(true);
  ws_test_client c;
  c.open(server.port(), {"/ws?token=mallory", {}, {}, 0});
  REQUIRE(c.send_text(R"({"type":"publish","id":1,"topic":"system.stats","data":{"connections":0}})"));
  const rapidjson::Document reply = c.recv_json();
  CHECK(str(reply, "type") == "error");
  CHECK(str(reply, "code") == "forbidden");
}

TEST_CASE("dashboard: with rules, only the operators' role reads system.stats", "[socket][dashboard][rules]") {
  const std::string secret = "dashboard test secret, thirty-two bytes or more";
  auto loaded = sb::parse_access_rules(R"({"subscribe": [{"pattern": "system.stats", "role": "operator"}]})");
  REQUIRE(loaded);
  dashboard_server<sb::policies<sb::rules_auth<sb::jwt_auth>>> server(
      true,
      sb::rules_auth<sb::jwt_auth>{sb::jwt_auth{sb::jwt_verifier{sb::jwt_key::hs256(secret)}}, std::move(loaded.rules)});
  const auto token_for = [&secret](const std::string& user, std::vector<std::string> roles) {
    sb::jwt_claims claims;
    claims.subject = user;
    claims.roles = std::move(roles);
    claims.expires_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now() +
                                                                          std::chrono::hours(1));
    return sign_jwt(sb::jwt_key::hs256(secret), claims);
  };

  // The page is served to anyone: it holds no data.
  CHECK(http_request(server.port(), "GET", "/").status == 200);

  ws_test_client guest, operator_client;
  guest.open(server.port(), {"/ws?token=" + token_for("guest", {"member"}), {}, {}, 0});
  REQUIRE(guest.send_text(R"({"type":"subscribe","id":1,"topics":["system.stats"]})"));
  const rapidjson::Document refused = guest.recv_json();
  CHECK(str(refused, "type") == "error");
  CHECK(str(refused, "code") == "forbidden");

  operator_client.open(server.port(), {"/ws?token=" + token_for("olga", {"operator"}), {}, {}, 0});
  REQUIRE(operator_client.send_text(R"({"type":"subscribe","id":1,"topics":["system.stats"]})"));
  CHECK(str(operator_client.recv_json(), "type") == "ack");
  CHECK(number(next_stats(operator_client), "connections") == 2);
}
