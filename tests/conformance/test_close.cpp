// Group 7, close handling: the server answers a client's close frame with its own
// (RFC 6455 5.5.1 and 7.4: the code echoed, or 1000), processes nothing that follows
// it, and ends the TCP connection first while the client keeps its side open (7.1.1).
// A close frame with a malformed payload or a code no endpoint may send fails the
// connection with 1002; a reason that is not UTF-8 fails it with 1007.
#include "conformance/conformance.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

using namespace switchboard::test::conformance;

namespace {

void close_code_is_answered(std::uint16_t code) {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_close(close_payload(code)));
  expect_close_answered(c, {code, 1000});
}

void close_code_fails_connection(std::uint16_t code) {
  case_server server;
  raw_client c;
  c.open(server.port());
  c.send_close(close_payload(code));
  expect_failure(server, c, 1002);
}

}  // namespace

// --- 7.1: the closing handshake ----------------------------------------------------

TEST_CASE("conformance 7.1.1: a message and then a close are both answered in order", "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send(make_frame(opcode::text, echo_request("before close"))));
  expect_echo(c, "before close");
  REQUIRE(c.send_close(close_payload(1000)));
  expect_close_answered(c, {1000});
}

TEST_CASE("conformance 7.1.2: a second close frame from the client is ignored", "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_bytes(c.encode(make_frame(opcode::close, close_payload(1000))) +
                       c.encode(make_frame(opcode::close, close_payload(1000)))));
  expect_close_answered(c, {1000});
}

TEST_CASE("conformance 7.1.3: a ping after the client's close is not answered", "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_bytes(c.encode(make_frame(opcode::close, close_payload(1000))) +
                       c.encode(make_frame(opcode::ping, "after close"))));
  expect_close_answered(c, {1000});
  CHECK(c.pending_pongs() == 0);
}

TEST_CASE("conformance 7.1.4: a text message after the client's close is not processed", "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_bytes(c.encode(make_frame(opcode::close, close_payload(1000))) +
                       c.encode(make_frame(opcode::text, echo_request("after close")))));
  expect_close_answered(c, {1000});
  CHECK(c.pending_messages() == 0);
}

TEST_CASE("conformance 7.1.5: the rest of a fragmented message after the client's close is not processed",
          "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string request = echo_request("split by close");
  REQUIRE(c.send_bytes(c.encode(make_frame(opcode::text, request.substr(0, 10), false)) +
                       c.encode(make_frame(opcode::close, close_payload(1000))) +
                       c.encode(make_frame(opcode::continuation, request.substr(10)))));
  expect_close_answered(c, {1000});
  CHECK(c.pending_messages() == 0);
}

TEST_CASE("conformance 7.1.6: a close right after a large message is answered and ends the connection",
          "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  const std::string pad = pad_for_request_of(max_message_bytes);
  REQUIRE(c.send_bytes(c.encode(make_frame(opcode::text, echo_request(pad))) +
                       c.encode(make_frame(opcode::close, close_payload(1000))) +
                       c.encode(make_frame(opcode::ping, "after close"))));
  // The message came before the close, so its reply may come before the close too;
  // nothing may follow the close, and the ping after it is never answered.
  expect_close_answered(c, {1000});
  CHECK(c.pending_pongs() == 0);
}

// --- 7.3: close frame payloads -----------------------------------------------------

TEST_CASE("conformance 7.3.1: a close frame without payload is answered", "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_close(""));
  // No code to echo: the answer carries none (1005 here) or 1000.
  expect_close_answered(c, {1005, 1000});
}

TEST_CASE("conformance 7.3.2: a close frame with a one-byte payload fails the connection with 1002",
          "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  c.send_close("\x03");
  expect_failure(server, c, 1002);
}

TEST_CASE("conformance 7.3.3: a close frame with code 1000 is answered with 1000", "[conformance][group7]") {
  close_code_is_answered(1000);
}

TEST_CASE("conformance 7.3.4: a close frame with code 1000 and a reason is answered with 1000",
          "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_close(close_payload(1000, "Hello World!")));
  expect_close_answered(c, {1000});
}

TEST_CASE("conformance 7.3.5: a close frame with a 123-byte reason is answered with 1000", "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  REQUIRE(c.send_close(close_payload(1000, std::string(123, '*'))));
  expect_close_answered(c, {1000});
}

TEST_CASE("conformance 7.3.6: a close frame with a 124-byte reason is too long and fails the connection with 1002",
          "[conformance][group7]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  c.send_close(close_payload(1000, std::string(124, '*')));
  expect_failure(server, c, 1002);
}

TEST_CASE("conformance 7.5.1: a close reason that is not valid UTF-8 fails the connection with 1007",
          "[conformance][group7][websocketpp_deviation]") {
  case_server server;
  raw_client c;
  c.open(server.port());
  // "κόσμε", a UTF-16 surrogate, "edited".
  c.send_close(close_payload(1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited"));
  expect_failure(server, c, 1007);
}

// --- 7.7: codes a client may send ----------------------------------------------------

TEST_CASE("conformance 7.7.1: close code 1000 is answered", "[conformance][group7]") { close_code_is_answered(1000); }
TEST_CASE("conformance 7.7.2: close code 1001 is answered", "[conformance][group7]") { close_code_is_answered(1001); }
TEST_CASE("conformance 7.7.3: close code 1002 is answered", "[conformance][group7]") { close_code_is_answered(1002); }
TEST_CASE("conformance 7.7.4: close code 1003 is answered", "[conformance][group7]") { close_code_is_answered(1003); }
TEST_CASE("conformance 7.7.5: close code 1007 is answered", "[conformance][group7]") { close_code_is_answered(1007); }
TEST_CASE("conformance 7.7.6: close code 1008 is answered", "[conformance][group7]") { close_code_is_answered(1008); }
TEST_CASE("conformance 7.7.7: close code 1009 is answered", "[conformance][group7]") { close_code_is_answered(1009); }
TEST_CASE("conformance 7.7.8: close code 1010 is answered", "[conformance][group7]") { close_code_is_answered(1010); }
TEST_CASE("conformance 7.7.9: close code 1011 is answered", "[conformance][group7]") { close_code_is_answered(1011); }
TEST_CASE("conformance 7.7.10: close code 3000 is answered", "[conformance][group7]") { close_code_is_answered(3000); }
TEST_CASE("conformance 7.7.11: close code 3999 is answered", "[conformance][group7]") { close_code_is_answered(3999); }
TEST_CASE("conformance 7.7.12: close code 4000 is answered", "[conformance][group7]") { close_code_is_answered(4000); }
TEST_CASE("conformance 7.7.13: close code 4999 is answered", "[conformance][group7]") { close_code_is_answered(4999); }

// --- 7.9 and 7.13: codes no endpoint may send ------------------------------------------
// 1004-1006 and 1015 are reserved or only for reports, 1016-2999 are for future
// protocol revisions, and codes below 1000 or above 4999 are not close codes at all.

TEST_CASE("conformance 7.9.1: close code 0 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(0);
}
TEST_CASE("conformance 7.9.2: close code 999 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(999);
}
TEST_CASE("conformance 7.9.3: close code 1004 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(1004);
}
TEST_CASE("conformance 7.9.4: close code 1005 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(1005);
}
TEST_CASE("conformance 7.9.5: close code 1006 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(1006);
}
TEST_CASE("conformance 7.9.6: close code 1016 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(1016);
}
TEST_CASE("conformance 7.9.7: close code 1100 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(1100);
}
TEST_CASE("conformance 7.9.8: close code 2000 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(2000);
}
TEST_CASE("conformance 7.9.9: close code 2999 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(2999);
}
TEST_CASE("conformance 7.9.10: close code 1015 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(1015);
}
TEST_CASE("conformance 7.13.1: close code 5000 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(5000);
}
TEST_CASE("conformance 7.13.2: close code 65535 fails the connection with 1002", "[conformance][group7]") {
  close_code_fails_connection(65535);
}
