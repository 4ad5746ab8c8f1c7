// Ed25519 challenge-response login over HTTP on the WebSocket port: a user registers
// public keys once, then proves who it is by signing a fresh server nonce with its
// secret key, and gets a JWT for the handshake. No passwords, nothing secret stored.
//
// Link switchboard::security (or switchboard::switchboard) to get libsodium.
#ifndef SWITCHBOARD_CHALLENGE_LOGIN_HPP
#define SWITCHBOARD_CHALLENGE_LOGIN_HPP

#include <switchboard/audit.hpp>
#include <switchboard/detail/base64.hpp>
#include <switchboard/detail/http_routes.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/detail/jwt_json.hpp>
#include <switchboard/detail/utf8.hpp>
#include <switchboard/http.hpp>
#include <switchboard/hub.hpp>
#include <switchboard/jwt.hpp>
#include <switchboard/store.hpp>
#include <switchboard/user_keys.hpp>

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <functional>
#include <iterator>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace switchboard {

/// Lifetimes and limits of `challenge_login`. Every limit bounds what strangers can make
/// the server keep or do: the routes need no credential.
struct challenge_login_options {
  /// How long a nonce from `/auth/challenge` may be used (at most a day). Answered as
  /// `expires_in_s`, in whole seconds rounded down.
  std::chrono::milliseconds challenge_ttl{60000};
  /// Lifetime of the tokens `/auth/verify` issues (at most ten years): their `exp` is
  /// this after issue.
  std::chrono::seconds token_ttl{3600};
  /// Challenges outstanding across all users (under 1 KiB each, user id included). When this many are
  /// outstanding and unexpired, `/auth/challenge` answers 503 until some are used or
  /// expire; the challenges already handed out stay good.
  std::size_t max_challenges = 10000;
  /// Challenges outstanding for one user; a new one past it drops that user's oldest.
  std::size_t max_challenges_per_user = 16;
  /// Largest body of a `POST /auth/*` request; larger gets 413. The requests are small
  /// JSON objects (a user id and two keys at most).
  std::size_t max_body_bytes = 4096;
  /// When set, issued tokens carry it as `iss` (for a verifier that requires one).
  std::optional<std::string> issuer{};
  /// When set, issued tokens carry it as `aud` (for a verifier that requires one).
  std::optional<std::string> audience{};
};

/// Ed25519 challenge-response login: four HTTP routes that let a user register its
/// public keys and trade a signed nonce for a JWT (PROTOCOL section 8).
///
/// - `POST /auth/register` `{"user","ed25519_public_key","x25519_public_key"}` (standard
///   base64 of the raw 32-byte keys): 201 when stored, 200 when these exact keys were
///   already registered, 409 when the user is registered with other keys (no takeover),
///   400 for a bad field, 503 when the store holds as many users as it may.
/// - `POST /auth/challenge` `{"user"}`: 200 `{"nonce","expires_in_s"}`, 404 for an
///   unknown user, 503 when `max_challenges` are outstanding.
/// - `POST /auth/verify` `{"user","nonce","signature"}`: 200 `{"token","expires_in_s"}`
///   when `signature` (standard base64 of 64 bytes) is the user's Ed25519 signature of
///   the nonce text exactly as `/auth/challenge` returned it. A nonce works once: any
///   verify that names it consumes it, whatever the outcome, so a signature cannot be
///   guessed against it. Refusals (unknown, used, expired or another user's nonce, a
///   signature that does not verify) get 401 `unauthorized`, or 400 for a signature that
///   is not 64 bytes of base64, and each is reported to the hub's audit hook as
///   `audit_kind::login_refused`; none quotes the signature.
/// - `GET /auth/keys/{user}`: 200 `{"user","ed25519_public_key","x25519_public_key"}`,
///   404 for an unknown user.
///
/// Errors are `{"error":{"code":..,"message":..}}` with the codes of PROTOCOL section 6:
/// `bad_json` for a body that is not one JSON object, `bad_request` for a missing or
/// invalid field, `too_large` for a body over `max_body_bytes` (413), `not_found`,
/// `unauthorized`, `overloaded` (503).
///
/// Keys are kept by the hub's store, which must model `store_keeps_user_keys`
/// (`memory_store` does). Tokens are signed with `signing_key` (`sub` the user, `iat`,
/// `exp`, and `iss`/`aud` when configured); verify them with the same key (HS256) or its
/// public half (EdDSA) in `jwt_auth`.
///
/// Copies share one state; the routes hold it too, so the object may go once they are
/// added. Thread safety: call only from the hub's thread (the routes run there).
///
/// Example:
/// @code
/// switchboard::challenge_login login{hub, switchboard::jwt_key::hs256(secret)};
/// login.add_routes(server);
/// @endcode
class challenge_login {
 public:
  /// Logs users of `hub` in (its store keeps their keys; refusals go to its audit
  /// hook), issuing tokens signed with `signing_key`. `hub` must outlive the routes.
  /// Throws std::invalid_argument when the key cannot sign (an Ed25519 public key), a
  /// limit is zero, or a lifetime is zero or over its bound.
  template <class Policies>
  challenge_login(basic_hub<Policies>& hub, jwt_key signing_key, challenge_login_options options = {})
      : state_(std::make_shared<state>(std::move(signing_key), std::move(options))) {
    using store_type = typename basic_hub<Policies>::store_type;
    basic_hub<Policies>* h = &hub;
    if constexpr (is_async_store_policy<store_type>::value) {
      static_assert(async_store_keeps_user_keys<store_type>::value,
                    "challenge_login needs an asynchronous store with register_user and find_user (see "
                    "async_store_keeps_user_keys in store.hpp)");
      // Keys on a disk: the store answers later, on the hub's thread.
      state_->answers_at_once = false;
      state_->register_keys = [h](std::string_view user, const user_keys& keys, registered_handler done) {
        h->store().register_user(user, keys, [done = std::move(done)](std::error_code ec, user_registration r) {
          done(ec && r != user_registration::full ? ec : std::error_code(), r);
        });
      };
      state_->find_keys = [h](std::string_view user, found_handler done) {
        h->store().find_user(user, [done = std::move(done)](std::error_code ec, std::optional<user_keys> keys) {
          done(ec, std::move(keys));
        });
      };
    } else {
      static_assert(store_keeps_user_keys<store_type>::value,
                    "challenge_login needs a store that keeps user keys: register_user(std::string_view, const "
                    "user_keys&) returning user_registration and find_user_keys(std::string_view) returning "
                    "std::optional<user_keys> (see store_keeps_user_keys in store.hpp), or an asynchronous store "
                    "with register_user and find_user (sqlite_store)");
      state_->register_keys = [h](std::string_view user, const user_keys& keys, registered_handler done) {
        done({}, h->store().register_user(user, keys));
      };
      state_->find_keys = [h](std::string_view user, found_handler done) { done({}, h->store().find_user_keys(user)); };
    }
    state_->audit = [h](const audit_event& event) { h->audit(event); };
  }

  /// Adds `POST /auth/register`, `POST /auth/challenge`, `POST /auth/verify` and
  /// `GET /auth/keys/{user}` to `server` (a `websocket_server`, or a `websocketpp_server`
  /// when the store answers at once: the adapter has no asynchronous routes).
  template <class Server>
  void add_routes(Server& server) const {
    const std::shared_ptr<state> s = state_;
    add_route(server, "POST", "/auth/register", [s](const http_request& r, http_reply reply) { s->on_register(r, std::move(reply)); });
    add_route(server, "POST", "/auth/challenge", [s](const http_request& r, http_reply reply) { s->on_challenge(r, std::move(reply)); });
    add_route(server, "POST", "/auth/verify", [s](const http_request& r, http_reply reply) { s->on_verify(r, std::move(reply)); });
    add_route(server, "GET", "/auth/keys/{user}", [s](const http_request& r, http_reply reply) { s->on_keys(r, std::move(reply)); });
  }

  /// The routes' handlers, to serve them under other paths: each calls `reply` once, at
  /// once or when the store has answered. `handle_keys` reads the user from
  /// `request.path_param`.
  void handle_register(const http_request& request, http_reply reply) { state_->on_register(request, std::move(reply)); }
  void handle_challenge(const http_request& request, http_reply reply) { state_->on_challenge(request, std::move(reply)); }
  void handle_verify(const http_request& request, http_reply reply) { state_->on_verify(request, std::move(reply)); }
  void handle_keys(const http_request& request, http_reply reply) { state_->on_keys(request, std::move(reply)); }

  /// Challenges handed out and not yet used, dropped or purged (expired ones are purged
  /// when the next challenge is asked for).
  std::size_t outstanding_challenges() const noexcept { return state_->challenges.size(); }
  const challenge_login_options& options() const noexcept { return state_->options; }

 private:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t nonce_bytes = 32;
  using registered_handler = std::function<void(std::error_code, user_registration)>;
  using found_handler = std::function<void(std::error_code, std::optional<user_keys>)>;

  template <class Server, class Handler>
  void add_route(Server& server, std::string method, std::string path, Handler handler) const {
    if constexpr (detail::has_async_routes<Server>::value) {
      server.add_async_route(std::move(method), std::move(path), http_async_handler(std::move(handler)));
    } else if (state_->answers_at_once) {
      // The store answers before the handler returns: `reply` runs inside it.
      server.add_route(std::move(method), std::move(path),
                       http_handler([handler = std::move(handler)](const http_request& r) {
                         http_response answer = detail::http_error(500, "internal", "the store did not answer");
                         handler(r, [&answer](http_response a) { answer = std::move(a); });
                         return answer;
                       }));
    } else {
      server.add_route(std::move(method), std::move(path), http_handler([](const http_request&) {
                         return detail::http_error(501, "not_implemented",
                                                   "login with this store needs a transport with asynchronous routes");
                       }));
    }
  }

  struct pending_challenge {
    std::string nonce;  // base64, as sent: the client signs these bytes
    std::string user;
    clock::time_point expires;
  };
  using challenge_list = std::list<pending_challenge>;

  // Shared by the routes and by the store's answers still on their way.
  struct state : std::enable_shared_from_this<state> {
    state(jwt_key key, challenge_login_options opts) : signing_key(std::move(key)), options(std::move(opts)) {
      if (!signing_key.can_sign())
        throw std::invalid_argument(
            "switchboard: challenge_login needs a key that can sign (an HS256 secret or an Ed25519 secret key)");
      if (options.challenge_ttl.count() <= 0 || options.challenge_ttl > std::chrono::hours(24))
        throw std::invalid_argument("switchboard: challenge_login's challenge_ttl must be positive and at most a day");
      if (options.token_ttl.count() <= 0 || options.token_ttl > std::chrono::hours(24 * 3653))
        throw std::invalid_argument("switchboard: challenge_login's token_ttl must be positive and at most ten years");
      if (options.max_challenges == 0 || options.max_challenges_per_user == 0 || options.max_body_bytes == 0)
        throw std::invalid_argument("switchboard: challenge_login limits must be positive");
      detail::require_sodium();
    }

    // --- routes ---------------------------------------------------------------------

    void on_register(const http_request& request, http_reply reply) {
      static constexpr std::array<std::string_view, 3> names = {"user", "ed25519_public_key", "x25519_public_key"};
      std::array<std::string, 3> fields;
      if (auto refusal = read_body(request, names, fields)) return reply(std::move(*refusal));
      const std::string& user = fields[0];
      if (!detail::is_valid_user_id(user)) return reply(invalid_user_id());
      user_keys keys;
      if (!decode_key(fields[1], keys.ed25519))
        return reply(detail::http_error(400, "bad_request", "ed25519_public_key must be the standard base64 of 32 bytes"));
      if (crypto_core_ed25519_is_valid_point(keys.ed25519.data()) != 1)
        return reply(detail::http_error(400, "bad_request", "ed25519_public_key is not a valid Ed25519 public key"));
      if (!decode_key(fields[2], keys.x25519))
        return reply(detail::http_error(400, "bad_request", "x25519_public_key must be the standard base64 of 32 bytes"));

      std::string name = user;
      register_keys(user, keys, [self = shared_from_this(), name, keys, reply](std::error_code failed, user_registration r) {
        if (failed) return reply(store_unavailable());
        switch (r) {
          case user_registration::created: return reply(keys_answer(201, name, keys));
          case user_registration::already_registered: return reply(keys_answer(200, name, keys));
          case user_registration::conflict:
            self->audit(audit_event{audit_kind::login_refused, 0, name, {}, "register: already registered with other keys"});
            return reply(detail::http_error(409, "forbidden", "this user is already registered with other keys"));
          case user_registration::full: break;
        }
        reply(detail::http_error(503, "overloaded", "no more users can be registered"));
      });
    }

    void on_challenge(const http_request& request, http_reply reply) {
      static constexpr std::array<std::string_view, 1> names = {"user"};
      std::array<std::string, 1> fields;
      if (auto refusal = read_body(request, names, fields)) return reply(std::move(*refusal));
      const std::string& user = fields[0];
      if (!detail::is_valid_user_id(user)) return reply(invalid_user_id());
      find_keys(user, [self = shared_from_this(), user, reply](std::error_code failed, std::optional<user_keys> keys) {
        if (failed) return reply(store_unavailable());
        if (!keys) return reply(detail::http_error(404, "not_found", "unknown user"));
        reply(self->issue_challenge(user));
      });
    }

    http_response issue_challenge(const std::string& user) {
      const clock::time_point now = clock::now();
      // One lifetime for all: the oldest challenges are the first to expire.
      while (!challenges.empty() && challenges.front().expires <= now) forget(challenges.begin());
      const auto mine = by_user.find(user);
      if (mine != by_user.end() && mine->second.size() >= options.max_challenges_per_user) forget(mine->second.front());
      if (challenges.size() >= options.max_challenges) {
        http_response busy = detail::http_error(503, "overloaded", "too many outstanding challenges; try again later");
        const auto wait = std::chrono::ceil<std::chrono::seconds>(challenges.front().expires - now);
        busy.headers.emplace_back("Retry-After", std::to_string(std::max<std::chrono::seconds::rep>(1, wait.count())));
        return busy;
      }

      std::string nonce = random_nonce();
      while (by_nonce.count(nonce) != 0) nonce = random_nonce();  // 256 random bits: never, but never alias
      challenges.push_back(pending_challenge{std::move(nonce), user, now + options.challenge_ttl});
      const auto added = std::prev(challenges.end());
      by_nonce.emplace(added->nonce, added);
      by_user[user].push_back(added);

      std::string body = R"({"nonce":)";
      detail::append_json_string(body, added->nonce);
      body += R"(,"expires_in_s":)";
      detail::append_uint(body, static_cast<std::uint64_t>(
                                    std::chrono::duration_cast<std::chrono::seconds>(options.challenge_ttl).count()));
      body += '}';
      return json_answer(200, std::move(body));
    }

    void on_verify(const http_request& request, http_reply reply) {
      static constexpr std::array<std::string_view, 3> names = {"user", "nonce", "signature"};
      std::array<std::string, 3> fields;
      if (auto refusal = read_body(request, names, fields)) return reply(std::move(*refusal));
      const std::string& user = fields[0];
      const std::string& nonce = fields[1];
      if (!detail::is_valid_user_id(user)) return reply(invalid_user_id());

      // Consumed whatever follows: one nonce, one try.
      const auto found = by_nonce.find(nonce);
      if (found == by_nonce.end()) return reply(refuse(401, "unauthorized", user, "nonce is unknown or already used"));
      const std::string issued_to = found->second->user;
      const clock::time_point expires = found->second->expires;
      forget(found->second);

      if (issued_to != user) return reply(refuse(401, "unauthorized", user, "nonce was issued for another user"));
      if (clock::now() >= expires) return reply(refuse(401, "unauthorized", user, "nonce expired"));
      std::string signature;
      if (!detail::decode_base64(fields[2], signature) || signature.size() != crypto_sign_BYTES)
        return reply(refuse(400, "bad_request", user, "signature must be the standard base64 of 64 bytes"));
      find_keys(user, [self = shared_from_this(), user, nonce, signature, reply](std::error_code failed,
                                                                                 std::optional<user_keys> keys) {
        if (failed) return reply(store_unavailable());
        if (!keys) return reply(self->refuse(401, "unauthorized", user, "unknown user"));
        if (crypto_sign_verify_detached(detail::bytes_of(signature), detail::bytes_of(nonce), nonce.size(),
                                        keys->ed25519.data()) != 0)
          return reply(self->refuse(401, "unauthorized", user, "signature does not verify"));
        reply(self->token_answer(user));
      });
    }

    http_response token_answer(const std::string& user) const {
      const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
      jwt_claims claims;
      claims.subject = user;
      claims.issued_at = now;
      claims.expires_at = now + options.token_ttl;
      claims.issuer = options.issuer;
      if (options.audience) claims.audience.push_back(*options.audience);
      std::string body = R"({"token":)";
      detail::append_json_string(body, sign_jwt(signing_key, claims));
      body += R"(,"expires_in_s":)";
      detail::append_uint(body, static_cast<std::uint64_t>(options.token_ttl.count()));
      body += '}';
      return json_answer(200, std::move(body));
    }

    void on_keys(const http_request& request, http_reply reply) const {
      const std::string user(request.path_param);
      if (!detail::is_valid_user_id(user)) return reply(invalid_user_id());
      find_keys(user, [user, reply](std::error_code failed, std::optional<user_keys> found) {
        if (failed) return reply(store_unavailable());
        if (!found) return reply(detail::http_error(404, "not_found", "unknown user"));
        reply(keys_answer(200, user, *found));
      });
    }

    // --- helpers --------------------------------------------------------------------

    // Reads the string members `names` of the request's JSON object body into `fields`,
    // or returns the refusal.
    template <std::size_t N>
    std::optional<http_response> read_body(const http_request& request, const std::array<std::string_view, N>& names,
                                           std::array<std::string, N>& fields) const {
      if (request.body.size() > options.max_body_bytes)
        return detail::http_error(413, "too_large",
                                  "request body over " + std::to_string(options.max_body_bytes) + " bytes");
      std::array<detail::json_member, N> members;
      if (!detail::read_json_members(request.body, names, members))
        return detail::http_error(400, "bad_json", "body is not one JSON object (with each field once)");
      for (std::size_t i = 0; i < N; ++i) {
        if (members[i].kind != detail::json_member_kind::string)
          return detail::http_error(400, "bad_request", std::string(names[i]) + " is missing or not a string");
        fields[i] = std::move(members[i].text);
      }
      return std::nullopt;
    }

    // The base64 of exactly `key.size()` bytes into `key`.
    static bool decode_key(std::string_view text, std::array<unsigned char, user_keys::key_bytes>& key) {
      std::string raw;
      if (!detail::decode_base64(text, raw) || raw.size() != key.size()) return false;
      std::copy(raw.begin(), raw.end(), key.begin());
      return true;
    }

    static std::string random_nonce() {
      unsigned char bytes[nonce_bytes];
      randombytes_buf(bytes, sizeof bytes);
      std::string nonce;
      detail::append_base64(nonce, std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
      return nonce;
    }

    void forget(challenge_list::iterator c) {
      by_nonce.erase(c->nonce);
      const auto mine = by_user.find(c->user);
      mine->second.erase(std::find(mine->second.begin(), mine->second.end(), c));
      if (mine->second.empty()) by_user.erase(mine);
      challenges.erase(c);
    }

    http_response refuse(int status, std::string_view code, std::string_view user, std::string_view why) const {
      const std::string reason = "verify: " + std::string(why);
      audit(audit_event{audit_kind::login_refused, 0, user, {}, reason});
      return detail::http_error(status, code, why);
    }

    static http_response store_unavailable() {
      return detail::http_error(503, "overloaded", "the user store cannot answer now; try again later");
    }

    static http_response invalid_user_id() {
      return detail::http_error(400, "bad_request",
                                "user must be 1 to 128 bytes of UTF-8 without control characters");
    }

    static http_response json_answer(int status, std::string body) {
      http_response r;
      r.status = status;
      r.body = std::move(body);
      return r;
    }

    static http_response keys_answer(int status, std::string_view user, const user_keys& keys) {
      const auto bytes = [](const std::array<unsigned char, user_keys::key_bytes>& key) {
        return std::string_view(reinterpret_cast<const char*>(key.data()), key.size());
      };
      std::string body = R"({"user":)";
      detail::append_json_string(body, user);
      body += R"(,"ed25519_public_key":")";
      detail::append_base64(body, bytes(keys.ed25519));
      body += R"(","x25519_public_key":")";
      detail::append_base64(body, bytes(keys.x25519));
      body += R"("})";
      return json_answer(status, std::move(body));
    }

    jwt_key signing_key;
    challenge_login_options options;
    // The hub's store and audit hook, whatever its policies.
    std::function<void(std::string_view, const user_keys&, registered_handler)> register_keys;
    std::function<void(std::string_view, found_handler)> find_keys;
    bool answers_at_once = true;  // the store calls back inside register_keys and find_keys
    std::function<void(const audit_event&)> audit;

    challenge_list challenges;  // oldest first
    std::unordered_map<std::string_view, challenge_list::iterator> by_nonce;  // keys view challenge::nonce
    std::map<std::string, std::vector<challenge_list::iterator>, std::less<>> by_user;  // each user's, oldest first
  };

  std::shared_ptr<state> state_;
};

}  // namespace switchboard

#endif
