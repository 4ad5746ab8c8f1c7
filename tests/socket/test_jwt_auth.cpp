// jwt_auth behind a real server: a token that verifies opens the WebSocket, from the
// query or from Authorization: Bearer; anything else is refused with HTTP 401 before
// any WebSocket exists.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <switchboard/jwt.hpp>
#include <switchboard/jwt_auth.hpp>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <sodium.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

using namespace switchboard::test;
namespace sb = switchboard;

namespace {

using jwt_test_server = basic_test_server<sb::policies<sb::jwt_auth>>;

const std::string secret = "socket test secret, thirty-two bytes or more";

// Whole hours from the real clock: the server checks tokens against it, and an hour is
// never a margin a slow machine could eat.
sb::jwt_time hours_from_now(int hours) {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now() +
                                                            std::chrono::hours(hours));
}

std::string token_for(const std::string& user, const sb::jwt_key& key = sb::jwt_key::hs256(secret)) {
  sb::jwt_claims claims;
  claims.subject = user;
  claims.roles = {"member"};
  claims.expires_at = hours_from_now(1);
  return sign_jwt(key, claims);
}

std::string b64url(std::string_view bytes) {
  std::string out;
  sb::detail::append_base64(out, bytes, sb::detail::base64_variant::url);
  return out;
}

jwt_test_server::setup_fn no_setup() { return {}; }

sb::jwt_auth hs256_auth() { return sb::jwt_auth{sb::jwt_verifier{sb::jwt_key::hs256(secret)}}; }

}  // namespace

TEST_CASE("a valid token opens the WebSocket, from the query or Authorization: Bearer", "[socket][jwt]") {
  jwt_test_server server(test_config(), {}, no_setup(), hs256_auth());
  const std::string token = token_for("alice");
  SECTION("query parameter") {
    ws_test_client c;
    CHECK(str(c.open(server.port(), {"/ws?token=" + token, {}, {}, 0}), "user") == "alice");
  }
  SECTION("Authorization header") {
    ws_test_client c;
    CHECK(str(c.open(server.port(), {"/ws", {"Authorization: Bearer " + token}, {}, 0}), "user") == "alice");
  }
  SECTION("an EdDSA server with its public key only") {
    REQUIRE(sodium_init() >= 0);
    std::string public_key(crypto_sign_PUBLICKEYBYTES, '\0'), secret_key(crypto_sign_SECRETKEYBYTES, '\0');
    crypto_sign_keypair(reinterpret_cast<unsigned char*>(&public_key[0]),
                        reinterpret_cast<unsigned char*>(&secret_key[0]));
    jwt_test_server eddsa(test_config(), {}, no_setup(),
                          sb::jwt_auth{sb::jwt_verifier{sb::jwt_key::ed25519_public_key(public_key)}});
    ws_test_client c;
    const std::string signed_token = token_for("bob", sb::jwt_key::ed25519_secret_key(secret_key));
    CHECK(str(c.open(eddsa.port(), {"/ws", {"Authorization: Bearer " + signed_token}, {}, 0}), "user") == "bob");
    ws_test_client hs;
    CHECK(hs.connect(eddsa.port(), {"/ws?token=" + token, {}, {}, 0}).status == 401);
  }
}

TEST_CASE("a bad or missing token gets HTTP 401 and no WebSocket", "[socket][jwt]") {
  jwt_test_server server(test_config(), {}, no_setup(), hs256_auth());
  const std::string good = token_for("alice");

  sb::jwt_claims expired;
  expired.subject = "alice";
  expired.expires_at = hours_from_now(-1);
  sb::jwt_claims early;
  early.subject = "alice";
  early.expires_at = hours_from_now(2);
  early.not_before = hours_from_now(1);
  sb::jwt_claims hostile_user;
  hostile_user.subject = "mallory";
  hostile_user.expires_at = hours_from_now(1);
  const std::string payload = good.substr(good.find('.') + 1, good.rfind('.') - good.find('.') - 1);
  std::string flipped_signature = good;
  flipped_signature.back() = flipped_signature.back() == 'A' ? 'E' : 'A';  // still canonical, another MAC

  struct bad_token {
    const char* what;
    std::string token;
  };
  const std::vector<bad_token> cases = {
      {"garbage", "not-a-token"},
      {"the user id as the demo auth takes it", "alice"},
      {"signed with another secret", sign_jwt(sb::jwt_key::hs256("another secret"), hostile_user)},
      {"expired", sign_jwt(sb::jwt_key::hs256(secret), expired)},
      {"not yet valid", sign_jwt(sb::jwt_key::hs256(secret), early)},
      {"alg none", b64url(R"({"alg":"none","typ":"JWT"})") + "." + payload + "."},
      {"another algorithm", b64url(R"({"alg":"HS512","typ":"JWT"})") + "." + payload + "." +
                                good.substr(good.rfind('.') + 1)},
      {"tampered signature", flipped_signature},
      {"over 8 KiB", good + std::string(8200 - good.size(), 'A')},
  };
  for (const bad_token& bad : cases) {
    INFO(bad.what);
    for (const bool in_header : {false, true}) {
      ws_test_client c;
      const handshake_options options = in_header ? handshake_options{"/ws", {"Authorization: Bearer " + bad.token}, {}, 0}
                                                   : handshake_options{"/ws?token=" + bad.token, {}, {}, 0};
      const handshake_result hs = c.connect(server.port(), options);
      CHECK(hs.status == 401);
      rapidjson::Document body;
      body.Parse(hs.body.c_str());
      INFO("body: " << hs.body);
      REQUIRE(body.IsObject());
      CHECK(str(body["error"], "code") == "unauthorized");
      // The refusal says why without quoting the token.
      CHECK_FALSE(str(body["error"], "message").empty());
      CHECK(hs.body.find(bad.token) == std::string::npos);
    }
  }
  SECTION("no credential at all") {
    ws_test_client c;
    CHECK(c.connect(server.port()).status == 401);
  }
  SECTION("a token in another header or scheme is no credential") {
    ws_test_client c;
    CHECK(c.connect(server.port(), {"/ws", {"Authorization: Basic " + good}, {}, 0}).status == 401);
  }
  // A refusal never reaches the hub.
  CHECK(server.stats().connections == 0);
}

namespace {

sb::config in_band_config() {
  sb::config cfg = test_config();
  cfg.in_band_auth = true;
  return cfg;
}

// A token that expires `seconds` from now (JWT time is whole seconds).
std::string token_expiring_in(const std::string& user, int seconds) {
  sb::jwt_claims claims;
  claims.subject = user;
  claims.expires_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) +
                      std::chrono::seconds(seconds);
  return sign_jwt(sb::jwt_key::hs256(secret), claims);
}

std::string auth_request(int id, const std::string& token) {
  return R"({"type":"auth","id":)" + std::to_string(id) + R"(,"token":")" + token + "\"}";
}

}  // namespace

TEST_CASE("in-band auth with a JWT: the token-less handshake upgrades, auth brings the welcome", "[socket][jwt][in_band]") {
  jwt_test_server server(in_band_config(), {}, no_setup(), hs256_auth());
  ws_test_client c;
  REQUIRE(c.connect(server.port()).upgraded());
  REQUIRE(c.send_text(R"({"type":"subscribe","id":1,"topics":["a"]})"));
  const rapidjson::Document refused = c.recv_json();
  CHECK(str(refused, "type") == "error");
  CHECK(str(refused, "code") == "unauthorized");

  REQUIRE(c.send_text(auth_request(2, "forged.token.here")));
  CHECK(str(c.recv_json(), "code") == "unauthorized");

  REQUIRE(c.send_text(auth_request(3, token_for("alice"))));
  CHECK(str(c.recv_json(), "type") == "ack");
  const rapidjson::Document welcome = c.recv_json();
  CHECK(str(welcome, "type") == "welcome");
  CHECK(str(welcome, "user") == "alice");

  // A refresh with another user's valid token is forbidden and changes nothing.
  REQUIRE(c.send_text(auth_request(4, token_for("mallory"))));
  CHECK(str(c.recv_json(), "code") == "forbidden");
  REQUIRE(c.send_text(auth_request(5, token_for("alice"))));
  CHECK(str(c.recv_json(), "type") == "ack");
}

TEST_CASE("in-band auth: a connection that never authenticates is closed with 1008", "[socket][jwt][in_band]") {
  sb::config cfg = in_band_config();
  cfg.auth_timeout = std::chrono::milliseconds(100);
  jwt_test_server server(cfg, {}, no_setup(), hs256_auth());
  ws_test_client c;
  REQUIRE(c.connect(server.port()).upgraded());
  CHECK(c.expect_close(std::chrono::seconds(20)) == sb::close_code::policy_violation);
}

TEST_CASE("a token that expires while connected closes the connection with 1008", "[socket][jwt][expiry]") {
  jwt_test_server server(test_config(), {}, no_setup(), hs256_auth());
  ws_test_client c;
  CHECK(str(c.open(server.port(), {"/ws?token=" + token_expiring_in("alice", 3), {}, {}, 0}), "user") == "alice");
  CHECK(c.expect_close(std::chrono::seconds(30)) == sb::close_code::policy_violation);
}
