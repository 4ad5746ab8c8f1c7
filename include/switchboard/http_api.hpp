// The HTTP API for backends (PROTOCOL section 8): publish and send direct messages
// over HTTP, read the hub's counters.
//
// Link switchboard::security (or switchboard::switchboard): API keys use libsodium.
#ifndef SWITCHBOARD_HTTP_API_HPP
#define SWITCHBOARD_HTTP_API_HPP

#include <switchboard/api_keys.hpp>
#include <switchboard/audit.hpp>
#include <switchboard/auth.hpp>
#include <switchboard/detail/http_routes.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/http.hpp>
#include <switchboard/hub.hpp>
#include <switchboard/signed_publish.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

namespace switchboard {

/// What `add_http_api` serves and who may call it.
struct http_api_options {
  /// Keys accepted as `Authorization: Bearer <key>`; each request acts as its key's
  /// identity for the auth policy's `authorize`. Empty: the API is open to anyone who
  /// can reach the port, acting as an anonymous identity.
  api_keys keys;
};

namespace detail {

// The body of an API request as a request object: the WebSocket request parser, so the
// same fields get the same checks. `data` is required.
inline std::optional<http_response> http_api_body(std::string_view body, parsed_request& req) {
  req = request_parser::parse(body);
  if (req.bad_json) return http_error(400, "bad_json", "the body is not a JSON object");
  if (req.problem) return http_error(400, "bad_request", std::string("invalid field: ") + req.problem);
  if (req.data.empty()) return http_error(400, "bad_request", "data is required");
  return std::nullopt;
}

// `401` for a request without a valid key.
inline http_response api_key_refusal() {
  http_response r = http_error(401, "unauthorized", "a valid API key is required (Authorization: Bearer)");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

// `403` refusing `what` on `target` (with `why`, when given), reported to the audit hook.
template <class Hub>
http_response http_api_refuse(Hub& hub, const identity& who, action what, std::string_view target,
                              std::string_view why = {}) {
  std::string refused(action_name(what));
  refused += ' ';
  refused.append(target.data(), target.size());
  std::string message = std::string(action_name(what)) + " '" + std::string(target) + "' is not allowed";
  if (!why.empty()) {
    refused.append(": ").append(why.data(), why.size());
    message.append(": ").append(why.data(), why.size());
  }
  hub.audit(audit_event{audit_kind::action_refused, 0, who.user ? std::string_view(*who.user) : std::string_view(), {},
                        refused});
  return http_error(403, "forbidden", message);
}

// `403` when `who` may not do `what` on `target` (as over WebSocket: no publishing on
// the server's own topics).
template <class Hub>
std::optional<http_response> http_api_refusal(Hub& hub, const identity& who, action what, std::string_view target) {
  if (!(what == action::publish && is_server_topic(target)) && hub.auth().authorize(who, what, target))
    return std::nullopt;
  return http_api_refuse(hub, who, what, target);
}

// `POST /api/publish`: `answer(response)` is called once, when the publish is stored
// (at once, unless the store acknowledges after a commit and `wait_for_commit`).
template <class Hub, class Answer>
void serve_api_publish(Hub& hub, const http_request& request, const identity& who, bool wait_for_commit,
                       Answer answer) {
  parsed_request req;
  if (auto bad = http_api_body(request.body, req)) return answer(std::move(*bad));
  if (!req.topic) return answer(http_error(400, "bad_request", "topic is required"));
  if (classify_topic(*req.topic) != topic_kind::exact)
    return answer(http_error(400, "bad_request", "topic must be a valid topic without wildcards"));
  if (auto refusal = http_api_refusal(hub, who, action::publish, *req.topic)) return answer(std::move(*refusal));
  // An HTTP publish reaches subscribers from no user: no registered key to check a
  // `sig` against, so it is refused as a WebSocket publish from no user would be.
  if (req.sig)
    return answer(http_api_refuse(
        hub, who, action::publish, *req.topic,
        signed_publish_refusal(hub.store(), nullptr, std::nullopt, *req.topic, req.data, *req.sig)));
  const publish_result result = hub.publish(*req.topic, req.data);
  if (result.failure) {
    const error code = protocol_error_of(result.failure);
    if (code == error::overloaded)
      return answer(http_error(503, "overloaded", "the store is behind; publish again later"));
    if (code == error::too_large) return answer(http_error(413, "too_large", "the message is too large to store"));
    return answer(http_error(400, "bad_request", result.failure.message()));
  }
  std::string body = R"({"seq":)";
  append_uint(body, result.seq);
  body += R"(,"recipients":)";
  append_uint(body, result.recipients);
  body += '}';
  if (!wait_for_commit || result.commit_ticket == 0)
    return answer(http_response{200, "application/json", std::move(body), {}});
  hub.when_stored(result, [answer = std::move(answer), body = std::move(body)](std::error_code failed) mutable {
    if (failed)
      return answer(http_error(500, "internal", "the message was delivered but could not be stored"));
    answer(http_response{200, "application/json", std::move(body), {}});
  });
}

}  // namespace detail

/// Adds to `server` (a `websocket_server` or `websocketpp_server` of `hub`):
/// | route | answer |
/// | `POST /api/publish` `{"topic":..,"data":..}` | `200` `{"seq":..,"recipients":..}` |
/// | `POST /api/direct` `{"to":..,"data":..}` | `200` `{"delivered":..,"stored":..}` |
/// | `GET /api/stats` | `200` the hub's counters |
/// A publish goes through the same checks as a WebSocket publish — topic syntax, no
/// `system.` topics, the auth policy's `authorize` for the key's identity — and reaches
/// subscribers with `from: null`, with the next `seq` of its topic; a body carrying
/// `sig` is refused (`403`: a message from no user has no key to verify it with). Refusals: `401`
/// without a valid key (when keys are configured), `400` with `bad_json` or
/// `bad_request`, `403` `forbidden`. Bodies are bounded by the server's request limit
/// (`max_message_bytes`: `413` above it). With a store that acknowledges after a commit
/// (`sqlite_store`, `acknowledged`), the publish's `200` comes once it is committed (`500`
/// `internal` if it could not be, though subscribers got it), and a store whose writer is
/// behind answers `503` `overloaded`; the websocketpp adapter, which has no asynchronous
/// routes, answers at once.
///
/// `hub` and `server` must outlive the routes (they run on the hub's thread).
template <class Policies, class Server>
void add_http_api(basic_hub<Policies>& hub, Server& server, http_api_options options = {}) {
  auto keys = std::make_shared<const api_keys>(std::move(options.keys));

  // `serve(request, identity)` for a request with a good key (for anyone, without keys).
  auto guarded = [&hub, keys](auto serve) {
    return http_handler([&hub, keys, serve](const http_request& request) -> http_response {
      static const identity anonymous{};
      if (keys->empty()) return serve(request, anonymous);
      if (const identity* who = keys->find(request)) return serve(request, *who);
      hub.audit(audit_event{audit_kind::api_key_refused, 0, {}, {}, request.path});
      return detail::api_key_refusal();
    });
  };

  if constexpr (detail::has_async_routes<Server>::value) {
    server.add_async_route("POST", "/api/publish", [&hub, keys](const http_request& request, http_reply reply) {
      if (keys->empty()) return detail::serve_api_publish(hub, request, identity{}, true, std::move(reply));
      if (const identity* who = keys->find(request))
        return detail::serve_api_publish(hub, request, *who, true, std::move(reply));
      hub.audit(audit_event{audit_kind::api_key_refused, 0, {}, {}, request.path});
      reply(detail::api_key_refusal());
    });
  } else {
    server.add_route("POST", "/api/publish", guarded([&hub](const http_request& request, const identity& who) {
      http_response answer;
      detail::serve_api_publish(hub, request, who, false, [&answer](http_response r) { answer = std::move(r); });
      return answer;
    }));
  }

  server.add_route("POST", "/api/direct", guarded([&hub](const http_request& request, const identity& who) {
    detail::parsed_request req;
    if (auto bad = detail::http_api_body(request.body, req)) return std::move(*bad);
    if (!req.to || !detail::is_valid_user_id(*req.to))
      return detail::http_error(400, "bad_request", "to must be a valid user id");
    if (auto refusal = detail::http_api_refusal(hub, who, action::direct, *req.to)) return std::move(*refusal);
    const direct_result result = hub.send_direct(*req.to, req.data);
    std::string body = R"({"delivered":)";
    detail::append_uint(body, result.delivered);
    body += R"(,"stored":)";
    body += result.stored ? "true" : "false";
    body += '}';
    return http_response{200, "application/json", std::move(body), {}};
  }));

  server.add_route("GET", "/api/stats", guarded([&hub](const http_request&, const identity&) {
    const hub_stats s = hub.stats();
    std::string body = "{";
    detail::append_hub_counts(body, s);
    const std::pair<const char*, std::uint64_t> counters[] = {
        {"messages_in", s.messages_in},   {"messages_out", s.messages_out},
        {"bytes_in", s.bytes_in},         {"bytes_out", s.bytes_out},
        {"drops", s.slow_consumers_dropped}, {"slow_consumers_dropped", s.slow_consumers_dropped},
        {"rate_limited", s.rate_limited},
    };
    for (const auto& [name, value] : counters) {
      body += ",\"";
      body += name;
      body += "\":";
      detail::append_uint(body, value);
    }
    body += '}';
    return http_response{200, "application/json", std::move(body), {}};
  }));
}

}  // namespace switchboard

#endif
