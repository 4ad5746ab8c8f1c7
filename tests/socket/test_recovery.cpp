// Recovery after a reconnect: `since` on subscribe replays the missed messages, in order,
// before the ack; and shutdown closes every client with 1001 and lets run() return.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

using namespace switchboard::test;
using namespace std::chrono_literals;

namespace {

std::uint64_t publish(ws_test_client& publisher, const std::string& topic, const std::string& data) {
  REQUIRE(publisher.send_text(R"({"type":"publish","id":"p","topic":")" + topic + R"(","data":)" + data + "}"));
  const rapidjson::Document ack = publisher.recv_type("ack");
  return num(ack["data"], "seq");
}

std::uint64_t binary_seq(const ws_message& m) {
  REQUIRE(m.is_binary());
  const std::size_t topic_len = static_cast<unsigned char>(m.payload[1]);
  std::uint64_t seq = 0;
  for (int i = 7; i >= 0; --i) seq = (seq << 8) | static_cast<unsigned char>(m.payload[2 + topic_len + static_cast<std::size_t>(i)]);
  return seq;
}

// Subscribes with `since_json` and returns the seqs replayed before the ack, and the ack.
std::vector<std::uint64_t> resubscribe(ws_test_client& c, const std::string& topic, const std::string& since_json,
                                       rapidjson::Document& ack) {
  REQUIRE(c.send_text(R"({"type":"subscribe","id":"r","topics":[")" + topic + R"("],"since":{")" + topic + R"(":)" +
                      since_json + "}}"));
  std::vector<std::uint64_t> replayed;
  for (;;) {
    const ws_message m = c.recv();
    if (m.is_binary()) {
      replayed.push_back(binary_seq(m));
      continue;
    }
    REQUIRE(m.is_text());
    rapidjson::Document doc;
    doc.Parse(m.payload.data(), m.payload.size());
    INFO(m.payload);
    REQUIRE(doc.IsObject());
    if (str(doc, "type") == "message") {
      CHECK(str(doc, "topic") == topic);
      replayed.push_back(num(doc, "seq"));
      continue;
    }
    CHECK(str(doc, "type") == "ack");
    ack = std::move(doc);
    return replayed;
  }
}

std::vector<std::uint64_t> seq_range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

}  // namespace

TEST_CASE("reconnecting with since replays the missed messages in order before the ack", "[socket][recovery]") {
  auto cfg = test_config();
  cfg.history_size = 8;
  test_server server(cfg);
  ws_test_client publisher;
  publisher.open(server.port());

  std::string epoch;
  {
    ws_test_client first;
    first.open(server.port(), {"/ws?token=reader", {}, {}, 0});
    REQUIRE(first.send_text(R"({"type":"subscribe","id":1,"topics":["rec.t"]})"));
    const rapidjson::Document ack = first.recv_type("ack");
    epoch = str(ack["data"]["topics"]["rec.t"], "epoch");
    for (int i = 1; i <= 3; ++i) CHECK(publish(publisher, "rec.t", std::to_string(i)) == static_cast<std::uint64_t>(i));
    for (std::uint64_t i = 1; i <= 3; ++i) CHECK(num(first.recv_type("message"), "seq") == i);
    REQUIRE(first.send_close(1000));
    CHECK(first.expect_close() == 1000);
  }
  REQUIRE(server.wait_until([](auto& hub, auto&) { return hub.connection_count() == 1; }));

  // Missed while away: 4, 5, a binary 6, 7.
  CHECK(publish(publisher, "rec.t", "4") == 4);
  CHECK(publish(publisher, "rec.t", R"({"five":5})") == 5);
  REQUIRE(publisher.send_binary(std::string("\x01\x05rec.tSIX", 10)));
  CHECK(publish(publisher, "rec.t", "7") == 7);

  ws_test_client second;
  second.open(server.port(), {"/ws?token=reader", {}, {}, 0});
  rapidjson::Document ack;
  SECTION("seq and epoch") {
    const auto replayed = resubscribe(second, "rec.t", R"({"seq":3,"epoch":")" + epoch + "\"}", ack);
    CHECK(replayed == seq_range(4, 7));
    const auto& pos = ack["data"]["topics"]["rec.t"];
    CHECK(num(pos, "seq") == 7);
    CHECK(str(pos, "epoch") == epoch);
    CHECK(pos["recovered"].IsTrue());
    // Live messages continue the sequence.
    CHECK(publish(publisher, "rec.t", "8") == 8);
    CHECK(num(second.recv_type("message"), "seq") == 8);
  }
  SECTION("a bare number: no epoch check") {
    CHECK(resubscribe(second, "rec.t", "5", ack) == seq_range(6, 7));
    CHECK(ack["data"]["topics"]["rec.t"]["recovered"].IsTrue());
  }
  SECTION("an object without epoch") {
    CHECK(resubscribe(second, "rec.t", R"({"seq":1})", ack) == seq_range(2, 7));
    CHECK(ack["data"]["topics"]["rec.t"]["recovered"].IsTrue());
  }
  SECTION("nothing missed") {
    CHECK(resubscribe(second, "rec.t", R"({"seq":7,"epoch":")" + epoch + "\"}", ack).empty());
    CHECK(ack["data"]["topics"]["rec.t"]["recovered"].IsTrue());
  }
  SECTION("another epoch: nothing replayed") {
    CHECK(resubscribe(second, "rec.t", R"({"seq":3,"epoch":"not-the-epoch"})", ack).empty());
    const auto& pos = ack["data"]["topics"]["rec.t"];
    CHECK(pos["recovered"].IsFalse());
    CHECK(str(pos, "epoch") == epoch);
    CHECK(num(pos, "seq") == 7);
  }
  SECTION("since beyond the latest seq: the stream was reset") {
    CHECK(resubscribe(second, "rec.t", "42", ack).empty());
    CHECK(ack["data"]["topics"]["rec.t"]["recovered"].IsFalse());
  }
  SECTION("messages no longer stored: all or nothing") {
    for (int i = 8; i <= 12; ++i) publish(publisher, "rec.t", std::to_string(i));  // keeps 5..12
    CHECK(resubscribe(second, "rec.t", "3", ack).empty());
    CHECK(ack["data"]["topics"]["rec.t"]["recovered"].IsFalse());
    CHECK(resubscribe(second, "rec.t", "4", ack) == seq_range(5, 12));
    CHECK(ack["data"]["topics"]["rec.t"]["recovered"].IsTrue());
  }
}

TEST_CASE("shutdown closes every client with 1001 and run() returns", "[socket][shutdown]") {
  auto cfg = test_config();
  cfg.close_timeout = 300ms;
  test_server server(cfg);
  ws_test_client a, b, c, silent;
  a.open(server.port());
  b.open(server.port(), {"/ws?token=bob", {}, {}, 0});
  c.open(server.port(), {"/ws", {}, {"switchboard.v1"}, 0});
  // One that never answers the close handshake: the server must not wait for it forever.
  silent.echo_close = false;
  silent.open(server.port());
  REQUIRE(a.send_text(R"({"type":"subscribe","id":1,"topics":["s.t"]})"));
  a.recv_type("ack");
  REQUIRE(server.connection_count() == 4);
#ifdef SWITCHBOARD_TEST_HAVE_LISTENERS_ON
  REQUIRE(listeners_on(server.port()) == 1);
#endif

  server.shutdown();
  CHECK(a.expect_close() == 1001);
  CHECK(b.expect_close() == 1001);
  CHECK(c.expect_close() == 1001);
  CHECK(silent.expect_close() == 1001);
  // The silent peer never answers, so only close_timeout (300 ms) lets run() return;
  // the deadline is far above it and only tells "returned" from "waits forever".
  REQUIRE(server.wait_stopped(30s));
  CHECK(server.failure().empty());

#ifdef SWITCHBOARD_TEST_HAVE_LISTENERS_ON
  // The listening socket is closed too. (Not probed with a connect: under ctest -j
  // another test's server may already listen on the freed port.)
  CHECK(listeners_on(server.port()) == 0);
#endif
}

TEST_CASE("shutdown: run() returns once the clients have answered, without waiting out close_timeout",
          "[socket][shutdown]") {
  auto cfg = test_config();
  // Far longer than the wait below, so that returning within it shows close_timeout
  // was not waited out, however slowly a loaded machine runs the handshakes.
  cfg.close_timeout = 120s;
  test_server server(cfg);
  ws_test_client a, b;
  a.open(server.port());
  b.open(server.port(), {"/ws?token=bob", {}, {}, 0});
  server.shutdown();
  CHECK(a.expect_close() == 1001);
  CHECK(b.expect_close() == 1001);
  // run() returning is the proof: it only does once no connection and no timer is left.
  CHECK(server.wait_stopped(30s));
}

TEST_CASE("shutdown with no client returns at once", "[socket][shutdown]") {
  test_server server;
  CHECK(http_request(server.port(), "GET", "/health").status == 200);
  server.shutdown();
  CHECK(server.wait_stopped(2s));
  CHECK(server.failure().empty());
}
