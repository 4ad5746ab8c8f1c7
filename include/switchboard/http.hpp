// HTTP on the WebSocket port, as an application's routes see it.
#ifndef SWITCHBOARD_HTTP_HPP
#define SWITCHBOARD_HTTP_HPP

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

/// An HTTP request, as a route handler sees it. The views are valid during the
/// handler's call only: an asynchronous handler copies what it needs.
struct http_request {
  std::string_view method;  ///< "GET", "POST", ... (a `HEAD` request reaches its `GET` route)
  std::string_view path;    ///< without the query string
  std::string_view query;   ///< after `?`, undecoded; empty when none
  std::string_view body;
  /// A request header by name (case-insensitive); empty when absent.
  std::function<std::string_view(std::string_view name)> header;
  /// The path segment a route's trailing `{name}` matched, percent-decoded: `alice` for
  /// `GET /auth/keys/alice` on the route `/auth/keys/{user}`. Empty for other routes.
  std::string_view path_param{};
};

/// The answer to an HTTP request.
struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// More response headers (`Content-Type`, `Content-Length` and `Connection` are the
  /// server's own).
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Answers one HTTP route at once. Runs on the hub's thread.
using http_handler = std::function<http_response(const http_request&)>;

/// Sends the answer to one request, later: call it exactly once, on the hub's thread.
/// If it is dropped uncalled, the client gets `500`; if the connection is gone by the
/// time it is called, the answer is discarded.
using http_reply = std::function<void(http_response)>;

/// Answers one HTTP route asynchronously (after a store read, say). Runs on the hub's
/// thread; the connection reads no further request until `reply` is called, so
/// pipelined requests are answered in order.
using http_async_handler = std::function<void(const http_request&, http_reply reply)>;

}  // namespace switchboard

#endif
