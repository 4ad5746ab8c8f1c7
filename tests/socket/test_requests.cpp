// Every request type of the protocol over real sockets, and the error codes a client can
// provoke.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

using namespace switchboard::test;

namespace {

handshake_options as_user(const std::string& user) { return {"/ws?token=" + user, {}, {}, 0}; }

// Sends `frame` and returns the next frame, which must be JSON.
rapidjson::Document ask(ws_test_client& c, std::string_view frame) {
  REQUIRE(c.send_text(frame));
  return c.recv_json();
}

// A round trip on `c`: nothing may be queued to it ahead of the pong. Since the hub runs
// on one thread, anything a request before this one caused has been queued by then.
void expect_nothing_queued(ws_test_client& c) {
  const rapidjson::Document pong = ask(c, R"({"type":"ping","id":"barrier"})");
  INFO("expected only the barrier's pong, got " << c.last_text());
  CHECK(str(pong, "type") == "pong");
  CHECK(str(pong, "id") == "barrier");
}

void check_error(const rapidjson::Document& doc, const std::string& code, const char* id_json, const std::string& text) {
  INFO("frame: " << text);
  CHECK(str(doc, "type") == "error");
  CHECK(str(doc, "code") == code);
  REQUIRE(doc.HasMember("id"));
  CHECK(to_json(doc["id"]) == id_json);
  CHECK(doc.HasMember("message"));
  if (doc.HasMember("message")) CHECK(doc["message"].IsString());
}

// Sends `frame` and checks that the answer is error `code` with id `id_json`.
void expect_error(ws_test_client& c, std::string_view frame, const std::string& code, const char* id_json) {
  INFO("request: " << frame);
  const rapidjson::Document doc = ask(c, frame);
  check_error(doc, code, id_json, c.last_text());
}

}  // namespace

TEST_CASE("subscribe and unsubscribe are acknowledged with stream positions", "[socket][subscribe]") {
  test_server server;
  ws_test_client c;
  c.open(server.port());

  rapidjson::Document ack = ask(c, R"({"type":"subscribe","id":2,"topics":["room.1.messages","user.7.*","room.>"]})");
  INFO(c.last_text());
  CHECK(str(ack, "type") == "ack");
  CHECK(num(ack, "id") == 2);
  const rapidjson::Value& topics = ack["data"]["topics"];
  REQUIRE(topics.IsObject());
  CHECK(topics.MemberCount() == 3);
  CHECK(num(topics["room.1.messages"], "seq") == 0);
  const std::string epoch = str(topics["room.1.messages"], "epoch");
  CHECK_FALSE(epoch.empty());
  CHECK(epoch.size() <= 32);
  CHECK(num(topics["user.7.*"], "seq") == 0);
  CHECK(str(topics["user.7.*"], "epoch").empty());
  CHECK(str(topics["room.>"], "epoch").empty());

  // Subscribing again is fine and keeps the epoch; delivery is not duplicated (below).
  ack = ask(c, R"({"type":"subscribe","id":"again","topics":["room.1.messages"]})");
  CHECK(str(ack, "id") == "again");
  CHECK(str(ack["data"]["topics"]["room.1.messages"], "epoch") == epoch);

  ws_test_client publisher;
  publisher.open(server.port());
  CHECK(num(ask(publisher, R"({"type":"publish","id":1,"topic":"room.1.messages","data":1})")["data"], "recipients") == 1);
  const rapidjson::Document m = c.recv_type("message");
  CHECK(num(m, "seq") == 1);
  expect_nothing_queued(c);

  // Unsubscribe: unknown topics are ignored; the ack has no data.
  ack = ask(c, R"({"type":"unsubscribe","id":3,"topics":["room.1.messages","room.>","never.subscribed"]})");
  CHECK(str(ack, "type") == "ack");
  CHECK(num(ack, "id") == 3);
  CHECK_FALSE(ack.HasMember("data"));
  CHECK(num(ask(publisher, R"({"type":"publish","id":2,"topic":"room.1.messages","data":2})")["data"], "recipients") == 0);
  expect_nothing_queued(c);

  // Without an id a successful request gets no reply.
  REQUIRE(c.send_text(R"({"type":"subscribe","topics":["room.1.messages"]})"));
  expect_nothing_queued(c);
  CHECK(num(ask(publisher, R"({"type":"publish","id":3,"topic":"room.1.messages","data":3})")["data"], "recipients") == 1);
  CHECK(num(c.recv_type("message"), "seq") == 3);
}

TEST_CASE("publish reaches exact and pattern subscribers once, with data byte for byte", "[socket][publish]") {
  test_server server;
  ws_test_client exact, patterns, other, publisher;
  exact.open(server.port(), as_user("ann"));
  patterns.open(server.port());
  other.open(server.port());
  publisher.open(server.port(), as_user("pat"));
  ask(exact, R"({"type":"subscribe","id":1,"topics":["room.1.messages"]})");
  // Two patterns that both match: still one delivery.
  ask(patterns, R"({"type":"subscribe","id":1,"topics":["room.*.messages","room.>"]})");
  ask(other, R"({"type":"subscribe","id":1,"topics":["room.1","room.*"]})");
  // The publisher subscribes too: its own publishes are not echoed by default.
  ask(publisher, R"({"type":"subscribe","id":1,"topics":["room.>"]})");

  const std::string data = R"({ "text" : "h\u00e9llo \"x\"",  "n":1.50e3, "list":[1,  2 ,{"b":null,"a":true}] })";
  rapidjson::Document ack = ask(publisher, R"({"type":"publish","id":4,"topic":"room.1.messages","data":)" + data + "}");
  INFO(publisher.last_text());
  CHECK(str(ack, "type") == "ack");
  CHECK(num(ack, "id") == 4);
  CHECK(num(ack["data"], "seq") == 1);
  CHECK(num(ack["data"], "recipients") == 2);

  for (ws_test_client* c : {&exact, &patterns}) {
    const rapidjson::Document m = c->recv_type("message");
    const std::string text = c->last_text();
    INFO(text);
    CHECK(str(m, "topic") == "room.1.messages");
    CHECK(num(m, "seq") == 1);
    CHECK(str(m, "from") == "pat");
    CHECK(m["ts"].IsUint64());
    CHECK(text.find("\"data\":" + data) != std::string::npos);
    expect_nothing_queued(*c);
  }
  expect_nothing_queued(other);
  expect_nothing_queued(publisher);

  // Another topic: only the patterns match; seq is per topic.
  ack = ask(publisher, R"({"type":"publish","id":5,"topic":"room.2.messages","data":"two"})");
  CHECK(num(ack["data"], "seq") == 1);
  CHECK(num(ack["data"], "recipients") == 1);
  rapidjson::Document m = patterns.recv_type("message");
  CHECK(str(m, "topic") == "room.2.messages");
  CHECK(str(m, "data") == "two");
  expect_nothing_queued(exact);

  // `room.>` matches `room.1` but not `room`; `room.*` matches `room.1`.
  CHECK(num(ask(publisher, R"({"type":"publish","id":6,"topic":"room","data":0})")["data"], "recipients") == 0);
  CHECK(num(ask(publisher, R"({"type":"publish","id":7,"topic":"room.1","data":[]})")["data"], "recipients") == 2);
  CHECK(str(patterns.recv_type("message"), "topic") == "room.1");
  CHECK(str(other.recv_type("message"), "topic") == "room.1");

  // Anonymous publishers are `from: null`; the second publish on a topic is seq 2.
  ask(patterns, R"({"type":"unsubscribe","id":9,"topics":["room.>"]})");
  ack = ask(patterns, R"({"type":"publish","id":8,"topic":"room.1.messages","data":"x"})");
  CHECK(num(ack["data"], "seq") == 2);
  CHECK(num(ack["data"], "recipients") == 2);  // exact, and the publisher's `room.>`
  m = exact.recv_type("message");
  CHECK(m["from"].IsNull());
  CHECK(num(m, "seq") == 2);
  CHECK(num(publisher.recv_type("message"), "seq") == 2);
  expect_nothing_queued(patterns);  // its own publish, through `room.*.messages`
}

TEST_CASE("echo_to_publisher delivers a connection's own publishes back to it", "[socket][publish]") {
  auto cfg = test_config();
  cfg.echo_to_publisher = true;
  test_server server(cfg);
  ws_test_client c;
  c.open(server.port());
  ask(c, R"({"type":"subscribe","id":1,"topics":["echo.t"]})");
  REQUIRE(c.send_text(R"({"type":"publish","id":2,"topic":"echo.t","data":{"k":"v"}})"));
  // The message is queued during the publish, before the ack.
  const rapidjson::Document m = c.recv_type("message");
  CHECK(str(m["data"], "k") == "v");
  const rapidjson::Document ack = c.recv_type("ack");
  CHECK(num(ack["data"], "recipients") == 1);
}

TEST_CASE("direct reaches every connection of the user", "[socket][direct]") {
  test_server server;
  ws_test_client alice1, alice2, bob;
  alice1.open(server.port(), as_user("alice"));
  alice2.open(server.port(), as_user("alice"));
  bob.open(server.port(), as_user("bob"));

  const std::string data = R"({"x": [1,2 ,3], "y":"z"})";
  rapidjson::Document ack = ask(bob, R"({"type":"direct","id":5,"to":"alice","data":)" + data + "}");
  INFO(bob.last_text());
  CHECK(str(ack, "type") == "ack");
  CHECK(num(ack, "id") == 5);
  CHECK(num(ack["data"], "delivered") == 2);
  CHECK(ack["data"]["stored"].IsFalse());
  for (ws_test_client* c : {&alice1, &alice2}) {
    const rapidjson::Document d = c->recv_type("direct");
    CHECK(str(d, "from") == "bob");
    CHECK(c->last_text().find("\"data\":" + data) != std::string::npos);
  }
  expect_nothing_queued(bob);

  // Nobody home: kept, and delivered right after welcome on the next connection.
  ack = ask(bob, R"({"type":"direct","id":6,"to":"nobody","data":1})");
  CHECK(num(ack["data"], "delivered") == 0);
  CHECK(ack["data"]["stored"].IsTrue());
  {
    ws_test_client nobody;
    nobody.open(server.port(), as_user("nobody"));  // reads welcome
    const rapidjson::Document kept = nobody.recv_type("direct");
    CHECK(str(kept, "from") == "bob");
    CHECK(num(kept, "data") == 1);
  }

  // No id: delivered, no reply.
  REQUIRE(alice1.send_text(R"({"type":"direct","to":"bob","data":"hi"})"));
  const rapidjson::Document d = bob.recv_type("direct");
  CHECK(str(d, "from") == "alice");
  CHECK(str(d, "data") == "hi");
  expect_nothing_queued(alice1);

  expect_error(bob, R"({"type":"direct","id":7,"data":1})", "bad_request", "7");
  expect_error(bob, R"({"type":"direct","id":8,"to":"alice"})", "bad_request", "8");
}

TEST_CASE("commands: built-ins, application commands and unknown names", "[socket][command]") {
  test_server server(test_config(), {}, [](test_server::hub_type& hub, server_under_test&) {
    hub.handlers().add_command("add", [](test_server::hub_type::request_context& ctx) {
      const auto& p = ctx.params();
      if (!p.IsObject() || !p.HasMember("a") || !p.HasMember("b") || !p["a"].IsInt() || !p["b"].IsInt())
        return switchboard::command_result::fail(switchboard::error::bad_request, "a and b must be integers");
      return switchboard::command_result::ok(R"({"sum":)" + std::to_string(p["a"].GetInt() + p["b"].GetInt()) + "}");
    });
    hub.handlers().add_command("boom", [](test_server::hub_type::request_context&) -> switchboard::command_result {
      throw std::runtime_error("exploded");
    });
  });
  ws_test_client c, other;
  c.open(server.port(), as_user("cmd"));
  other.open(server.port());
  ask(c, R"({"type":"subscribe","id":0,"topics":["t.a","t.b"]})");

  rapidjson::Document r = ask(c, R"({"type":"command","id":6,"name":"ping","params":{}})");
  CHECK(str(r, "type") == "result");
  CHECK(num(r, "id") == 6);
  CHECK(r["data"]["pong"].IsTrue());

  const std::string params = R"({"deep": {"k": [1, 2.0, "x"]} , "s":"\u00e9"})";
  r = ask(c, R"({"type":"command","id":"e","name":"echo","params":)" + params + "}");
  CHECK(str(r, "type") == "result");
  CHECK(c.last_text().find("\"data\":" + params) != std::string::npos);

  r = ask(c, R"({"type":"command","id":7,"name":"server_info"})");
  CHECK(str(r, "type") == "result");
  CHECK(str(r["data"], "name") == "switchboard");
  CHECK_FALSE(str(r["data"], "version").empty());
  CHECK(num(r["data"], "uptime_s") < 60);
  CHECK(num(r["data"], "connections") == 2);
  CHECK(num(r["data"], "users") == 1);
  CHECK(num(r["data"], "topics") >= 2);

  r = ask(c, R"({"type":"command","id":8,"name":"user_count"})");
  CHECK(num(r["data"], "users") == 1);
  CHECK(num(r["data"], "connections") == 2);

  r = ask(c, R"({"type":"command","id":9,"name":"list_commands"})");
  std::vector<std::string> names;
  for (const auto& n : r["data"]["commands"].GetArray()) names.emplace_back(n.GetString());
  for (const char* expected : {"add", "boom", "echo", "list_commands", "ping", "server_info", "user_count"}) {
    CAPTURE(expected);
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  }

  r = ask(c, R"({"type":"command","id":10,"name":"add","params":{"a":2,"b":40}})");
  CHECK(str(r, "type") == "result");
  CHECK(num(r["data"], "sum") == 42);
  expect_error(c, R"({"type":"command","id":11,"name":"add","params":{"a":"x"}})", "bad_request", "11");
  expect_error(c, R"({"type":"command","id":12,"name":"boom"})", "internal", "12");
  expect_error(c, R"({"type":"command","id":13,"name":"no_such_command"})", "unknown_command", "13");
  expect_error(c, R"({"type":"command","id":14})", "bad_request", "14");
  // The connection is fine after all that.
  expect_nothing_queued(c);
}

TEST_CASE("presence counts the connections a publish would reach", "[socket][presence]") {
  test_server server;
  ws_test_client alice, alice2, anon, bob;
  alice.open(server.port(), as_user("alice"));
  alice2.open(server.port(), as_user("alice"));
  anon.open(server.port());
  bob.open(server.port(), as_user("bob"));
  ask(alice, R"({"type":"subscribe","id":1,"topics":["room.1.messages"]})");
  ask(alice2, R"({"type":"subscribe","id":1,"topics":["room.*.messages"]})");
  ask(anon, R"({"type":"subscribe","id":1,"topics":["room.>","room.1.messages"]})");
  ask(bob, R"({"type":"subscribe","id":1,"topics":["room.2.messages"]})");

  rapidjson::Document r = ask(bob, R"({"type":"presence","id":7,"topic":"room.1.messages"})");
  INFO(bob.last_text());
  CHECK(str(r, "type") == "result");
  CHECK(num(r, "id") == 7);
  CHECK(num(r["data"], "connections") == 3);
  REQUIRE(r["data"]["users"].IsArray());
  REQUIRE(r["data"]["users"].Size() == 1);
  CHECK(std::string(r["data"]["users"][0].GetString()) == "alice");

  r = ask(bob, R"({"type":"presence","id":8,"topic":"room.2.messages"})");
  CHECK(num(r["data"], "connections") == 3);  // alice2, anon, and the asking connection
  CHECK(r["data"]["users"].Size() == 2);

  r = ask(bob, R"({"type":"presence","id":9,"topic":"empty.topic"})");
  CHECK(num(r["data"], "connections") == 0);
  CHECK(r["data"]["users"].Size() == 0);

  expect_error(bob, R"({"type":"presence","id":10,"topic":"room.*.messages"})", "bad_request", "10");
  expect_error(bob, R"({"type":"presence","id":11})", "bad_request", "11");
}

TEST_CASE("history returns stored messages in order", "[socket][history]") {
  auto cfg = test_config();
  cfg.history_size = 4;
  cfg.max_history_limit = 3;
  test_server server(cfg);
  ws_test_client c;
  c.open(server.port());
  const rapidjson::Document sub = ask(c, R"({"type":"subscribe","id":1,"topics":["h.t"]})");
  const std::string epoch = str(sub["data"]["topics"]["h.t"], "epoch");
  for (int i = 1; i <= 6; ++i) {
    const rapidjson::Document ack =
        ask(c, R"({"type":"publish","id":)" + std::to_string(i) + R"(,"topic":"h.t","data":{"i":)" + std::to_string(i) + "}}");
    CHECK(num(ack["data"], "seq") == static_cast<std::uint64_t>(i));
  }
  const auto seqs = [](const rapidjson::Document& r) {
    std::vector<std::uint64_t> out;
    for (const auto& m : r["data"]["messages"].GetArray()) {
      CHECK(str(m, "type") == "message");
      CHECK(str(m, "topic") == "h.t");
      CHECK(num(m["data"], "i") == num(m, "seq"));
      out.push_back(num(m, "seq"));
    }
    return out;
  };

  rapidjson::Document r = ask(c, R"({"type":"history","id":8,"topic":"h.t","limit":2})");
  INFO(c.last_text());
  CHECK(str(r, "type") == "result");
  CHECK(num(r, "id") == 8);
  CHECK(num(r["data"], "seq") == 6);
  CHECK(str(r["data"], "epoch") == epoch);
  CHECK(seqs(r) == std::vector<std::uint64_t>{5, 6});

  // Only the latest 4 are kept, and limit is clamped to 3.
  r = ask(c, R"({"type":"history","id":9,"topic":"h.t","since":0,"limit":100})");
  CHECK(seqs(r) == std::vector<std::uint64_t>{3, 4, 5});
  r = ask(c, R"({"type":"history","id":10,"topic":"h.t","since":4})");
  CHECK(seqs(r) == std::vector<std::uint64_t>{5, 6});
  r = ask(c, R"({"type":"history","id":11,"topic":"h.t","since":6})");
  CHECK(seqs(r).empty());
  r = ask(c, R"({"type":"history","id":12,"topic":"never.published"})");
  CHECK(seqs(r).empty());
  CHECK(num(r["data"], "seq") == 0);
  CHECK_FALSE(str(r["data"], "epoch").empty());

  expect_error(c, R"({"type":"history","id":13,"topic":"h.*"})", "bad_request", "13");
}

TEST_CASE("ping is answered with pong, with and without an id", "[socket][ping]") {
  test_server server;
  ws_test_client c;
  c.open(server.port());
  rapidjson::Document r = ask(c, R"({"type":"ping","id":9})");
  CHECK(str(r, "type") == "pong");
  CHECK(num(r, "id") == 9);
  r = ask(c, R"({"type":"ping","id":"abc"})");
  CHECK(str(r, "id") == "abc");
  r = ask(c, R"({"type":"ping"})");
  CHECK(str(r, "type") == "pong");
  CHECK_FALSE(r.HasMember("id"));
  r = ask(c, R"({"type":"ping","id":null})");
  CHECK(str(r, "type") == "pong");
  CHECK_FALSE(r.HasMember("id"));
}

TEST_CASE("application types are routed to their handlers", "[socket][handlers]") {
  test_server server(test_config(), {}, [](test_server::hub_type& hub, server_under_test&) {
    hub.handlers().on("chat", [](test_server::hub_type::request_context& ctx) {
      const auto& doc = ctx.json();
      if (!doc.HasMember("text") || !doc["text"].IsString()) return ctx.fail(switchboard::error::bad_request, "text required");
      std::string echo = R"({"type":"chat_echo","text":)";
      echo += to_json(doc["text"]);
      echo += '}';
      ctx.send(echo);
      ctx.reply(R"({"length":)" + std::to_string(doc["text"].GetStringLength()) + "}");
    });
    hub.handlers().on("explode", [](test_server::hub_type::request_context&) { throw std::runtime_error("bad"); });
  });
  ws_test_client c;
  c.open(server.port());
  REQUIRE(c.send_text(R"({"type":"chat","id":1,"text":"hello"})"));
  rapidjson::Document r = c.recv_type("chat_echo");
  CHECK(str(r, "text") == "hello");
  r = c.recv_type("ack");
  CHECK(num(r, "id") == 1);
  CHECK(num(r["data"], "length") == 5);
  expect_error(c, R"({"type":"chat","id":2})", "bad_request", "2");
  expect_error(c, R"({"type":"explode","id":3})", "internal", "3");
  expect_error(c, R"({"type":"no_such_type","id":4})", "unknown_type", "4");
  expect_error(c, R"({"type":"no_such_type"})", "unknown_type", "null");
}

TEST_CASE("malformed requests get bad_json and bad_request", "[socket][errors]") {
  test_server server;
  ws_test_client c;
  c.open(server.port());
  expect_error(c, "not json at all", "bad_json", "null");
  expect_error(c, R"({"type":"ping","id":1)", "bad_json", "null");
  expect_error(c, R"([{"type":"ping","id":1}])", "bad_json", "null");
  expect_error(c, R"("a string")", "bad_json", "null");
  expect_error(c, R"({"id":1})", "bad_request", "1");
  expect_error(c, R"({"type":7,"id":2})", "bad_request", "2");
  expect_error(c, R"({"type":"ping","id":1.5})", "bad_request", "null");
  expect_error(c, R"({"type":"ping","id":-1})", "bad_request", "null");
  expect_error(c, R"({"type":"ping","id":{"a":1}})", "bad_request", "null");
  expect_error(c, R"({"type":"ping","id":9007199254740992})", "bad_request", "null");
  expect_error(c, R"({"type":"ping","id":")" + std::string(65, 'x') + "\"}", "bad_request", "null");
  CHECK(num(ask(c, R"({"type":"ping","id":9007199254740991})"), "id") == 9007199254740991ull);
  CHECK(str(ask(c, R"({"type":"ping","id":")" + std::string(64, 'x') + "\"}"), "type") == "pong");
  expect_error(c, R"({"type":"publish","id":3,"topic":"a.b"})", "bad_request", "3");
  expect_error(c, R"({"type":"publish","id":4,"data":1})", "bad_request", "4");
  expect_error(c, R"({"type":"publish","id":5,"topic":"a.*","data":1})", "bad_request", "5");
  expect_error(c, R"({"type":"publish","id":6,"topic":"a..b","data":1})", "bad_request", "6");
  expect_error(c, R"({"type":"publish","id":7,"topic":"a b","data":1})", "bad_request", "7");
  expect_error(c, R"({"type":"subscribe","id":8})", "bad_request", "8");
  expect_error(c, R"({"type":"subscribe","id":9,"topics":[]})", "bad_request", "9");
  expect_error(c, R"({"type":"subscribe","id":10,"topics":"a.b"})", "bad_request", "10");
  expect_error(c, R"({"type":"subscribe","id":11,"topics":["a.>.b"]})", "bad_request", "11");
  expect_error(c, R"({"type":"subscribe","id":12,"topics":["a.b"],"since":{"a.c":1}})", "bad_request", "12");
  expect_error(c, R"({"type":"subscribe","id":13,"topics":["a.*"],"since":{"a.*":1}})", "bad_request", "13");
  expect_error(c, R"({"type":"publish","topic":"a.*","data":1})", "bad_request", "null");
  // In-band auth is not enabled here.
  expect_error(c, R"({"type":"auth","id":14,"token":"x"})", "bad_request", "14");
  expect_nothing_queued(c);
}

TEST_CASE("the auth policy's refusals are forbidden, all or nothing", "[socket][errors][auth]") {
  strict_test_server server;
  ws_test_client c, publisher;
  c.open(server.port(), as_user("alice"));
  publisher.open(server.port(), as_user("pub"));
  expect_error(c, R"({"type":"subscribe","id":1,"topics":["secret.plans"]})", "forbidden", "1");
  expect_error(c, R"({"type":"subscribe","id":2,"topics":["open.news","secret.x"]})", "forbidden", "2");
  // Nothing of the refused request was subscribed.
  CHECK(num(ask(publisher, R"({"type":"publish","id":1,"topic":"open.news","data":1})")["data"], "recipients") == 0);
  expect_nothing_queued(c);
  expect_error(c, R"({"type":"publish","id":3,"topic":"readonly.feed","data":1})", "forbidden", "3");
  expect_error(c, R"({"type":"presence","id":4,"topic":"secret.plans"})", "forbidden", "4");
  expect_error(c, R"({"type":"history","id":5,"topic":"secret.plans"})", "forbidden", "5");
  expect_error(c, R"({"type":"publish","topic":"readonly.feed","data":1})", "forbidden", "null");
  // Allowed ones still work.
  CHECK(str(ask(c, R"({"type":"subscribe","id":6,"topics":["open.news"]})"), "type") == "ack");
  CHECK(num(ask(publisher, R"({"type":"publish","id":2,"topic":"open.news","data":2})")["data"], "recipients") == 1);
  CHECK(num(c.recv_type("message"), "seq") == 2);
}

TEST_CASE("limits on topics per request and subscriptions per connection are too_large", "[socket][errors]") {
  auto cfg = test_config();
  cfg.max_topics_per_request = 3;
  cfg.max_subscriptions_per_connection = 4;
  test_server server(cfg);
  ws_test_client c;
  c.open(server.port());
  expect_error(c, R"({"type":"subscribe","id":1,"topics":["a.1","a.2","a.3","a.4"]})", "too_large", "1");
  CHECK(str(ask(c, R"({"type":"subscribe","id":2,"topics":["a.1","a.2","a.3"]})"), "type") == "ack");
  expect_error(c, R"({"type":"subscribe","id":3,"topics":["a.4","a.5"]})", "too_large", "3");
  // Topics already held do not count twice.
  CHECK(str(ask(c, R"({"type":"subscribe","id":4,"topics":["a.1","a.4"]})"), "type") == "ack");
  expect_error(c, R"({"type":"subscribe","id":5,"topics":["a.5"]})", "too_large", "5");
  expect_error(c, R"({"type":"unsubscribe","id":6,"topics":["a.1","a.2","a.3","a.4"]})", "too_large", "6");
  CHECK(str(ask(c, R"({"type":"unsubscribe","id":7,"topics":["a.1"]})"), "type") == "ack");
  CHECK(str(ask(c, R"({"type":"subscribe","id":8,"topics":["a.5"]})"), "type") == "ack");
}

TEST_CASE("the rate limit answers rate_limited and drops the frame", "[socket][errors]") {
  auto cfg = test_config();
  // One token per 1000 s: none can come back while the test runs (ctest stops it after
  // 120 s), however long the machine stalls between the frames.
  cfg.rate_limit = 0.001;
  cfg.rate_burst = 3;
  test_server server(cfg);
  ws_test_client c, publisher;
  c.open(server.port());
  publisher.open(server.port());
  REQUIRE(publisher.send_text(R"({"type":"subscribe","id":"s","topics":["rl.t"]})"));
  publisher.recv_type("ack");
  for (int i = 1; i <= 3; ++i) REQUIRE(c.send_text(R"({"type":"ping","id":)" + std::to_string(i) + "}"));
  REQUIRE(c.send_text(R"({"type":"publish","id":4,"topic":"rl.t","data":1})"));
  REQUIRE(c.send_text(R"({"type":"ping","id":5})"));
  REQUIRE(c.send_text("not even json"));
  for (int i = 1; i <= 3; ++i) CHECK(num(c.recv_type("pong"), "id") == static_cast<std::uint64_t>(i));
  check_error(c.recv_json(), "rate_limited", "4", c.last_text());
  check_error(c.recv_json(), "rate_limited", "5", c.last_text());
  check_error(c.recv_json(), "rate_limited", "null", c.last_text());
  // The refused publish was not processed.
  const rapidjson::Document r = ask(publisher, R"({"type":"publish","id":1,"topic":"rl.t","data":1})");
  CHECK(num(r["data"], "seq") == 1);
  // Other connections have their own bucket.
  expect_nothing_queued(publisher);
}

TEST_CASE("a bad frame is answered with an error; the connection and others keep working", "[socket][errors]") {
  test_server server;
  ws_test_client bad, good, listener;
  bad.open(server.port());
  good.open(server.port());
  listener.open(server.port());
  ask(bad, R"({"type":"subscribe","id":1,"topics":["iso.t"]})");
  ask(listener, R"({"type":"subscribe","id":1,"topics":["iso.t"]})");

  for (int round = 0; round < 3; ++round) {
    expect_error(bad, "{\"type\":", "bad_json", "null");
    REQUIRE(bad.send_binary(std::string("\x07garbage", 8)));
    check_error(bad.recv_json(), "bad_request", "null", bad.last_text());
    const rapidjson::Document ack =
        ask(good, R"({"type":"publish","id":1,"topic":"iso.t","data":)" + std::to_string(round) + "}");
    CHECK(num(ack["data"], "recipients") == 2);
    CHECK(num(bad.recv_type("message"), "data") == static_cast<std::uint64_t>(round));
    CHECK(num(listener.recv_type("message"), "data") == static_cast<std::uint64_t>(round));
    CHECK(str(ask(bad, R"({"type":"ping","id":7})"), "type") == "pong");
  }
  CHECK(server.connection_count() == 3);
  expect_nothing_queued(listener);
  expect_nothing_queued(good);
}
