// Token verification and issuing (jwt.hpp) and the jwt_auth policy on a hub. Tokens are
// signed here with libsodium directly, not with sign_jwt, so that the verifier is checked
// against an independent signer; hostile tokens are built byte by byte.
#include <switchboard/hub.hpp>
#include <switchboard/jwt.hpp>
#include <switchboard/jwt_auth.hpp>
#include <switchboard/memory_transport.hpp>

#include <asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <sodium.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sb = switchboard;
using sb::jwt_refusal;

namespace {

const std::string secret = "a shared secret of at least thirty-two bytes";
// Every test verifies "now" at this instant: nothing depends on the clock.
const sb::jwt_time now{std::chrono::seconds(1'700'000'000)};

std::string b64url(std::string_view bytes) {
  std::string out;
  sb::detail::append_base64(out, bytes, sb::detail::base64_variant::url);
  return out;
}

std::string b64url_decoded(std::string_view text) {
  std::string out;
  REQUIRE(sb::detail::decode_base64(text, out, sb::detail::base64_variant::url));
  return out;
}

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string hmac_sha256(std::string_view key, std::string_view message) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, bytes(key), key.size());
  crypto_auth_hmacsha256_update(&state, bytes(message), message.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&state, mac);
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

// A compact JWS of exactly these header and payload bytes, HMAC'd with `key`.
std::string hs256_token(std::string_view header, std::string_view payload, std::string_view key = secret) {
  const std::string input = b64url(header) + "." + b64url(payload);
  return input + "." + b64url(hmac_sha256(key, input));
}

struct ed25519_pair {
  std::string public_key, secret_key;
  ed25519_pair() : public_key(crypto_sign_PUBLICKEYBYTES, '\0'), secret_key(crypto_sign_SECRETKEYBYTES, '\0') {
    REQUIRE(sodium_init() >= 0);
    crypto_sign_keypair(reinterpret_cast<unsigned char*>(&public_key[0]),
                        reinterpret_cast<unsigned char*>(&secret_key[0]));
  }
};

std::string eddsa_token(std::string_view header, std::string_view payload, const ed25519_pair& keys) {
  const std::string input = b64url(header) + "." + b64url(payload);
  std::string signature(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(&signature[0]), nullptr, bytes(input), input.size(),
                       bytes(keys.secret_key));
  return input + "." + b64url(signature);
}

constexpr std::string_view hs256_header = R"({"alg":"HS256","typ":"JWT"})";
constexpr std::string_view eddsa_header = R"({"alg":"EdDSA","typ":"JWT"})";

std::string seconds_from_now(std::int64_t s) { return std::to_string(now.time_since_epoch().count() + s); }

// Claims for alice valid for an hour, with `extra` members appended.
std::string claims(std::string_view extra = {}) {
  std::string json = R"({"sub":"alice","exp":)" + seconds_from_now(3600);
  if (!extra.empty()) json += "," + std::string(extra);
  return json + "}";
}

sb::jwt_verifier hs256_verifier(sb::jwt_verify_options options = {}) {
  return sb::jwt_verifier(sb::jwt_key::hs256(secret), std::move(options));
}

// Why `token` was refused, failing when it was accepted.
jwt_refusal refusal_of(const sb::jwt_verifier& verifier, std::string_view token) {
  const sb::jwt_result r = verifier.verify(token, now);
  INFO("token: " << token);
  REQUIRE_FALSE(r.ok());
  CHECK_FALSE(r.reason().empty());
  return r.refusal();
}

}  // namespace

TEST_CASE("an HS256 token signed with the secret is accepted with its claims", "[jwt]") {
  const auto verifier = hs256_verifier();
  const std::string token = hs256_token(hs256_header, claims(R"("roles":["admin","ops"],"nbf":)" +
                                                             seconds_from_now(-5) + R"(,"iat":)" + seconds_from_now(-5)));
  const sb::jwt_result r = verifier.verify(token, now);
  REQUIRE(r.ok());
  CHECK(r.reason().empty());
  CHECK(r.claims().subject == "alice");
  CHECK(r.claims().roles == std::vector<std::string>{"admin", "ops"});
  CHECK(r.claims().expires_at == now + std::chrono::seconds(3600));
  CHECK(r.claims().not_before == now - std::chrono::seconds(5));
  CHECK(r.claims().issued_at == now - std::chrono::seconds(5));
  CHECK_FALSE(r.claims().issuer);
  CHECK(r.claims().audience.empty());
  SECTION("without a typ header, and with members switchboard does not read") {
    CHECK(verifier.verify(hs256_token(R"({"alg":"HS256","kid":"k1"})", claims(R"("x":{"y":[1,{}]})")), now).ok());
  }
  SECTION("a secret of any length, as HMAC defines it") {
    for (const std::string& key : std::vector<std::string>{std::string("k"), std::string(200, 'z')}) {
      const sb::jwt_verifier v(sb::jwt_key::hs256(key));
      CHECK(v.verify(hs256_token(hs256_header, claims(), key), now).ok());
    }
  }
}

TEST_CASE("an EdDSA token signed with the matching Ed25519 key is accepted", "[jwt]") {
  const ed25519_pair keys;
  const sb::jwt_verifier verifier(sb::jwt_key::ed25519_public_key(keys.public_key));
  const sb::jwt_result r = verifier.verify(eddsa_token(eddsa_header, claims(R"("roles":["reader"])"), keys), now);
  REQUIRE(r.ok());
  CHECK(r.claims().subject == "alice");
  CHECK(r.claims().roles == std::vector<std::string>{"reader"});
}

TEST_CASE("sign_jwt issues tokens the verifier accepts, with either key type", "[jwt]") {
  sb::jwt_claims c;
  c.subject = "bob \xc3\xa9";  // UTF-8 and a space are fine in a user id
  c.roles = {"admin", "a \"quoted\" role"};
  c.expires_at = now + std::chrono::seconds(60);
  c.not_before = now - std::chrono::seconds(1);
  c.issued_at = now;
  c.issuer = "https://issuer.example";
  c.audience = {"switchboard"};
  sb::jwt_verify_options options;
  options.issuer = "https://issuer.example";
  options.audience = "switchboard";

  const auto check_round_trip = [&](const sb::jwt_key& signer, const sb::jwt_key& checker) {
    const std::string token = sign_jwt(signer, c);
    const sb::jwt_result r = sb::jwt_verifier(checker, options).verify(token, now);
    REQUIRE(r.ok());
    CHECK(r.claims().subject == c.subject);
    CHECK(r.claims().roles == c.roles);
    CHECK(r.claims().expires_at == c.expires_at);
    CHECK(r.claims().not_before == c.not_before);
    CHECK(r.claims().issued_at == c.issued_at);
    CHECK(r.claims().issuer == c.issuer);
    CHECK(r.claims().audience == c.audience);
  };
  SECTION("HS256") {
    const auto key = sb::jwt_key::hs256(secret);
    check_round_trip(key, key);
  }
  SECTION("EdDSA from libsodium's 64-byte secret key, verified with the public key alone") {
    const ed25519_pair keys;
    check_round_trip(sb::jwt_key::ed25519_secret_key(keys.secret_key), sb::jwt_key::ed25519_public_key(keys.public_key));
  }
  SECTION("EdDSA from the 32-byte seed") {
    const ed25519_pair keys;
    const std::string seed = keys.secret_key.substr(0, crypto_sign_SEEDBYTES);
    check_round_trip(sb::jwt_key::ed25519_secret_key(seed), sb::jwt_key::ed25519_public_key(keys.public_key));
  }
  SECTION("several audiences are written as an array") {
    c.audience = {"other", "switchboard"};
    const auto key = sb::jwt_key::hs256(secret);
    check_round_trip(key, key);
  }
  SECTION("a public key cannot sign, and an invalid subject is never issued") {
    const ed25519_pair keys;
    CHECK_THROWS_AS(sign_jwt(sb::jwt_key::ed25519_public_key(keys.public_key), c), std::logic_error);
    c.subject = std::string("a\x01", 2);
    CHECK_THROWS_AS(sign_jwt(sb::jwt_key::hs256(secret), c), std::invalid_argument);
  }
}

TEST_CASE("keys and options that cannot be right are refused when they are made", "[jwt]") {
  const ed25519_pair keys;
  CHECK_THROWS_AS(sb::jwt_key::hs256(""), std::invalid_argument);
  CHECK_THROWS_AS(sb::jwt_key::ed25519_public_key(keys.public_key.substr(1)), std::invalid_argument);
  CHECK_THROWS_AS(sb::jwt_key::ed25519_public_key(std::string(32, '\0')), std::invalid_argument);  // small order
  CHECK_THROWS_AS(sb::jwt_key::ed25519_secret_key(keys.secret_key.substr(0, 40)), std::invalid_argument);
  std::string mismatched = keys.secret_key;
  mismatched[40] = static_cast<char>(mismatched[40] ^ 1);
  CHECK_THROWS_AS(sb::jwt_key::ed25519_secret_key(mismatched), std::invalid_argument);
  sb::jwt_verify_options options;
  options.leeway = std::chrono::seconds(-1);
  CHECK_THROWS_AS(hs256_verifier(options), std::invalid_argument);

  SECTION("an Ed25519 public key in standard base64, as configuration writes it") {
    std::string text;
    sb::detail::append_base64(text, keys.public_key);
    const sb::jwt_verifier verifier(sb::jwt_key::ed25519_public_key_base64(text));
    CHECK(verifier.verify(eddsa_token(eddsa_header, claims(), keys), now).ok());
    std::string url;
    sb::detail::append_base64(url, keys.public_key, sb::detail::base64_variant::url);
    for (const std::string& bad : std::vector<std::string>{url, text.substr(0, 43), text + "=", " " + text, "",
                                                           std::string(1000, 'A')}) {
      INFO("key: " << bad);
      CHECK_THROWS_AS(sb::jwt_key::ed25519_public_key_base64(bad), std::invalid_argument);
    }
    std::string short_key;
    sb::detail::append_base64(short_key, keys.public_key.substr(1));
    CHECK_THROWS_AS(sb::jwt_key::ed25519_public_key_base64(short_key), std::invalid_argument);
  }
  SECTION("an Ed25519 secret key in standard base64: the 32-byte seed or the 64-byte key") {
    for (const std::string& secret_key : {keys.secret_key.substr(0, crypto_sign_SEEDBYTES), keys.secret_key}) {
      std::string text;
      sb::detail::append_base64(text, secret_key);
      const sb::jwt_key key = sb::jwt_key::ed25519_secret_key_base64(text);
      CHECK(key.can_sign());
      sb::jwt_claims alice;
      alice.subject = "alice";
      alice.expires_at = now + std::chrono::seconds(3600);
      const std::string token = sign_jwt(key, alice);
      CHECK(sb::jwt_verifier(sb::jwt_key::ed25519_public_key(keys.public_key)).verify(token, now).ok());
    }
    std::string short_seed, url;
    sb::detail::append_base64(short_seed, keys.secret_key.substr(0, 31));
    sb::detail::append_base64(url, keys.secret_key, sb::detail::base64_variant::url);
    for (const std::string& bad : std::vector<std::string>{short_seed, url, "", "not base64", std::string(1000, 'A')}) {
      INFO("key: " << bad);
      CHECK_THROWS_AS(sb::jwt_key::ed25519_secret_key_base64(bad), std::invalid_argument);
    }
  }
}

TEST_CASE("a forged or tampered token is refused", "[jwt]") {
  const auto verifier = hs256_verifier();
  const std::string good = hs256_token(hs256_header, claims());
  REQUIRE(verifier.verify(good, now).ok());
  const std::size_t dot1 = good.find('.'), dot2 = good.rfind('.');
  const std::string header = good.substr(0, dot1), payload = good.substr(dot1 + 1, dot2 - dot1 - 1),
                    signature = good.substr(dot2 + 1);

  SECTION("signed with another secret") {
    CHECK(refusal_of(verifier, hs256_token(hs256_header, claims(), "another secret")) == jwt_refusal::bad_signature);
  }
  SECTION("EdDSA signed by another key pair") {
    const ed25519_pair trusted, attacker;
    const sb::jwt_verifier eddsa(sb::jwt_key::ed25519_public_key(trusted.public_key));
    CHECK(refusal_of(eddsa, eddsa_token(eddsa_header, claims(), attacker)) == jwt_refusal::bad_signature);
  }
  SECTION("payload changed, signature kept") {
    std::string forged = b64url_decoded(payload);
    forged.replace(forged.find("alice"), 5, "admin");
    CHECK(refusal_of(verifier, header + "." + b64url(forged) + "." + signature) == jwt_refusal::bad_signature);
  }
  SECTION("header changed, signature kept") {
    const std::string forged = b64url(R"({"alg":"HS256","typ":"JWT","kid":"x"})");
    CHECK(refusal_of(verifier, forged + "." + payload + "." + signature) == jwt_refusal::bad_signature);
  }
  SECTION("each bit of the signature flipped") {
    const std::string mac = b64url_decoded(signature);
    for (std::size_t bit = 0; bit < mac.size() * 8; ++bit) {
      std::string flipped = mac;
      flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
      CHECK(refusal_of(verifier, header + "." + payload + "." + b64url(flipped)) == jwt_refusal::bad_signature);
    }
  }
  SECTION("signature cut short, lengthened or missing") {
    const std::string mac = b64url_decoded(signature);
    CHECK(refusal_of(verifier, header + "." + payload + "." + b64url(mac.substr(0, 31))) == jwt_refusal::bad_signature);
    CHECK(refusal_of(verifier, header + "." + payload + "." + b64url(mac + "x")) == jwt_refusal::bad_signature);
    CHECK(refusal_of(verifier, header + "." + payload + ".") == jwt_refusal::bad_signature);
  }
}

TEST_CASE("exp and nbf are checked against the clock with the configured leeway", "[jwt]") {
  const auto strict = hs256_verifier();
  sb::jwt_verify_options lenient_options;
  lenient_options.leeway = std::chrono::seconds(30);
  const auto lenient = hs256_verifier(lenient_options);
  const auto token_with = [](std::string_view json) { return hs256_token(hs256_header, json); };

  SECTION("expired") {
    CHECK(refusal_of(strict, token_with(R"({"sub":"alice","exp":)" + seconds_from_now(-1) + "}")) ==
          jwt_refusal::expired);
    // exp is the first instant the token is no longer good (RFC 7519 4.1.4).
    CHECK(refusal_of(strict, token_with(R"({"sub":"alice","exp":)" + seconds_from_now(0) + "}")) ==
          jwt_refusal::expired);
    CHECK(strict.verify(token_with(R"({"sub":"alice","exp":)" + seconds_from_now(1) + "}"), now).ok());
    CHECK(refusal_of(strict, token_with(R"({"sub":"alice","exp":-5})")) == jwt_refusal::expired);
  }
  SECTION("expired within the leeway, and past it") {
    CHECK(lenient.verify(token_with(R"({"sub":"alice","exp":)" + seconds_from_now(-29) + "}"), now).ok());
    CHECK(refusal_of(lenient, token_with(R"({"sub":"alice","exp":)" + seconds_from_now(-30) + "}")) ==
          jwt_refusal::expired);
  }
  SECTION("not yet valid, within the leeway, and past it") {
    const std::string soon = claims(R"("nbf":)" + seconds_from_now(10));
    CHECK(refusal_of(strict, token_with(soon)) == jwt_refusal::not_yet_valid);
    CHECK(lenient.verify(token_with(soon), now).ok());
    CHECK(refusal_of(lenient, token_with(claims(R"("nbf":)" + seconds_from_now(31)))) == jwt_refusal::not_yet_valid);
    CHECK(strict.verify(token_with(claims(R"("nbf":)" + seconds_from_now(0))), now).ok());
  }
  SECTION("no exp: refused unless the verifier allows tokens that never expire") {
    const std::string forever = token_with(R"({"sub":"alice"})");
    CHECK(refusal_of(strict, forever) == jwt_refusal::missing_expiry);
    sb::jwt_verify_options options;
    options.require_expiry = false;
    CHECK(hs256_verifier(options).verify(forever, now).ok());
  }
  SECTION("NumericDate may have a fraction; anything else is refused") {
    CHECK(strict.verify(token_with(R"({"sub":"alice","exp":)" + seconds_from_now(60) + ".5}"), now).ok());
    CHECK(strict.verify(token_with(R"({"sub":"alice","exp":1.8e9})"), now).ok());
    for (const std::string& exp : std::vector<std::string>{R"("1800000000")", "null", "true", "[1800000000]", "{}", "1e300", "-1e300",
                                  "18446744073709551615", "9007199254740993"})
      CHECK(refusal_of(strict, token_with(R"({"sub":"alice","exp":)" + exp + "}")) == jwt_refusal::bad_claims);
    CHECK(refusal_of(strict, token_with(claims(R"("nbf":"0")"))) == jwt_refusal::bad_claims);
    CHECK(refusal_of(strict, token_with(claims(R"("iat":[])"))) == jwt_refusal::bad_claims);
  }
  SECTION("verify() without a time uses the system clock") {
    const std::string token = hs256_token(hs256_header, R"({"sub":"alice","exp":)" + seconds_from_now(0) + "}");
    CHECK(strict.verify(token).refusal() == jwt_refusal::expired);  // `now` is in 2023
  }
}

TEST_CASE("the algorithm is the configured one, never the token's choice", "[jwt]") {
  const auto verifier = hs256_verifier();
  SECTION("another HMAC or an asymmetric algorithm named in the header") {
    for (const std::string& alg : std::vector<std::string>{"HS384", "HS512", "RS256", "ES256", "PS256", "EdDSA", "hs256", "HS256 ", ""}) {
      const std::string header = R"({"alg":")" + alg + R"("})";
      CHECK(refusal_of(verifier, hs256_token(header, claims())) == jwt_refusal::wrong_algorithm);
    }
  }
  SECTION("alg none, with and without a signature") {
    for (const std::string& alg : std::vector<std::string>{"none", "None", "NONE"}) {
      const std::string header = b64url(R"({"alg":")" + alg + R"(","typ":"JWT"})");
      const std::string unsigned_token = header + "." + b64url(claims()) + ".";
      CHECK(refusal_of(verifier, unsigned_token) == jwt_refusal::wrong_algorithm);
      CHECK(refusal_of(verifier, hs256_token(R"({"alg":")" + alg + R"("})", claims())) == jwt_refusal::wrong_algorithm);
    }
  }
  SECTION("no alg, or one that is not a string") {
    for (const std::string& header : std::vector<std::string>{R"({"typ":"JWT"})", R"({"alg":null})", R"({"alg":["HS256"]})",
                                     R"({"alg":256})", R"({"alg":{"name":"HS256"}})"})
      CHECK(refusal_of(verifier, hs256_token(header, claims())) == jwt_refusal::bad_header);
  }
  SECTION("alg given twice: the second could win elsewhere") {
    CHECK(refusal_of(verifier, hs256_token(R"({"alg":"HS256","alg":"none"})", claims())) == jwt_refusal::bad_header);
  }
  SECTION("critical extensions are refused") {
    CHECK(refusal_of(verifier, hs256_token(R"({"alg":"HS256","crit":["b64"],"b64":false})", claims())) ==
          jwt_refusal::critical_header);
  }
  SECTION("an EdDSA verifier refuses HS256") {
    const ed25519_pair keys;
    const sb::jwt_verifier eddsa(sb::jwt_key::ed25519_public_key(keys.public_key));
    CHECK(refusal_of(eddsa, hs256_token(hs256_header, claims())) == jwt_refusal::wrong_algorithm);
  }
}

TEST_CASE("key confusion: an HS256 token keyed with the Ed25519 public key is refused", "[jwt]") {
  const ed25519_pair keys;
  const sb::jwt_verifier eddsa(sb::jwt_key::ed25519_public_key(keys.public_key));
  // The public key is public: anyone can compute this MAC.
  CHECK(refusal_of(eddsa, hs256_token(hs256_header, claims(), keys.public_key)) == jwt_refusal::wrong_algorithm);
  // Claiming EdDSA with that MAC as the signature does not verify either.
  CHECK(refusal_of(eddsa, hs256_token(eddsa_header, claims(), keys.public_key)) == jwt_refusal::bad_signature);
  // Nor does a 64-byte "signature" made of two such MACs.
  const std::string input = b64url(eddsa_header) + "." + b64url(claims());
  const std::string mac = hmac_sha256(keys.public_key, input);
  CHECK(refusal_of(eddsa, input + "." + b64url(mac + mac)) == jwt_refusal::bad_signature);
}

TEST_CASE("a token over the size limit is refused before it is decoded", "[jwt]") {
  const auto verifier = hs256_verifier();
  SECTION("a genuine token just over 8 KiB") {
    std::string padding = R"("pad":")";
    std::string token;
    for (std::size_t n = 6000;; ++n) {
      token = hs256_token(hs256_header, claims(padding + std::string(n, 'x') + "\""));
      if (token.size() > 8192) break;
    }
    CHECK(token.size() == 8193);
    CHECK(refusal_of(verifier, token) == jwt_refusal::too_large);
    sb::jwt_verify_options options;
    options.max_token_bytes = 16384;
    CHECK(hs256_verifier(options).verify(token, now).ok());
  }
  SECTION("garbage of any size is refused as too large, not as malformed") {
    CHECK(refusal_of(verifier, std::string(8193, '.')) == jwt_refusal::too_large);
    CHECK(refusal_of(verifier, std::string(1 << 20, '\xff')) == jwt_refusal::too_large);
  }
  SECTION("a token at the limit is decoded") {
    CHECK(refusal_of(verifier, std::string(8192, 'A')) == jwt_refusal::malformed);
  }
}

TEST_CASE("anything but three strict base64url parts is malformed", "[jwt]") {
  const auto verifier = hs256_verifier();
  const std::string good = hs256_token(hs256_header, claims());
  const std::size_t dot1 = good.find('.'), dot2 = good.rfind('.');
  const std::string header = good.substr(0, dot1), payload = good.substr(dot1 + 1, dot2 - dot1 - 1),
                    signature = good.substr(dot2 + 1);
  for (const std::string& token : std::vector<std::string>{
           std::string(), std::string("."), std::string("..."), header, header + "." + payload,
           good + ".", good + "." + signature,                      // JWE has five parts
           header + "=." + payload + "." + signature,               // padding
           header + "." + payload + "." + signature + "=",          //
           " " + good, good + " ", good + "\n",                     // whitespace
           header + "." + payload + ".+" + signature.substr(1),     // the standard alphabet
           header + "." + payload + "./" + signature.substr(1),     //
           header + "." + payload + "." + signature + "AA",         // a leftover single digit
           std::string("\xef\xbb\xbf") + good,                      // a byte order mark
           std::string(good).insert(5, 1, '\0'),                    // an embedded NUL
       }) {
    CHECK(refusal_of(verifier, token) == jwt_refusal::malformed);
  }
  SECTION("stray bits in the last digit of the signature") {
    // 32 bytes take 43 digits; the last one carries 4 bits and 2 unused ones.
    std::string odd = signature;
    const int value = sb::detail::base64_digit_value(odd.back(), sb::detail::base64_variant::url);
    const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    odd.back() = digits[value | 1];
    CHECK(refusal_of(verifier, header + "." + payload + "." + odd) == jwt_refusal::malformed);
  }
  SECTION("an empty header is not JSON") {
    CHECK(refusal_of(verifier, "." + payload + "." + signature) == jwt_refusal::bad_header);
    CHECK(refusal_of(verifier, "..") == jwt_refusal::bad_header);
  }
}

TEST_CASE("header and claims must each be one JSON object of valid UTF-8", "[jwt]") {
  const auto verifier = hs256_verifier();
  SECTION("claims that are not an object") {
    for (const std::string& payload : std::vector<std::string>{"", "null", "true", "42", R"("alice")", R"(["alice"])", "[]", "{",
                                      R"({"sub":"alice",})", R"({"sub":"alice"} {})", R"({"sub":"alice"} x)",
                                      R"({'sub':'alice'})", R"({"sub":"alice","exp":)" + seconds_from_now(60) +
                                                                std::string("}\0garbage", 9)})
      CHECK(refusal_of(verifier, hs256_token(hs256_header, payload)) == jwt_refusal::bad_claims);
  }
  SECTION("a header that is not an object") {
    for (const std::string& header : std::vector<std::string>{"null", R"("HS256")", R"(["HS256"])", R"({"alg":"HS256")", "{} {}"})
      CHECK(refusal_of(verifier, hs256_token(header, claims())) == jwt_refusal::bad_header);
  }
  SECTION("invalid UTF-8 anywhere, or a lone surrogate") {
    CHECK(refusal_of(verifier, hs256_token(hs256_header, claims("\"x\":\"\xc3\x28\""))) == jwt_refusal::bad_claims);
    CHECK(refusal_of(verifier, hs256_token(hs256_header, claims("\"\xff\":1"))) == jwt_refusal::bad_claims);
    CHECK(refusal_of(verifier, hs256_token(hs256_header, claims(R"("x":"\udc00")"))) == jwt_refusal::bad_claims);
    CHECK(refusal_of(verifier, hs256_token("{\"alg\":\"HS256\",\"x\":\"\xed\xa0\x80\"}", claims())) ==
          jwt_refusal::bad_header);
  }
  SECTION("a claim switchboard reads may appear only once") {
    CHECK(refusal_of(verifier, hs256_token(hs256_header, claims(R"("sub":"admin")"))) == jwt_refusal::bad_claims);
    CHECK(refusal_of(verifier, hs256_token(hs256_header, claims(R"("exp":)" + seconds_from_now(99999)))) ==
          jwt_refusal::bad_claims);
    CHECK(refusal_of(verifier, hs256_token(hs256_header, claims(R"("roles":[],"roles":["admin"])"))) ==
          jwt_refusal::bad_claims);
    // Other members may repeat, at any depth: nothing reads them.
    CHECK(verifier.verify(hs256_token(hs256_header, claims(R"("x":1,"x":2,"y":{"sub":"a","sub":"b"})")), now).ok());
  }
}

TEST_CASE("nesting is bounded and never exhausts the stack", "[jwt]") {
  const auto verifier = hs256_verifier();
  const auto nested = [](std::size_t depth) {
    return claims(R"("deep":)" + std::string(depth, '[') + std::string(depth, ']'));
  };
  // The claims object is level 1, so 15 arrays inside it reach the limit of 16.
  CHECK(verifier.verify(hs256_token(hs256_header, nested(15)), now).ok());
  CHECK(refusal_of(verifier, hs256_token(hs256_header, nested(16))) == jwt_refusal::bad_claims);
  sb::jwt_verify_options options;
  options.max_token_bytes = 1 << 20;
  const auto roomy = hs256_verifier(options);
  CHECK(refusal_of(roomy, hs256_token(hs256_header, nested(100000))) == jwt_refusal::bad_claims);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += R"({"a":)";
  CHECK(refusal_of(roomy, hs256_token(hs256_header, claims(R"("deep":)" + objects + "1" + std::string(100000, '}')))) ==
        jwt_refusal::bad_claims);
  CHECK(refusal_of(roomy, hs256_token(std::string(100000, '['), claims())) == jwt_refusal::bad_header);
}

TEST_CASE("sub must be a valid user id", "[jwt]") {
  const auto verifier = hs256_verifier();
  const auto token_for = [](std::string_view sub_json) {
    return hs256_token(hs256_header, "{\"sub\":" + std::string(sub_json) + ",\"exp\":" + seconds_from_now(60) + "}");
  };
  for (const std::string& sub : std::vector<std::string>{R"("")", R"("a\u0000b")", R"("tab\there")", R"("new\nline")", R"("\u001f")",
                                R"("del\u007f")", R"("c1\u0085")", R"("c1\u009f")", "\"" + std::string(129, 'a') + "\"",
                                "\"" + std::string(43, 'a') + std::string(43, '\x01') + "\"",
                                "null", "42", R"(["alice"])", R"({"name":"alice"})"}) {
    INFO("sub: " << sub);
    const jwt_refusal why = refusal_of(verifier, token_for(sub));
    // A raw control character is not even valid JSON.
    CHECK((why == jwt_refusal::invalid_subject || why == jwt_refusal::bad_claims));
  }
  CHECK(refusal_of(verifier, token_for(R"("a\u0001")")) == jwt_refusal::invalid_subject);
  CHECK(refusal_of(verifier, hs256_token(hs256_header, R"({"exp":)" + seconds_from_now(60) + "}")) ==
        jwt_refusal::invalid_subject);
  // The limits themselves are fine: 128 bytes, a four-byte character, U+00A0.
  CHECK(verifier.verify(token_for("\"" + std::string(128, 'a') + "\""), now).ok());
  CHECK(verifier.verify(token_for("\"" + std::string(124, 'a') + "\xf0\x9f\x98\x80\""), now).ok());
  CHECK(verifier.verify(token_for(R"("nb\u00a0sp")"), now).claims().subject == "nb\xc2\xa0sp");
}

TEST_CASE("roles are an array of strings, or absent", "[jwt]") {
  const auto verifier = hs256_verifier();
  const auto roles_of = [&](std::string_view roles_json) {
    return verifier.verify(hs256_token(hs256_header, claims("\"roles\":" + std::string(roles_json))), now);
  };
  CHECK(verifier.verify(hs256_token(hs256_header, claims()), now).claims().roles.empty());
  CHECK(roles_of("[]").claims().roles.empty());
  CHECK(roles_of(R"(["admin"])").claims().roles == std::vector<std::string>{"admin"});
  CHECK(roles_of(R"(["a","b","a"])").claims().roles == std::vector<std::string>{"a", "b", "a"});
  for (const std::string& bad : std::vector<std::string>{R"("admin")", "null", "1", R"({"admin":true})", R"(["admin",1])", R"([null])",
                                R"([["admin"]])", R"(["admin",{}])", R"([true,"admin"])"}) {
    INFO("roles: " << bad);
    CHECK(roles_of(bad).refusal() == jwt_refusal::bad_claims);
  }
}

TEST_CASE("iss and aud are checked when configured", "[jwt]") {
  sb::jwt_verify_options options;
  options.issuer = "https://issuer.example";
  options.audience = "switchboard";
  const auto verifier = hs256_verifier(options);
  const auto plain = hs256_verifier();
  const auto token_with = [](std::string_view extra) { return hs256_token(hs256_header, claims(extra)); };
  const std::string iss = R"("iss":"https://issuer.example")";

  CHECK(verifier.verify(token_with(iss + R"(,"aud":"switchboard")"), now).ok());
  CHECK(verifier.verify(token_with(iss + R"(,"aud":["other","switchboard"])"), now).ok());
  CHECK(refusal_of(verifier, token_with(R"("aud":"switchboard")")) == jwt_refusal::wrong_issuer);
  CHECK(refusal_of(verifier, token_with(R"("iss":"https://evil.example","aud":"switchboard")")) ==
        jwt_refusal::wrong_issuer);
  CHECK(refusal_of(verifier, token_with(iss)) == jwt_refusal::wrong_audience);
  CHECK(refusal_of(verifier, token_with(iss + R"(,"aud":"other")")) == jwt_refusal::wrong_audience);
  CHECK(refusal_of(verifier, token_with(iss + R"(,"aud":["other"])")) == jwt_refusal::wrong_audience);
  CHECK(refusal_of(verifier, token_with(iss + R"(,"aud":[])")) == jwt_refusal::wrong_audience);
  CHECK(refusal_of(verifier, token_with(iss + R"(,"aud":"SWITCHBOARD")")) == jwt_refusal::wrong_audience);
  CHECK(refusal_of(verifier, token_with(iss + R"(,"aud":1)")) == jwt_refusal::bad_claims);
  CHECK(refusal_of(verifier, token_with(R"("iss":["https://issuer.example"],"aud":"switchboard")")) ==
        jwt_refusal::bad_claims);

  // Without configured values: any iss is fine, but a token meant for an audience is
  // meant for someone else.
  CHECK(plain.verify(token_with(R"("iss":"anyone")"), now).claims().issuer == std::string("anyone"));
  CHECK(refusal_of(plain, token_with(R"("aud":"switchboard")")) == jwt_refusal::wrong_audience);
}

TEST_CASE("random, truncated and mutated tokens never crash and are always refused", "[jwt]") {
  const ed25519_pair keys;
  const sb::jwt_verifier hs256 = hs256_verifier();
  const sb::jwt_verifier eddsa(sb::jwt_key::ed25519_public_key(keys.public_key));
  const std::string good_hs = hs256_token(hs256_header, claims(R"("roles":["admin"],"aud":null)"));
  const std::string good_ed = eddsa_token(eddsa_header, claims(R"("roles":["admin"])"), keys);
  REQUIRE(eddsa.verify(good_ed, now).ok());
  std::mt19937 random(20261207);  // fixed: a failure reproduces

  const auto refused_by_both = [&](const std::string& token) {
    INFO("token: " << token);
    CHECK_FALSE(hs256.verify(token, now).ok());
    CHECK_FALSE(eddsa.verify(token, now).ok());
  };
  SECTION("every proper prefix of a valid token") {
    for (const std::string* good : {&good_hs, &good_ed})
      for (std::size_t n = 0; n < good->size(); ++n) refused_by_both(good->substr(0, n));
  }
  SECTION("one character of a valid token replaced, inserted or removed") {
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00\xff";
    for (int round = 0; round < 3000; ++round) {
      std::string token = round % 2 ? good_hs : good_ed;
      const std::size_t at = random() % token.size();
      const char c = alphabet[random() % alphabet.size()];
      switch (random() % 3) {
        case 0:
          if (token[at] == c) continue;
          token[at] = c;
          break;
        case 1: token.insert(at, 1, c); break;
        default: token.erase(at, 1);
      }
      refused_by_both(token);
    }
  }
  SECTION("random bytes, random base64url and random three-part tokens") {
    const std::string b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int round = 0; round < 3000; ++round) {
      std::string token;
      const std::size_t size = random() % 600;
      switch (round % 3) {
        case 0:
          for (std::size_t i = 0; i < size; ++i) token.push_back(static_cast<char>(random() & 0xFF));
          break;
        case 1:
          for (std::size_t i = 0; i < size; ++i) token.push_back(random() % 40 == 0 ? '.' : b64[random() % 64]);
          break;
        default: {
          // Random JSON-ish text in the header and claims, so the parsers see more than base64.
          const std::string json_chars = "{}[]\",:0123456789.eE-+truefalsnl \\u\"alg\"\"sub\"\"exp\"\"HS256\"";
          std::string header_json, claims_json;
          for (std::size_t i = 0; i < size / 2; ++i) header_json.push_back(json_chars[random() % json_chars.size()]);
          for (std::size_t i = 0; i < size / 2; ++i) claims_json.push_back(json_chars[random() % json_chars.size()]);
          token = hs256_token(random() % 2 ? std::string(hs256_header) : header_json, claims_json);
        }
      }
      refused_by_both(token);
    }
  }
}

TEST_CASE("jwt_auth on a hub: the token's sub and roles become the identity, bad tokens are refused with 401",
          "[jwt]") {
  using jwt_hub = sb::basic_hub<sb::policies<sb::jwt_auth>>;
  asio::io_context io;
  jwt_hub hub{io, sb::config{}, sb::jwt_auth{hs256_verifier()}};
  sb::memory_transport transport{hub};

  const std::string good =
      sign_jwt(sb::jwt_key::hs256(secret),
               sb::jwt_claims{"alice", {"admin"}, std::chrono::time_point_cast<std::chrono::seconds>(
                                                      std::chrono::system_clock::now() + std::chrono::hours(1))});
  // What the hub holds for a connection, as a command handler sees it.
  sb::identity seen;
  hub.handlers().add_command("whoami", [&seen](jwt_hub::request_context& ctx) {
    seen = ctx.who();
    return sb::command_result::ok("null");
  });
  const sb::connection_id alice = transport.connect(good);
  REQUIRE(alice != 0);
  transport.receive_text(alice, R"({"type":"command","id":1,"name":"whoami"})");
  io.poll();
  CHECK(seen.user == std::string("alice"));
  CHECK(seen.roles == std::vector<std::string>{"admin"});
  CHECK(seen.has_role("admin"));
  CHECK_FALSE(seen.has_role("ops"));

  for (const std::string& bad : std::vector<std::string>{std::string(), std::string("alice"), hs256_token(hs256_header, claims(), "wrong"),
                                std::string(9000, 'a')}) {
    CHECK(transport.connect(bad) == 0);
    CHECK(transport.last_refusal().http_status == 401);
    CHECK_FALSE(transport.last_refusal().reason.empty());
    if (!bad.empty()) CHECK(transport.last_refusal().reason.find(bad) == std::string::npos);
  }
}
