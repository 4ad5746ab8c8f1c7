// JSON Web Tokens (RFC 7519) in JWS compact serialization (RFC 7515), signed with HS256
// (HMAC-SHA-256) or EdDSA (Ed25519, RFC 8037) through libsodium: verified for the
// `jwt_auth` policy, and issued by servers that log users in.
//
// Link switchboard::security (or switchboard::switchboard) to get libsodium.
#ifndef SWITCHBOARD_JWT_HPP
#define SWITCHBOARD_JWT_HPP

#include <switchboard/detail/base64.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/detail/jwt_json.hpp>
#include <switchboard/detail/utf8.hpp>

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

/// The signature algorithms switchboard verifies and issues. Which one a verifier
/// accepts is fixed by its key, never read from a token.
enum class jwt_algorithm : std::uint8_t {
  hs256,  ///< HMAC-SHA-256 with a shared secret (`"alg":"HS256"`)
  eddsa,  ///< Ed25519 (`"alg":"EdDSA"`, RFC 8037)
};

/// The `alg` header value of `a`.
constexpr std::string_view jwt_algorithm_name(jwt_algorithm a) noexcept {
  return a == jwt_algorithm::hs256 ? "HS256" : "EdDSA";
}

/// A point in time as JWT claims carry it: whole seconds since the Unix epoch.
using jwt_time = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;

/// The claims switchboard reads from a token (and writes into the tokens it issues).
struct jwt_claims {
  std::string subject;                 ///< `sub`: the user id (PROTOCOL section 1)
  std::vector<std::string> roles{};    ///< `roles`: the connection's roles
  std::optional<jwt_time> expires_at{};  ///< `exp`
  std::optional<jwt_time> not_before{};  ///< `nbf`
  std::optional<jwt_time> issued_at{};   ///< `iat`
  std::optional<std::string> issuer{};   ///< `iss`
  std::vector<std::string> audience{};   ///< `aud`; a single string in a token reads as one element
};

namespace detail {

/// Initializes libsodium once per process (sodium_init is idempotent and thread-safe,
/// and must precede every other libsodium call).
inline void require_sodium() {
  static const int status = sodium_init();
  if (status < 0) throw std::runtime_error("switchboard: libsodium could not be initialized");
}

inline const unsigned char* bytes_of(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace detail

/// A signing or verification key together with its algorithm. Key bytes live in one
/// block shared by copies and wiped (sodium_memzero) when the last copy goes.
///
/// Thread safety: immutable once made; safe to use from any thread.
class jwt_key {
 public:
  static constexpr std::size_t ed25519_public_key_bytes = crypto_sign_PUBLICKEYBYTES;
  static constexpr std::size_t ed25519_seed_bytes = crypto_sign_SEEDBYTES;
  static constexpr std::size_t ed25519_secret_key_bytes = crypto_sign_SECRETKEYBYTES;

  /// An HS256 key: `secret`'s bytes, which sign and verify. RFC 7518 asks for at least
  /// 32 random bytes; any non-empty secret is taken. Throws std::invalid_argument when
  /// `secret` is empty.
  static jwt_key hs256(std::string_view secret) {
    if (secret.empty()) throw std::invalid_argument("switchboard: an HS256 secret must not be empty");
    detail::require_sodium();
    auto m = std::make_shared<material>(jwt_algorithm::hs256, true);
    // The keyed state is computed once; each use continues a copy of it.
    crypto_auth_hmacsha256_init(&m->hmac, detail::bytes_of(secret), secret.size());
    return jwt_key(std::move(m));
  }

  /// An EdDSA key that only verifies: the raw 32-byte Ed25519 public key. Throws
  /// std::invalid_argument when it has another size or is not a valid Ed25519 point.
  static jwt_key ed25519_public_key(std::string_view public_key) {
    if (public_key.size() != ed25519_public_key_bytes)
      throw std::invalid_argument("switchboard: an Ed25519 public key is 32 bytes");
    detail::require_sodium();
    if (crypto_core_ed25519_is_valid_point(detail::bytes_of(public_key)) != 1)
      throw std::invalid_argument("switchboard: not a valid Ed25519 public key");
    auto m = std::make_shared<material>(jwt_algorithm::eddsa, false);
    std::memcpy(m->public_key, public_key.data(), ed25519_public_key_bytes);
    return jwt_key(std::move(m));
  }

  /// `ed25519_public_key` of the bytes `text` holds in standard base64 (RFC 4648 section
  /// 4, padded), as keys are written in configuration and JSON. Throws
  /// std::invalid_argument when `text` is not that, or not of 32 bytes.
  static jwt_key ed25519_public_key_base64(std::string_view text) {
    std::string raw;
    if (text.size() > 64 || !detail::decode_base64(text, raw))
      throw std::invalid_argument("switchboard: an Ed25519 public key must be the standard base64 of 32 bytes");
    return ed25519_public_key(raw);
  }

  /// An EdDSA key that signs and verifies: the 32-byte seed (RFC 8032's private key) or
  /// libsodium's 64-byte secret key (the seed, then the public key). Throws
  /// std::invalid_argument for another size, or when a 64-byte key's public half does
  /// not belong to its seed.
  static jwt_key ed25519_secret_key(std::string_view secret_key) {
    if (secret_key.size() != ed25519_seed_bytes && secret_key.size() != ed25519_secret_key_bytes)
      throw std::invalid_argument("switchboard: an Ed25519 secret key is a 32-byte seed or 64 bytes");
    detail::require_sodium();
    auto m = std::make_shared<material>(jwt_algorithm::eddsa, true);
    crypto_sign_seed_keypair(m->public_key, m->secret_key, detail::bytes_of(secret_key));
    if (secret_key.size() == ed25519_secret_key_bytes &&
        sodium_memcmp(m->public_key, detail::bytes_of(secret_key) + ed25519_seed_bytes, ed25519_public_key_bytes) != 0)
      throw std::invalid_argument("switchboard: the Ed25519 secret key's public half does not match its seed");
    return jwt_key(std::move(m));
  }

  /// `ed25519_secret_key` of the bytes `text` holds in standard base64 (padded). Throws
  /// std::invalid_argument when `text` is not that, or not of 32 or 64 bytes.
  static jwt_key ed25519_secret_key_base64(std::string_view text) {
    std::string raw;
    const bool decoded = text.size() <= 88 && detail::decode_base64(text, raw);
    struct wipe {
      std::string& bytes;
      ~wipe() { sodium_memzero(&bytes[0], bytes.size()); }
    } const wiped{raw};
    if (!decoded)
      throw std::invalid_argument("switchboard: an Ed25519 secret key must be the standard base64 of 32 or 64 bytes");
    return ed25519_secret_key(raw);
  }

  jwt_algorithm algorithm() const noexcept { return material_->algorithm; }
  /// False for a key made from an Ed25519 public key.
  bool can_sign() const noexcept { return material_->can_sign; }
  /// The signature's size in bytes: 32 for HS256, 64 for EdDSA.
  std::size_t signature_size() const noexcept {
    return algorithm() == jwt_algorithm::hs256 ? crypto_auth_hmacsha256_BYTES : crypto_sign_BYTES;
  }

  /// True when `signature` is this key's signature of `message`. The MAC is compared in
  /// constant time.
  bool verify(std::string_view message, std::string_view signature) const noexcept {
    if (signature.size() != signature_size()) return false;
    if (algorithm() == jwt_algorithm::eddsa)
      return crypto_sign_verify_detached(detail::bytes_of(signature), detail::bytes_of(message), message.size(),
                                         material_->public_key) == 0;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    hmac(message, mac);
    const bool equal = sodium_memcmp(mac, detail::bytes_of(signature), sizeof mac) == 0;
    sodium_memzero(mac, sizeof mac);
    return equal;
  }

  /// This key's signature of `message`. Throws std::logic_error when the key cannot sign.
  std::string sign(std::string_view message) const {
    if (!can_sign()) throw std::logic_error("switchboard: this JWT key only verifies (an Ed25519 public key)");
    std::string signature(signature_size(), '\0');
    auto* out = reinterpret_cast<unsigned char*>(&signature[0]);
    if (algorithm() == jwt_algorithm::eddsa)
      crypto_sign_detached(out, nullptr, detail::bytes_of(message), message.size(), material_->secret_key);
    else
      hmac(message, out);
    return signature;
  }

 private:
  struct material {
    material(jwt_algorithm a, bool signs) noexcept : algorithm(a), can_sign(signs) {}
    material(const material&) = delete;
    material& operator=(const material&) = delete;
    ~material() {
      sodium_memzero(&hmac, sizeof hmac);
      sodium_memzero(secret_key, sizeof secret_key);
    }

    jwt_algorithm algorithm;
    bool can_sign;
    crypto_auth_hmacsha256_state hmac{};                      // HS256: keyed with the secret
    unsigned char public_key[crypto_sign_PUBLICKEYBYTES]{};   // EdDSA
    unsigned char secret_key[crypto_sign_SECRETKEYBYTES]{};   // EdDSA, when it signs
  };

  explicit jwt_key(std::shared_ptr<const material> m) noexcept : material_(std::move(m)) {}

  void hmac(std::string_view message, unsigned char* mac) const noexcept {
    crypto_auth_hmacsha256_state state = material_->hmac;
    crypto_auth_hmacsha256_update(&state, detail::bytes_of(message), message.size());
    crypto_auth_hmacsha256_final(&state, mac);
    sodium_memzero(&state, sizeof state);
  }

  std::shared_ptr<const material> material_;
};

/// What a verifier checks besides the signature.
struct jwt_verify_options {
  /// Clock skew allowed when checking `exp` and `nbf`. Must not be negative.
  std::chrono::seconds leeway{0};
  /// Longer tokens are refused before any decoding (a handshake carries at most 8 KiB).
  std::size_t max_token_bytes = 8192;
  /// Refuse tokens without `exp`: a token that never expires cannot be taken back.
  bool require_expiry = true;
  /// When set, `iss` must equal it.
  std::optional<std::string> issuer{};
  /// When set, `aud` must name it. When not set, a token carrying `aud` is refused: it
  /// was meant for some other service (RFC 7519 section 4.1.3).
  std::optional<std::string> audience{};
};

/// Why a token was refused. The reasons never quote the token.
enum class jwt_refusal : std::uint8_t {
  too_large,          ///< longer than `max_token_bytes`
  malformed,          ///< not three base64url parts joined by dots
  bad_header,         ///< the header is not a JSON object with a string `alg`
  wrong_algorithm,    ///< `alg` is not the configured algorithm (`none` included)
  critical_header,    ///< `crit` names extensions, which are not supported
  bad_signature,      ///< the signature does not verify with the configured key
  bad_claims,         ///< the claims are not a JSON object, or a claim has the wrong type
  invalid_subject,    ///< `sub` is missing or not a valid user id
  missing_expiry,     ///< no `exp`, and the verifier requires one
  expired,            ///< past `exp` (plus the leeway)
  not_yet_valid,      ///< before `nbf` (minus the leeway)
  wrong_issuer,       ///< `iss` is not the configured issuer
  wrong_audience,     ///< `aud` does not name the configured audience
};

/// A short English description of `r`, for refusals and logs.
constexpr std::string_view jwt_refusal_reason(jwt_refusal r) noexcept {
  switch (r) {
    case jwt_refusal::too_large: return "token too large";
    case jwt_refusal::malformed: return "token is not a compact JWS";
    case jwt_refusal::bad_header: return "token header is not valid";
    case jwt_refusal::wrong_algorithm: return "token algorithm not accepted";
    case jwt_refusal::critical_header: return "token has critical header extensions";
    case jwt_refusal::bad_signature: return "token signature does not verify";
    case jwt_refusal::bad_claims: return "token claims are not valid";
    case jwt_refusal::invalid_subject: return "token subject is not a valid user id";
    case jwt_refusal::missing_expiry: return "token has no expiry";
    case jwt_refusal::expired: return "token expired";
    case jwt_refusal::not_yet_valid: return "token not yet valid";
    case jwt_refusal::wrong_issuer: return "token issuer not accepted";
    case jwt_refusal::wrong_audience: return "token audience not accepted";
  }
  return "token refused";
}

/// The outcome of verifying a token: its claims, or why it was refused.
class jwt_result {
 public:
  static jwt_result accept(jwt_claims claims) { return jwt_result(std::move(claims)); }
  static jwt_result refuse(jwt_refusal why) { return jwt_result(why); }

  bool ok() const noexcept { return claims_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  /// The verified claims. Only when ok().
  const jwt_claims& claims() const& { return *claims_; }
  jwt_claims&& claims() && { return std::move(*claims_); }
  /// Why the token was refused. Only when !ok().
  jwt_refusal refusal() const noexcept { return refusal_; }
  /// jwt_refusal_reason(refusal()), or empty when ok().
  std::string_view reason() const noexcept { return ok() ? std::string_view() : jwt_refusal_reason(refusal_); }

 private:
  explicit jwt_result(jwt_claims claims) : claims_(std::move(claims)) {}
  explicit jwt_result(jwt_refusal why) noexcept : refusal_(why) {}

  std::optional<jwt_claims> claims_;
  jwt_refusal refusal_ = jwt_refusal::bad_claims;  // meaningless while claims_ holds a value
};

/// Verifies compact JWS tokens with one key and its algorithm.
///
/// Checks, in order: the size limit; three base64url parts (strict: no padding, no stray
/// bits); a JSON object header whose `alg` is the key's algorithm and without `crit`; the
/// signature, in constant time; then the claims, a JSON object: `sub` a valid user id,
/// `roles` an array of strings, `exp`/`nbf`/`iat` numbers, `iss` a string, `aud` a
/// string or an array of strings; then time (`exp`, `nbf` with the leeway), issuer and
/// audience. JSON is parsed iteratively, at most `detail::max_jwt_json_depth` deep, and
/// a member switchboard reads may appear only once.
///
/// Thread safety: `verify` is const and safe from any thread.
///
/// Example:
/// @code
/// switchboard::jwt_verifier verifier{switchboard::jwt_key::hs256(secret)};
/// if (auto result = verifier.verify(token)) use(result.claims().subject);
/// else log(result.reason());
/// @endcode
class jwt_verifier {
 public:
  /// Throws std::invalid_argument for a negative leeway.
  explicit jwt_verifier(jwt_key key, jwt_verify_options options = {}) : key_(std::move(key)), options_(std::move(options)) {
    if (options_.leeway.count() < 0) throw std::invalid_argument("switchboard: the JWT leeway must not be negative");
    // Claimed times are bounded (see time_of), so sums with this never overflow.
    options_.leeway = std::min(options_.leeway, std::chrono::seconds(max_seconds));
  }

  /// Verifies `token` as of now.
  jwt_result verify(std::string_view token) const {
    return verify(token, std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()));
  }

  /// Verifies `token` as of `now`.
  jwt_result verify(std::string_view token, jwt_time now) const {
    if (token.size() > options_.max_token_bytes) return jwt_result::refuse(jwt_refusal::too_large);
    const std::size_t first_dot = token.find('.');
    const std::size_t second_dot = first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
    if (second_dot == std::string_view::npos || token.find('.', second_dot + 1) != std::string_view::npos)
      return jwt_result::refuse(jwt_refusal::malformed);
    const std::string_view header_part = token.substr(0, first_dot);
    const std::string_view payload_part = token.substr(first_dot + 1, second_dot - first_dot - 1);
    const std::string_view signature_part = token.substr(second_dot + 1);

    std::string header;
    if (!detail::decode_base64(header_part, header, detail::base64_variant::url))
      return jwt_result::refuse(jwt_refusal::malformed);
    static constexpr std::array<std::string_view, 2> header_names = {"alg", "crit"};
    std::array<detail::json_member, 2> header_members;
    if (!detail::read_json_members(header, header_names, header_members) ||
        header_members[0].kind != detail::json_member_kind::string)
      return jwt_result::refuse(jwt_refusal::bad_header);
    if (header_members[0].text != jwt_algorithm_name(key_.algorithm()))
      return jwt_result::refuse(jwt_refusal::wrong_algorithm);
    // RFC 7515 4.1.11: extensions listed in `crit` must be understood; none are.
    if (header_members[1].kind != detail::json_member_kind::absent)
      return jwt_result::refuse(jwt_refusal::critical_header);

    std::string signature;
    if (!detail::decode_base64(signature_part, signature, detail::base64_variant::url))
      return jwt_result::refuse(jwt_refusal::malformed);
    if (!key_.verify(token.substr(0, second_dot), signature)) return jwt_result::refuse(jwt_refusal::bad_signature);

    std::string payload;
    if (!detail::decode_base64(payload_part, payload, detail::base64_variant::url))
      return jwt_result::refuse(jwt_refusal::malformed);
    return check_claims(payload, now);
  }

  const jwt_key& key() const noexcept { return key_; }
  const jwt_verify_options& options() const noexcept { return options_; }

 private:
  // Claimed times beyond ±2^53 s (285 million years) are refused, which keeps every
  // sum and difference below well inside int64.
  static constexpr std::int64_t max_seconds = std::int64_t(1) << 53;

  enum claim : std::size_t { sub, roles, exp, nbf, iat, iss, aud, claim_count };

  // A NumericDate (RFC 7519 section 2): seconds, possibly fractional, within range.
  static bool time_of(const detail::json_member& m, std::optional<jwt_time>& out) {
    std::int64_t seconds = 0;
    if (m.kind == detail::json_member_kind::absent) return true;
    if (m.kind == detail::json_member_kind::integer) {
      seconds = m.integer;
    } else if (m.kind == detail::json_member_kind::real) {
      if (!(std::fabs(m.real) <= static_cast<double>(max_seconds))) return false;  // NaN too
      seconds = static_cast<std::int64_t>(std::floor(m.real));
    } else {
      return false;
    }
    if (seconds > max_seconds || seconds < -max_seconds) return false;
    out = jwt_time(std::chrono::seconds(seconds));
    return true;
  }

  jwt_result check_claims(std::string_view payload, jwt_time now) const {
    using kind = detail::json_member_kind;
    static constexpr std::array<std::string_view, claim_count> names = {"sub", "roles", "exp", "nbf",
                                                                         "iat", "iss",   "aud"};
    std::array<detail::json_member, claim_count> m;
    if (!detail::read_json_members(payload, names, m)) return jwt_result::refuse(jwt_refusal::bad_claims);

    jwt_claims claims;
    const bool shapes_ok = (m[roles].kind == kind::absent || m[roles].kind == kind::string_array) &&
                           (m[iss].kind == kind::absent || m[iss].kind == kind::string) &&
                           (m[aud].kind == kind::absent || m[aud].kind == kind::string ||
                            m[aud].kind == kind::string_array) &&
                           time_of(m[exp], claims.expires_at) && time_of(m[nbf], claims.not_before) &&
                           time_of(m[iat], claims.issued_at);
    if (!shapes_ok) return jwt_result::refuse(jwt_refusal::bad_claims);
    if (m[sub].kind != kind::string || !detail::is_valid_user_id(m[sub].text))
      return jwt_result::refuse(jwt_refusal::invalid_subject);

    if (!claims.expires_at && options_.require_expiry) return jwt_result::refuse(jwt_refusal::missing_expiry);
    if (claims.expires_at && now - options_.leeway >= *claims.expires_at)
      return jwt_result::refuse(jwt_refusal::expired);
    if (claims.not_before && now + options_.leeway < *claims.not_before)
      return jwt_result::refuse(jwt_refusal::not_yet_valid);

    if (m[iss].kind == kind::string) claims.issuer = std::move(m[iss].text);
    if (options_.issuer && claims.issuer != options_.issuer) return jwt_result::refuse(jwt_refusal::wrong_issuer);

    if (m[aud].kind == kind::string) claims.audience.push_back(std::move(m[aud].text));
    if (m[aud].kind == kind::string_array) claims.audience = std::move(m[aud].strings);
    // Without a configured audience, any `aud` names someone else.
    if ((m[aud].kind != kind::absent || options_.audience) &&
        (!options_.audience ||
         std::find(claims.audience.begin(), claims.audience.end(), *options_.audience) == claims.audience.end()))
      return jwt_result::refuse(jwt_refusal::wrong_audience);

    claims.subject = std::move(m[sub].text);
    claims.roles = std::move(m[roles].strings);
    return jwt_result::accept(std::move(claims));
  }

  jwt_key key_;
  jwt_verify_options options_;
};

/// Issues a token: `claims` signed with `key` as a compact JWS (header
/// `{"alg":..,"typ":"JWT"}`). Empty `roles` and `audience` are left out; one audience is
/// written as a string. Throws std::invalid_argument when `claims.subject` is not a
/// valid user id or a time is out of range, std::logic_error when `key` cannot sign.
inline std::string sign_jwt(const jwt_key& key, const jwt_claims& claims) {
  if (!detail::is_valid_user_id(claims.subject))
    throw std::invalid_argument("switchboard: a token's subject must be a valid user id");
  std::string payload = "{\"sub\":";
  detail::append_json_string(payload, claims.subject);
  const auto append_string_list = [&payload](const std::vector<std::string>& list) {
    payload.push_back('[');
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (i) payload.push_back(',');
      detail::append_json_string(payload, list[i]);
    }
    payload.push_back(']');
  };
  if (!claims.roles.empty()) {
    payload += ",\"roles\":";
    append_string_list(claims.roles);
  }
  const auto append_time = [&payload](std::string_view name, const std::optional<jwt_time>& t) {
    if (!t) return;
    const std::int64_t seconds = t->time_since_epoch().count();
    if (seconds > (std::int64_t(1) << 53) || seconds < -(std::int64_t(1) << 53))
      throw std::invalid_argument("switchboard: a token time is out of range");
    payload += ",\"";
    payload += name;
    payload += "\":";
    if (seconds < 0) payload.push_back('-');
    detail::append_uint(payload, static_cast<std::uint64_t>(seconds < 0 ? -seconds : seconds));
  };
  append_time("exp", claims.expires_at);
  append_time("nbf", claims.not_before);
  append_time("iat", claims.issued_at);
  if (claims.issuer) {
    payload += ",\"iss\":";
    detail::append_json_string(payload, *claims.issuer);
  }
  if (claims.audience.size() == 1) {
    payload += ",\"aud\":";
    detail::append_json_string(payload, claims.audience.front());
  } else if (!claims.audience.empty()) {
    payload += ",\"aud\":";
    append_string_list(claims.audience);
  }
  payload.push_back('}');

  std::string header = "{\"alg\":\"";
  header += jwt_algorithm_name(key.algorithm());
  header += "\",\"typ\":\"JWT\"}";

  std::string token;
  detail::append_base64(token, header, detail::base64_variant::url);
  token.push_back('.');
  detail::append_base64(token, payload, detail::base64_variant::url);
  const std::string signature = key.sign(token);
  token.push_back('.');
  detail::append_base64(token, signature, detail::base64_variant::url);
  return token;
}

}  // namespace switchboard

#endif
