// The HTTP routes of a server: method and path to handler, with 404 and 405 decided
// in one place for every transport.
#ifndef SWITCHBOARD_DETAIL_HTTP_ROUTES_HPP
#define SWITCHBOARD_DETAIL_HTTP_ROUTES_HPP

#include <switchboard/detail/http_parser.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/http.hpp>

#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace switchboard {
namespace detail {

/// A JSON error body: `{"error":{"code":..,"message":..}}`.
inline std::string http_error_body(std::string_view code, std::string_view message) {
  std::string body = R"({"error":{"code":)";
  append_json_string(body, code);
  body += R"(,"message":)";
  append_json_string(body, message);
  body += "}}";
  return body;
}

inline http_response http_error(int status, std::string_view code, std::string_view message) {
  http_response r;
  r.status = status;
  r.body = http_error_body(code, message);
  return r;
}

/// The reason phrase of the statuses switchboard sends.
inline const char* http_reason(int status) noexcept {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

/// Method and path to handler. A `HEAD` request is served by the `GET` route.
class http_routes {
 public:
  void add(std::string method, std::string path, http_async_handler handler) {
    routes_[std::move(path)][std::move(method)] = std::move(handler);
  }
  void add(std::string method, std::string path, http_handler handler) {
    add(std::move(method), std::move(path), http_async_handler([h = std::move(handler)](const http_request& r, http_reply reply) {
          reply(h(r));
        }));
  }
  bool has(std::string_view method, std::string_view path) const {
    const auto p = routes_.find(std::string(path));
    return p != routes_.end() && p->second.count(std::string(method)) != 0;
  }

  /// Runs the handler of `request` (or answers 404/405 through `reply`). A handler that
  /// throws gets 500 with the exception's message.
  void dispatch(const http_request& request, const http_reply& reply) const {
    const auto p = routes_.find(std::string(request.path));
    if (p == routes_.end()) return reply(http_error(404, "not_found", "no such path"));
    auto m = p->second.find(std::string(request.method == "HEAD" ? std::string_view("GET") : request.method));
    if (m == p->second.end()) {
      http_response r = http_error(405, "bad_request", "method not allowed");
      std::string allow;
      for (const auto& entry : p->second) {
        allow += (allow.empty() ? "" : ", ") + entry.first;
        if (entry.first == "GET") allow += ", HEAD";  // served by the GET route
      }
      r.headers.emplace_back("Allow", std::move(allow));
      return reply(std::move(r));
    }
    try {
      m->second(request, reply);
    } catch (const std::exception& ex) {
      reply(http_error(500, "internal", ex.what()));
    }
  }

 private:
  std::map<std::string, std::map<std::string, http_async_handler>, std::less<>> routes_;
};

/// Appends the status line and headers of `r` (body excluded) to `out`.
inline void append_http_response_head(std::string& out, const http_response& r, std::size_t content_length,
                                      bool keep_alive) {
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += http_reason(r.status);
  out += "\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(content_length);
  if (!keep_alive) out += "\r\nConnection: close";
  for (const auto& h : r.headers) {
    // A header that would end its line early could forge more headers, and the framing
    // headers are the server's own: never sent.
    if (h.first.find_first_of("\r\n:") != std::string::npos || h.second.find_first_of("\r\n") != std::string::npos ||
        iequals(h.first, "Content-Length") || iequals(h.first, "Transfer-Encoding") || iequals(h.first, "Connection") ||
        iequals(h.first, "Content-Type"))
      continue;
    out += "\r\n";
    out += h.first;
    out += ": ";
    out += h.second;
  }
  out += "\r\n\r\n";
}

}  // namespace detail
}  // namespace switchboard

#endif
