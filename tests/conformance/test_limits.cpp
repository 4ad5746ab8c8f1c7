// Group 9, limits and length encoding: messages up to `max_message_bytes` arrive, in
// one frame or many; one byte more closes with 1009, decided from the frame header
// before the payload arrives (the server must not wait for, nor buffer, what it will
// refuse). Lengths that break RFC 6455 5.2 (the 64-bit form with its top bit set, or
// a longer form than needed) and unmasked client frames fail the connection with 1002.
#include "conformance/conformance.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

using namespace switchboard::test::conformance;

namespace {

// A frame header announcing `length` bytes, sent without any payload.
void header_alone_fails_connection(std::uint8_t op, std::uint64_t length, std::uint16_t code,
                                   length_form form = length_form::minimal) {
  case_server server;
  raw_client c;
  c.open(server.port());
  frame_spec header = make_frame(op, "");
  header.declared_length = length;
  header.form = form;
  REQUIRE(c.send(header));
  expect_failure(server, c, code);
}

// A whole frame whose `length` is written in a longer `form` than needed.
void non_minimal_length_fails_connection(std::size_t length, length_form form) {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string pad = pad_for_request_of(length);
  frame_spec frame = make_frame(opcode::text, echo_request(pad));
  frame.form = form;
  c.send(frame);
  expect_failure(server, c, 1002);
  CHECK(c.pending_messages() == 0);
}

void unmasked_frame_fails_connection(frame_spec frame) {
  case_server server;
  raw_client c;
  c.open(server.port());
  frame.masked = false;
  c.send(frame);
  expect_failure(server, c, 1002);
  CHECK(c.pending_messages() == 0);
  CHECK(c.pending_pongs() == 0);
}

}  // namespace

// --- 9.1: up to the limit ------------------------------------------------------------

TEST_CASE("conformance 9.1.1: a text message of max_message_bytes in one frame is accepted",
          "[conformance][group9]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string pad = pad_for_request_of(max_message_bytes);
  REQUIRE(c.send(make_frame(opcode::text, echo_request(pad))));
  expect_echo(c, pad);
  expect_connection_served(c);
}

TEST_CASE("conformance 9.1.2: a binary message of max_message_bytes in one frame is accepted",
          "[conformance][group9]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  subscribe_to_binary_topic(c);
  const std::string payload = binary_pad(max_message_bytes - binary_overhead());
  REQUIRE(c.send(make_frame(opcode::binary, binary_publish(payload))));
  expect_binary_delivery(c, payload);
  expect_connection_served(c);
}

TEST_CASE("conformance 9.1.3: a text message of max_message_bytes in 64 fragments is accepted",
          "[conformance][group9]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string pad = pad_for_request_of(max_message_bytes);
  const std::string request = echo_request(pad);
  const std::size_t step = request.size() / 64;
  std::string wire;
  for (std::size_t at = 0; at < request.size(); at += step) {
    const bool last = at + step >= request.size();
    wire += c.encode(make_frame(at == 0 ? opcode::text : opcode::continuation, request.substr(at, step), last));
  }
  REQUIRE(c.send_bytes(wire));
  expect_echo(c, pad);
  expect_connection_served(c);
}

TEST_CASE("conformance 9.1.4: a binary message of max_message_bytes in 1024-byte fragments is accepted",
          "[conformance][group9]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  subscribe_to_binary_topic(c);
  const std::string payload = binary_pad(max_message_bytes - binary_overhead());
  const std::string message = binary_publish(payload);
  std::string wire;
  for (std::size_t at = 0; at < message.size(); at += 1024) {
    const bool last = at + 1024 >= message.size();
    wire += c.encode(make_frame(at == 0 ? opcode::binary : opcode::continuation, message.substr(at, 1024), last));
  }
  REQUIRE(c.send_bytes(wire));
  expect_binary_delivery(c, payload);
  expect_connection_served(c);
}

// --- 9.2: one byte over --------------------------------------------------------------

TEST_CASE("conformance 9.2.1: a text frame header announcing max_message_bytes + 1 closes with 1009 at once",
          "[conformance][group9]") {
  header_alone_fails_connection(opcode::text, max_message_bytes + 1, 1009);
}

TEST_CASE("conformance 9.2.2: a binary frame header announcing max_message_bytes + 1 closes with 1009 at once",
          "[conformance][group9]") {
  header_alone_fails_connection(opcode::binary, max_message_bytes + 1, 1009);
}

TEST_CASE("conformance 9.2.3: a continuation header taking a message past max_message_bytes closes with 1009 at once",
          "[conformance][group9]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  // Exactly the limit in a first fragment, then a header for one byte more.
  frame_spec over = make_frame(opcode::continuation, "");
  over.declared_length = 1;
  REQUIRE(c.send_bytes(c.encode(make_frame(opcode::text, std::string(max_message_bytes, 'x'), false)) +
                       c.encode(over)));
  expect_failure(server, c, 1009);
}

TEST_CASE("conformance 9.2.4: a whole text message of max_message_bytes + 1 closes with 1009",
          "[conformance][group9]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  // The server may close before the payload is all in; what it then does not read
  // may cut the write short.
  c.send(make_frame(opcode::text, echo_request(pad_for_request_of(max_message_bytes + 1))));
  expect_failure(server, c, 1009);
  CHECK(c.pending_messages() == 0);
}

TEST_CASE("conformance 9.2.5: a fragmented text message of max_message_bytes + 1 closes with 1009",
          "[conformance][group9]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string request = echo_request(pad_for_request_of(max_message_bytes + 1));
  std::string wire;
  for (std::size_t at = 0; at < request.size(); at += 4096) {
    const bool last = at + 4096 >= request.size();
    wire += c.encode(make_frame(at == 0 ? opcode::text : opcode::continuation, request.substr(at, 4096), last));
  }
  c.send_bytes(wire);
  expect_failure(server, c, 1009);
  CHECK(c.pending_messages() == 0);
}

// --- 9.3: length encoding ------------------------------------------------------------

TEST_CASE("conformance 9.3.1: a 64-bit length with its most significant bit set fails the connection with 1002",
          "[conformance][group9][websocketpp_deviation]") {
  header_alone_fails_connection(opcode::binary, (std::uint64_t(1) << 63) | 16, 1002);
}

TEST_CASE("conformance 9.3.2: a length below 126 in the 16-bit form fails the connection with 1002",
          "[conformance][group9]") {
  non_minimal_length_fails_connection(100, length_form::two_bytes);
}

TEST_CASE("conformance 9.3.3: a length below 65536 in the 64-bit form fails the connection with 1002",
          "[conformance][group9]") {
  non_minimal_length_fails_connection(1000, length_form::eight_bytes);
}

TEST_CASE("conformance 9.3.4: a length below 126 in the 64-bit form fails the connection with 1002",
          "[conformance][group9]") {
  non_minimal_length_fails_connection(100, length_form::eight_bytes);
}

TEST_CASE("conformance 9.3.5: a ping with its length in the 16-bit form fails the connection with 1002",
          "[conformance][group9]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  frame_spec ping = make_frame(opcode::ping, "short");
  ping.form = length_form::two_bytes;
  c.send(ping);
  expect_failure(server, c, 1002);
  CHECK(c.pending_pongs() == 0);
}

// --- 9.4: masking --------------------------------------------------------------------

TEST_CASE("conformance 9.4.1: an unmasked text frame fails the connection with 1002", "[conformance][group9]") {
  unmasked_frame_fails_connection(make_frame(opcode::text, echo_request("unmasked")));
}

TEST_CASE("conformance 9.4.2: an unmasked ping fails the connection with 1002", "[conformance][group9]") {
  unmasked_frame_fails_connection(make_frame(opcode::ping, "unmasked"));
}

TEST_CASE("conformance 9.4.3: an unmasked close frame fails the connection with 1002", "[conformance][group9]") {
  unmasked_frame_fails_connection(make_frame(opcode::close, close_payload(1000)));
}
