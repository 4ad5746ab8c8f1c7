// Group 1, framing: text and binary messages of the lengths where the header changes
// form (7-bit, 16-bit, 64-bit length), in one write, in chops of 997 bytes, and one
// byte per write. Each comes back intact, which only a whole message can do.
#include "conformance/conformance.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>

using namespace switchboard::test::conformance;

namespace {

// A text message of exactly `size` bytes (an echo request), sent `chop` bytes per write.
void text_message_comes_back(std::size_t size, std::size_t chop = 0) {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string pad = pad_for_request_of(size);
  const std::string request = echo_request(pad);
  REQUIRE(request.size() == size);
  REQUIRE(c.send(make_frame(opcode::text, request), chop));
  expect_echo(c, pad);
  expect_connection_served(c);
}

// A binary message of exactly `size` bytes (a publish the sender is subscribed to).
void binary_message_comes_back(std::size_t size, std::size_t chop = 0) {
  case_server server;
  raw_client c;
  c.open(server.port());
  subscribe_to_binary_topic(c);
  REQUIRE(size >= binary_overhead());
  const std::string payload = binary_pad(size - binary_overhead());
  const std::string message = binary_publish(payload);
  REQUIRE(message.size() == size);
  REQUIRE(c.send(make_frame(opcode::binary, message), chop));
  expect_binary_delivery(c, payload);
  expect_connection_served(c);
}

}  // namespace

TEST_CASE("conformance 1.1.1: an empty text message is received", "[conformance][group1]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send(make_frame(opcode::text, "")));
  // Not JSON, so the application answers an error: the message arrived, empty.
  expect_error_reply(c, "bad_json");
  expect_connection_served(c);
}

TEST_CASE("conformance 1.1.2: a 125-byte text message is received intact", "[conformance][group1]") {
  text_message_comes_back(125);
}

TEST_CASE("conformance 1.1.3: a 126-byte text message is received intact", "[conformance][group1]") {
  text_message_comes_back(126);
}

TEST_CASE("conformance 1.1.4: a 127-byte text message is received intact", "[conformance][group1]") {
  text_message_comes_back(127);
}

TEST_CASE("conformance 1.1.5: a 128-byte text message is received intact", "[conformance][group1]") {
  text_message_comes_back(128);
}

TEST_CASE("conformance 1.1.6: a 65535-byte text message is received intact", "[conformance][group1]") {
  text_message_comes_back(65535);
}

TEST_CASE("conformance 1.1.7: a 65536-byte text message is received intact", "[conformance][group1]") {
  text_message_comes_back(65536);
}

TEST_CASE("conformance 1.1.8: a 65536-byte text message sent in 997-byte chops is received intact",
          "[conformance][group1]") {
  text_message_comes_back(65536, 997);
}

TEST_CASE("conformance 1.2.1: an empty binary message is received", "[conformance][group1]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send(make_frame(opcode::binary, "")));
  // Too short for a binary envelope: the application's error shows it arrived.
  expect_error_reply(c, "bad_request");
  expect_connection_served(c);
}

TEST_CASE("conformance 1.2.2: a 125-byte binary message is received intact", "[conformance][group1]") {
  binary_message_comes_back(125);
}

TEST_CASE("conformance 1.2.3: a 126-byte binary message is received intact", "[conformance][group1]") {
  binary_message_comes_back(126);
}

TEST_CASE("conformance 1.2.4: a 127-byte binary message is received intact", "[conformance][group1]") {
  binary_message_comes_back(127);
}

TEST_CASE("conformance 1.2.5: a 128-byte binary message is received intact", "[conformance][group1]") {
  binary_message_comes_back(128);
}

TEST_CASE("conformance 1.2.6: a 65535-byte binary message is received intact", "[conformance][group1]") {
  binary_message_comes_back(65535);
}

TEST_CASE("conformance 1.2.7: a 65536-byte binary message is received intact", "[conformance][group1]") {
  binary_message_comes_back(65536);
}

TEST_CASE("conformance 1.2.8: a 65536-byte binary message sent in 997-byte chops is received intact",
          "[conformance][group1]") {
  binary_message_comes_back(65536, 997);
}

TEST_CASE("conformance 1.3.1: a text message sent one byte per write is received intact", "[conformance][group1]") {
  // 300 bytes: the 16-bit length form, and its header split across reads too.
  text_message_comes_back(300, 1);
}

TEST_CASE("conformance 1.3.2: a binary message sent one byte per write is received intact",
          "[conformance][group1]") {
  binary_message_comes_back(300, 1);
}
