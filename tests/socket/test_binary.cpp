// The binary envelope over real sockets: binary publishes reach JSON subscribers as
// binary frames, share the topic's sequence, and malformed envelopes are answered.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <cstdint>
#include <string>

using namespace switchboard::test;

namespace {

std::string envelope(const std::string& topic, const std::string& payload) {
  return std::string(1, '\x01') + static_cast<char>(topic.size()) + topic + payload;
}

// Checks a server delivery `0x02 | topic_len | topic | u64 seq LE | payload`.
void check_delivery(const ws_message& m, const std::string& topic, std::uint64_t seq, const std::string& payload) {
  INFO(ws_test_client::printable(m));
  REQUIRE(m.is_binary());
  REQUIRE(m.payload.size() == 2 + topic.size() + 8 + payload.size());
  CHECK(static_cast<unsigned char>(m.payload[0]) == 0x02);
  CHECK(static_cast<unsigned char>(m.payload[1]) == topic.size());
  CHECK(m.payload.substr(2, topic.size()) == topic);
  std::uint64_t got = 0;
  for (int i = 7; i >= 0; --i) got = (got << 8) | static_cast<unsigned char>(m.payload[2 + topic.size() + static_cast<std::size_t>(i)]);
  CHECK(got == seq);
  CHECK(m.payload.substr(2 + topic.size() + 8) == payload);
}

void ping_barrier(ws_test_client& c) {
  REQUIRE(c.send_text(R"({"type":"ping","id":"barrier"})"));
  const rapidjson::Document pong = c.recv_json();
  INFO(c.last_text());
  CHECK(str(pong, "type") == "pong");
}

}  // namespace

TEST_CASE("a binary publish reaches JSON subscribers as a binary frame", "[socket][binary]") {
  test_server server;
  ws_test_client exact, pattern, publisher;
  exact.open(server.port());
  pattern.open(server.port());
  publisher.open(server.port(), {"/ws?token=trader", {}, {}, 0});
  REQUIRE(exact.send_text(R"({"type":"subscribe","id":1,"topics":["md.eurusd"]})"));
  exact.recv_type("ack");
  REQUIRE(pattern.send_text(R"({"type":"subscribe","id":1,"topics":["md.*","md.>"]})"));
  pattern.recv_type("ack");

  std::string payload;
  for (int i = 0; i < 256; ++i) payload += static_cast<char>(i);  // every byte value, NUL included
  REQUIRE(publisher.send_binary(envelope("md.eurusd", payload)));
  check_delivery(exact.recv(), "md.eurusd", 1, payload);
  check_delivery(pattern.recv(), "md.eurusd", 1, payload);

  // JSON and binary publishes share the topic's seq.
  REQUIRE(publisher.send_text(R"({"type":"publish","id":2,"topic":"md.eurusd","data":{"bid":1.1}})"));
  CHECK(num(publisher.recv_type("ack")["data"], "seq") == 2);
  CHECK(num(exact.recv_type("message"), "seq") == 2);
  CHECK(num(pattern.recv_type("message"), "seq") == 2);

  // An empty payload is a valid envelope.
  REQUIRE(publisher.send_binary(envelope("md.eurusd", "")));
  check_delivery(exact.recv(), "md.eurusd", 3, "");
  check_delivery(pattern.recv(), "md.eurusd", 3, "");

  // A payload above 64 KiB (extended length in the server's header).
  const std::string big(70000, '\xAB');
  REQUIRE(publisher.send_binary(envelope("md.eurusd", big)));
  check_delivery(exact.recv(), "md.eurusd", 4, big);
  check_delivery(pattern.recv(), "md.eurusd", 4, big);

  // Binary publishes are not echoed to the publisher either.
  ping_barrier(publisher);

  // History shows them as base64 message objects.
  REQUIRE(exact.send_text(R"({"type":"history","id":3,"topic":"md.eurusd","limit":3})"));
  const rapidjson::Document h = exact.recv_type("result");
  INFO(exact.last_text().substr(0, 400));
  const auto& messages = h["data"]["messages"];
  REQUIRE(messages.Size() == 3);
  CHECK(num(messages[0], "seq") == 2);
  CHECK_FALSE(messages[0].HasMember("encoding"));
  CHECK(num(messages[1], "seq") == 3);
  CHECK(str(messages[1], "encoding") == "base64");
  CHECK(str(messages[1], "data").empty());
  CHECK(str(messages[1], "topic") == "md.eurusd");
  CHECK(str(messages[2], "encoding") == "base64");
  CHECK(str(messages[2], "data").size() == (big.size() + 2) / 3 * 4);
  CHECK(str(messages[2], "data").substr(0, 4) == "q6ur");  // 0xAB 0xAB 0xAB
}

TEST_CASE("a malformed binary frame gets error bad_request and changes nothing", "[socket][binary]") {
  strict_test_server server;
  ws_test_client c, subscriber;
  c.open(server.port(), {"/ws?token=u", {}, {}, 0});
  subscriber.open(server.port(), {"/ws?token=s", {}, {}, 0});
  REQUIRE(subscriber.send_text(R"({"type":"subscribe","id":1,"topics":[">"]})"));
  subscriber.recv_type("ack");

  const std::string cases[] = {
      std::string(),                                   // empty
      std::string(1, '\x01'),                          // no topic length
      std::string("\x02\x03" "a.b" "x", 6),            // a server envelope
      std::string("\x01\x09" "a.b", 5),                // topic length beyond the frame
      std::string("\x01\x00" "payload", 9),            // empty topic
      envelope("a..b", "x"),                           // invalid topic
      envelope("a.*", "x"),                            // wildcard
      envelope("a.>", "x"),
      envelope("a b", "x"),
  };
  for (const std::string& frame : cases) {
    CAPTURE(frame);
    REQUIRE(c.send_binary(frame));
    const rapidjson::Document e = c.recv_type("error");
    CHECK(str(e, "code") == "bad_request");
    CHECK(e["id"].IsNull());
  }
  // Refused by the auth policy: forbidden.
  REQUIRE(c.send_binary(envelope("readonly.feed", "x")));
  const rapidjson::Document e = c.recv_type("error");
  CHECK(str(e, "code") == "forbidden");
  CHECK(e["id"].IsNull());

  // Nothing was published; the connection still works.
  ping_barrier(subscriber);
  REQUIRE(c.send_binary(envelope("ok.t", "fine")));
  check_delivery(subscriber.recv(), "ok.t", 1, "fine");
  ping_barrier(c);
}
