// End-to-end encryption helpers, for clients: key pairs, direct messages encrypted so
// that only the recipient can read them (libsodium's crypto_box), and Ed25519
// signatures on published messages. The server never encrypts or decrypts anything: it
// routes envelopes as opaque `data`. It verifies signed publishes against the key each
// user registered once `verify_signed_publishes(hub)` is called.
//
// Link switchboard::security (or switchboard::switchboard) to get libsodium.
#ifndef SWITCHBOARD_E2E_HPP
#define SWITCHBOARD_E2E_HPP

#include <switchboard/detail/base64.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/detail/jwt_json.hpp>
#include <switchboard/jwt.hpp>  // detail::require_sodium, detail::bytes_of
#include <switchboard/signed_publish.hpp>
#include <switchboard/store.hpp>
#include <switchboard/topic.hpp>
#include <switchboard/user_keys.hpp>

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace switchboard {

/// The bytes of a secret key, wiped (sodium_memzero) when destroyed; every copy wipes
/// its own. There is no stream operator and no conversion to text, so a secret is never
/// printed or logged by accident: storing one is an explicit act through data() and size().
///
/// Thread safety: as for any value type.
template <std::size_t N>
class secret_bytes {
 public:
  secret_bytes() noexcept = default;
  secret_bytes(const secret_bytes&) noexcept = default;
  secret_bytes& operator=(const secret_bytes&) noexcept = default;
  ~secret_bytes() { sodium_memzero(bytes_, N); }

  unsigned char* data() noexcept { return bytes_; }
  const unsigned char* data() const noexcept { return bytes_; }
  static constexpr std::size_t size() noexcept { return N; }

 private:
  unsigned char bytes_[N]{};
};

namespace detail {

struct x25519_tag {
  static constexpr std::string_view name = "X25519";
};
struct ed25519_tag {
  static constexpr std::string_view name = "Ed25519";
};

inline std::string_view chars_of(const unsigned char* bytes, std::size_t size) noexcept {
  return std::string_view(reinterpret_cast<const char*>(bytes), size);
}

}  // namespace detail

/// A raw 32-byte public key of one algorithm: `x25519_public_key` (encryption) or
/// `ed25519_public_key` (signatures). Two types, so that one kind of key is never used
/// where the other belongs. Public keys are not secret: plain bytes, copied and
/// compared freely.
///
/// Thread safety: as for any value type.
template <class Algorithm>
class basic_public_key {
 public:
  static constexpr std::size_t key_bytes = 32;
  using bytes_type = std::array<unsigned char, key_bytes>;

  /// Any 32 bytes. Whether they are a usable key shows when they are used: encrypting
  /// to, opening from or verifying with bytes that are no key fails.
  explicit basic_public_key(const bytes_type& bytes) noexcept : bytes_(bytes) {}

  /// The key whose raw bytes are `raw`. Throws std::invalid_argument unless `raw` is 32 bytes.
  static basic_public_key from_bytes(std::string_view raw) {
    if (raw.size() != key_bytes)
      throw std::invalid_argument("switchboard: an " + std::string(Algorithm::name) + " public key is 32 bytes");
    bytes_type bytes;
    std::copy(raw.begin(), raw.end(), bytes.begin());
    return basic_public_key(bytes);
  }

  /// The key `text` holds in standard base64 (RFC 4648 section 4, padded), the form
  /// `POST /auth/register` takes and `GET /auth/keys/{user}` returns. Throws
  /// std::invalid_argument when `text` is not the base64 of 32 bytes.
  static basic_public_key from_base64(std::string_view text) {
    std::string raw;
    if (text.size() != base64_chars || !detail::decode_base64(text, raw) || raw.size() != key_bytes)
      throw std::invalid_argument("switchboard: an " + std::string(Algorithm::name) +
                                  " public key must be the standard base64 of 32 bytes");
    return from_bytes(raw);
  }

  const bytes_type& bytes() const noexcept { return bytes_; }
  const unsigned char* data() const noexcept { return bytes_.data(); }

  /// The key in standard base64 (44 characters), as from_base64 reads it.
  std::string to_base64() const {
    std::string text;
    detail::append_base64(text, detail::chars_of(bytes_.data(), key_bytes));
    return text;
  }

  friend bool operator==(const basic_public_key& a, const basic_public_key& b) noexcept { return a.bytes_ == b.bytes_; }
  friend bool operator!=(const basic_public_key& a, const basic_public_key& b) noexcept { return !(a == b); }

 private:
  static constexpr std::size_t base64_chars = (key_bytes + 2) / 3 * 4;

  bytes_type bytes_;
};

/// What direct messages are encrypted to (`x25519_public_key` at `/auth/register`).
using x25519_public_key = basic_public_key<detail::x25519_tag>;
/// What message signatures and login challenges are verified with (`ed25519_public_key`
/// at `/auth/register`).
using ed25519_public_key = basic_public_key<detail::ed25519_tag>;

static_assert(crypto_box_PUBLICKEYBYTES == x25519_public_key::key_bytes, "X25519 public keys are 32 bytes");
static_assert(crypto_sign_PUBLICKEYBYTES == ed25519_public_key::key_bytes, "Ed25519 public keys are 32 bytes");

/// A user's X25519 key pair: others encrypt direct messages to its public key, and the
/// user opens them with its secret key (which also authenticates what the user sends).
///
/// Thread safety: immutable once made; safe to use from any thread.
///
/// Example:
/// @code
/// auto keys = switchboard::x25519_key_pair::generate();
/// register_user(keys.public_key().to_base64());   // x25519_public_key at /auth/register
/// save(keys.secret_key().data(), keys.secret_key().size());  // restore with from_secret_key
/// @endcode
class x25519_key_pair {
 public:
  static constexpr std::size_t secret_key_bytes = crypto_box_SECRETKEYBYTES;

  /// A fresh random pair (crypto_box_keypair).
  static x25519_key_pair generate() {
    detail::require_sodium();
    x25519_key_pair pair;
    crypto_box_keypair(pair.public_key_.data(), pair.secret_key_.data());
    return pair;
  }

  /// The pair whose secret key is `secret_key` (32 bytes, as secret_key() gives them);
  /// its public key is derived. Throws std::invalid_argument for another size.
  static x25519_key_pair from_secret_key(std::string_view secret_key) {
    if (secret_key.size() != secret_key_bytes)
      throw std::invalid_argument("switchboard: an X25519 secret key is 32 bytes");
    detail::require_sodium();
    x25519_key_pair pair;
    std::copy(secret_key.begin(), secret_key.end(), pair.secret_key_.data());
    // What crypto_box_keypair does after drawing the secret key.
    crypto_scalarmult_base(pair.public_key_.data(), pair.secret_key_.data());
    return pair;
  }

  static x25519_key_pair from_secret_key(const secret_bytes<secret_key_bytes>& secret_key) {
    return from_secret_key(detail::chars_of(secret_key.data(), secret_key.size()));
  }

  x25519_public_key public_key() const noexcept { return x25519_public_key(public_key_); }
  /// The secret key, for storing it where only its owner can read it.
  const secret_bytes<secret_key_bytes>& secret_key() const noexcept { return secret_key_; }

 private:
  x25519_key_pair() = default;

  x25519_public_key::bytes_type public_key_{};
  secret_bytes<secret_key_bytes> secret_key_;
};

/// A user's Ed25519 key pair: it proves who the user is (login challenges) and signs
/// published messages. Its public key is `ed25519_public_key` at `/auth/register`.
///
/// Thread safety: immutable once made; safe to use from any thread.
class ed25519_key_pair {
 public:
  static constexpr std::size_t seed_bytes = crypto_sign_SEEDBYTES;
  static constexpr std::size_t signature_bytes = crypto_sign_BYTES;

  /// A fresh random pair (crypto_sign_keypair).
  static ed25519_key_pair generate() {
    detail::require_sodium();
    ed25519_key_pair pair;
    unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_keypair(public_key, pair.secret_key_.data());
    return pair;
  }

  /// The pair grown from `seed` (32 bytes, RFC 8032's private key, as seed() gives
  /// them). Throws std::invalid_argument for another size.
  static ed25519_key_pair from_seed(std::string_view seed) {
    if (seed.size() != seed_bytes) throw std::invalid_argument("switchboard: an Ed25519 seed is 32 bytes");
    detail::require_sodium();
    ed25519_key_pair pair;
    unsigned char public_key[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_seed_keypair(public_key, pair.secret_key_.data(), detail::bytes_of(seed));
    return pair;
  }

  static ed25519_key_pair from_seed(const secret_bytes<seed_bytes>& seed) {
    return from_seed(detail::chars_of(seed.data(), seed.size()));
  }

  ed25519_public_key public_key() const {
    ed25519_public_key::bytes_type bytes;
    crypto_sign_ed25519_sk_to_pk(bytes.data(), secret_key_.data());
    return ed25519_public_key(bytes);
  }

  /// The seed, for storing it where only its owner can read it. jwt_key::ed25519_secret_key
  /// takes it too.
  secret_bytes<seed_bytes> seed() const noexcept {
    secret_bytes<seed_bytes> seed;
    crypto_sign_ed25519_sk_to_seed(seed.data(), secret_key_.data());
    return seed;
  }

  /// The raw 64-byte Ed25519 signature of exactly the bytes of `message`. Prefer
  /// sign_message and sign_login_challenge, which keep what is signed for a publish
  /// and for a login apart.
  std::string sign(std::string_view message) const {
    std::string signature(signature_bytes, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(&signature[0]), nullptr, detail::bytes_of(message),
                         message.size(), secret_key_.data());
    return signature;
  }

 private:
  ed25519_key_pair() = default;

  secret_bytes<crypto_sign_SECRETKEYBYTES> secret_key_;  // libsodium's form: the seed, then the public key
};

// --- direct messages ----------------------------------------------------------------
//
// An encrypted direct message travels as the `data` of a `direct` request (PROTOCOL
// 3.4), one JSON object:
//
//   {"v":1,"alg":"x25519-xsalsa20poly1305","nonce":"<base64>","ciphertext":"<base64>"}
//
// - `nonce`: 24 random bytes, fresh for every message (randombytes_buf).
// - `ciphertext`: crypto_box_easy(sender's X25519 public key (32 bytes) || plaintext,
//   nonce, recipient's public key, sender's secret key): the 16-byte Poly1305 tag, then
//   the encrypted bytes. So it is 48 bytes longer than the plaintext.
// - Both in standard base64 (RFC 4648 section 4, padded). Members come in any order,
//   each at most once; other members are ignored.
//
// Why this construction:
// - crypto_box (X25519 key agreement, XSalsa20 stream, Poly1305 tag) authenticates the
//   sender: only the holder of the sender's or the recipient's secret key can make a
//   box that opens. A sealed box (crypto_box_seal) would hide the sender from the
//   recipient too, so anyone, the server included, could write "from alice".
// - The two parties share one key whichever way a message goes, so a box alone does not
//   say which of the two wrote it: the server could hand alice's message to bob back to
//   alice as if bob had sent it. The sender's public key sealed inside settles it: the
//   opener checks it is the key of the sender it expected.
// - Nonces are 192 random bits: reusing one (which would leak the XOR of two plaintexts)
//   takes about 2^96 messages between the same two keys.
//
// What it does not give: forward secrecy (whoever steals a secret key later reads every
// stored or recorded message to or from it); hiding metadata (the server sees who writes
// to whom, when, and how long each message is: pad the plaintext if lengths matter);
// protection against replay (the server can deliver a message again: put an id or a
// counter in the plaintext if that matters).

/// `v` of the envelopes written and read here.
constexpr int direct_message_envelope_version = 1;
/// `alg` of those envelopes.
constexpr std::string_view direct_message_algorithm = "x25519-xsalsa20poly1305";
/// Envelopes longer than this are refused unread, unless the caller allows more: the
/// default `max_message_bytes` of PROTOCOL section 6, which no frame exceeds.
constexpr std::size_t default_max_envelope_bytes = std::size_t(1) << 20;

/// Encrypts `plaintext` (any bytes) for `recipient`, from `sender`: the envelope to send as
/// a direct's `data`. Throws std::invalid_argument when `recipient` is not a usable
/// X25519 key (a low-order point, such as all zeros), std::length_error for a
/// plaintext past libsodium's limit.
///
/// Thread safety: safe from any thread.
///
/// Example:
/// @code
/// auto bob = switchboard::x25519_public_key::from_base64(keys_of_bob["x25519_public_key"]);
/// std::string envelope = switchboard::encrypt_direct_message(R"({"text":"hi"})", bob, my_keys);
/// send(R"({"type":"direct","to":"bob","data":)" + envelope + "}");
/// @endcode
inline std::string encrypt_direct_message(std::string_view plaintext, const x25519_public_key& recipient,
                                          const x25519_key_pair& sender) {
  if (plaintext.size() > crypto_box_MESSAGEBYTES_MAX - x25519_public_key::key_bytes)
    throw std::length_error("switchboard: a direct message is too long to encrypt");
  detail::require_sodium();
  const x25519_public_key sender_public = sender.public_key();
  std::string sealed_text;
  sealed_text.reserve(x25519_public_key::key_bytes + plaintext.size());
  sealed_text.append(detail::chars_of(sender_public.data(), x25519_public_key::key_bytes));
  sealed_text.append(plaintext);

  unsigned char nonce[crypto_box_NONCEBYTES];
  randombytes_buf(nonce, sizeof nonce);
  std::string boxed(crypto_box_MACBYTES + sealed_text.size(), '\0');
  const int status = crypto_box_easy(reinterpret_cast<unsigned char*>(&boxed[0]), detail::bytes_of(sealed_text),
                                     sealed_text.size(), nonce, recipient.data(), sender.secret_key().data());
  sodium_memzero(&sealed_text[0], sealed_text.size());  // a copy of the plaintext
  // The key agreement gives all zeros for a low-order point, which libsodium refuses.
  if (status != 0)
    throw std::invalid_argument("switchboard: the recipient's X25519 public key is not usable (a low-order point)");

  std::string envelope = "{\"v\":";
  detail::append_uint(envelope, direct_message_envelope_version);
  envelope += ",\"alg\":\"";
  envelope += direct_message_algorithm;
  envelope += "\",\"nonce\":\"";
  detail::append_base64(envelope, detail::chars_of(nonce, sizeof nonce));
  envelope += "\",\"ciphertext\":\"";
  detail::append_base64(envelope, boxed);
  envelope += "\"}";
  return envelope;
}

/// Why an envelope did not open.
enum class decryption_failure : std::uint8_t {
  too_large,      ///< longer than the limit given to decrypt_direct_message
  malformed,      ///< not an envelope: not one JSON object, a member missing, repeated or of
                  ///< the wrong type, not strict standard base64, a nonce not of 24 bytes,
                  ///< a ciphertext too short to hold the tag and the sender's key
  unsupported,    ///< `v` or `alg` names a format this version does not read
  not_authentic,  ///< does not open with these keys: altered, meant for someone else,
                  ///< from another sender, or the opener's own message sent back
};

/// A short English description of `f`, for logs and users.
constexpr std::string_view decryption_failure_reason(decryption_failure f) noexcept {
  switch (f) {
    case decryption_failure::too_large: return "encrypted message too large";
    case decryption_failure::malformed: return "not an encrypted message envelope";
    case decryption_failure::unsupported: return "encrypted message format not supported";
    case decryption_failure::not_authentic: return "encrypted message does not open with these keys";
  }
  return "encrypted message refused";
}

/// The outcome of opening an envelope: the plaintext, or why it did not open.
class decryption_result {
 public:
  static decryption_result opened(std::string plaintext) { return decryption_result(std::move(plaintext)); }
  static decryption_result failed(decryption_failure why) noexcept { return decryption_result(why); }

  bool ok() const noexcept { return plaintext_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  /// The plaintext. Throws std::bad_optional_access when !ok().
  const std::string& plaintext() const& { return plaintext_.value(); }
  std::string&& plaintext() && { return std::move(plaintext_.value()); }
  /// Why the envelope did not open. Only meaningful when !ok().
  decryption_failure failure() const noexcept { return failure_; }
  /// decryption_failure_reason(failure()), or empty when ok().
  std::string_view reason() const noexcept {
    return ok() ? std::string_view() : decryption_failure_reason(failure_);
  }

 private:
  explicit decryption_result(std::string plaintext) : plaintext_(std::move(plaintext)) {}
  explicit decryption_result(decryption_failure why) noexcept : failure_(why) {}

  std::optional<std::string> plaintext_;
  decryption_failure failure_ = decryption_failure::malformed;  // meaningless while plaintext_ holds a value
};

/// Opens `envelope` (the JSON text of a direct's `data`, in any valid JSON spelling)
/// that `sender` encrypted for `recipient`; `sender` is the key of the user the
/// direct's `from` names, as `GET /auth/keys/{user}` gave it. Never throws for bad
/// input: anything but an authentic envelope is a failed result. Envelopes longer than
/// `max_envelope_bytes` are refused before they are parsed; JSON is parsed iteratively
/// and at most 16 levels deep.
///
/// Thread safety: safe from any thread.
///
/// Example:
/// @code
/// auto result = switchboard::decrypt_direct_message(data, alice_public_key, my_keys);
/// if (result) show(result.plaintext()); else warn(result.reason());
/// @endcode
inline decryption_result decrypt_direct_message(std::string_view envelope, const x25519_public_key& sender,
                                                const x25519_key_pair& recipient,
                                                std::size_t max_envelope_bytes = default_max_envelope_bytes) {
  using kind = detail::json_member_kind;
  if (envelope.size() > max_envelope_bytes) return decryption_result::failed(decryption_failure::too_large);
  enum member : std::size_t { version, algorithm, nonce_text, ciphertext_text, member_count };
  static constexpr std::array<std::string_view, member_count> names = {"v", "alg", "nonce", "ciphertext"};
  std::array<detail::json_member, member_count> m;
  if (!detail::read_json_members(envelope, names, m)) return decryption_result::failed(decryption_failure::malformed);
  // Version and algorithm first: another format may have other members.
  if (m[version].kind != kind::integer || m[algorithm].kind != kind::string)
    return decryption_result::failed(decryption_failure::malformed);
  if (m[version].integer != direct_message_envelope_version || m[algorithm].text != direct_message_algorithm)
    return decryption_result::failed(decryption_failure::unsupported);
  if (m[nonce_text].kind != kind::string || m[ciphertext_text].kind != kind::string)
    return decryption_result::failed(decryption_failure::malformed);

  std::string nonce;
  std::string boxed;
  if (!detail::decode_base64(m[nonce_text].text, nonce) || nonce.size() != crypto_box_NONCEBYTES ||
      !detail::decode_base64(m[ciphertext_text].text, boxed) ||
      boxed.size() < crypto_box_MACBYTES + x25519_public_key::key_bytes)
    return decryption_result::failed(decryption_failure::malformed);

  detail::require_sodium();
  std::string plaintext(boxed.size() - crypto_box_MACBYTES, '\0');
  if (crypto_box_open_easy(reinterpret_cast<unsigned char*>(&plaintext[0]), detail::bytes_of(boxed), boxed.size(),
                           detail::bytes_of(nonce), sender.data(), recipient.secret_key().data()) != 0)
    return decryption_result::failed(decryption_failure::not_authentic);
  // The sender's key sealed inside must be the expected sender's: otherwise this is the
  // recipient's own message to `sender`, handed back.
  if (sodium_memcmp(plaintext.data(), sender.data(), x25519_public_key::key_bytes) != 0) {
    sodium_memzero(&plaintext[0], plaintext.size());
    return decryption_result::failed(decryption_failure::not_authentic);
  }
  plaintext.erase(0, x25519_public_key::key_bytes);
  return decryption_result::opened(std::move(plaintext));
}

// --- signed messages ----------------------------------------------------------------
//
// A publish (PROTOCOL 3.3) may carry a signature of its topic and data by the
// publisher's Ed25519 key, in a `sig` member beside `data`:
//
//   {"type":"publish","topic":"room.1","data":{"text":"hi"},"sig":"<base64>"}
//
// - The signed bytes are the topic's bytes, one line feed (0x0A), then the publish's
//   `data` exactly as it is written in the request: the JSON text from its first byte to
//   its last, spacing and key order included, nothing re-encoded (the server splices
//   `data` byte for byte, so subscribers see the same text). For the request above:
//   `room.1` LF `{"text":"hi"}`. A topic holds no line feed (PROTOCOL section 4), so
//   no other topic and data give the same bytes.
// - The signature is Ed25519 (crypto_sign_detached) over those bytes: 64 bytes, sent as
//   standard base64 (88 characters, padded).
// - Login challenges are signed with the same key. A nonce is base64, which holds no
//   line feed, so a login signature is never a message signature; sign_login_challenge
//   refuses to sign anything else as a nonce.

/// The bytes a message signature covers: `topic`, a line feed, `data` (see above).
inline std::string message_signing_input(std::string_view topic, std::string_view data) {
  std::string input;
  input.reserve(topic.size() + 1 + data.size());
  input.append(topic);
  input.push_back('\n');
  input.append(data);
  return input;
}

/// The `sig` of a publish of `data` (its exact JSON text) on `topic`, signed by
/// `signer`: standard base64 of the 64-byte Ed25519 signature. Throws
/// std::invalid_argument when `topic` is not a topic one can publish to or `data` is empty.
///
/// Thread safety: safe from any thread.
///
/// Example:
/// @code
/// const std::string data = R"({"text":"hi"})";
/// send(R"({"type":"publish","topic":"room.1","data":)" + data + R"(,"sig":")" +
///      switchboard::sign_message(my_signing_keys, "room.1", data) + "\"}");
/// @endcode
inline std::string sign_message(const ed25519_key_pair& signer, std::string_view topic, std::string_view data) {
  if (classify_topic(topic) != topic_kind::exact)
    throw std::invalid_argument("switchboard: a signed message's topic must be one a client can publish to");
  if (data.empty()) throw std::invalid_argument("switchboard: a signed message's data must be its JSON text");
  std::string sig;
  detail::append_base64(sig, signer.sign(message_signing_input(topic, data)));
  return sig;
}

/// True when `sig` (standard base64 of 64 bytes) is `signer`'s signature of `data` (the
/// exact JSON text) on `topic`, as sign_message makes it. False for anything else — a
/// malformed signature, an invalid or wildcard topic, empty data — and never throws for
/// bad input. For the server's publish path (against the publisher's registered key)
/// and for subscribers.
///
/// Thread safety: safe from any thread.
inline bool verify_message_signature(const ed25519_public_key& signer, std::string_view topic, std::string_view data,
                                     std::string_view sig) {
  constexpr std::size_t sig_chars = (ed25519_key_pair::signature_bytes + 2) / 3 * 4;
  if (sig.size() != sig_chars || classify_topic(topic) != topic_kind::exact || data.empty()) return false;
  std::string signature;
  if (!detail::decode_base64(sig, signature) || signature.size() != ed25519_key_pair::signature_bytes) return false;
  detail::require_sodium();
  const std::string input = message_signing_input(topic, data);
  // Also refuses small-order and non-canonical keys and signatures.
  return crypto_sign_verify_detached(detail::bytes_of(signature), detail::bytes_of(input), input.size(),
                                     signer.data()) == 0;
}

/// The hub's `signature_check` (signed_publish.hpp): verify_message_signature with the
/// Ed25519 key the publisher registered. Never throws for bad input.
///
/// Thread safety: safe from any thread.
inline bool registered_key_signed(const user_keys& publisher, std::string_view topic, std::string_view data,
                                  std::string_view sig) {
  return verify_message_signature(ed25519_public_key(publisher.ed25519), topic, data, sig);
}

/// Makes `hub` (a `basic_hub` whose store keeps user keys, as `memory_store` does) verify
/// every signed publish against the publisher's registered Ed25519 key: one that verifies
/// is delivered with its `sig`; a bad, unverifiable or anonymous one is refused with
/// `forbidden` and reported to the audit hook. Without this call the hub refuses every
/// signed publish. Call on the hub's thread, before it serves requests.
///
/// Example:
/// @code
/// switchboard::challenge_login login{hub, key};   // registers users' keys
/// switchboard::verify_signed_publishes(hub);       // checks publishes against them
/// @endcode
template <class Hub>
void verify_signed_publishes(Hub& hub) {
  using store_type = typename Hub::store_type;
  static_assert(store_keeps_user_keys<store_type>::value || async_store_keeps_user_keys<store_type>::value,
                "verify_signed_publishes needs a store that keeps user keys (see store_keeps_user_keys and "
                "async_store_keeps_user_keys in store.hpp)");
  hub.set_signature_check(&registered_key_signed);
}

/// The `signature` for `POST /auth/verify`: `signer`'s signature of `nonce`, the text
/// exactly as `POST /auth/challenge` returned it, in standard base64. Throws
/// std::invalid_argument when `nonce` is not non-empty strict standard base64 of at most
/// 256 characters: a server that hands out anything else as a nonce could be asking for
/// a message signature (see above).
///
/// Thread safety: safe from any thread.
inline std::string sign_login_challenge(const ed25519_key_pair& signer, std::string_view nonce) {
  std::string decoded;
  if (nonce.empty() || nonce.size() > 256 || !detail::decode_base64(nonce, decoded))
    throw std::invalid_argument("switchboard: a login nonce must be standard base64, as the server issues it");
  std::string signature;
  detail::append_base64(signature, signer.sign(nonce));
  return signature;
}

}  // namespace switchboard

#endif
