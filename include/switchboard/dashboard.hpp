// The live dashboard: one self-contained page on the WebSocket port that shows a
// hub's connections, rates, slow consumers and busiest topics, fed over WebSocket by
// `system.stats` (stats_publisher.hpp), with a console to subscribe and publish by hand.
#ifndef SWITCHBOARD_DASHBOARD_HPP
#define SWITCHBOARD_DASHBOARD_HPP

#include <switchboard/detail/dashboard_assets.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/http.hpp>
#include <switchboard/hub.hpp>
#include <switchboard/stats_publisher.hpp>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace switchboard {

/// Where `add_dashboard` serves the page and what it publishes.
struct dashboard_options {
  /// The page.
  std::string path = "/";
  /// The browser client (`clients/js/switchboard.js`) the page imports.
  std::string script_path = "/switchboard.js";
  /// The server's WebSocket path, which the page connects to (`websocket_options::path`).
  std::string websocket_path = "/ws";
  /// The `system.stats` publisher the page reads.
  stats_publisher_options stats;
};

namespace detail {

inline std::string join_chunks(const std::string_view* chunks, std::size_t count) {
  std::size_t size = 0;
  for (std::size_t i = 0; i < count; ++i) size += chunks[i].size();
  std::string text;
  text.reserve(size);
  for (std::size_t i = 0; i < count; ++i) text.append(chunks[i].data(), chunks[i].size());
  return text;
}

// A JSON string that is also safe inside an HTML <script> element: no `<` can close it.
inline void append_script_json_string(std::string& out, std::string_view value) {
  std::string quoted;
  append_json_string(quoted, value);
  for (const char c : quoted) {
    if (c == '<')
      out += "\\u003c";
    else
      out += c;
  }
}

// The page with its configuration in place of the marker the page file carries.
inline std::string dashboard_page(const dashboard_options& options) {
  std::string page = join_chunks(dashboard_page_chunks, sizeof dashboard_page_chunks / sizeof *dashboard_page_chunks);
  std::string config = R"({"websocket_path":)";
  append_script_json_string(config, options.websocket_path);
  config += R"(,"script":)";
  append_script_json_string(config, options.script_path);
  config += R"(,"stats_topic":)";
  append_script_json_string(config, options.stats.topic);
  config += '}';
  constexpr std::string_view marker = R"({"switchboard_dashboard_config":null})";
  const std::size_t at = page.find(marker);
  if (at != std::string::npos) page.replace(at, marker.size(), config);
  return page;
}

inline http_response dashboard_asset(std::shared_ptr<const std::string> body, const char* content_type) {
  http_response r{200, content_type, *body, {}};
  // The page may carry a token in its URL: never send it on as a referrer, never let
  // another site frame the console, and fetch nothing but this server.
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
                         "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
                         "frame-ancestors 'none'");
  return r;
}

}  // namespace detail

/// Serves the dashboard on `server` (a `websocket_server` or `websocketpp_server` of
/// `hub`) and starts publishing the hub's counters on `options.stats.topic`:
/// | route | answer |
/// | `GET options.path` (`/`) | the page, `text/html` |
/// | `GET options.script_path` (`/switchboard.js`) | the browser client, `text/javascript` |
///
/// The page connects to `options.websocket_path` with a token from its URL
/// (`/?token=...`) or its token box, and subscribes to `system.stats`. Reading it is
/// the auth policy's decision, like any subscription: with access rules, give the
/// operators' role a `subscribe` entry such as `{"pattern": "system.stats", "role":
/// "operator"}`; without any restriction (the demo auth), anyone who reaches the port
/// reads it. The page's console subscribes and publishes with the same token, so it can
/// do what that token may. The page itself holds no data: serving it reveals nothing.
///
/// Returns the running stats publisher: keep it while serving, and `stop()` it when the
/// server shuts down (its timer keeps the io_context busy). Throws
/// `std::invalid_argument` for a path that does not start with `/`.
///
/// `hub` and `server` must outlive the routes (they run on the hub's thread). Call on
/// the hub's thread, before `server.start()` or while the io_context runs it.
template <class Policies, class Server>
[[nodiscard]] stats_publisher add_dashboard(basic_hub<Policies>& hub, Server& server, dashboard_options options = {}) {
  for (const std::string* path : {&options.path, &options.script_path, &options.websocket_path})
    if (path->empty() || path->front() != '/') throw std::invalid_argument("dashboard paths must start with '/'");
  auto page = std::make_shared<const std::string>(detail::dashboard_page(options));
  auto script = std::make_shared<const std::string>(detail::join_chunks(
      detail::dashboard_script_chunks, sizeof detail::dashboard_script_chunks / sizeof *detail::dashboard_script_chunks));
  server.add_route("GET", options.path,
                   [page](const http_request&) { return detail::dashboard_asset(page, "text/html; charset=utf-8"); });
  server.add_route("GET", options.script_path, [script](const http_request&) {
    return detail::dashboard_asset(script, "text/javascript; charset=utf-8");
  });
  stats_publisher publisher(hub, std::move(options.stats));
  publisher.start();
  return publisher;
}

}  // namespace switchboard

#endif
