// HTTP routes without a socket: exact paths, a trailing `{name}` segment, HEAD, and the
// 404/405 decisions every transport shares.
#include <switchboard/detail/http_routes.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

using switchboard::http_handler;
using switchboard::http_request;
using switchboard::http_response;
using switchboard::detail::http_routes;

namespace {

// Answers with the route's name and the path parameter it saw.
http_handler named(std::string name) {
  return [name](const http_request& r) {
    http_response response;
    response.body = name + "|" + std::string(r.path_param);
    return response;
  };
}

http_response call(const http_routes& routes, std::string_view method, std::string_view path) {
  http_request request{method, path, {}, {}, [](std::string_view) { return std::string_view(); }};
  std::optional<http_response> answer;
  routes.dispatch(request, [&answer](http_response r) { answer = std::move(r); });
  REQUIRE(answer);
  return *answer;
}

std::string allow_of(const http_response& r) {
  for (const auto& h : r.headers)
    if (h.first == "Allow") return h.second;
  return {};
}

}  // namespace

TEST_CASE("routes: a trailing {name} matches one non-empty segment, percent-decoded", "[http][routes]") {
  http_routes routes;
  routes.add("GET", "/auth/keys/{user}", named("keys"));
  CHECK(call(routes, "GET", "/auth/keys/alice").body == "keys|alice");
  CHECK(call(routes, "GET", "/auth/keys/al%20ice").body == "keys|al ice");
  CHECK(call(routes, "GET", "/auth/keys/a+b").body == "keys|a+b");  // `+` is itself in a path
  CHECK(call(routes, "GET", "/auth/keys/%E2%82%AC").body == "keys|\xE2\x82\xAC");
  CHECK(call(routes, "GET", "/auth/keys/a%2Fb").body == "keys|a/b");  // one segment, however it decodes
  CHECK(call(routes, "HEAD", "/auth/keys/alice").body == "keys|alice");
  CHECK(routes.has("GET", "/auth/keys/alice"));

  // No segment, an empty one, more than one, or another prefix: no route.
  CHECK(call(routes, "GET", "/auth/keys/").status == 404);
  CHECK(call(routes, "GET", "/auth/keys").status == 404);
  CHECK(call(routes, "GET", "/auth/keys/alice/more").status == 404);
  CHECK(call(routes, "GET", "/auth/keysalice").status == 404);
  CHECK(call(routes, "GET", "/other/keys/alice").status == 404);
  CHECK_FALSE(routes.has("GET", "/auth/keys/"));

  // The path exists, not for this method.
  const http_response wrong_method = call(routes, "POST", "/auth/keys/alice");
  CHECK(wrong_method.status == 405);
  CHECK(allow_of(wrong_method) == "GET, HEAD");
  CHECK_FALSE(routes.has("POST", "/auth/keys/alice"));
}

TEST_CASE("routes: an exact route comes first; 405 lists the methods of both", "[http][routes]") {
  http_routes routes;
  routes.add("GET", "/items/{id}", named("item"));
  routes.add("DELETE", "/items/{id}", named("delete"));
  routes.add("GET", "/items/special", named("special"));
  routes.add("POST", "/items/special", named("special-post"));

  CHECK(call(routes, "GET", "/items/special").body == "special|");  // exact routes see no parameter
  CHECK(call(routes, "POST", "/items/special").body == "special-post|");
  CHECK(call(routes, "DELETE", "/items/special").body == "delete|special");  // the exact route lacks DELETE
  CHECK(call(routes, "GET", "/items/7").body == "item|7");
  CHECK(call(routes, "POST", "/items/7").status == 405);
  CHECK(allow_of(call(routes, "POST", "/items/7")) == "DELETE, GET, HEAD");
  const http_response put = call(routes, "PUT", "/items/special");
  CHECK(put.status == 405);
  CHECK(allow_of(put) == "DELETE, GET, HEAD, POST");
}

TEST_CASE("routes: exact paths as before, and braces only as a whole last segment", "[http][routes]") {
  http_routes routes;
  routes.add("GET", "/health", named("health"));
  CHECK(call(routes, "GET", "/health").body == "health|");
  CHECK(call(routes, "GET", "/health/x").status == 404);
  CHECK(call(routes, "GET", "/healthy").status == 404);
  CHECK(call(routes, "DELETE", "/health").status == 405);

  CHECK_THROWS_AS(routes.add("GET", "/{a}/b", named("x")), std::invalid_argument);
  CHECK_THROWS_AS(routes.add("GET", "/a/{b}c", named("x")), std::invalid_argument);
  CHECK_THROWS_AS(routes.add("GET", "/a/{}", named("x")), std::invalid_argument);
  CHECK_THROWS_AS(routes.add("GET", "/a/{{b}}", named("x")), std::invalid_argument);
  CHECK_THROWS_AS(routes.add("GET", "/a/b}", named("x")), std::invalid_argument);
}

TEST_CASE("routes: a throwing handler gets 500 with its message", "[http][routes]") {
  http_routes routes;
  routes.add("GET", "/boom/{what}", http_handler([](const http_request& r) -> http_response {
               throw std::runtime_error("failed on " + std::string(r.path_param));
             }));
  const http_response r = call(routes, "GET", "/boom/x");
  CHECK(r.status == 500);
  CHECK(r.body.find("failed on x") != std::string::npos);
}
