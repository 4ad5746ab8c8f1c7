// Ed25519 challenge-response login over real HTTP on a real server: register, challenge,
// sign with libsodium, verify, and open the WebSocket with the token; every refusal
// (replayed, expired, another user's nonce, wrong signature, unknown user, takeover,
// malformed bodies) with its status and its audit event; and the bounds on challenges.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <switchboard/challenge_login.hpp>
#include <switchboard/e2e.hpp>
#include <switchboard/jwt.hpp>
#include <switchboard/jwt_auth.hpp>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <sodium.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace switchboard::test;
namespace sb = switchboard;

namespace {

using login_test_server = basic_test_server<sb::policies<sb::jwt_auth>>;

const std::string secret = "login test secret, thirty-two bytes or more";

std::string base64(std::string_view bytes) {
  std::string out;
  sb::detail::append_base64(out, bytes);
  return out;
}

// A user's key pairs, made with libsodium as a client would.
struct user_key_pairs {
  std::string sign_public = std::string(crypto_sign_PUBLICKEYBYTES, '\0');
  std::string sign_secret = std::string(crypto_sign_SECRETKEYBYTES, '\0');
  std::string box_public = std::string(crypto_box_PUBLICKEYBYTES, '\0');
  std::string box_secret = std::string(crypto_box_SECRETKEYBYTES, '\0');

  user_key_pairs() {
    REQUIRE(sodium_init() >= 0);
    crypto_sign_keypair(bytes(sign_public), bytes(sign_secret));
    crypto_box_keypair(bytes(box_public), bytes(box_secret));
  }

  // The base64 signature of the nonce text exactly as the server sent it.
  std::string sign(const std::string& nonce) const {
    std::string signature(crypto_sign_BYTES, '\0');
    crypto_sign_detached(bytes(signature), nullptr, reinterpret_cast<const unsigned char*>(nonce.data()),
                         nonce.size(), reinterpret_cast<const unsigned char*>(sign_secret.data()));
    return base64(signature);
  }

  static unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(&s[0]); }
};

std::string quoted(std::string_view s) {
  std::string out;
  sb::detail::append_json_string(out, s);
  return out;
}

std::string register_body(const std::string& user, const user_key_pairs& keys) {
  return R"({"user":)" + quoted(user) + R"(,"ed25519_public_key":")" + base64(keys.sign_public) +
         R"(","x25519_public_key":")" + base64(keys.box_public) + R"("})";
}

std::string verify_body(const std::string& user, const std::string& nonce, const std::string& signature) {
  return R"({"user":)" + quoted(user) + R"(,"nonce":)" + quoted(nonce) + R"(,"signature":)" + quoted(signature) + "}";
}

rapidjson::Document json_of(const http_result& r) {
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  INFO("body: " << r.body);
  REQUIRE(d.IsObject());
  return d;
}

// The `code` of an error answer.
std::string error_code(const http_result& r) { return str(json_of(r)["error"], "code"); }
std::string error_message(const http_result& r) { return str(json_of(r)["error"], "message"); }

struct audit_record {
  sb::audit_kind kind;
  std::string user, detail;
};

// A server with challenge-response login on jwt_auth, whose audit events are recorded.
class login_server {
 public:
  explicit login_server(sb::challenge_login_options options = {}, sb::config cfg = test_config(),
                        const sb::jwt_key& signing_key = sb::jwt_key::hs256(secret),
                        const sb::jwt_key& verify_key = sb::jwt_key::hs256(secret))
      : server_(std::move(cfg), {},
                [this, options, signing_key](login_test_server::hub_type& hub, server_under_test& server) {
                  login_.emplace(hub, signing_key, options);
                  login_->add_routes(server);
                  sb::verify_signed_publishes(hub);
                  hub.set_audit_hook([this](const sb::audit_event& e) {
                    events_.push_back({e.kind, std::string(e.user), std::string(e.detail)});
                  });
                },
                sb::jwt_auth{sb::jwt_verifier{verify_key}}) {}

  std::uint16_t port() const { return server_.port(); }

  http_result post(std::string_view path, std::string_view body) { return http_request(port(), "POST", path, body); }
  http_result get(std::string_view path) { return http_request(port(), "GET", path); }

  http_result register_user(const std::string& user, const user_key_pairs& keys) {
    return post("/auth/register", register_body(user, keys));
  }
  // A nonce for `user`; REQUIREs 200.
  std::string challenge(const std::string& user) {
    const http_result r = post("/auth/challenge", R"({"user":)" + quoted(user) + "}");
    INFO("challenge answer: " << r.status << " " << r.body);
    REQUIRE(r.status == 200);
    return str(json_of(r), "nonce");
  }
  http_result verify(const std::string& user, const std::string& nonce, const std::string& signature) {
    return post("/auth/verify", verify_body(user, nonce, signature));
  }

  std::size_t outstanding_challenges() {
    return server_.call([this](auto&, auto&) { return login_->outstanding_challenges(); });
  }
  std::vector<audit_record> audit_events() {
    return server_.call([this](auto&, auto&) { return events_; });
  }

 private:
  // Touched on the server thread only (the setup runs before it starts).
  std::optional<sb::challenge_login> login_;
  std::vector<audit_record> events_;
  login_test_server server_;
};

// Whole seconds from the real clock, as the server stamps tokens.
sb::jwt_time seconds_now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace

TEST_CASE("login: register, challenge, sign, verify, then the token opens the WebSocket", "[socket][login]") {
  const user_key_pairs alice;

  SECTION("HS256 tokens") {
    login_server server;
    const http_result registered = server.register_user("alice", alice);
    REQUIRE(registered.status == 201);
    CHECK(registered.header("Content-Type") == "application/json");
    const rapidjson::Document echoed = json_of(registered);
    CHECK(str(echoed, "user") == "alice");
    CHECK(str(echoed, "ed25519_public_key") == base64(alice.sign_public));
    CHECK(str(echoed, "x25519_public_key") == base64(alice.box_public));

    const http_result challenged = server.post("/auth/challenge", R"({"user":"alice"})");
    REQUIRE(challenged.status == 200);
    const rapidjson::Document challenge = json_of(challenged);
    const std::string nonce = str(challenge, "nonce");
    CHECK(num(challenge, "expires_in_s") == 60);
    std::string raw;
    CHECK(sb::detail::decode_base64(nonce, raw));
    CHECK(raw.size() == 32);
    CHECK(server.outstanding_challenges() == 1);

    const sb::jwt_time before = seconds_now();
    const http_result verified = server.verify("alice", nonce, alice.sign(nonce));
    const sb::jwt_time after = seconds_now();
    INFO("verify answer: " << verified.body);
    REQUIRE(verified.status == 200);
    const rapidjson::Document answer = json_of(verified);
    CHECK(num(answer, "expires_in_s") == 3600);
    const std::string token = str(answer, "token");
    CHECK(server.outstanding_challenges() == 0);

    // The token is an HS256 JWT for alice, good for an hour.
    const sb::jwt_result claims = sb::jwt_verifier{sb::jwt_key::hs256(secret)}.verify(token);
    REQUIRE(claims.ok());
    CHECK(claims.claims().subject == "alice");
    REQUIRE(claims.claims().expires_at);
    CHECK(*claims.claims().expires_at >= before + std::chrono::hours(1));
    CHECK(*claims.claims().expires_at <= after + std::chrono::hours(1));

    ws_test_client c;
    CHECK(str(c.open(server.port(), {"/ws", {"Authorization: Bearer " + token}, {}, 0}), "user") == "alice");
    CHECK(server.audit_events().empty());
  }

  SECTION("EdDSA tokens: the server signs with its secret key, jwt_auth verifies with the public one") {
    std::string server_public(crypto_sign_PUBLICKEYBYTES, '\0'), server_secret(crypto_sign_SECRETKEYBYTES, '\0');
    crypto_sign_keypair(user_key_pairs::bytes(server_public), user_key_pairs::bytes(server_secret));
    login_server server({}, test_config(), sb::jwt_key::ed25519_secret_key(server_secret),
                        sb::jwt_key::ed25519_public_key(server_public));
    REQUIRE(server.register_user("alice", alice).status == 201);
    const std::string nonce = server.challenge("alice");
    const http_result verified = server.verify("alice", nonce, alice.sign(nonce));
    REQUIRE(verified.status == 200);
    const std::string token = str(json_of(verified), "token");
    CHECK(token.substr(0, token.find('.')) == "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9");  // {"alg":"EdDSA","typ":"JWT"}
    ws_test_client c;
    CHECK(str(c.open(server.port(), {"/ws?token=" + token, {}, {}, 0}), "user") == "alice");
  }

  SECTION("a client using the helpers of e2e.hpp") {
    login_server server;
    const auto signing = sb::ed25519_key_pair::generate();
    const auto encryption = sb::x25519_key_pair::generate();
    const http_result registered =
        server.post("/auth/register", R"({"user":"carol","ed25519_public_key":")" + signing.public_key().to_base64() +
                                          R"(","x25519_public_key":")" + encryption.public_key().to_base64() + R"("})");
    REQUIRE(registered.status == 201);
    const std::string nonce = server.challenge("carol");
    const http_result verified = server.verify("carol", nonce, sb::sign_login_challenge(signing, nonce));
    CHECK(verified.status == 200);
    // What others fetch is what e2e.hpp encrypts to.
    const http_result keys = server.get("/auth/keys/carol");
    REQUIRE(keys.status == 200);
    CHECK(sb::x25519_public_key::from_base64(str(json_of(keys), "x25519_public_key")) == encryption.public_key());
  }

  SECTION("token lifetime, issuer and audience are options") {
    sb::challenge_login_options options;
    options.token_ttl = std::chrono::seconds(120);
    options.issuer = "switchboard-test";
    options.audience = "chat";
    login_server server(options);
    REQUIRE(server.register_user("alice", alice).status == 201);
    const std::string nonce = server.challenge("alice");
    const http_result verified = server.verify("alice", nonce, alice.sign(nonce));
    REQUIRE(verified.status == 200);
    CHECK(num(json_of(verified), "expires_in_s") == 120);
    sb::jwt_verify_options checks;
    checks.issuer = "switchboard-test";
    checks.audience = "chat";
    const sb::jwt_result claims =
        sb::jwt_verifier{sb::jwt_key::hs256(secret), checks}.verify(str(json_of(verified), "token"));
    REQUIRE(claims.ok());
    CHECK(*claims.claims().expires_at - *claims.claims().issued_at == std::chrono::seconds(120));
  }
}

TEST_CASE("login: a signed publish verifies against the key registered at login, and subscribers get its sig",
          "[socket][login]") {
  login_server server;
  const auto alice_signing = sb::ed25519_key_pair::generate();
  const auto alice_box = sb::x25519_key_pair::generate();
  REQUIRE(server
              .post("/auth/register", R"({"user":"alice","ed25519_public_key":")" +
                                          alice_signing.public_key().to_base64() + R"(","x25519_public_key":")" +
                                          alice_box.public_key().to_base64() + R"("})")
              .status == 201);
  const user_key_pairs bob;
  REQUIRE(server.register_user("bob", bob).status == 201);
  const auto token_of = [&](const std::string& user, auto&& sign) {
    const std::string nonce = server.challenge(user);
    const http_result verified = server.verify(user, nonce, sign(nonce));
    REQUIRE(verified.status == 200);
    return str(json_of(verified), "token");
  };
  const std::string alice_token =
      token_of("alice", [&](const std::string& nonce) { return sb::sign_login_challenge(alice_signing, nonce); });
  const std::string bob_token = token_of("bob", [&](const std::string& nonce) { return bob.sign(nonce); });

  ws_test_client alice, subscriber;
  alice.open(server.port(), {"/ws", {"Authorization: Bearer " + alice_token}, {}, 0});
  subscriber.open(server.port(), {"/ws", {"Authorization: Bearer " + bob_token}, {}, 0});
  for (ws_test_client* c : {&alice, &subscriber}) {
    REQUIRE(c->send_text(R"({"type":"subscribe","id":1,"topics":["room.1"]})"));
    REQUIRE(str(c->recv_type("ack"), "type") == "ack");
  }

  const std::string data = R"({"text":"signed by alice"})";
  const std::string sig = sb::sign_message(alice_signing, "room.1", data);
  REQUIRE(alice.send_text(R"({"type":"publish","id":2,"topic":"room.1","data":)" + data + R"(,"sig":")" + sig + "\"}"));
  const rapidjson::Document ack = alice.recv_type("ack");
  CHECK(num(ack["data"], "seq") == 1);

  const rapidjson::Document message = subscriber.recv_type("message");
  CHECK(str(message, "from") == "alice");
  CHECK(str(message, "sig") == sig);
  // The subscriber checks it itself, with the key anyone can fetch.
  const http_result keys = server.get("/auth/keys/alice");
  REQUIRE(keys.status == 200);
  const auto alice_key = sb::ed25519_public_key::from_base64(str(json_of(keys), "ed25519_public_key"));
  CHECK(to_json(message["data"]) == data);  // compact, so the parsed data writes back as sent
  CHECK(sb::verify_message_signature(alice_key, "room.1", data, str(message, "sig")));

  // Alice's signature on bob's connection does not make it bob's: refused, audited, not delivered.
  REQUIRE(subscriber.send_text(R"({"type":"publish","id":3,"topic":"room.1","data":)" + data + R"(,"sig":")" + sig +
                               "\"}"));
  const rapidjson::Document refused = subscriber.recv_type("error");
  CHECK(str(refused, "code") == "forbidden");
  CHECK(str(refused, "message") == "publish 'room.1' is not allowed: the signature does not verify");
  alice.expect_silence(std::chrono::milliseconds(100));
  const std::vector<audit_record> events = server.audit_events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == sb::audit_kind::action_refused);
  CHECK(events[0].user == "bob");
  CHECK(events[0].detail == "publish room.1: the signature does not verify");
}

TEST_CASE("login: a nonce works once; refusals are 401, audited, and never quote the signature",
          "[socket][login]") {
  login_server server;
  const user_key_pairs alice, bob, mallory;
  REQUIRE(server.register_user("alice", alice).status == 201);
  REQUIRE(server.register_user("bob", bob).status == 201);

  const auto check_refused = [&](const http_result& r, const std::string& signature, std::string_view why) {
    INFO("answer: " << r.status << " " << r.body);
    CHECK(r.status == 401);
    CHECK(error_code(r) == "unauthorized");
    CHECK(error_message(r) == why);
    CHECK(r.body.find(signature) == std::string::npos);
  };

  SECTION("replay of a nonce that worked") {
    const std::string nonce = server.challenge("alice");
    const std::string signature = alice.sign(nonce);
    REQUIRE(server.verify("alice", nonce, signature).status == 200);
    check_refused(server.verify("alice", nonce, signature), signature, "nonce is unknown or already used");
  }
  SECTION("a wrong signature consumes the nonce: the right one afterwards is refused too") {
    const std::string nonce = server.challenge("alice");
    const std::string forged = mallory.sign(nonce);
    check_refused(server.verify("alice", nonce, forged), forged, "signature does not verify");
    const std::string right = alice.sign(nonce);
    check_refused(server.verify("alice", nonce, right), right, "nonce is unknown or already used");
  }
  SECTION("a signature of another text") {
    const std::string nonce = server.challenge("alice");
    const std::string other = alice.sign(nonce + " ");
    check_refused(server.verify("alice", nonce, other), other, "signature does not verify");
  }
  SECTION("a nonce issued for another user, whoever signs it") {
    const std::string nonce = server.challenge("bob");
    const std::string signature = alice.sign(nonce);
    check_refused(server.verify("alice", nonce, signature), signature, "nonce was issued for another user");
    // Consumed: not even bob may use it now.
    const std::string bobs = bob.sign(nonce);
    check_refused(server.verify("bob", nonce, bobs), bobs, "nonce is unknown or already used");
  }
  SECTION("an unknown user: no challenge, and no nonce to verify") {
    const http_result challenged = server.post("/auth/challenge", R"({"user":"ghost"})");
    CHECK(challenged.status == 404);
    CHECK(error_code(challenged) == "not_found");
    const std::string signature = mallory.sign("made up");
    check_refused(server.verify("ghost", base64(std::string(32, 'x')), signature), signature,
                  "nonce is unknown or already used");
  }
  SECTION("a signature that is not base64 of 64 bytes is a bad request, and still consumes the nonce") {
    const std::string nonce = server.challenge("alice");
    const http_result r = server.verify("alice", nonce, base64(std::string(63, 's')));
    CHECK(r.status == 400);
    CHECK(error_code(r) == "bad_request");
    CHECK(server.verify("alice", nonce, "***").status == 401);
    CHECK(server.verify("alice", nonce, alice.sign(nonce)).status == 401);
  }
  CHECK(server.outstanding_challenges() == 0);

  // Each refusal reached the audit hook, with the user it named and no signature.
  const std::vector<audit_record> events = server.audit_events();
  REQUIRE_FALSE(events.empty());
  for (const audit_record& e : events) {
    CHECK(e.kind == sb::audit_kind::login_refused);
    CHECK((e.user == "alice" || e.user == "bob" || e.user == "ghost"));
    CHECK(e.detail.substr(0, 8) == "verify: ");
    CHECK(e.detail.find("==") == std::string::npos);  // no base64 of a signature or nonce
  }
}

TEST_CASE("login: an expired nonce is refused", "[socket][login]") {
  sb::challenge_login_options options;
  options.challenge_ttl = std::chrono::milliseconds(300);
  login_server server(options);
  const user_key_pairs alice;
  REQUIRE(server.register_user("alice", alice).status == 201);

  const http_result challenged = server.post("/auth/challenge", R"({"user":"alice"})");
  // The server issued it before this answer arrived, so it has expired once this
  // moment plus its lifetime has passed.
  const auto issued_by = std::chrono::steady_clock::now();
  REQUIRE(challenged.status == 200);
  CHECK(num(json_of(challenged), "expires_in_s") == 0);  // whole seconds, rounded down
  const std::string nonce = str(json_of(challenged), "nonce");
  std::this_thread::sleep_until(issued_by + options.challenge_ttl);

  const http_result r = server.verify("alice", nonce, alice.sign(nonce));
  CHECK(r.status == 401);
  CHECK(error_message(r) == "nonce expired");
  const std::vector<audit_record> events = server.audit_events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].kind == sb::audit_kind::login_refused);
  CHECK(events[0].user == "alice");
  CHECK(events[0].detail == "verify: nonce expired");

  // A fresh one still works.
  const std::string fresh = server.challenge("alice");
  CHECK(server.verify("alice", fresh, alice.sign(fresh)).status == 200);
}

TEST_CASE("login: registering again: the same keys 200, other keys 409 and the first keys stay",
          "[socket][login]") {
  login_server server;
  const user_key_pairs alice, mallory;
  REQUIRE(server.register_user("alice", alice).status == 201);
  CHECK(server.register_user("alice", alice).status == 200);

  const http_result takeover = server.register_user("alice", mallory);
  CHECK(takeover.status == 409);
  CHECK(error_code(takeover) == "forbidden");
  // Half a takeover (the same signing key, another encryption key) is one too.
  user_key_pairs half = mallory;
  half.sign_public = alice.sign_public;
  CHECK(server.register_user("alice", half).status == 409);

  const http_result keys = server.get("/auth/keys/alice");
  REQUIRE(keys.status == 200);
  const rapidjson::Document answer = json_of(keys);
  CHECK(str(answer, "user") == "alice");
  CHECK(str(answer, "ed25519_public_key") == base64(alice.sign_public));
  CHECK(str(answer, "x25519_public_key") == base64(alice.box_public));

  // Mallory cannot log in as alice with her own key.
  const std::string nonce = server.challenge("alice");
  CHECK(server.verify("alice", nonce, mallory.sign(nonce)).status == 401);

  const std::vector<audit_record> events = server.audit_events();
  REQUIRE(events.size() == 3);
  CHECK(events[0].kind == sb::audit_kind::login_refused);
  CHECK(events[0].user == "alice");
  CHECK(events[0].detail == "register: already registered with other keys");
  CHECK(events[2].detail == "verify: signature does not verify");
}

TEST_CASE("login: GET /auth/keys/{user} answers a user's keys, 404 when unknown", "[socket][login]") {
  login_server server;
  const user_key_pairs alice, spaced;
  REQUIRE(server.register_user("alice", alice).status == 201);
  REQUIRE(server.register_user("a b+c/\xC3\xA9", spaced).status == 201);

  CHECK(str(json_of(server.get("/auth/keys/alice")), "x25519_public_key") == base64(alice.box_public));
  // The user id is one path segment, percent-decoded (`+` is itself in a path).
  const http_result encoded = server.get("/auth/keys/a%20b+c%2F%C3%A9");
  REQUIRE(encoded.status == 200);
  CHECK(str(json_of(encoded), "user") == "a b+c/\xC3\xA9");
  CHECK(str(json_of(encoded), "ed25519_public_key") == base64(spaced.sign_public));

  const http_result unknown = server.get("/auth/keys/bob");
  CHECK(unknown.status == 404);
  CHECK(error_code(unknown) == "not_found");
  CHECK(server.get("/auth/keys/").status == 404);
  CHECK(server.get("/auth/keys/alice/more").status == 404);
  CHECK(server.get("/auth/keys/%01").status == 400);  // never a valid user id
  const http_result wrong_method = server.post("/auth/keys/alice", "{}");
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.header("Allow") == "GET, HEAD");
  CHECK(server.post("/auth/challenge/alice", "{}").status == 404);
  CHECK(http_request(server.port(), "GET", "/auth/register").status == 405);
}

TEST_CASE("login: malformed requests get 400 or 413 with a JSON error", "[socket][login]") {
  sb::config cfg = test_config();
  login_server server({}, cfg);
  const user_key_pairs alice;
  const std::string ed = base64(alice.sign_public), x = base64(alice.box_public);
  const auto keys_body = [](const std::string& user, const std::string& ed25519, const std::string& x25519) {
    return R"({"user":)" + quoted(user) + R"(,"ed25519_public_key":)" + quoted(ed25519) +
           R"(,"x25519_public_key":)" + quoted(x25519) + "}";
  };

  struct bad_case {
    const char* what;
    std::string path, body;
    int status;
    std::string code;
  };
  const std::vector<bad_case> cases = {
      {"not JSON", "/auth/register", "user=alice", 400, "bad_json"},
      {"a JSON array", "/auth/challenge", R"(["alice"])", 400, "bad_json"},
      {"an empty body", "/auth/verify", "", 400, "bad_json"},
      {"a field twice", "/auth/challenge", R"({"user":"alice","user":"bob"})", 400, "bad_json"},
      {"nested deeper than any request", "/auth/challenge",
       R"({"user":"alice","x":)" + std::string(2000, '[') + std::string(2000, ']') + "}", 400, "bad_json"},
      {"a missing field", "/auth/register", R"({"user":"alice","ed25519_public_key":")" + ed + R"("})", 400,
       "bad_request"},
      {"a number for a string", "/auth/challenge", R"({"user":7})", 400, "bad_request"},
      {"an empty user id", "/auth/register", keys_body("", ed, x), 400, "bad_request"},
      {"a user id with a control character", "/auth/register", keys_body("al\nice", ed, x), 400, "bad_request"},
      {"a user id over 128 bytes", "/auth/challenge", R"({"user":")" + std::string(129, 'a') + R"("})", 400,
       "bad_request"},
      {"a key that is not base64", "/auth/register", keys_body("alice", "not base64!", x), 400, "bad_request"},
      {"base64url instead of standard base64", "/auth/register",
       keys_body("alice", std::string(43, '_') + "=", x), 400, "bad_request"},
      {"a 31-byte key", "/auth/register", keys_body("alice", base64(alice.sign_public.substr(1)), x), 400,
       "bad_request"},
      {"a 33-byte key", "/auth/register", keys_body("alice", ed, base64(alice.box_public + "x")), 400,
       "bad_request"},
      {"an Ed25519 key that is no curve point (all zero)", "/auth/register",
       keys_body("alice", base64(std::string(32, '\0')), x), 400, "bad_request"},
      {"a body over 4 KiB", "/auth/register",
       R"({"user":"alice","pad":")" + std::string(4096, 'p') + R"("})", 413, "too_large"},
  };
  for (const bad_case& bad : cases) {
    INFO(bad.what);
    const http_result r = server.post(bad.path, bad.body);
    INFO("answer: " << r.status << " " << r.body);
    CHECK(r.status == bad.status);
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(error_code(r) == bad.code);
    CHECK_FALSE(error_message(r).empty());
  }
  // Nothing was registered, nothing was challenged, and bad requests are no login attempts.
  CHECK(server.get("/auth/keys/alice").status == 404);
  CHECK(server.outstanding_challenges() == 0);
  CHECK(server.audit_events().empty());
}

TEST_CASE("login: registration is refused with 503 once the store holds max_registered_users", "[socket][login]") {
  sb::config cfg = test_config();
  cfg.max_registered_users = 2;
  login_server server({}, cfg);
  const user_key_pairs a, b, c;
  CHECK(server.register_user("a", a).status == 201);
  CHECK(server.register_user("b", b).status == 201);
  const http_result full = server.register_user("c", c);
  CHECK(full.status == 503);
  CHECK(error_code(full) == "overloaded");
  CHECK(server.get("/auth/keys/c").status == 404);
  CHECK(server.register_user("a", a).status == 200);  // the registered still answer as before
}

TEST_CASE("login: outstanding challenges are bounded per user and in total", "[socket][login]") {
  sb::challenge_login_options options;
  options.max_challenges = 8;
  options.max_challenges_per_user = 3;
  login_server server(options);
  const user_key_pairs alice, bob, carol, dave;
  REQUIRE(server.register_user("alice", alice).status == 201);
  REQUIRE(server.register_user("bob", bob).status == 201);
  REQUIRE(server.register_user("carol", carol).status == 201);
  REQUIRE(server.register_user("dave", dave).status == 201);

  SECTION("a flood for one user keeps only that user's newest challenges") {
    std::vector<std::string> nonces;
    for (int i = 0; i < 200; ++i) nonces.push_back(server.challenge("alice"));
    CHECK(std::set<std::string>(nonces.begin(), nonces.end()).size() == nonces.size());  // all distinct
    CHECK(server.outstanding_challenges() == 3);
    // The oldest were dropped; the newest three still work.
    CHECK(server.verify("alice", nonces[196], alice.sign(nonces[196])).status == 401);
    for (std::size_t i = 197; i < 200; ++i) CHECK(server.verify("alice", nonces[i], alice.sign(nonces[i])).status == 200);
    CHECK(server.outstanding_challenges() == 0);
  }
  SECTION("past the total, new challenges get 503 and those handed out stay good") {
    for (int i = 0; i < 3; ++i) server.challenge("alice");
    std::vector<std::string> bobs;
    for (int i = 0; i < 3; ++i) bobs.push_back(server.challenge("bob"));
    for (int i = 0; i < 2; ++i) server.challenge("carol");
    CHECK(server.outstanding_challenges() == 8);

    for (const char* user : {"carol", "dave"}) {
      const http_result busy = server.post("/auth/challenge", R"({"user":")" + std::string(user) + R"("})");
      CHECK(busy.status == 503);
      CHECK(error_code(busy) == "overloaded");
      CHECK_FALSE(busy.header("Retry-After").empty());
    }
    // A user at its own bound trades its oldest for a new one, without passing the total.
    server.challenge("alice");
    CHECK(server.outstanding_challenges() == 8);

    CHECK(server.verify("bob", bobs[0], bob.sign(bobs[0])).status == 200);
    CHECK(server.outstanding_challenges() == 7);
    server.challenge("dave");
    CHECK(server.outstanding_challenges() == 8);
  }
}

TEST_CASE("login: expired challenges are purged, so they never hold the bound", "[socket][login]") {
  sb::challenge_login_options options;
  options.challenge_ttl = std::chrono::milliseconds(300);
  options.max_challenges = 4;
  options.max_challenges_per_user = 5;  // one user reaches the total first
  login_server server(options);
  const user_key_pairs alice;
  REQUIRE(server.register_user("alice", alice).status == 201);
  for (int i = 0; i < 4; ++i) server.challenge("alice");
  const auto last_issued_by = std::chrono::steady_clock::now();
  CHECK(server.post("/auth/challenge", R"({"user":"alice"})").status == 503);
  CHECK(server.outstanding_challenges() == 4);

  std::this_thread::sleep_until(last_issued_by + options.challenge_ttl);
  const std::string nonce = server.challenge("alice");
  CHECK(server.outstanding_challenges() == 1);
  CHECK(server.verify("alice", nonce, alice.sign(nonce)).status == 200);
}

TEST_CASE("login: the signing key must sign, and limits and lifetimes must be sane", "[socket][login]") {
  asio::io_context io;
  sb::hub hub{io};
  const user_key_pairs server_keys;
  CHECK_THROWS_AS(sb::challenge_login(hub, sb::jwt_key::ed25519_public_key(server_keys.sign_public)),
                  std::invalid_argument);
  CHECK_NOTHROW(sb::challenge_login(hub, sb::jwt_key::ed25519_secret_key(server_keys.sign_secret)));
  for (int which = 0; which < 7; ++which) {
    sb::challenge_login_options options;
    if (which == 0) options.challenge_ttl = std::chrono::milliseconds(0);
    if (which == 1) options.challenge_ttl = std::chrono::hours(25);
    if (which == 2) options.token_ttl = std::chrono::seconds(0);
    if (which == 3) options.token_ttl = std::chrono::seconds::max();
    if (which == 4) options.max_challenges = 0;
    if (which == 5) options.max_challenges_per_user = 0;
    if (which == 6) options.max_body_bytes = 0;
    CHECK_THROWS_AS(sb::challenge_login(hub, sb::jwt_key::hs256(secret), options), std::invalid_argument);
  }
}
