// libFuzzer target for jwt_verifier::verify: whatever the bytes, verification answers
// (accepted, or refused with a reason) without crashing, and answers the same twice. A
// token it accepts is one a plain reading of the rules accepts too: within the size
// limit, three base64url parts, a header naming the key's algorithm and no `crit`, a
// signature that libsodium verifies on its own, and claims that RapidJSON's DOM reads as
// the same subject, roles and audience, with times that pass the configured checks; cut
// short or extended by one character, it is refused.
//
// Input: byte 0 is settings: bit 0 the key (HS256 or EdDSA), bit 1 the mode, bit 2
// whether an issuer and an audience are required, bit 3 whether `exp` may be missing,
// bits 4-5 the leeway (0, 30 s, an hour, 2^62 s). The rest, in mode 0, is the token as
// a client sends it (its signature is almost never right, so this mode fuzzes the
// framing, the header and the signature check); in mode 1, the header's JSON, a NUL
// byte and the claims' JSON, which the target encodes and signs with the key, so the
// claims reader is fuzzed behind a valid signature.
#include <switchboard/detail/base64.hpp>
#include <switchboard/detail/utf8.hpp>
#include <switchboard/jwt.hpp>

#include <rapidjson/document.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sb = switchboard;

namespace {

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

const std::string hs256_secret = "fuzz_jwt secret, thirty-two bytes long";
constexpr std::int64_t now_s = 1700000000;

// Fixed keys, so that a crash reproduces: the Ed25519 pair grows from a constant seed.
struct keys {
  sb::jwt_key hs256 = sb::jwt_key::hs256(hs256_secret);
  unsigned char ed_public[crypto_sign_PUBLICKEYBYTES]{};
  unsigned char ed_secret[crypto_sign_SECRETKEYBYTES]{};
  std::optional<sb::jwt_key> eddsa_signer, eddsa_verifier;

  keys() {
    require(sodium_init() >= 0, "libsodium initialises");
    const unsigned char seed[crypto_sign_SEEDBYTES] = {7};
    crypto_sign_seed_keypair(ed_public, ed_secret, seed);
    eddsa_signer = sb::jwt_key::ed25519_secret_key(
        std::string_view(reinterpret_cast<const char*>(ed_secret), sizeof ed_secret));
    eddsa_verifier = sb::jwt_key::ed25519_public_key(
        std::string_view(reinterpret_cast<const char*>(ed_public), sizeof ed_public));
  }
};

const keys& fixed_keys() {
  static const keys k;
  return k;
}

// base64url without padding, read leniently: enough to look at what was accepted.
std::optional<std::string> lenient_base64url(std::string_view text) {
  std::string out;
  unsigned bits = 0, value = 0;
  for (const char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    if (v < 0) return std::nullopt;
    value = (value << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
    }
  }
  return out;
}

std::string base64url(std::string_view bytes) {
  std::string out;
  sb::detail::append_base64(out, bytes, sb::detail::base64_variant::url);
  return out;
}

bool libsodium_verifies(bool eddsa, std::string_view message, std::string_view signature) {
  const auto* m = reinterpret_cast<const unsigned char*>(message.data());
  const auto* s = reinterpret_cast<const unsigned char*>(signature.data());
  if (eddsa)
    return signature.size() == crypto_sign_BYTES &&
           crypto_sign_verify_detached(s, m, message.size(), fixed_keys().ed_public) == 0;
  // The streaming interface: the one-shot call takes only 32-byte keys.
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(hs256_secret.data()),
                              hs256_secret.size());
  crypto_auth_hmacsha256_update(&state, m, message.size());
  crypto_auth_hmacsha256_final(&state, mac);
  return signature.size() == sizeof mac && sodium_memcmp(mac, s, sizeof mac) == 0;
}

std::optional<std::int64_t> seconds_of(const rapidjson::Value& v) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsNumber()) return static_cast<std::int64_t>(std::floor(v.GetDouble()));
  return std::nullopt;
}

// An accepted token, checked against the documented rules read plainly.
void check_accepted(std::string_view token, const sb::jwt_claims& claims, bool eddsa,
                    const sb::jwt_verify_options& options) {
  require(token.size() <= options.max_token_bytes, "accepted a token over the size limit");
  const std::size_t first = token.find('.');
  const std::size_t second = token.find('.', first + 1);
  require(first != std::string_view::npos && second != std::string_view::npos &&
              token.find('.', second + 1) == std::string_view::npos,
          "accepted a token that is not three parts");
  const auto header = lenient_base64url(token.substr(0, first));
  const auto payload = lenient_base64url(token.substr(first + 1, second - first - 1));
  const auto signature = lenient_base64url(token.substr(second + 1));
  require(header && payload && signature, "accepted a part that is not base64url");
  require(libsodium_verifies(eddsa, token.substr(0, second), *signature),
          "accepted a signature libsodium does not verify");

  rapidjson::Document h;
  h.Parse<rapidjson::kParseIterativeFlag>(header->data(), header->size());
  require(!h.HasParseError() && h.IsObject(), "accepted a header that is not a JSON object");
  require(h.HasMember("alg") && h["alg"].IsString() &&
              std::string_view(h["alg"].GetString(), h["alg"].GetStringLength()) == (eddsa ? "EdDSA" : "HS256"),
          "accepted a header whose alg is not the key's");
  require(!h.HasMember("crit"), "accepted a header with crit");

  rapidjson::Document p;
  p.Parse<rapidjson::kParseIterativeFlag>(payload->data(), payload->size());
  require(!p.HasParseError() && p.IsObject(), "accepted claims that are not a JSON object");
  require(p.HasMember("sub") && p["sub"].IsString() &&
              std::string_view(p["sub"].GetString(), p["sub"].GetStringLength()) == claims.subject,
          "the subject is not the claims' sub");
  require(sb::detail::is_valid_user_id(claims.subject), "accepted a subject that is no valid user id");

  std::vector<std::string> roles;
  if (p.HasMember("roles")) {
    require(p["roles"].IsArray(), "accepted roles that are not an array");
    for (const auto& r : p["roles"].GetArray()) {
      require(r.IsString(), "accepted a role that is not a string");
      roles.emplace_back(r.GetString(), r.GetStringLength());
    }
  }
  require(roles == claims.roles, "the roles are not the claims' roles");

  const std::int64_t leeway = options.leeway.count();
  const auto exp = p.HasMember("exp") ? seconds_of(p["exp"]) : std::nullopt;
  require(!options.require_expiry || exp, "accepted a token without exp");
  require(!exp || now_s - leeway < *exp, "accepted an expired token");
  if (p.HasMember("nbf")) {
    const auto nbf = seconds_of(p["nbf"]);
    require(nbf && now_s + leeway >= *nbf, "accepted a token before its nbf");
  }
  if (options.issuer)
    require(p.HasMember("iss") && p["iss"].IsString() && *options.issuer == p["iss"].GetString(),
            "accepted another issuer");
  if (!options.audience) require(!p.HasMember("aud"), "accepted an aud with no audience configured");
  if (options.audience)
    require(std::find(claims.audience.begin(), claims.audience.end(), *options.audience) != claims.audience.end(),
            "accepted a token for another audience");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t settings = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool eddsa = settings & 0x01;
  const bool signed_by_target = settings & 0x02;

  sb::jwt_verify_options options;
  if (settings & 0x04) {
    options.issuer = "fuzz-issuer";
    options.audience = "fuzz-audience";
  }
  options.require_expiry = !(settings & 0x08);
  static constexpr std::int64_t leeways[] = {0, 30, 3600, std::int64_t(1) << 62};
  options.leeway = std::chrono::seconds(leeways[(settings >> 4) & 0x03]);
  const keys& k = fixed_keys();
  const sb::jwt_verifier verifier{eddsa ? *k.eddsa_verifier : k.hs256, options};
  const sb::jwt_time now{std::chrono::seconds(now_s)};

  std::string token;
  if (signed_by_target) {
    const std::size_t nul = rest.find('\0');
    const std::string_view header = rest.substr(0, nul);
    const std::string_view claims = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
    token = base64url(header) + "." + base64url(claims);
    token += "." + base64url((eddsa ? *k.eddsa_signer : k.hs256).sign(token));
  } else {
    token.assign(rest.data(), rest.size());
  }

  const sb::jwt_result result = verifier.verify(token, now);
  const sb::jwt_result again = verifier.verify(token, now);
  require(result.ok() == again.ok() && (result.ok() || result.refusal() == again.refusal()),
          "the same token verified twice gives two answers");
  if (!result.ok()) {
    require(!result.reason().empty(), "a refusal without a reason");
    return 0;
  }
  check_accepted(token, result.claims(), eddsa, options);

  // Cut short anywhere (a few places) or extended, it no longer verifies.
  for (std::size_t cut : {std::size_t(0), token.size() / 3, token.size() / 2, token.size() - 1}) {
    if (cut >= token.size()) continue;
    require(!verifier.verify(std::string_view(token).substr(0, cut), now).ok(), "a truncated token was accepted");
  }
  require(!verifier.verify(token + "A", now).ok(), "an extended token was accepted");
  return 0;
}
