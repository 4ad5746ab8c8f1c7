// The strict HTTP/1.1 request head parser and its text helpers, without a socket.
#include <switchboard/detail/http_parser.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

using switchboard::detail::header_list_contains;
using switchboard::detail::http_limits;
using switchboard::detail::http_parse_result;
using switchboard::detail::http_request_head;
using switchboard::detail::parse_http_request_head;
using switchboard::detail::query_param;
using switchboard::detail::split_target;
using switchboard::detail::url_decode;

namespace {

const std::string upgrade_request =
    "GET /ws?token=a%20b&room=lobby HTTP/1.1\r\n"
    "Host: example.com:8080\r\n"
    "Upgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

http_parse_result parse(std::string_view buffer, http_request_head& head, const http_limits& limits = {}) {
  return parse_http_request_head(buffer, head, limits);
}

// The status a request is refused with; 0 when it is not refused.
int refusal(std::string_view buffer, const http_limits& limits = {}) {
  http_request_head head;
  const http_parse_result r = parse(buffer, head, limits);
  return r.status == http_parse_result::failed ? r.http_status : 0;
}

bool inside(std::string_view view, std::string_view buffer) {
  return view.data() >= buffer.data() && view.data() + view.size() <= buffer.data() + buffer.size();
}

std::string request_with_fields(std::size_t count) {
  std::string r = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (std::size_t i = 1; i < count; ++i) r += "X-Field-" + std::to_string(i) + ": v\r\n";
  return r + "\r\n";
}

}  // namespace

TEST_CASE("http: a GET with headers", "[http]") {
  http_request_head head;
  const http_parse_result r = parse(upgrade_request, head);
  REQUIRE(r.status == http_parse_result::complete);
  CHECK(head.method == "GET");
  CHECK(head.target == "/ws?token=a%20b&room=lobby");
  CHECK(head.minor_version == 1);
  CHECK(head.head_size == upgrade_request.size());
  CHECK(head.content_length == 0);
  CHECK(head.fields.size() == 5);
  CHECK(head.header("Host") == "example.com:8080");
  CHECK(head.header("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ==");
  CHECK(head.header("UPGRADE") == "websocket");
  CHECK(head.header("Origin").empty());
  CHECK(header_list_contains(head.header("connection"), "upgrade"));
  CHECK(head.keep_alive());
  for (const auto& f : head.fields) {
    CHECK(inside(f.name, upgrade_request));
    CHECK(inside(f.value, upgrade_request));
  }
  CHECK(inside(head.method, upgrade_request));
  CHECK(inside(head.target, upgrade_request));
}

TEST_CASE("http: a POST with Content-Length and a body, pipelined", "[http]") {
  const std::string post =
      "POST /api/publish HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n";
  const std::string buffer = post + "{\"a\":\"b c\"}" + upgrade_request;
  http_request_head head;
  REQUIRE(parse(buffer, head).status == http_parse_result::complete);
  CHECK(head.method == "POST");
  CHECK(head.content_length == 11);
  CHECK(head.head_size == post.size());
  CHECK(buffer.substr(head.head_size, head.content_length) == "{\"a\":\"b c\"}");

  // The next request starts after the body; the same head is refilled.
  const std::string_view next = std::string_view(buffer).substr(head.head_size + head.content_length);
  REQUIRE(parse(next, head).status == http_parse_result::complete);
  CHECK(head.method == "GET");
  CHECK(head.fields.size() == 5);
  CHECK(head.content_length == 0);
  CHECK(head.head_size == upgrade_request.size());

  SECTION("the same length twice is accepted") {
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 005\r\n\r\n") == 0);
  }
}

TEST_CASE("http: header values lose surrounding spaces and tabs only", "[http]") {
  http_request_head head;
  const std::string request = "GET / HTTP/1.1\r\nHost:h\r\nX-A: \t two  words \t\r\nX-Empty:   \r\nX-B:\tx\r\n\r\n";
  REQUIRE(parse(request, head).status == http_parse_result::complete);
  CHECK(head.header("host") == "h");
  CHECK(head.header("x-a") == "two  words");
  CHECK(head.header("X-EMPTY").empty());
  CHECK(head.fields.size() == 4);
  CHECK(head.header("x-b") == "x");
}

TEST_CASE("http: keep-alive by version and Connection", "[http]") {
  const auto keep_alive = [](const std::string& request) {
    http_request_head head;
    REQUIRE(parse(request, head).status == http_parse_result::complete);
    return head.keep_alive();
  };
  CHECK(keep_alive("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.0\r\n\r\n"));  // and no Host needed
  CHECK(keep_alive("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  CHECK_FALSE(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n"));
}

TEST_CASE("http: every prefix of a request is incomplete", "[http]") {
  const std::string request = upgrade_request;
  http_request_head head;
  for (std::size_t n = 0; n < request.size(); ++n) {
    INFO("prefix of " << n << " bytes");
    REQUIRE(parse(std::string_view(request).substr(0, n), head).status == http_parse_result::incomplete);
  }
  REQUIRE(parse(request, head).status == http_parse_result::complete);
}

TEST_CASE("http: limits on the head", "[http]") {
  http_limits limits;
  limits.max_head_bytes = 256;

  SECTION("414: no line end within the limit") {
    const std::string line = "GET /" + std::string(300, 'a');
    CHECK(refusal(line, limits) == 414);
    CHECK(refusal(line.substr(0, 255), limits) == 0);  // still incomplete
    CHECK(refusal(line + " HTTP/1.1\r\nHost: h\r\n\r\n", limits) == 414);
  }
  SECTION("431: the head goes past the limit after the request line") {
    const std::string start = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(300, 'b');
    CHECK(refusal(start, limits) == 431);
    CHECK(refusal(start + "\r\n\r\n", limits) == 431);
  }
  SECTION("a head of exactly the limit is accepted, one byte more is not") {
    std::string request = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \r\n\r\n";
    request.insert(request.size() - 4, limits.max_head_bytes - request.size(), 'p');
    REQUIRE(request.size() == limits.max_head_bytes);
    CHECK(refusal(request, limits) == 0);
    http_request_head head;
    CHECK(parse(request, head, limits).status == http_parse_result::complete);
    request.insert(request.size() - 4, "p");
    CHECK(refusal(request, limits) == 431);
  }
  SECTION("431: too many header lines") {
    CHECK(refusal(request_with_fields(64)) == 0);
    CHECK(refusal(request_with_fields(65)) == 431);
    http_limits few;
    few.max_fields = 2;
    CHECK(refusal(request_with_fields(2), few) == 0);
    CHECK(refusal(request_with_fields(3), few) == 431);
  }
  SECTION("413: a body over the limit") {
    http_limits small;
    small.max_body_bytes = 100;
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n", small) == 0);
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", small) == 413);
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9999999999999999999\r\n\r\n") == 413);
  }
}

TEST_CASE("http: malformed requests are refused with their status", "[http]") {
  SECTION("400") {
    const char* bad[] = {
        "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n",     // obsolete line folding
        "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n\tb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-Bare: a\nX-Other: b\r\n\r\n",  // bare LF
        "GET / HTTP/1.1\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",                     // bare CR
        "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",
        "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n",                          // method is a token
        " GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",                          // empty target
        "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /\x7F HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1 \r\nHost: h\r\n\r\n",
        "GET / http/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.x\r\nHost: h\r\n\r\n",
        "GET / HTTP/11\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.10\r\nHost: h\r\n\r\n",
        "GET /\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : h\r\n\r\n",                         // space before the colon
        "GET / HTTP/1.1\r\nHost: h\r\nNo-Colon\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX-Del: a\x7F\r\n\r\n",
        "GET / HTTP/1.1\r\nX-No-Host: h\r\n\r\n",                     // 1.1 needs Host
        "GET / HTTP/1.1\r\nHost:\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",               // RFC 9112 3.2: one Host only
        "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    for (const char* request : bad) {
      INFO(request);
      CHECK(refusal(request) == 400);
    }
    // A NUL byte in a value, kept (as a C string the request would end there).
    const char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Nul: a\0b\r\n\r\n";
    CHECK(refusal(std::string_view(nul, sizeof nul - 1)) == 400);
  }
  SECTION("411: Transfer-Encoding without Content-Length") {
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n") == 411);
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: gzip, chunked\r\n\r\n") == 411);
  }
  SECTION("505: versions other than 1.0 and 1.1") {
    CHECK(refusal("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505);
    CHECK(refusal("GET / HTTP/1.2\r\nHost: h\r\n\r\n") == 505);
    CHECK(refusal("GET / HTTP/0.9\r\n\r\n") == 505);
  }
}

TEST_CASE("http: split_target, url_decode and query_param", "[http]") {
  std::string_view path, query;
  split_target("/ws?token=abc&x", path, query);
  CHECK(path == "/ws");
  CHECK(query == "token=abc&x");
  split_target("/plain", path, query);
  CHECK(path == "/plain");
  CHECK(query.empty());
  split_target("/a?b?c", path, query);
  CHECK(path == "/a");
  CHECK(query == "b?c");

  CHECK(url_decode("a%20b+c") == "a b c");
  CHECK(url_decode("%41%42%43") == "ABC");
  CHECK(url_decode("%e2%82%AC") == "\xE2\x82\xAC");
  CHECK(url_decode("%00") == std::string(1, '\0'));
  CHECK(url_decode("100%") == "100%");  // an incomplete escape stays as it is
  CHECK(url_decode("%4") == "%4");
  CHECK(url_decode("x%4") == "x%4");
  CHECK(url_decode("%zz%4g") == "%zz%4g");
  CHECK(url_decode("%%41") == "%A");
  CHECK(url_decode("") == "");
  // In a path segment `+` is itself (RFC 3986); only a query spells a space with it.
  CHECK(url_decode("a%20b+c", switchboard::detail::url_part::path) == "a b+c");

  CHECK(query_param("token=a%20b&room=lobby", "token") == std::optional<std::string>("a b"));
  CHECK(query_param("token=a%20b&room=lobby", "room") == std::optional<std::string>("lobby"));
  CHECK(query_param("token=a%20b&room=lobby", "roo") == std::nullopt);
  CHECK(query_param("token=a%20b&room=lobby", "oken") == std::nullopt);
  CHECK(query_param("flag&x=1", "flag") == std::optional<std::string>(""));
  CHECK(query_param("a=1&a=2", "a") == std::optional<std::string>("1"));
  CHECK(query_param("&&a=1&", "a") == std::optional<std::string>("1"));
  CHECK(query_param("a==b", "a") == std::optional<std::string>("=b"));
  CHECK(query_param("", "a") == std::nullopt);
  CHECK(query_param("a=1", "") == std::nullopt);
}

TEST_CASE("http: header_list_contains", "[http]") {
  CHECK(header_list_contains("keep-alive, Upgrade", "upgrade"));
  CHECK(header_list_contains("Upgrade", "upgrade"));
  CHECK(header_list_contains(" \tclose\t ", "close"));
  CHECK(header_list_contains("a,,close", "close"));
  CHECK_FALSE(header_list_contains("closed, unclose", "close"));
  CHECK_FALSE(header_list_contains("", "close"));
  CHECK_FALSE(header_list_contains("keep-alive", "keep"));
}
