// The HTTP API for backends (PROTOCOL section 8) over real HTTP: a publish over HTTP
// reaches WebSocket subscribers like a WebSocket publish, API keys guard it, bad bodies
// get clear errors.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <switchboard/audit.hpp>
#include <switchboard/http_api.hpp>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace switchboard::test;
namespace sb = switchboard;

namespace {

const std::string backend_key = "backend key, sixteen bytes or more";

rapidjson::Document json_body(const http_result& r) {
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  INFO(r.body);
  REQUIRE(d.IsObject());
  return d;
}

std::string error_code_of(const http_result& r) {
  const rapidjson::Document d = json_body(r);
  return d.HasMember("error") && d["error"].IsObject() ? str(d["error"], "code") : std::string("<none>");
}

std::vector<std::string> bearer(const std::string& key) { return {"Authorization: Bearer " + key}; }

// A server with the API on it; `keys` empty means an open API.
template <class Policies = sb::default_policies>
struct api_server {
  std::shared_ptr<std::vector<std::string>> audited = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> audit_mutex = std::make_shared<std::mutex>();
  basic_test_server<Policies> server;

  explicit api_server(bool with_key, sb::config cfg = test_config(), typename basic_test_server<Policies>::auth_type auth = {})
      : server(std::move(cfg), {},
               [this, with_key](auto& hub, auto& transport) {
                 sb::http_api_options options;
                 if (with_key) options.keys.add(backend_key, sb::identity{std::nullopt, {"backend"}});
                 sb::add_http_api(hub, transport, std::move(options));
                 hub.set_audit_hook([audited = audited, m = audit_mutex](const sb::audit_event& e) {
                   std::lock_guard<std::mutex> lock(*m);
                   audited->push_back(std::string(sb::audit_kind_name(e.kind)) + " " + std::string(e.detail));
                 });
               },
               std::move(auth)) {}

  std::uint16_t port() const { return server.port(); }
  std::vector<std::string> audit_log() {
    std::lock_guard<std::mutex> lock(*audit_mutex);
    return *audited;
  }
};

}  // namespace

TEST_CASE("http api: a publish over HTTP reaches subscribers like a WebSocket publish, from null",
          "[socket][http_api]") {
  api_server<> api(false);
  ws_test_client sub;
  sub.open(api.port(), {"/ws?token=alice", {}, {}, 0});
  REQUIRE(sub.send_text(R"({"type":"subscribe","id":1,"topics":["orders.eu"]})"));
  REQUIRE(str(sub.recv_json(), "type") == "ack");
  ws_test_client pub;
  pub.open(api.port(), {"/ws?token=bob", {}, {}, 0});
  REQUIRE(pub.send_text(R"({"type":"publish","id":1,"topic":"orders.eu","data":{"n":1}})"));
  REQUIRE(str(pub.recv_json(), "type") == "ack");
  CHECK(str(sub.recv_json(), "type") == "message");

  const http_result r = http_request(api.port(), "POST", "/api/publish", R"({"topic":"orders.eu","data":{"n":2}})");
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/json");
  const rapidjson::Document answer = json_body(r);
  CHECK(answer["seq"].GetUint64() == 2);  // the topic's next seq, after the WebSocket publish
  CHECK(answer["recipients"].GetUint64() == 1);

  const rapidjson::Document message = sub.recv_json();
  CHECK(str(message, "type") == "message");
  CHECK(str(message, "topic") == "orders.eu");
  CHECK(message["seq"].GetUint64() == 2);
  CHECK(message["from"].IsNull());
  CHECK(message["data"]["n"].GetInt() == 2);

  // History holds it like any other.
  REQUIRE(sub.send_text(R"({"type":"history","id":2,"topic":"orders.eu"})"));
  const rapidjson::Document history = sub.recv_type("result");
  REQUIRE(history["data"]["messages"].Size() == 2);
  CHECK(history["data"]["messages"][1]["seq"].GetUint64() == 2);
  CHECK(history["data"]["messages"][1]["from"].IsNull());
}

TEST_CASE("http api: direct and stats", "[socket][http_api]") {
  api_server<> api(false);
  ws_test_client alice;
  alice.open(api.port(), {"/ws?token=alice", {}, {}, 0});

  const http_result direct = http_request(api.port(), "POST", "/api/direct", R"({"to":"alice","data":"hi"})");
  REQUIRE(direct.status == 200);
  const rapidjson::Document d = json_body(direct);
  CHECK(d["delivered"].GetUint64() == 1);
  CHECK(d["stored"].IsBool());
  const rapidjson::Document received = alice.recv_json();
  CHECK(str(received, "type") == "direct");
  CHECK(received["from"].IsNull());

  const http_result stats = http_request(api.port(), "GET", "/api/stats");
  REQUIRE(stats.status == 200);
  const rapidjson::Document s = json_body(stats);
  for (const char* key : {"connections", "users", "topics", "messages_in", "messages_out", "bytes_in", "bytes_out", "drops"}) {
    INFO(key);
    REQUIRE(s.HasMember(key));
    CHECK(s[key].IsNumber());
  }
  CHECK(s["connections"].GetUint64() == 1);
}

TEST_CASE("http api: bad bodies get 400 with bad_json or bad_request, wrong methods 405, big bodies 413",
          "[socket][http_api]") {
  sb::config cfg = test_config();
  cfg.max_message_bytes = 4096;
  api_server<> api(false, cfg);
  const struct {
    const char* body;
    const char* code;
  } cases[] = {
      {"not json", "bad_json"},
      {"[1,2]", "bad_json"},
      {R"({"topic":"a"})", "bad_request"},           // no data
      {R"({"data":1})", "bad_request"},              // no topic
      {R"({"topic":"a.*","data":1})", "bad_request"},  // a pattern
      {R"({"topic":"a..b","data":1})", "bad_request"},
      {R"({"topic":7,"data":1})", "bad_request"},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    const http_result r = http_request(api.port(), "POST", "/api/publish", c.body);
    CHECK(r.status == 400);
    CHECK(error_code_of(r) == c.code);
  }
  CHECK(error_code_of(http_request(api.port(), "POST", "/api/direct", R"({"to":"","data":1})")) == "bad_request");
  CHECK(http_request(api.port(), "POST", "/api/direct", R"({"to":"a"})").status == 400);
  CHECK(http_request(api.port(), "GET", "/api/publish").status == 405);
  CHECK(http_request(api.port(), "POST", "/api/stats").status == 405);
  const std::string big = R"({"topic":"a","data":")" + std::string(5000, 'x') + "\"}";
  CHECK(http_request(api.port(), "POST", "/api/publish", big).status == 413);
}

TEST_CASE("http api: the server's own topics and what the auth policy refuses are 403", "[socket][http_api]") {
  api_server<sb::policies<strict_auth>> api(false);
  const http_result system = http_request(api.port(), "POST", "/api/publish", R"({"topic":"system.x","data":1})");
  CHECK(system.status == 403);
  CHECK(error_code_of(system) == "forbidden");
  const http_result readonly = http_request(api.port(), "POST", "/api/publish", R"({"topic":"readonly.x","data":1})");
  CHECK(readonly.status == 403);
  CHECK(error_code_of(readonly) == "forbidden");
  bool audited = false;
  for (const auto& line : api.audit_log()) audited = audited || line == "action_refused publish readonly.x";
  CHECK(audited);
}

TEST_CASE("http api: a signed publish is 403, since an HTTP publish has no user whose key could verify it",
          "[socket][http_api]") {
  api_server<> api(false);
  ws_test_client sub;
  sub.open(api.port(), {"/ws?token=alice", {}, {}, 0});
  REQUIRE(sub.send_text(R"({"type":"subscribe","id":1,"topics":["orders.eu"]})"));
  REQUIRE(str(sub.recv_json(), "type") == "ack");

  const std::string sig(88, 'A');
  const http_result r =
      http_request(api.port(), "POST", "/api/publish", R"({"topic":"orders.eu","data":{"n":1},"sig":")" + sig + "\"}");
  CHECK(r.status == 403);
  CHECK(error_code_of(r) == "forbidden");
  CHECK(str(json_body(r)["error"], "message") ==
        "publish 'orders.eu' is not allowed: a signed message needs a publishing user");
  const auto log = api.audit_log();
  REQUIRE(log.size() == 1);
  CHECK(log[0] == "action_refused publish orders.eu: a signed message needs a publishing user");
  // Nothing was published: the next publish is seq 1.
  const http_result unsigned_publish =
      http_request(api.port(), "POST", "/api/publish", R"({"topic":"orders.eu","data":{"n":2}})");
  REQUIRE(unsigned_publish.status == 200);
  CHECK(json_body(unsigned_publish)["seq"].GetUint64() == 1);
  CHECK(sub.recv_json()["data"]["n"].GetInt() == 2);
}

TEST_CASE("http api: with keys configured, /api/* needs Authorization: Bearer with one of them", "[socket][http_api]") {
  api_server<> api(true);
  const std::string body = R"({"topic":"a","data":1})";
  const http_result none = http_request(api.port(), "POST", "/api/publish", body);
  CHECK(none.status == 401);
  CHECK(error_code_of(none) == "unauthorized");
  CHECK(none.header("WWW-Authenticate") == "Bearer");
  CHECK(http_request(api.port(), "POST", "/api/publish", body, bearer("a wrong key of some length")).status == 401);
  CHECK(http_request(api.port(), "POST", "/api/publish", body, bearer(backend_key + "x")).status == 401);
  CHECK(http_request(api.port(), "POST", "/api/publish", body, {"Authorization: Basic " + backend_key}).status == 401);
  CHECK(http_request(api.port(), "GET", "/api/stats").status == 401);
  CHECK(http_request(api.port(), "POST", "/api/publish", body, bearer(backend_key)).status == 200);
  CHECK(http_request(api.port(), "GET", "/api/stats", {}, bearer(backend_key)).status == 200);
  // /health stays open.
  CHECK(http_request(api.port(), "GET", "/health").status == 200);
  // Refusals reach the audit hook without the key.
  const auto log = api.audit_log();
  CHECK(log.size() >= 5);
  for (const auto& line : log) {
    CHECK(line.rfind("api_key_refused", 0) == 0);
    CHECK(line.find(backend_key) == std::string::npos);
  }
}

TEST_CASE("api_keys: short and long keys are refused when added; lookups find only exact keys", "[socket][http_api]") {
  sb::api_keys keys;
  CHECK_THROWS_AS(keys.add("short"), std::invalid_argument);
  CHECK_THROWS_AS(keys.add(std::string(513, 'k')), std::invalid_argument);
  keys.add(backend_key, sb::identity{std::string("svc"), {}});
  keys.add("another key, also long enough");
  REQUIRE(keys.find(backend_key));
  CHECK(keys.find(backend_key)->user == std::optional<std::string>("svc"));
  CHECK(keys.find("another key, also long enough"));
  CHECK_FALSE(keys.find(""));
  CHECK_FALSE(keys.find(backend_key.substr(1)));
  CHECK_FALSE(keys.find(std::string(100000, 'k')));
}
