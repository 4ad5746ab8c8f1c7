// The opening handshake and HTTP over real sockets: welcome, subprotocols, credentials,
// Origin, unknown paths and /health.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <switchboard/version.hpp>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <string>

using namespace switchboard::test;

TEST_CASE("welcome is the first frame and carries the protocol's fields", "[socket][handshake]") {
  auto cfg = test_config();
  cfg.ping_interval = std::chrono::milliseconds(12345);
  test_server server(cfg);
  ws_test_client anonymous;
  const rapidjson::Document w1 = anonymous.open(server.port());
  CHECK_FALSE(str(w1, "connection").empty());
  REQUIRE(w1.HasMember("user"));
  CHECK(w1["user"].IsNull());
  CHECK(str(w1, "server") == "switchboard/" SWITCHBOARD_VERSION_STRING);
  CHECK(num(w1, "heartbeat_ms") == 12345);

  ws_test_client named;
  const rapidjson::Document w2 = named.open(server.port(), {"/ws?token=alice", {}, {}, 0});
  CHECK(str(w2, "user") == "alice");
  CHECK(str(w2, "connection") != str(w1, "connection"));
}

TEST_CASE("subprotocol switchboard.v1 is selected when offered", "[socket][handshake]") {
  test_server server;
  SECTION("offered alone") {
    ws_test_client c;
    const handshake_result hs = c.connect(server.port(), {"/ws", {}, {"switchboard.v1"}, 0});
    CHECK(hs.status == 101);
    CHECK(hs.subprotocol == "switchboard.v1");
    c.recv_type("welcome");
  }
  SECTION("offered after an unknown one") {
    ws_test_client c;
    const handshake_result hs = c.connect(server.port(), {"/ws", {}, {"chat.v9", "switchboard.v1"}, 0});
    CHECK(hs.status == 101);
    CHECK(hs.subprotocol == "switchboard.v1");
    c.recv_type("welcome");
  }
  SECTION("none offered: accepted without a subprotocol") {
    ws_test_client c;
    const handshake_result hs = c.connect(server.port());
    CHECK(hs.status == 101);
    CHECK(hs.subprotocol.empty());
    c.recv_type("welcome");
  }
  SECTION("only unknown ones offered: HTTP 400, no WebSocket") {
    ws_test_client c;
    const handshake_result hs = c.connect(server.port(), {"/ws", {}, {"chat.v9", "mqtt"}, 0});
    CHECK(hs.status == 400);
    CHECK(hs.subprotocol.empty());
  }
}

TEST_CASE("the handshake token comes from the query or from Authorization: Bearer", "[socket][handshake][auth]") {
  test_server server;
  SECTION("query parameter") {
    ws_test_client c;
    CHECK(str(c.open(server.port(), {"/ws?x=1&token=alice&y=2", {}, {}, 0}), "user") == "alice");
  }
  SECTION("query parameter, percent-encoded") {
    ws_test_client c;
    CHECK(str(c.open(server.port(), {"/ws?token=al%40ice%2B1", {}, {}, 0}), "user") == "al@ice+1");
  }
  SECTION("Authorization header") {
    ws_test_client c;
    CHECK(str(c.open(server.port(), {"/ws", {"Authorization: Bearer bob"}, {}, 0}), "user") == "bob");
  }
  SECTION("no credential: anonymous with the default policy") {
    ws_test_client c;
    const rapidjson::Document w = c.open(server.port());
    CHECK(w["user"].IsNull());
  }
}

TEST_CASE("an auth policy refusing the credential gets HTTP 401 and no WebSocket", "[socket][handshake][auth]") {
  strict_test_server server;
  // Declared out here so that the accepted connection is still open at the count below.
  ws_test_client c;
  std::size_t accepted = 0;
  SECTION("refused token in the query") {
    const handshake_result hs = c.connect(server.port(), {"/ws?token=bad", {}, {}, 0});
    CHECK(hs.status == 401);
    rapidjson::Document body;
    body.Parse(hs.body.c_str());
    INFO("body: " << hs.body);
    REQUIRE(body.IsObject());
    CHECK(str(body["error"], "code") == "unauthorized");
  }
  SECTION("refused token in the header") {
    CHECK(c.connect(server.port(), {"/ws", {"Authorization: Bearer bad"}, {}, 0}).status == 401);
  }
  SECTION("no credential at all") {
    CHECK(c.connect(server.port()).status == 401);
  }
  SECTION("an accepted token opens the WebSocket") {
    CHECK(str(c.open(server.port(), {"/ws", {"Authorization: Bearer carol"}, {}, 0}), "user") == "carol");
    accepted = 1;
  }
  // A refusal never reached the hub; the accepted one is registered (the welcome came
  // after that), so both counts are exact here.
  const auto stats = server.stats();
  CHECK(stats.connections == accepted);
  CHECK(stats.users == accepted);
}

TEST_CASE("the Origin allow-list refuses other origins with 403 and accepts no Origin", "[socket][handshake]") {
  switchboard::websocket_options options;
  options.allowed_origins = {"https://good.example", "http://localhost:3000"};
  test_server server(test_config(), options);
  // Declared out here so that an accepted connection is still open at the count below.
  ws_test_client c;
  std::size_t accepted = 1;
  SECTION("allowed origin") {
    c.open(server.port(), {"/ws", {"Origin: https://good.example"}, {}, 0});
  }
  SECTION("second allowed origin") {
    c.open(server.port(), {"/ws", {"Origin: http://localhost:3000"}, {}, 0});
  }
  SECTION("refused origin") {
    CHECK(c.connect(server.port(), {"/ws", {"Origin: https://evil.example"}, {}, 0}).status == 403);
    accepted = 0;
  }
  SECTION("no Origin header (not a browser)") {
    c.open(server.port());
  }
  // Exact: a refused handshake never reaches the hub, an accepted one is registered
  // before its welcome is sent.
  CHECK(server.stats().connections == accepted);
}

TEST_CASE("unknown paths get 404, for an upgrade and for a plain request", "[socket][http]") {
  test_server server;
  ws_test_client c;
  CHECK(c.connect(server.port(), {"/nowhere", {}, {}, 0}).status == 404);
  ws_test_client d;
  CHECK(d.connect(server.port(), {"/ws/extra", {}, {}, 0}).status == 404);
  CHECK(http_request(server.port(), "GET", "/nowhere").status == 404);
  CHECK(http_request(server.port(), "POST", "/nowhere", "{}").status == 404);
  // A plain request on the WebSocket path is not a WebSocket.
  const http_result plain = http_request(server.port(), "GET", "/ws");
  CHECK(plain.status != 101);
  CHECK(plain.status >= 400);
  // The server still serves WebSockets.
  ws_test_client e;
  e.open(server.port());
}

TEST_CASE("a custom path is honoured", "[socket][http]") {
  switchboard::websocket_options options;
  options.path = "/live";
  test_server server(test_config(), options);
  ws_test_client c;
  c.open(server.port(), {"/live?token=x", {}, {}, 0});
  ws_test_client d;
  CHECK(d.connect(server.port()).status == 404);
}

TEST_CASE("GET /health reports the server's counters as JSON", "[socket][http]") {
  test_server server;
  ws_test_client a, b, anon;
  a.open(server.port(), {"/ws?token=alice", {}, {}, 0});
  b.open(server.port(), {"/ws?token=alice", {}, {}, 0});
  anon.open(server.port());
  anon.send_text(R"({"type":"subscribe","id":1,"topics":["room.1","room.2"]})");
  anon.recv_type("ack");

  const http_result r = http_request(server.port(), "GET", "/health");
  INFO(r.headers << r.body);
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type").find("application/json") != std::string::npos);
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  REQUIRE(doc.IsObject());
  CHECK(str(doc, "status") == "ok");
  CHECK(num(doc, "connections") == 3);
  CHECK(num(doc, "users") == 1);
  CHECK(num(doc, "topics") >= 2);
  CHECK(num(doc, "uptime_s") < 60);
}

TEST_CASE("routes added with add_route answer on the same port", "[socket][http]") {
  test_server server(test_config(), {}, [](test_server::hub_type&, server_under_test& s) {
    s.add_route("POST", "/echo", [](const switchboard::http_request& request) {
      switchboard::http_response response;
      response.status = 201;
      response.content_type = "text/plain";
      response.body = std::string(request.method) + " " + std::string(request.path) + " " + std::string(request.query) +
                      " " + std::string(request.header("X-Test")) + " " + std::string(request.body);
      return response;
    });
  });
  const http_result r = http_request(server.port(), "POST", "/echo?q=1", "hello", {"X-Test: yes"});
  CHECK(r.status == 201);
  CHECK(r.body == "POST /echo q=1 yes hello");
  CHECK(http_request(server.port(), "GET", "/echo").status == 405);  // the path exists, not for GET
  CHECK(http_request(server.port(), "GET", "/nowhere").status == 404);
}

namespace {
// The default store, recording sessions.
struct recording_store : switchboard::memory_store {
  explicit recording_store(const switchboard::config& cfg) : memory_store(with_sessions(cfg)) {}
  static options with_sessions(const switchboard::config& cfg) {
    options o = options_from(cfg);
    o.max_sessions = 10;
    return o;
  }
};
}  // namespace

TEST_CASE("a closed connection's session carries the peer address and User-Agent the transport saw",
          "[socket][handshake]") {
  basic_test_server<switchboard::policies<switchboard::insecure_token_auth, recording_store>> server;
  {
    ws_test_client c;
    c.open(server.port(), {"/ws?token=alice", {"User-Agent: switchboard-socket-test/2.0"}, {}, 0});
    c.send_text(R"({"type":"ping","id":1})");
    c.recv_type("pong");
    c.send_close();
  }
  REQUIRE(server.wait_until([](auto& hub, auto&) { return hub.store().sessions().size() == 1; }));
  const switchboard::session_record r = server.call([](auto& hub, auto&) { return hub.store().sessions().front(); });
  CHECK(r.user == "alice");
  CHECK(r.remote.rfind("127.0.0.1:", 0) == 0);
  CHECK(r.user_agent == "switchboard-socket-test/2.0");
  CHECK(r.messages_in == 1);
  CHECK(r.messages_out == 2);  // welcome and pong
  CHECK(r.disconnected_at >= r.connected_at);
}
