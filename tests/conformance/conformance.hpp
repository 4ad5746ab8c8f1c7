// What every conformance case shares: the server it runs against, the requests that
// prove a message arrived intact (the application answers only valid requests), and
// the checks for a connection the server must fail.
#ifndef SWITCHBOARD_TESTS_CONFORMANCE_CONFORMANCE_HPP
#define SWITCHBOARD_TESTS_CONFORMANCE_CONFORMANCE_HPP

#include "conformance/raw_client.hpp"
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <switchboard/detail/utf8.hpp>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace switchboard {
namespace test {
namespace conformance {

/// The server's `max_message_bytes` in these cases: small, so group 9 stays quick,
/// and exactly the largest frame group 1 sends (65536 bytes).
constexpr std::size_t max_message_bytes = 64 * 1024;

/// The topic binary messages are published on and come back from.
constexpr std::string_view binary_topic = "conformance";

/// The protocol defaults, with the small message limit above and the publisher's own
/// publishes delivered back to it, so that a binary message is echoed like a text one.
inline config conformance_config() {
  config cfg = test_config();
  cfg.max_message_bytes = max_message_bytes;
  cfg.echo_to_publisher = true;
  return cfg;
}

/// The server one case runs against.
class case_server : public test_server {
 public:
  case_server() : test_server(conformance_config()) {}
};

// --- text: the `echo` command answers its params byte for byte --------------------

/// `{"type":"command","id":1,"name":"echo","params":"<pad>"}`: its `result` carries
/// `pad` back as the server received it. `pad` must not need JSON escaping.
inline std::string echo_request(std::string_view pad) {
  std::string request = R"({"type":"command","id":1,"name":"echo","params":")";
  request += pad;
  request += R"("})";
  return request;
}

/// The bytes `echo_request` adds around its pad.
inline std::size_t echo_overhead() { return echo_request("").size(); }

/// `size` printable ASCII bytes that vary, so a lost or repeated chunk shows.
inline std::string ascii_pad(std::size_t size) {
  static constexpr std::string_view alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string pad(size, ' ');
  for (std::size_t i = 0; i < size; ++i) pad[i] = alphabet[i % alphabet.size()];
  return pad;
}

/// The pad that makes `echo_request` exactly `size` bytes long.
inline std::string pad_for_request_of(std::size_t size) {
  REQUIRE(size >= echo_overhead());
  return ascii_pad(size - echo_overhead());
}

/// The next message must be the echo command's result carrying `pad`.
inline void expect_echo(raw_client& c, std::string_view pad) {
  const auto m = c.next_message();
  REQUIRE(m);
  INFO("reply: " << m->payload.substr(0, 200));
  REQUIRE(m->opcode == opcode::text);
  rapidjson::Document reply;
  reply.Parse(m->payload.data(), m->payload.size());
  REQUIRE_FALSE(reply.HasParseError());
  CHECK(str(reply, "type") == "result");
  REQUIRE(reply.HasMember("data"));
  REQUIRE(reply["data"].IsString());
  const std::string_view echoed(reply["data"].GetString(), reply["data"].GetStringLength());
  CHECK(echoed.size() == pad.size());
  CHECK(echoed == pad);
}

/// The next message must be an `error` with `code`.
inline void expect_error_reply(raw_client& c, std::string_view code) {
  const auto m = c.next_message();
  REQUIRE(m);
  INFO("reply: " << m->payload);
  REQUIRE(m->opcode == opcode::text);
  rapidjson::Document reply;
  reply.Parse(m->payload.data(), m->payload.size());
  REQUIRE_FALSE(reply.HasParseError());
  CHECK(str(reply, "type") == "error");
  CHECK(str(reply, "code") == code);
}

// --- binary: a publish on `binary_topic` comes back as a delivery ----------------

/// Subscribes `c` to `binary_topic` and waits for the ack.
inline void subscribe_to_binary_topic(raw_client& c) {
  std::string request = R"({"type":"subscribe","id":1,"topics":[")";
  request += binary_topic;
  request += R"("]})";
  REQUIRE(c.send(make_frame(opcode::text, request)));
  const auto ack = c.next_message();
  REQUIRE(ack);
  INFO("reply: " << ack->payload);
  CHECK(ack->payload.find(R"("type":"ack")") != std::string::npos);
}

/// The bytes a binary publish adds around its payload: `0x01 | topic_len | topic`.
inline std::size_t binary_overhead() { return 2 + binary_topic.size(); }

/// A binary publish of `payload` on `binary_topic`.
inline std::string binary_publish(std::string_view payload) {
  std::string envelope;
  envelope.push_back('\x01');
  envelope.push_back(static_cast<char>(binary_topic.size()));
  envelope += binary_topic;
  envelope += payload;
  return envelope;
}

/// `size` bytes covering every byte value.
inline std::string binary_pad(std::size_t size) {
  std::string pad(size, '\0');
  for (std::size_t i = 0; i < size; ++i) pad[i] = static_cast<char>((i * 7 + 3) & 0xFF);
  return pad;
}

/// The next message must be the delivery of `payload` on `binary_topic`:
/// `0x02 | topic_len | topic | u64 seq | payload`.
inline void expect_binary_delivery(raw_client& c, std::string_view payload) {
  const auto m = c.next_message();
  REQUIRE(m);
  INFO("reply of " << m->payload.size() << " bytes, opcode " << int{m->opcode});
  REQUIRE(m->opcode == opcode::binary);
  const std::size_t header = 2 + binary_topic.size() + 8;
  REQUIRE(m->payload.size() == header + payload.size());
  CHECK(static_cast<unsigned char>(m->payload[0]) == 0x02);
  CHECK(std::string_view(m->payload).substr(2, binary_topic.size()) == binary_topic);
  CHECK(std::string_view(m->payload).substr(header) == payload);
}

// --- the connection's state ----------------------------------------------------------

/// The connection is open and served: a `ping` request gets its `pong`. Replies
/// still pending from earlier requests are passed over.
inline void expect_connection_served(raw_client& c) {
  REQUIRE(c.send(make_frame(opcode::text, R"({"type":"ping","id":"still-open"})")));
  for (;;) {
    const auto m = c.next_message();
    REQUIRE(m);
    if (m->payload.find(R"("still-open")") != std::string::npos) {
      CHECK(m->payload.find(R"("type":"pong")") != std::string::npos);
      return;
    }
  }
}

/// A new connection on `port` gets `welcome` and an answer: failing one connection
/// leaves the server serving the others.
inline void expect_server_serves(std::uint16_t port) {
  raw_client fresh;
  fresh.open(port);
  expect_connection_served(fresh);
}

/// The server must fail the connection with `code`: a close frame carrying it, no
/// pong and no data after it, and the end of the TCP connection, all within the
/// deadline; a new connection is then served as usual.
inline void expect_failure(const case_server& server, raw_client& c, std::uint16_t code) {
  const close_outcome outcome = c.await_close();
  INFO("close frame received: " << outcome.close_received << ", code " << outcome.code << ", reason '"
                                << outcome.reason << "'");
  CHECK(outcome.close_received);
  CHECK(outcome.code == code);
  CHECK(switchboard::detail::is_valid_utf8(outcome.reason));
  CHECK(outcome.tcp_closed);
  CHECK(outcome.frames_after_close == 0);
  expect_server_serves(server.port());
}

/// The server must answer the client's close with a close frame whose code is one
/// of `accepted`, then end the TCP connection.
inline close_outcome expect_close_answered(raw_client& c, std::initializer_list<std::uint16_t> accepted) {
  const close_outcome outcome = c.await_close();
  INFO("close frame received: " << outcome.close_received << ", code " << outcome.code << ", reason '"
                                << outcome.reason << "'");
  CHECK(outcome.close_received);
  bool code_accepted = false;
  for (std::uint16_t code : accepted) code_accepted = code_accepted || outcome.code == code;
  CHECK(code_accepted);
  CHECK(switchboard::detail::is_valid_utf8(outcome.reason));
  CHECK(outcome.tcp_closed);
  CHECK(outcome.frames_after_close == 0);
  return outcome;
}

}  // namespace conformance
}  // namespace test
}  // namespace switchboard

#endif
