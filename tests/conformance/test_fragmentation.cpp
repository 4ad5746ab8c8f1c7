// Group 5, fragmentation: a message split into fragments arrives whole, control
// frames between its fragments are answered at once, and fragments that break the
// sequence (a continuation with nothing to continue, a new message inside one, a
// fragmented control frame) fail the connection with 1002.
#include "conformance/conformance.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace switchboard::test::conformance;

namespace {

// `message` cut into `count` fragments of nearly equal size: the first carries
// `first_opcode`, the rest are continuations, the last has FIN.
std::vector<frame_spec> fragments_of(std::uint8_t first_opcode, std::string_view message, std::size_t count) {
  std::vector<frame_spec> frames;
  const std::size_t step = (message.size() + count - 1) / count;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t begin = std::min(message.size(), i * step);
    const std::size_t end = std::min(message.size(), begin + step);
    frames.push_back(make_frame(i == 0 ? first_opcode : opcode::continuation,
                                std::string(message.substr(begin, end - begin)), i + 1 == count));
  }
  return frames;
}

std::string encode_all(raw_client& c, const std::vector<frame_spec>& frames) {
  std::string wire;
  for (const auto& f : frames) wire += c.encode(f);
  return wire;
}

// A 200-byte pad's echo request in `count` fragments, all in one write (or `chop`
// bytes per write), must come back whole.
void fragmented_text_comes_back(std::size_t count, std::size_t chop = 0) {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string pad = ascii_pad(200);
  REQUIRE(c.send_bytes(encode_all(c, fragments_of(opcode::text, echo_request(pad), count)), chop));
  expect_echo(c, pad);
  expect_connection_served(c);
}

// Sends `frames` one by one, `chop` bytes per write; after each fragment listed in
// `ping_after` a ping follows, and its pong is awaited before the next fragment goes
// out: a control frame in the middle of a message is answered then, not at its end.
void send_with_pings_between(raw_client& c, const std::vector<frame_spec>& frames,
                             const std::vector<std::size_t>& ping_after, std::size_t chop = 0) {
  for (std::size_t i = 0; i < frames.size(); ++i) {
    REQUIRE(c.send(frames[i], chop));
    if (std::find(ping_after.begin(), ping_after.end(), i) == ping_after.end()) continue;
    const std::string payload = "ping after fragment " + std::to_string(i + 1);
    REQUIRE(c.send(make_frame(opcode::ping, payload), chop));
    const auto pong = c.next_pong();
    INFO("pong for the ping after fragment " << i + 1 << " of " << frames.size());
    REQUIRE(pong);
    CHECK(*pong == payload);
  }
}

void text_with_pings_between_comes_back(std::size_t count, const std::vector<std::size_t>& ping_after,
                                        std::size_t chop = 0) {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string pad = ascii_pad(200);
  send_with_pings_between(c, fragments_of(opcode::text, echo_request(pad), count), ping_after, chop);
  expect_echo(c, pad);
  expect_connection_served(c);
}

// `wire` breaks the fragment sequence: the connection fails with 1002 and nothing in
// or after it (a valid message included) is answered.
void broken_sequence_fails_connection(case_server& server, raw_client& c, const std::string& wire,
                                      std::size_t chop = 0) {
  c.send_bytes(wire, chop);
  expect_failure(server, c, 1002);
  CHECK(c.pending_messages() == 0);
  CHECK(c.pending_pongs() == 0);
}

// A continuation frame with nothing to continue, then a valid message.
void orphan_continuation_fails_connection(bool fin, std::size_t chop) {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string wire = c.encode(make_frame(opcode::continuation, "nothing to continue", fin)) +
                           c.encode(make_frame(opcode::text, echo_request("after")));
  broken_sequence_fails_connection(server, c, wire, chop);
}

// A message in two fragments, answered; then `rest` twice over, which starts with a
// continuation that has nothing to continue.
void continuation_after_complete_message_fails_connection(const std::vector<frame_spec>& rest) {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_bytes(encode_all(c, fragments_of(opcode::text, echo_request("first"), 2))));
  expect_echo(c, "first");
  broken_sequence_fails_connection(server, c, encode_all(c, rest) + encode_all(c, rest));
}

}  // namespace

TEST_CASE("conformance 5.1: a ping in two fragments fails the connection with 1002", "[conformance][group5]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string wire = c.encode(make_frame(opcode::ping, "fragment1", false)) +
                           c.encode(make_frame(opcode::continuation, "fragment2"));
  broken_sequence_fails_connection(server, c, wire);
}

TEST_CASE("conformance 5.2: a pong in two fragments fails the connection with 1002", "[conformance][group5]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string wire = c.encode(make_frame(opcode::pong, "fragment1", false)) +
                           c.encode(make_frame(opcode::continuation, "fragment2"));
  broken_sequence_fails_connection(server, c, wire);
}

TEST_CASE("conformance 5.3: a text message in two fragments arrives whole", "[conformance][group5]") {
  fragmented_text_comes_back(2);
}

TEST_CASE("conformance 5.4: a text message in two fragments sent one write per frame arrives whole",
          "[conformance][group5]") {
  text_with_pings_between_comes_back(2, {});
}

TEST_CASE("conformance 5.5: a text message in two fragments sent one byte per write arrives whole",
          "[conformance][group5]") {
  fragmented_text_comes_back(2, 1);
}

TEST_CASE("conformance 5.6: a ping between text fragments sent in one write is answered", "[conformance][group5]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string pad = ascii_pad(200);
  const std::vector<frame_spec> frames = fragments_of(opcode::text, echo_request(pad), 2);
  REQUIRE(c.send_bytes(c.encode(frames[0]) + c.encode(make_frame(opcode::ping, "between")) + c.encode(frames[1])));
  const auto pong = c.next_pong();
  REQUIRE(pong);
  CHECK(*pong == "between");
  expect_echo(c, pad);
}

TEST_CASE("conformance 5.7: a ping between text fragments is answered before the last fragment is sent",
          "[conformance][group5]") {
  text_with_pings_between_comes_back(2, {0});
}

TEST_CASE("conformance 5.8: a ping between text fragments sent one byte per write is answered at once",
          "[conformance][group5]") {
  text_with_pings_between_comes_back(2, {0}, 1);
}

TEST_CASE("conformance 5.9: a final continuation frame with nothing to continue fails the connection with 1002",
          "[conformance][group5]") {
  orphan_continuation_fails_connection(true, 0);
}

TEST_CASE("conformance 5.11: a final continuation frame with nothing to continue sent one byte per write fails "
          "the connection with 1002",
          "[conformance][group5]") {
  orphan_continuation_fails_connection(true, 1);
}

TEST_CASE("conformance 5.12: a non-final continuation frame with nothing to continue fails the connection with 1002",
          "[conformance][group5]") {
  orphan_continuation_fails_connection(false, 0);
}

TEST_CASE("conformance 5.14: a non-final continuation frame with nothing to continue sent one byte per write "
          "fails the connection with 1002",
          "[conformance][group5]") {
  orphan_continuation_fails_connection(false, 1);
}

TEST_CASE("conformance 5.15: a continuation frame after a complete fragmented message fails the connection",
          "[conformance][group5]") {
  continuation_after_complete_message_fails_connection(
      {make_frame(opcode::continuation, "fragment3", false), make_frame(opcode::text, "fragment4")});
}

TEST_CASE("conformance 5.16: a non-final continuation opening a sequence fails the connection",
          "[conformance][group5]") {
  continuation_after_complete_message_fails_connection({make_frame(opcode::continuation, "fragment1", false),
                                                        make_frame(opcode::text, "fragment2", false),
                                                        make_frame(opcode::continuation, "fragment3")});
}

TEST_CASE("conformance 5.17: a final continuation opening a sequence fails the connection", "[conformance][group5]") {
  continuation_after_complete_message_fails_connection({make_frame(opcode::continuation, "fragment1"),
                                                        make_frame(opcode::text, "fragment2", false),
                                                        make_frame(opcode::continuation, "fragment3")});
}

TEST_CASE("conformance 5.18: a new text frame inside a fragmented text message fails the connection with 1002",
          "[conformance][group5]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string wire =
      c.encode(make_frame(opcode::text, "fragment1", false)) + c.encode(make_frame(opcode::text, "fragment2"));
  broken_sequence_fails_connection(server, c, wire);
}

TEST_CASE("conformance 5.19: pings after the first and fourth of five text fragments are answered at once",
          "[conformance][group5]") {
  text_with_pings_between_comes_back(5, {0, 3});
}

TEST_CASE("conformance 5.20: pings between five text fragments sent one byte per write are answered at once",
          "[conformance][group5]") {
  text_with_pings_between_comes_back(5, {0, 3}, 1);
}

TEST_CASE("conformance 5.21: a text message in 32 fragments arrives whole", "[conformance][group5]") {
  fragmented_text_comes_back(32);
}

TEST_CASE("conformance 5.22: a binary message in three fragments with a ping between arrives whole",
          "[conformance][group5]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  subscribe_to_binary_topic(c);
  const std::string payload = binary_pad(1000);
  send_with_pings_between(c, fragments_of(opcode::binary, binary_publish(payload), 3), {1});
  expect_binary_delivery(c, payload);
  expect_connection_served(c);
}

TEST_CASE("conformance 5.23: a binary frame inside a fragmented text message fails the connection with 1002",
          "[conformance][group5]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string wire = c.encode(make_frame(opcode::text, "fragment1", false)) +
                           c.encode(make_frame(opcode::binary, binary_publish("fragment2")));
  broken_sequence_fails_connection(server, c, wire);
}

TEST_CASE("conformance 5.24: a text message of three empty fragments arrives as one empty message",
          "[conformance][group5]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_bytes(c.encode(make_frame(opcode::text, "", false)) +
                       c.encode(make_frame(opcode::continuation, "", false)) +
                       c.encode(make_frame(opcode::continuation, ""))));
  // One empty message: one `bad_json` error, not three and not none.
  expect_error_reply(c, "bad_json");
  expect_connection_served(c);
  CHECK(c.pending_messages() == 0);
}

TEST_CASE("conformance 5.25: empty fragments around and between a message's content are joined away",
          "[conformance][group5]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string pad = ascii_pad(100);
  const std::string request = echo_request(pad);
  const std::size_t half = request.size() / 2;
  REQUIRE(c.send_bytes(c.encode(make_frame(opcode::text, "", false)) +
                       c.encode(make_frame(opcode::continuation, request.substr(0, half), false)) +
                       c.encode(make_frame(opcode::continuation, "", false)) +
                       c.encode(make_frame(opcode::continuation, request.substr(half), false)) +
                       c.encode(make_frame(opcode::continuation, ""))));
  expect_echo(c, pad);
  expect_connection_served(c);
}

TEST_CASE("conformance 5.26: a close frame without FIN fails the connection with 1002", "[conformance][group5]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string wire = c.encode(make_frame(opcode::close, close_payload(1000), false)) +
                           c.encode(make_frame(opcode::continuation, ""));
  broken_sequence_fails_connection(server, c, wire);
}
