// Group 2, pings and pongs: a ping is answered by a pong with the same payload; a
// control frame over 125 bytes fails the connection; an unsolicited pong is ignored.
#include "conformance/conformance.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <vector>

using namespace switchboard::test::conformance;

namespace {

void ping_is_answered(const std::string& payload, std::size_t chop = 0) {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send(make_frame(opcode::ping, payload), chop));
  const auto pong = c.next_pong();
  REQUIRE(pong);
  CHECK(*pong == payload);
  expect_connection_served(c);
}

// Ten pings in one go. RFC 6455 5.5.3 lets a server answer only the most recent of
// pings it has not answered yet, so what must come is a pong for the last one; any
// other pong must echo one of the pings, in the order they were sent.
void ten_pings_get_the_last_answered(std::size_t chop) {
  case_server server;
  raw_client c;
  c.open(server.port());
  std::vector<std::string> payloads;
  std::string burst;
  for (int i = 0; i < 10; ++i) {
    payloads.push_back("payload-" + std::to_string(i));
    burst += c.encode(make_frame(opcode::ping, payloads.back()));
  }
  REQUIRE(c.send_bytes(burst, chop));
  std::size_t next_allowed = 0;
  bool last_answered = false;
  while (!last_answered) {
    const auto pong = c.next_pong();
    INFO("pongs matched so far: " << next_allowed);
    REQUIRE(pong);
    std::size_t index = next_allowed;
    while (index < payloads.size() && payloads[index] != *pong) ++index;
    INFO("pong payload: " << *pong);
    REQUIRE(index < payloads.size());  // an answer to a ping that was sent, not yet answered
    next_allowed = index + 1;
    last_answered = index + 1 == payloads.size();
  }
  expect_connection_served(c);
  CHECK(c.pending_pongs() == 0);
}

// A pong nobody asked for is ignored: no answer to it, and the connection is served.
void unsolicited_pong_is_ignored(const std::string& payload) {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send(make_frame(opcode::pong, payload)));
  expect_connection_served(c);
  CHECK(c.pending_pongs() == 0);
  CHECK(c.pending_messages() == 0);
}

}  // namespace

TEST_CASE("conformance 2.1: a ping without payload is answered by an empty pong", "[conformance][group2]") {
  ping_is_answered("");
}

TEST_CASE("conformance 2.2: a ping with a text payload is answered by a pong with the same payload",
          "[conformance][group2]") {
  ping_is_answered("Hello, world!");
}

TEST_CASE("conformance 2.3: a ping with a binary payload is answered by a pong with the same payload",
          "[conformance][group2]") {
  ping_is_answered(std::string("\x00\xff\xfe\xfd\xfc\xfb\x00\xff", 8));
}

TEST_CASE("conformance 2.4: a ping with a 125-byte payload is answered", "[conformance][group2]") {
  ping_is_answered(std::string(125, '\xfe'));
}

TEST_CASE("conformance 2.5: a ping with a 126-byte payload fails the connection with 1002",
          "[conformance][group2]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send(make_frame(opcode::ping, std::string(126, '\xfe'))));
  expect_failure(server, c, 1002);
  CHECK(c.pending_pongs() == 0);
}

TEST_CASE("conformance 2.6: a 125-byte ping sent one byte per write is answered", "[conformance][group2]") {
  ping_is_answered(std::string(125, '\xfe'), 1);
}

TEST_CASE("conformance 2.7: an unsolicited pong without payload is ignored", "[conformance][group2]") {
  unsolicited_pong_is_ignored("");
}

TEST_CASE("conformance 2.8: an unsolicited pong with payload is ignored", "[conformance][group2]") {
  unsolicited_pong_is_ignored("unsolicited pong payload");
}

TEST_CASE("conformance 2.9: after an unsolicited pong a ping is answered with its own payload",
          "[conformance][group2]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_bytes(c.encode(make_frame(opcode::pong, "unsolicited pong payload")) +
                       c.encode(make_frame(opcode::ping, "ping payload"))));
  const auto pong = c.next_pong();
  REQUIRE(pong);
  CHECK(*pong == "ping payload");
  expect_connection_served(c);
}

TEST_CASE("conformance 2.10: of ten pings in a row at least the last is answered", "[conformance][group2]") {
  ten_pings_get_the_last_answered(0);
}

TEST_CASE("conformance 2.11: of ten pings sent one byte per write at least the last is answered",
          "[conformance][group2]") {
  ten_pings_get_the_last_answered(1);
}
