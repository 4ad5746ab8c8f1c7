// Limits enforced by the transport and the hub that end a connection: message size,
// UTF-8, connections per user; and fragmented messages that stay within them.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <string>

using namespace switchboard::test;
using switchboard::detail::ws_opcode;

namespace {

// `{"type":"ping","id":1,"pad":"xxx..."}` of exactly `size` bytes.
std::string padded_ping(std::size_t size) {
  std::string frame = R"({"type":"ping","id":1,"pad":")";
  const std::size_t tail = 2;  // `"}`
  REQUIRE(size >= frame.size() + tail);
  frame.append(size - frame.size() - tail, 'x');
  frame += "\"}";
  return frame;
}

}  // namespace

TEST_CASE("a message over max_message_bytes closes the connection with 1009", "[socket][limits]") {
  auto cfg = test_config();
  cfg.max_message_bytes = 1024;
  test_server server(cfg);
  ws_test_client bystander;
  bystander.open(server.port());

  SECTION("exactly the limit is accepted") {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_text(padded_ping(1024)));
    CHECK(num(c.recv_type("pong"), "id") == 1);
    REQUIRE(c.send_binary(std::string(1024, '\x01')));
    CHECK(str(c.recv_type("error"), "code") == "bad_request");
  }
  SECTION("one byte more, text") {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_text(padded_ping(1025)));
    CHECK(c.expect_close() == 1009);
  }
  SECTION("binary") {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_binary(std::string(4096, '\x01')));
    CHECK(c.expect_close() == 1009);
  }
  SECTION("a header that declares a huge payload, which never comes") {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_raw_frame(ws_opcode::text, "{}", true, std::uint64_t(1) << 40));
    CHECK(c.expect_close() == 1009);
  }
  SECTION("fragments that are small alone but too large together") {
    ws_test_client c;
    c.open(server.port());
    const std::string whole = padded_ping(1500);
    REQUIRE(c.send_frame(ws_opcode::text, whole.substr(0, 600), false));
    // 1200 bytes after this one: the server may close (and reset the socket) before the
    // last fragment is written, so that write may fail; the close frame it sent first
    // is still there to read.
    REQUIRE(c.send_frame(ws_opcode::continuation, whole.substr(600, 600), false));
    static_cast<void>(c.send_frame(ws_opcode::continuation, whole.substr(1200), true));
    CHECK(c.expect_close() == 1009);
  }
  // Other connections are unaffected.
  REQUIRE(bystander.send_text(R"({"type":"ping","id":2})"));
  CHECK(num(bystander.recv_type("pong"), "id") == 2);
  CHECK(server.wait_until([](auto&, server_under_test& s) { return s.connection_count() == 1; }));
}

TEST_CASE("invalid UTF-8 in a text frame closes the connection with 1007", "[socket][limits]") {
  test_server server;
  ws_test_client bystander;
  bystander.open(server.port());
  SECTION("in a single frame") {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_text("{\"type\":\"ping\",\"id\":\"\xC3\x28\"}"));
    CHECK(c.expect_close() == 1007);
  }
  SECTION("a truncated sequence at the end of a fragmented message") {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_frame(ws_opcode::text, "{\"type\":\"ping\",\"id\":\"", false));
    REQUIRE(c.send_frame(ws_opcode::continuation, "\xE2\x82\"}", true));
    CHECK(c.expect_close() == 1007);
  }
  SECTION("an overlong encoding") {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_text("{\"type\":\"ping\",\"id\":\"\xC0\xAF\"}"));
    CHECK(c.expect_close() == 1007);
  }
  SECTION("binary frames are not UTF-8 checked") {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_binary("\xC3\x28\xFF"));
    CHECK(str(c.recv_type("error"), "code") == "bad_request");
    REQUIRE(c.send_text(R"({"type":"ping","id":3})"));
    CHECK(num(c.recv_type("pong"), "id") == 3);
  }
  REQUIRE(bystander.send_text(R"({"type":"ping","id":"still"})"));
  CHECK(str(bystander.recv_type("pong"), "id") == "still");
}

TEST_CASE("fragmented messages are reassembled", "[socket][limits]") {
  test_server server;
  ws_test_client c, subscriber;
  c.open(server.port());
  subscriber.open(server.port());
  REQUIRE(subscriber.send_text(R"({"type":"subscribe","id":1,"topics":["frag.t"]})"));
  subscriber.recv_type("ack");

  // A multi-byte character split across fragments is still valid UTF-8.
  const std::string publish = "{\"type\":\"publish\",\"id\":5,\"topic\":\"frag.t\",\"data\":\"caf\xC3\xA9\"}";
  const std::size_t split = publish.find('\xC3') + 1;
  REQUIRE(c.send_frame(ws_opcode::text, publish.substr(0, 10), false));
  REQUIRE(c.send_frame(ws_opcode::continuation, publish.substr(10, split - 10), false));
  // A control frame may arrive between fragments.
  REQUIRE(c.send_frame(ws_opcode::ping, "between"));
  REQUIRE(c.send_frame(ws_opcode::continuation, publish.substr(split), true));
  const rapidjson::Document ack = c.recv_type("ack");
  CHECK(num(ack, "id") == 5);
  CHECK(num(ack["data"], "recipients") == 1);
  CHECK(str(subscriber.recv_type("message"), "data") == "caf\xC3\xA9");

  // Binary fragments too.
  const std::string envelope = std::string("\x01\x06", 2) + "frag.t" + "payload";
  REQUIRE(c.send_frame(ws_opcode::binary, envelope.substr(0, 5), false));
  REQUIRE(c.send_frame(ws_opcode::continuation, envelope.substr(5), true));
  const ws_message m = subscriber.recv();
  REQUIRE(m.is_binary());
  CHECK(m.payload.substr(m.payload.size() - 7) == "payload");
}

TEST_CASE("max_connections_per_user: the next connection gets forbidden, then close 1008", "[socket][limits]") {
  auto cfg = test_config();
  cfg.max_connections_per_user = 2;
  test_server server(cfg);
  ws_test_client a1, a2, b1;
  a1.open(server.port(), {"/ws?token=alice", {}, {}, 0});
  a2.open(server.port(), {"/ws", {"Authorization: Bearer alice"}, {}, 0});
  b1.open(server.port(), {"/ws?token=bob", {}, {}, 0});

  {
    ws_test_client a3;
    // The WebSocket opens (the limit is the hub's), but no welcome comes.
    REQUIRE(a3.connect(server.port(), {"/ws?token=alice", {}, {}, 0}).status == 101);
    const rapidjson::Document first = a3.recv_json();
    INFO(a3.last_text());
    CHECK(str(first, "type") == "error");
    CHECK(str(first, "code") == "forbidden");
    CHECK(first["id"].IsNull());
    std::size_t skipped = 0;
    CHECK(a3.expect_close(default_timeout, &skipped) == 1008);
    CHECK(skipped == 0);
  }
  // The refused connection did not count as alice's, nor announce anything.
  REQUIRE(a1.send_text(R"({"type":"command","id":1,"name":"user_count"})"));
  const rapidjson::Document users = a1.recv_type("result");
  CHECK(num(users["data"], "users") == 2);
  CHECK(server.wait_until([](auto&, server_under_test& s) { return s.connection_count() == 3; }));

  // Anonymous connections have no per-user limit.
  ws_test_client anon[3];
  for (auto& c : anon) c.open(server.port());

  // Once one of alice's connections closes, she may connect again.
  REQUIRE(a2.send_close(1000));
  CHECK(a2.expect_close() == 1000);
  REQUIRE(server.wait_until([](auto& hub, auto&) { return hub.connection_count() == 5; }));
  ws_test_client a4;
  CHECK(str(a4.open(server.port(), {"/ws?token=alice", {}, {}, 0}), "user") == "alice");
}

TEST_CASE("presence events announce a user's first and last connection", "[socket][presence]") {
  test_server server;
  ws_test_client watcher;
  watcher.open(server.port());
  REQUIRE(watcher.send_text(R"({"type":"subscribe","id":1,"topics":["system.presence"]})"));
  watcher.recv_type("ack");
  {
    ws_test_client a1, a2;
    a1.open(server.port(), {"/ws?token=alice", {}, {}, 0});
    rapidjson::Document m = watcher.recv_type("message");
    CHECK(str(m, "topic") == "system.presence");
    CHECK(str(m["data"], "user") == "alice");
    CHECK(str(m["data"], "status") == "online");
    a2.open(server.port(), {"/ws?token=alice", {}, {}, 0});
    ws_test_client anon;
    anon.open(server.port());
    a1.disconnect();
    anon.disconnect();
    // Still online through a2: only the barrier's pong arrives.
    REQUIRE(server.wait_until([](auto& hub, auto&) { return hub.connection_count() == 2; }));
    REQUIRE(watcher.send_text(R"({"type":"ping","id":"b"})"));
    watcher.recv_type("pong");
  }
  const rapidjson::Document m = watcher.recv_type("message");
  CHECK(str(m["data"], "user") == "alice");
  CHECK(str(m["data"], "status") == "offline");
  CHECK(num(m, "seq") == 2);
}
