// HTTP/1.1 on the WebSocket port of the native transport, over raw sockets: keep-alive,
// pipelining, HEAD, 404/405, the request limits of PROTOCOL section 1 (413, 414, 431
// and the sizes that must fit), 411 and 400, connection close rules, asynchronous
// routes, handshake_timeout, response header injection, and an upgrade after a request.
//
// The websocketpp adapter has no asynchronous routes and none of these options, so these
// tests exist for the native transport only: tagged [native_only] and not compiled into
// socket_tests_websocketpp.
#ifndef SWITCHBOARD_TEST_WEBSOCKETPP

#include "support/test_server.hpp"
#include "support/tls_client.hpp"
#include "support/ws_test_client.hpp"

#include <asio.hpp>
#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace switchboard;
using namespace switchboard::test;

namespace {

constexpr std::chrono::seconds close_deadline{10};

std::string get(std::string_view target, std::string_view extra_headers = {}) {
  std::string r = "GET ";
  r += target;
  r += " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  r += extra_headers;
  r += "\r\n";
  return r;
}

std::string post(std::string_view target, std::string_view body, std::string_view extra_headers = {}) {
  std::string r = "POST ";
  r += target;
  r += " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra_headers;
  r += "\r\n";
  r += body;
  return r;
}

std::string lower(std::string s) {
  for (char& c : s) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return s;
}

// How many header lines named `name` (case-insensitive) a response header block has.
std::size_t header_lines(const std::string& headers, std::string_view name) {
  const std::string needle = "\r\n" + lower(std::string(name)) + ":";
  const std::string text = lower(headers);
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

// One client connection driven by hand: requests are written as given, responses read
// one at a time (bytes after a response stay buffered for the next).
class http_connection {
 public:
  explicit http_connection(std::uint16_t port) { REQUIRE_FALSE(socket_.connect(port)); }

  void send(std::string_view bytes) { REQUIRE_FALSE(socket_.write(bytes)); }

  http_result response(std::chrono::milliseconds timeout = default_timeout) {
    return detail_client::read_http_response(socket_, buffered_, timeout);
  }

  // The next response's header block only: the answer to HEAD, which has no body.
  http_result head_response(std::chrono::milliseconds timeout = default_timeout) {
    http_result result;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char chunk[4096];
    std::size_t end;
    while ((end = buffered_.find("\r\n\r\n")) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return result;
      std::size_t n = 0;
      const std::error_code ec = socket_.read_some(chunk, sizeof chunk, n, left);
      buffered_.append(chunk, n);
      if (ec) return result;
    }
    result.headers = buffered_.substr(0, end + 2);
    result.status = detail_client::status_of(result.headers);
    buffered_.erase(0, end + 4);
    return result;
  }

  // True when the server ends the connection within `timeout`; whatever arrived after
  // the responses read so far is left in `unread()`.
  bool closed_by_server(std::chrono::milliseconds timeout = close_deadline) {
    return wait_for_end_of_stream(socket_, buffered_, timeout);
  }

  const std::string& unread() const { return buffered_; }
  std::string take_unread() { return std::move(buffered_); }
  timed_socket& socket() { return socket_; }

 private:
  timed_socket socket_;
  std::string buffered_;
};

// What the routes below share with the test thread. Touched on the server thread only.
struct route_state {
  std::size_t echo_calls = 0;
  std::size_t fast_calls = 0;
  http_reply held;  // the answer to the latest GET /held, until the test gives it
};

http_response text(std::string body) {
  http_response r;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

// The routes every test here uses.
test_server::setup_fn add_routes(std::shared_ptr<route_state> state) {
  return [state](test_server::hub_type& hub, server_under_test& server) {
    asio::io_context* io = &hub.context();
    server.add_route("POST", "/echo", [state](const switchboard::http_request& request) {
      ++state->echo_calls;
      return text(std::string(request.body));
    });
    server.add_route("PUT", "/echo", [](const switchboard::http_request&) { return text("put"); });
    server.add_route("GET", "/doc", [](const switchboard::http_request&) {
      http_response r = text("hello world");
      r.headers.emplace_back("X-Doc", "yes");
      return r;
    });
    server.add_route("GET", "/fast", [state](const switchboard::http_request&) {
      ++state->fast_calls;
      return text("fast");
    });
    // Answers from a handler posted to the hub's io_context: after the request's turn.
    server.add_async_route("GET", "/slow", [io](const switchboard::http_request& request, http_reply reply) {
      asio::post(*io, [reply, query = std::string(request.query)] { reply(text("slow " + query)); });
    });
    // Keeps the reply for the test to give (or drop) later.
    server.add_async_route("GET", "/held", [state](const switchboard::http_request&, http_reply reply) {
      state->held = std::move(reply);
    });
    server.add_async_route("GET", "/drop", [](const switchboard::http_request&, http_reply) {});
    server.add_route("GET", "/throw", [](const switchboard::http_request&) -> http_response {
      throw std::runtime_error("the route failed on purpose");
    });
    server.add_async_route("GET", "/throw-async", [](const switchboard::http_request&, http_reply) {
      throw std::runtime_error("the async route failed on purpose");
    });
  };
}

// A test server with `add_routes`, and its route state.
struct http_fixture {
  explicit http_fixture(config cfg = test_config(), websocket_options options = {})
      : state(std::make_shared<route_state>()), server(std::move(cfg), std::move(options), add_routes(state)) {}

  bool wait_held() {
    return server.wait_until([this](auto&, server_under_test&) { return static_cast<bool>(state->held); });
  }
  // Gives the held reply from a handler posted to the hub's io_context.
  void answer_held(std::string body) {
    server.call([this, body](test_server::hub_type& hub, server_under_test&) {
      http_reply reply = std::move(state->held);
      state->held = nullptr;
      asio::post(hub.context(), [reply, body] { reply(text(body)); });
      return 0;
    });
  }
  std::size_t fast_calls() {
    return server.call([this](auto&, server_under_test&) { return state->fast_calls; });
  }
  std::size_t echo_calls() {
    return server.call([this](auto&, server_under_test&) { return state->echo_calls; });
  }

  std::shared_ptr<route_state> state;
  test_server server;
};

// Header lines (each `X-Pad-<i>: ...` with its CRLF) adding up to exactly `total` bytes,
// none longer than `longest` bytes with its CRLF; the first is `longest` long.
std::string header_block(std::size_t total, std::size_t longest) {
  std::string block;
  for (int i = 0; block.size() < total; ++i) {
    const std::string name = "X-Pad-" + std::to_string(i) + ": ";
    std::size_t line = std::min(longest, total - block.size());
    // Leave what remains after this line room for a whole line of its own.
    if (total - block.size() - line > 0 && total - block.size() - line < name.size() + 3) line -= name.size() + 3;
    REQUIRE(line >= name.size() + 3);
    block += name + std::string(line - name.size() - 2, 'h') + "\r\n";
  }
  REQUIRE(block.size() == total);
  return block;
}

// A request line of exactly `size` bytes (without its CRLF) for GET /doc.
std::string request_line(std::size_t size) {
  const std::string start = "GET /doc?token=", end = " HTTP/1.1";
  REQUIRE(size > start.size() + end.size());
  return start + std::string(size - start.size() - end.size(), 't') + end;
}

}  // namespace

TEST_CASE("keep-alive: two requests on one connection are both answered and it stays open",
          "[socket][http][native_only]") {
  http_fixture f;
  http_connection c(f.server.port());
  c.send(get("/doc"));
  const http_result first = c.response();
  CHECK(first.status == 200);
  CHECK(first.body == "hello world");
  CHECK(first.header("Connection").empty());
  c.send(post("/echo", "second request"));
  const http_result second = c.response();
  CHECK(second.status == 200);
  CHECK(second.body == "second request");
  CHECK(second.header("Connection").empty());
  // Still open: a third request is answered too.
  c.send(get("/health"));
  CHECK(c.response().status == 200);
}

TEST_CASE("pipelining: requests sent in one write are answered in order", "[socket][http][native_only]") {
  http_fixture f;
  http_connection c(f.server.port());
  // The third body looks like a request: it must be taken as a body, not parsed.
  const std::vector<std::string> bodies = {"one", "two, a little longer", "x\r\n\r\nGET /fast HTTP/1.1\r\nHost: a\r\n\r\n"};
  c.send(post("/echo", bodies[0]) + post("/echo", bodies[1]) + post("/echo", bodies[2]));
  for (const auto& body : bodies) {
    const http_result r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == body);
  }
  CHECK(f.echo_calls() == 3);
  CHECK(f.fast_calls() == 0);
}

// While an answer is pending the connection holds the rest of the pipeline unread; that
// must not count as one oversized request.
TEST_CASE("pipelining: a long pipeline behind an async answer is answered in full",
          "[socket][http][native_only]") {
  // More pipelined bytes than max_header_bytes + max_message_bytes wait in the
  // connection while the first request is answered asynchronously; each request is
  // far within the limits.
  config cfg = test_config();
  cfg.max_message_bytes = 1024;
  http_fixture f(cfg);
  http_connection c(f.server.port());
  constexpr std::size_t count = 1000;
  std::string pipeline = get("/slow?first");
  for (std::size_t i = 0; i < count; ++i) pipeline += get("/fast");
  REQUIRE(pipeline.size() > websocket_options{}.max_header_bytes + cfg.max_message_bytes);
  c.send(pipeline);
  const http_result first = c.response();
  CHECK(first.status == 200);
  CHECK(first.body == "slow first");
  std::size_t answered = 0;
  for (; answered < count; ++answered) {
    const http_result r = c.response();
    if (r.status != 200 || r.body != "fast") break;
  }
  CHECK(answered == count);
}

TEST_CASE("HEAD on a GET route: the same headers, Content-Length included, and no body", "[socket][http][native_only]") {
  http_fixture f;
  http_connection c(f.server.port());
  // The GET behind it shows where the HEAD answer ends: a body would be read as its start.
  c.send("HEAD /doc HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + get("/doc"));
  const http_result head = c.head_response();
  const http_result full = c.response();
  INFO("HEAD answer: " << head.headers);
  INFO("GET answer: " << full.headers << full.body);
  CHECK(head.status == 200);
  CHECK(head.header("Content-Length") == "11");
  CHECK(head.header("X-Doc") == "yes");
  REQUIRE(full.status == 200);
  CHECK(full.body == "hello world");
  CHECK(head.headers == full.headers);
}

TEST_CASE("a wrong method on an existing route gets 405 with Allow; an unknown path 404", "[socket][http][native_only]") {
  http_fixture f;
  http_connection c(f.server.port());

  c.send(get("/echo"));
  const http_result wrong = c.response();
  INFO(wrong.headers << wrong.body);
  CHECK(wrong.status == 405);
  const std::string allow = wrong.header("Allow");
  CHECK(allow.find("POST") != std::string::npos);
  CHECK(allow.find("PUT") != std::string::npos);
  CHECK(allow.find("GET") == std::string::npos);
  CHECK(wrong.header("Content-Type").find("application/json") != std::string::npos);

  c.send("DELETE /doc HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const http_result del = c.response();
  CHECK(del.status == 405);
  CHECK(del.header("Allow").find("GET") != std::string::npos);

  c.send(get("/nowhere"));
  const http_result missing = c.response();
  CHECK(missing.status == 404);
  CHECK(missing.header("Allow").empty());
  c.send(post("/nowhere", "{}"));
  CHECK(c.response().status == 404);

  // Refusals keep the connection.
  c.send(get("/doc"));
  CHECK(c.response().status == 200);
}

TEST_CASE("a body over max_message_bytes gets 413 before it is sent, and the connection closes",
          "[socket][http][native_only]") {
  config cfg = test_config();
  cfg.max_message_bytes = 1024;
  http_fixture f(cfg);

  SECTION("a body of exactly max_message_bytes is taken") {
    http_connection c(f.server.port());
    const std::string body(1024, 'b');
    c.send(post("/echo", body));
    const http_result r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == body);
  }
  for (const std::string length : {"1025", "99999999999"}) {
    DYNAMIC_SECTION("Content-Length " << length) {
      http_connection c(f.server.port());
      c.send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + length + "\r\n\r\n");
      const http_result r = c.response();
      INFO(r.headers << r.body);
      CHECK(r.status == 413);
      CHECK(r.header("Connection") == "close");
      CHECK(c.closed_by_server());
      CHECK(f.echo_calls() == 0);
    }
  }
}

TEST_CASE("a header block over max_header_bytes gets 431", "[socket][http][native_only]") {
  http_fixture f;  // the default limits
  const std::size_t limit = websocket_options{}.max_header_bytes;

  SECTION("a complete head") {
    http_connection c(f.server.port());
    c.send(get("/doc", header_block(limit + 1024, 1000)));
    const http_result r = c.response();
    CHECK(r.status == 431);
    CHECK(c.closed_by_server());
  }
  SECTION("a head still growing past the limit is answered without waiting for its end") {
    http_connection c(f.server.port());
    c.send("GET /doc HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header_block(limit + 1024, 1000));
    const http_result r = c.response();
    CHECK(r.status == 431);
    CHECK(c.closed_by_server());
  }
  http_connection after(f.server.port());
  after.send(get("/doc"));
  CHECK(after.response().status == 200);
}

TEST_CASE("max_header_bytes is honoured when set", "[socket][http][native_only]") {
  websocket_options options;
  options.max_header_bytes = 2048;
  http_fixture f(test_config(), options);
  const std::string start = "GET /doc HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  {
    http_connection c(f.server.port());
    c.send(start + header_block(2048 - start.size() - 2, 500) + "\r\n");  // exactly the limit
    CHECK(c.response().status == 200);
  }
  {
    http_connection c(f.server.port());
    c.send(start + header_block(2048 - start.size() - 1, 500) + "\r\n");  // one byte more
    CHECK(c.response().status == 431);
  }
}

TEST_CASE("more than max_header_count header lines get 431", "[socket][http][native_only]") {
  http_fixture f;  // the default limits
  const std::size_t limit = websocket_options{}.max_header_count;
  const auto request_with_fields = [](std::size_t fields) {
    std::string extra;
    for (std::size_t i = 1; i < fields; ++i) extra += "X-Field-" + std::to_string(i) + ": v\r\n";  // Host is one
    return get("/doc", extra);
  };
  {
    http_connection c(f.server.port());
    c.send(request_with_fields(limit));
    CHECK(c.response().status == 200);
  }
  {
    http_connection c(f.server.port());
    c.send(request_with_fields(limit + 1));
    const http_result r = c.response();
    CHECK(r.status == 431);
    CHECK(c.closed_by_server());
  }
}

TEST_CASE("an over-long request line gets 414", "[socket][http][native_only]") {
  http_fixture f;
  const std::size_t limit = websocket_options{}.max_header_bytes;
  SECTION("a complete request") {
    http_connection c(f.server.port());
    c.send(request_line(limit + 100) + "\r\nHost: 127.0.0.1\r\n\r\n");
    const http_result r = c.response();
    CHECK(r.status == 414);
    CHECK(c.closed_by_server());
  }
  SECTION("a request line still growing past the limit") {
    http_connection c(f.server.port());
    c.send("GET /doc?token=" + std::string(limit + 100, 't'));
    const http_result r = c.response();
    CHECK(r.status == 414);
    CHECK(c.closed_by_server());
  }
}

TEST_CASE("PROTOCOL section 1: an 8,300-byte request line, and 16 KiB of headers, are each accepted",
          "[socket][http][native_only]") {
  http_fixture f;  // the default limits
  const std::string host = "Host: 127.0.0.1\r\n";
  // 16 KiB of header lines in all, one of them 8,300 bytes long.
  const std::string headers = host + header_block(16 * 1024 - host.size(), 8300 + 2);
  REQUIRE(headers.size() == 16 * 1024);
  std::string request;
  SECTION("the request line") { request = request_line(8300) + "\r\n" + host + "\r\n"; }
  SECTION("the headers") { request = "GET /doc HTTP/1.1\r\n" + headers + "\r\n"; }
  http_connection c(f.server.port());
  c.send(request);
  const http_result r = c.response();
  INFO("request of " << request.size() << " bytes; answer " << r.headers << r.body);
  CHECK(r.status == 200);
  CHECK(r.body == "hello world");
}

// max_header_bytes counts the request line and the headers together: its default admits
// both minimums at once.
TEST_CASE("PROTOCOL section 1: a long request line and 16 KiB of headers fit in one request",
          "[socket][http][native_only]") {
  http_fixture f;  // the default limits
  const std::string host = "Host: 127.0.0.1\r\n";
  const std::string headers = host + header_block(16 * 1024 - host.size(), 8300 + 2);
  REQUIRE(headers.size() == 16 * 1024);
  std::string request;
  SECTION("an 8,300-byte request line") { request = request_line(8300) + "\r\n" + headers + "\r\n"; }
  SECTION("an 8 KiB token in the query") {
    request = request_line(std::string("GET /doc?token=").size() + 8192 + std::string(" HTTP/1.1").size()) + "\r\n" +
              headers + "\r\n";
  }
  http_connection c(f.server.port());
  c.send(request);
  const http_result r = c.response();
  INFO("request of " << request.size() << " bytes; answer " << r.headers << r.body);
  CHECK(r.status == 200);
  CHECK(r.body == "hello world");
}

TEST_CASE("Transfer-Encoding: chunked gets 411", "[socket][http][native_only]") {
  http_fixture f;
  http_connection c(f.server.port());
  c.send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  const http_result r = c.response();
  INFO(r.headers << r.body);
  CHECK(r.status == 411);
  CHECK(c.closed_by_server());
  CHECK(f.echo_calls() == 0);
}

TEST_CASE("a malformed request line gets 400", "[socket][http][native_only]") {
  http_fixture f;
  for (const std::string line : {"GET /doc", "GET  /doc HTTP/1.1", "GET /doc HTTP/1.1 ", "GET /doc HTTP/1.x",
                                 "GET /doc http/1.1", "G(T /doc HTTP/1.1", "GET /d\x01oc HTTP/1.1", " GET /doc HTTP/1.1"}) {
    INFO("request line: " << line);
    http_connection c(f.server.port());
    c.send(line + "\r\nHost: 127.0.0.1\r\n\r\n");
    const http_result r = c.response();
    CHECK(r.status == 400);
    CHECK(r.header("Connection") == "close");
    CHECK(c.closed_by_server());
  }
  http_connection after(f.server.port());
  after.send(get("/doc"));
  CHECK(after.response().status == 200);
}

TEST_CASE("Connection: close gets the response, then the server closes", "[socket][http][native_only]") {
  http_fixture f;
  http_connection c(f.server.port());
  // The request pipelined behind it is never answered.
  c.send(get("/doc", "Connection: close\r\n") + get("/fast"));
  const http_result r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == "hello world");
  CHECK(r.header("Connection") == "close");
  CHECK(c.closed_by_server());
  CHECK(c.unread().empty());
  CHECK(f.fast_calls() == 0);
}

TEST_CASE("HTTP/1.0 closes after the response unless it asks for keep-alive", "[socket][http][native_only]") {
  http_fixture f;
  SECTION("without keep-alive") {
    http_connection c(f.server.port());
    c.send("GET /doc HTTP/1.0\r\n\r\n");
    const http_result r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == "hello world");
    CHECK(c.closed_by_server());
    CHECK(c.unread().empty());
  }
  SECTION("with Connection: keep-alive") {
    http_connection c(f.server.port());
    c.send("GET /doc HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const http_result first = c.response();
    CHECK(first.status == 200);
    CHECK(first.header("Connection") != "close");
    c.send("GET /fast HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const http_result second = c.response();
    CHECK(second.status == 200);
    CHECK(second.body == "fast");
  }
}

TEST_CASE("an async route answers later, and requests pipelined behind it are answered after it, in order",
          "[socket][http][native_only]") {
  http_fixture f;
  SECTION("the answer comes from a posted handler") {
    http_connection c(f.server.port());
    c.send(get("/slow?1") + get("/fast") + get("/slow?2") + get("/fast"));
    for (const std::string expected : {"slow 1", "fast", "slow 2", "fast"}) {
      const http_result r = c.response();
      CHECK(r.status == 200);
      CHECK(r.body == expected);
    }
  }
  SECTION("the answer is given by the test, long after the request") {
    http_connection c(f.server.port());
    c.send(get("/held") + get("/fast"));
    REQUIRE(f.wait_held());
    // The connection reads no further request until the reply is given.
    CHECK(f.fast_calls() == 0);
    f.answer_held("given later");
    const http_result first = c.response();
    CHECK(first.status == 200);
    CHECK(first.body == "given later");
    const http_result second = c.response();
    CHECK(second.status == 200);
    CHECK(second.body == "fast");
    CHECK(f.fast_calls() == 1);
  }
}

TEST_CASE("an async reply dropped uncalled gets 500", "[socket][http][native_only]") {
  http_fixture f;
  SECTION("dropped by the handler") {
    http_connection c(f.server.port());
    c.send(get("/drop") + get("/fast"));
    const http_result r = c.response();
    INFO(r.headers << r.body);
    CHECK(r.status == 500);
    // The connection goes on.
    const http_result next = c.response();
    CHECK(next.status == 200);
    CHECK(next.body == "fast");
  }
  SECTION("dropped later, from a posted handler") {
    http_connection c(f.server.port());
    c.send(get("/held"));
    REQUIRE(f.wait_held());
    f.server.call([&f](test_server::hub_type& hub, server_under_test&) {
      http_reply reply = std::move(f.state->held);
      f.state->held = nullptr;
      asio::post(hub.context(), [reply]() mutable { reply = nullptr; });
      return 0;
    });
    const http_result r = c.response();
    INFO(r.headers << r.body);
    CHECK(r.status == 500);
  }
}

TEST_CASE("a route that throws gets 500 with the exception's message", "[socket][http][native_only]") {
  http_fixture f;
  http_connection c(f.server.port());
  c.send(get("/throw"));
  const http_result r = c.response();
  CHECK(r.status == 500);
  CHECK(r.body.find("the route failed on purpose") != std::string::npos);
  c.send(get("/throw-async"));
  const http_result a = c.response();
  CHECK(a.status == 500);
  CHECK(a.body.find("the async route failed on purpose") != std::string::npos);
  c.send(get("/doc"));
  CHECK(c.response().status == 200);
}

TEST_CASE("handshake_timeout closes a connection that does not complete its request", "[socket][http][native_only]") {
  websocket_options options;
  options.handshake_timeout = std::chrono::milliseconds(200);
  http_fixture f(test_config(), options);
  SECTION("half a request head") {
    http_connection c(f.server.port());
    c.send("GET /doc HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    CHECK(c.closed_by_server());
    CHECK(c.unread().find("200 OK") == std::string::npos);
  }
  SECTION("nothing at all") {
    http_connection c(f.server.port());
    CHECK(c.closed_by_server());
  }
  SECTION("a head without its body") {
    http_connection c(f.server.port());
    c.send("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nabc");
    CHECK(c.closed_by_server());
    CHECK(f.echo_calls() == 0);
  }
}

TEST_CASE("an idle keep-alive connection is closed after handshake_timeout", "[socket][http][native_only]") {
  websocket_options options;
  options.handshake_timeout = std::chrono::milliseconds(200);
  http_fixture f(test_config(), options);
  http_connection c(f.server.port());
  c.send(get("/doc"));
  const http_result r = c.response();
  CHECK(r.status == 200);
  CHECK(r.header("Connection").empty());  // kept alive, until idle too long
  CHECK(c.closed_by_server());
  CHECK(c.unread().empty());
}

TEST_CASE("an async answer slower than handshake_timeout is still delivered", "[socket][http][native_only]") {
  websocket_options options;
  options.handshake_timeout = std::chrono::milliseconds(200);
  http_fixture f(test_config(), options);
  http_connection c(f.server.port());
  c.send(get("/held"));
  REQUIRE(f.wait_held());
  // Several timeouts long: a connection whose answer is pending is not idle.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  f.answer_held("worth the wait");
  const http_result r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == "worth the wait");
}

TEST_CASE("a request arriving byte by byte within handshake_timeout is answered", "[socket][http][native_only]") {
  websocket_options options;
  options.handshake_timeout = std::chrono::seconds(60);  // far more than the dribble takes
  http_fixture f(test_config(), options);
  http_connection c(f.server.port());
  const std::string body = "a body that arrives one byte at a time, each in its own segment";
  for (int round = 0; round < 2; ++round) {
    const std::string request = post("/echo", body + std::to_string(round));
    for (const char byte : request) {
      c.send(std::string_view(&byte, 1));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const http_result r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == body + std::to_string(round));
  }
  CHECK(f.echo_calls() == 2);
}

TEST_CASE("CR or LF in a route's header name, value or content type cannot forge response headers", "[socket][http][native_only]") {
  auto setup = [](test_server::hub_type&, server_under_test& s) {
    s.add_route("GET", "/inject", [](const switchboard::http_request&) {
      http_response r;
      r.content_type = "text/plain\r\nX-Forged-Type: yes";
      r.body = "intact body";
      r.headers = {{"X-Fine", "ok"},
                   {"X-Bad", "v\r\nX-Forged-Crlf: yes"},
                   {"X-Lf", "v\nX-Forged-Lf: yes"},
                   {"X-Cr", "v\rX-Forged-Cr: yes"},
                   {"X-Name\r\nX-Forged-Name", "v"},
                   {"X-Split", "v\r\n\r\nHTTP/1.1 200 OK\r\nX-Forged-Response: yes"}};
      return r;
    });
  };
  test_server server(test_config(), {}, setup);
  http_connection c(server.port());

  c.send(get("/inject"));
  const http_result r = c.response();
  INFO(r.headers);
  CHECK(r.status == 200);
  CHECK(r.header("X-Fine") == "ok");
  CHECK(lower(r.headers).find("forged") == std::string::npos);
  CHECK(r.body == "intact body");
  CHECK(header_lines(r.headers, "Content-Type") == 1);
  // The connection is still framed right: the next answer reads.
  c.send(get("/health"));
  CHECK(c.response().status == 200);
}

// The framing headers are the server's own (http.hpp): a route's are never sent.
TEST_CASE("a route's own Content-Length or Transfer-Encoding does not change the response framing",
          "[socket][http][native_only]") {
  auto setup = [](test_server::hub_type&, server_under_test& s) {
    s.add_route("GET", "/framing", [](const switchboard::http_request& request) {
      http_response r;
      r.content_type = "text/plain";
      r.body = "abc";
      r.headers.emplace_back(std::string(request.query), request.query == "Content-Length" ? "0" : "chunked");
      return r;
    });
  };
  test_server server(test_config(), {}, setup);
  http_connection c(server.port());
  SECTION("Content-Length") {
    c.send(get("/framing?Content-Length"));
    const http_result r = c.response();
    INFO(r.headers);
    CHECK(header_lines(r.headers, "Content-Length") == 1);
    CHECK(r.header("Content-Length") == "3");
    CHECK(r.body == "abc");
  }
  SECTION("Transfer-Encoding") {
    c.send(get("/framing?Transfer-Encoding"));
    const http_result r = c.response();
    INFO(r.headers);
    CHECK(header_lines(r.headers, "Transfer-Encoding") == 0);
    CHECK(r.header("Content-Length") == "3");
    CHECK(r.body == "abc");
  }
}

TEST_CASE("a WebSocket upgrade after a plain request on the same connection works", "[socket][http][native_only]") {
  http_fixture f;
  http_connection c(f.server.port());
  c.send(get("/doc"));
  const http_result r = c.response();
  CHECK(r.status == 200);
  CHECK(r.body == "hello world");

  ws_session<timed_socket> ws(c.socket());
  const handshake_result hs = ws.handshake(f.server.port(), "/ws", c.take_unread());
  INFO(hs.headers << hs.body);
  REQUIRE(hs.status == 101);
  ws.recv_type("welcome");
  REQUIRE(ws.send_text(R"({"type":"ping","id":7})"));
  const rapidjson::Document pong = ws.recv_type("pong");
  CHECK(num(pong, "id") == 7);
  CHECK(f.server.wait_until([](auto&, server_under_test& s) { return s.connection_count() == 1; }));
}

#endif  // SWITCHBOARD_TEST_WEBSOCKETPP
