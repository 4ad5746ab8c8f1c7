// Groups 3 and 4, reserved bits and reserved opcodes: with no extension negotiated,
// a frame with RSV1, RSV2 or RSV3 set, or with opcode 3-7 or 0xB-0xF, fails the
// connection with 1002. A valid message before it is answered first (its reply is
// awaited before the bad frame goes out); a ping after it is never answered, since a
// failed connection processes nothing more (RFC 6455 7.1.7).
#include "conformance/conformance.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

using namespace switchboard::test::conformance;

namespace {

struct bad_frame_case {
  frame_spec bad;
  bool valid_message_first = false;
  bool ping_after = false;
  std::size_t chop = 0;  // bytes per write for the bad frame and what follows it
};

void bad_frame_fails_connection(const bad_frame_case& test) {
  case_server server;
  raw_client c;
  c.open(server.port());
  if (test.valid_message_first) {
    REQUIRE(c.send(make_frame(opcode::text, echo_request("before"))));
    expect_echo(c, "before");
  }
  std::string wire = c.encode(test.bad);
  if (test.ping_after) wire += c.encode(make_frame(opcode::ping, "after"));
  c.send_bytes(wire, test.chop);
  expect_failure(server, c, 1002);
  CHECK(c.pending_pongs() == 0);
  CHECK(c.pending_messages() == 0);
}

frame_spec with_rsv(frame_spec frame, std::uint8_t bits) {
  frame.rsv = bits;
  return frame;
}

bad_frame_case reserved_opcode(std::uint8_t op, bool with_payload, bool valid_first_and_ping_after) {
  bad_frame_case test;
  test.bad = make_frame(op, with_payload ? "reserved opcode payload" : "");
  test.valid_message_first = valid_first_and_ping_after;
  test.ping_after = valid_first_and_ping_after;
  return test;
}

}  // namespace

// --- group 3: reserved bits --------------------------------------------------------

TEST_CASE("conformance 3.1: a text frame with RSV1 set fails the connection with 1002", "[conformance][group3]") {
  bad_frame_fails_connection({with_rsv(make_frame(opcode::text, echo_request("rsv")), rsv::rsv1)});
}

TEST_CASE("conformance 3.2: a text frame with RSV2 set after a valid message fails the connection with 1002",
          "[conformance][group3]") {
  bad_frame_fails_connection({with_rsv(make_frame(opcode::text, echo_request("rsv")), rsv::rsv2), true});
}

TEST_CASE("conformance 3.3: a text frame with RSV1 and RSV2 set fails the connection before a following ping",
          "[conformance][group3]") {
  bad_frame_fails_connection(
      {with_rsv(make_frame(opcode::text, echo_request("rsv")), rsv::rsv1 | rsv::rsv2), true, true});
}

TEST_CASE("conformance 3.4: a text frame with RSV3 set sent one byte per write fails the connection with 1002",
          "[conformance][group3]") {
  bad_frame_fails_connection({with_rsv(make_frame(opcode::text, echo_request("rsv")), rsv::rsv3), true, true, 1});
}

TEST_CASE("conformance 3.5: a binary frame with RSV1 and RSV3 set fails the connection with 1002",
          "[conformance][group3]") {
  bad_frame_fails_connection(
      {with_rsv(make_frame(opcode::binary, binary_publish("rsv")), rsv::rsv1 | rsv::rsv3)});
}

TEST_CASE("conformance 3.6: a ping with RSV2 and RSV3 set fails the connection unanswered",
          "[conformance][group3]") {
  bad_frame_fails_connection({with_rsv(make_frame(opcode::ping, "rsv"), rsv::rsv2 | rsv::rsv3)});
}

TEST_CASE("conformance 3.7: a close frame with all reserved bits set fails the connection with 1002",
          "[conformance][group3]") {
  bad_frame_fails_connection(
      {with_rsv(make_frame(opcode::close, close_payload(1000)), rsv::rsv1 | rsv::rsv2 | rsv::rsv3)});
}

// --- group 4: reserved opcodes -----------------------------------------------------

TEST_CASE("conformance 4.1.1: a frame with reserved opcode 3 fails the connection with 1002",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(3, false, false));
}

TEST_CASE("conformance 4.1.2: a frame with reserved opcode 4 and a payload fails the connection with 1002",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(4, true, false));
}

TEST_CASE("conformance 4.1.3: reserved opcode 5 after a valid message fails the connection before a ping",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(5, false, true));
}

TEST_CASE("conformance 4.1.4: reserved opcode 6 with a payload fails the connection before a ping",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(6, true, true));
}

TEST_CASE("conformance 4.1.5: reserved opcode 7 with a payload fails the connection before a ping",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(7, true, true));
}

TEST_CASE("conformance 4.2.1: a frame with reserved control opcode 0xB fails the connection with 1002",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(0xB, false, false));
}

TEST_CASE("conformance 4.2.2: reserved control opcode 0xC with a payload fails the connection with 1002",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(0xC, true, false));
}

TEST_CASE("conformance 4.2.3: reserved control opcode 0xD after a valid message fails the connection before a ping",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(0xD, false, true));
}

TEST_CASE("conformance 4.2.4: reserved control opcode 0xE with a payload fails the connection before a ping",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(0xE, true, true));
}

TEST_CASE("conformance 4.2.5: reserved control opcode 0xF with a payload fails the connection before a ping",
          "[conformance][group4]") {
  bad_frame_fails_connection(reserved_opcode(0xF, true, true));
}
