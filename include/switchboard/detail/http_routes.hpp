// The HTTP routes of a server: method and path to handler, with 404 and 405 decided
// in one place for every transport.
#ifndef SWITCHBOARD_DETAIL_HTTP_ROUTES_HPP
#define SWITCHBOARD_DETAIL_HTTP_ROUTES_HPP

#include <switchboard/detail/http_parser.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/http.hpp>

#include <exception>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
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

// True when `Server` can answer a route later (`add_async_route`): the native transport
// can, the websocketpp adapter cannot.
template <class Server, class = void>
struct has_async_routes : std::false_type {};
template <class Server>
struct has_async_routes<Server, std::void_t<decltype(std::declval<Server&>().add_async_route(
                                    std::string(), std::string(), http_async_handler()))>> : std::true_type {};

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
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

/// Method and path to handler. A `HEAD` request is served by the `GET` route.
///
/// A route path whose last segment is `{name}` (`/auth/keys/{user}`) matches any one
/// non-empty segment there; the handler reads it, percent-decoded, as
/// `http_request::path_param`. A path that an exact route names is that route's first:
/// a `{name}` route serves only the methods the exact one lacks. A path with no route
/// gets 404; one with routes but none for the method gets 405 and `Allow`.
class http_routes {
 public:
  /// Throws std::invalid_argument for braces anywhere but a whole last segment.
  void add(std::string method, std::string path, http_async_handler handler) {
    const std::size_t slash = path.rfind('/');
    const std::string_view last = slash == std::string::npos ? std::string_view() : std::string_view(path).substr(slash + 1);
    const bool has_param = last.size() > 2 && last.front() == '{' && last.back() == '}';
    const std::string_view fixed = std::string_view(path).substr(0, has_param ? slash + 1 : path.size());
    const std::string_view name = has_param ? last.substr(1, last.size() - 2) : std::string_view();
    if (fixed.find_first_of("{}") != std::string_view::npos || name.find_first_of("{}") != std::string_view::npos)
      throw std::invalid_argument("switchboard: a route path may hold one {name}, as its whole last segment");
    (has_param ? param_routes_ : routes_)[std::string(fixed)][std::move(method)] = std::move(handler);
  }
  void add(std::string method, std::string path, http_handler handler) {
    add(std::move(method), std::move(path), http_async_handler([h = std::move(handler)](const http_request& r, http_reply reply) {
          reply(h(r));
        }));
  }
  bool has(std::string_view method, std::string_view path) const {
    return find(path).route_for(method).handler != nullptr;
  }

  /// Runs the handler of `request` (or answers 404/405 through `reply`). A handler that
  /// throws gets 500 with the exception's message.
  void dispatch(const http_request& request, const http_reply& reply) const {
    const match m = find(request.path);
    if (!m.exact && !m.with_param) return reply(http_error(404, "not_found", "no such path"));
    const route r = m.route_for(request.method == "HEAD" ? std::string_view("GET") : request.method);
    if (!r.handler) {
      http_response refusal = http_error(405, "bad_request", "method not allowed");
      refusal.headers.emplace_back("Allow", m.allowed_methods());
      return reply(std::move(refusal));
    }
    try {
      if (!r.takes_param) return (*r.handler)(request, reply);
      const std::string param = url_decode(m.param, url_part::path);
      http_request with_param = request;
      with_param.path_param = param;
      (*r.handler)(with_param, reply);
    } catch (const std::exception& ex) {
      reply(http_error(500, "internal", ex.what()));
    }
  }

 private:
  using methods = std::map<std::string, http_async_handler, std::less<>>;

  struct route {
    const http_async_handler* handler = nullptr;  // null: no route for the method
    bool takes_param = false;                     // a `{name}` route's
  };

  // The routes a path matches: its exact route and its `{name}` route, either possibly absent.
  struct match {
    const methods* exact = nullptr;
    const methods* with_param = nullptr;
    std::string_view param;  // the last segment, undecoded, when `with_param`

    route route_for(std::string_view method) const {
      if (exact) {
        const auto h = exact->find(method);
        if (h != exact->end()) return {&h->second, false};
      }
      if (with_param) {
        const auto h = with_param->find(method);
        if (h != with_param->end()) return {&h->second, true};
      }
      return {};
    }
    std::string allowed_methods() const {
      std::set<std::string_view> names;
      for (const methods* table : {exact, with_param}) {
        if (!table) continue;
        for (const auto& entry : *table) {
          names.insert(entry.first);
          if (entry.first == "GET") names.insert("HEAD");  // served by the GET route
        }
      }
      std::string allow;
      for (const std::string_view name : names) {
        if (!allow.empty()) allow += ", ";
        allow += name;
      }
      return allow;
    }
  };

  match find(std::string_view path) const {
    match m;
    const auto exact = routes_.find(path);
    if (exact != routes_.end()) m.exact = &exact->second;
    const std::size_t slash = path.rfind('/');
    if (slash != std::string_view::npos && slash + 1 < path.size()) {
      const auto with_param = param_routes_.find(path.substr(0, slash + 1));
      if (with_param != param_routes_.end()) {
        m.with_param = &with_param->second;
        m.param = path.substr(slash + 1);
      }
    }
    return m;
  }

  std::map<std::string, methods, std::less<>> routes_;        // by exact path
  std::map<std::string, methods, std::less<>> param_routes_;  // by the path up to `{name}`, its slash included
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
