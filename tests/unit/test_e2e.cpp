// End-to-end encryption helpers (e2e.hpp): key pairs, encrypted direct messages and
// message signatures. The documented formats are checked against libsodium called
// directly and RapidJSON, so that a client written in another language can rely on them;
// hostile envelopes and signatures are built byte by byte.
#include <switchboard/e2e.hpp>
#include <switchboard/jwt.hpp>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace sb = switchboard;
using sb::decryption_failure;

namespace {

std::string b64(std::string_view bytes) {
  std::string out;
  sb::detail::append_base64(out, bytes);
  return out;
}

std::string b64_decoded(std::string_view text) {
  std::string out;
  REQUIRE(sb::detail::decode_base64(text, out));
  return out;
}

std::string raw(const sb::x25519_public_key& key) { return std::string(key.bytes().begin(), key.bytes().end()); }
std::string raw(const sb::ed25519_public_key& key) { return std::string(key.bytes().begin(), key.bytes().end()); }

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// The decoded nonce and ciphertext of an envelope, read with RapidJSON.
struct envelope_parts {
  std::string nonce, ciphertext;
};

envelope_parts parts_of(const std::string& envelope) {
  rapidjson::Document doc;
  doc.Parse(envelope.c_str(), envelope.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  REQUIRE(doc.MemberCount() == 4);
  for (const char* name : {"v", "alg", "nonce", "ciphertext"}) REQUIRE(doc.HasMember(name));
  REQUIRE(doc["v"].IsInt());
  CHECK(doc["v"].GetInt() == 1);
  REQUIRE(doc["alg"].IsString());
  CHECK(std::string_view(doc["alg"].GetString()) == "x25519-xsalsa20poly1305");
  REQUIRE(doc["nonce"].IsString());
  REQUIRE(doc["ciphertext"].IsString());
  return {b64_decoded(doc["nonce"].GetString()), b64_decoded(doc["ciphertext"].GetString())};
}

// An envelope in the documented format around these bytes.
std::string envelope_of(std::string_view nonce, std::string_view ciphertext) {
  return R"({"v":1,"alg":"x25519-xsalsa20poly1305","nonce":")" + b64(nonce) + R"(","ciphertext":")" + b64(ciphertext) +
         R"("})";
}

// Alice writes to Bob; Carol is anyone else.
struct parties {
  sb::x25519_key_pair alice = sb::x25519_key_pair::generate();
  sb::x25519_key_pair bob = sb::x25519_key_pair::generate();
  sb::x25519_key_pair carol = sb::x25519_key_pair::generate();
};

// Why bob could not open `envelope` from alice, failing when he could.
decryption_failure failure_of(const parties& p, std::string_view envelope,
                              std::size_t max_envelope_bytes = sb::default_max_envelope_bytes) {
  const sb::decryption_result r = sb::decrypt_direct_message(envelope, p.alice.public_key(), p.bob, max_envelope_bytes);
  INFO("envelope: " << envelope);
  REQUIRE_FALSE(r.ok());
  CHECK_FALSE(r.reason().empty());
  return r.failure();
}

template <class T, class = void>
struct is_streamable : std::false_type {};
template <class T>
struct is_streamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

constexpr std::string_view text = R"({"text":"meet me at the usual place at noon"})";

}  // namespace

TEST_CASE("key pairs give their public keys as the standard base64 of the raw 32 bytes", "[e2e]") {
  const auto encryption = sb::x25519_key_pair::generate();
  const auto signing = sb::ed25519_key_pair::generate();

  const std::string x25519_text = encryption.public_key().to_base64();
  const std::string ed25519_text = signing.public_key().to_base64();
  CHECK(x25519_text.size() == 44);
  CHECK(ed25519_text.size() == 44);
  CHECK(b64_decoded(x25519_text) == raw(encryption.public_key()));
  CHECK(sb::x25519_public_key::from_base64(x25519_text) == encryption.public_key());
  CHECK(sb::ed25519_public_key::from_base64(ed25519_text) == signing.public_key());
  CHECK(sb::x25519_key_pair::generate().public_key() != encryption.public_key());

  SECTION("the X25519 public key is libsodium's for the secret key") {
    unsigned char expected[crypto_scalarmult_BYTES];
    REQUIRE(crypto_scalarmult_base(expected, encryption.secret_key().data()) == 0);
    CHECK(raw(encryption.public_key()) == std::string(reinterpret_cast<const char*>(expected), sizeof expected));
  }
  SECTION("the Ed25519 public key verifies what the pair signs") {
    const std::string signature = signing.sign("some bytes");
    REQUIRE(signature.size() == 64);
    CHECK(crypto_sign_verify_detached(bytes(signature), bytes("some bytes"), 10, signing.public_key().data()) == 0);
  }
}

TEST_CASE("key pairs are restored from the secret they export", "[e2e]") {
  SECTION("X25519 from its 32-byte secret key") {
    const auto original = sb::x25519_key_pair::generate();
    const sb::secret_bytes<32> secret = original.secret_key();
    CHECK(sb::x25519_key_pair::from_secret_key(secret).public_key() == original.public_key());
    const std::string stored(reinterpret_cast<const char*>(secret.data()), secret.size());
    CHECK(sb::x25519_key_pair::from_secret_key(stored).public_key() == original.public_key());
    CHECK_THROWS_AS(sb::x25519_key_pair::from_secret_key(stored.substr(1)), std::invalid_argument);
    CHECK_THROWS_AS(sb::x25519_key_pair::from_secret_key(stored + "x"), std::invalid_argument);
  }
  SECTION("Ed25519 from its 32-byte seed, which a JWT key takes too") {
    const auto original = sb::ed25519_key_pair::generate();
    const sb::secret_bytes<32> seed = original.seed();
    CHECK(sb::ed25519_key_pair::from_seed(seed).public_key() == original.public_key());
    const std::string stored(reinterpret_cast<const char*>(seed.data()), seed.size());
    CHECK(sb::ed25519_key_pair::from_seed(stored).sign("m") == original.sign("m"));  // Ed25519 is deterministic
    const sb::jwt_key token_key = sb::jwt_key::ed25519_secret_key(stored);
    CHECK(token_key.sign("m") == original.sign("m"));
    CHECK_THROWS_AS(sb::ed25519_key_pair::from_seed(""), std::invalid_argument);
    CHECK_THROWS_AS(sb::ed25519_key_pair::from_seed(std::string(64, 'k')), std::invalid_argument);
  }
  SECTION("secrets have no stream operator, so they are never printed by accident") {
    STATIC_REQUIRE_FALSE(is_streamable<sb::secret_bytes<32>>::value);
    STATIC_REQUIRE_FALSE(is_streamable<sb::x25519_key_pair>::value);
    STATIC_REQUIRE_FALSE(is_streamable<sb::ed25519_key_pair>::value);
    STATIC_REQUIRE_FALSE(std::is_convertible<sb::secret_bytes<32>, std::string>::value);
    STATIC_REQUIRE_FALSE(std::is_convertible<sb::secret_bytes<32>, std::string_view>::value);
  }
}

TEST_CASE("a public key that is not the standard base64 of 32 bytes is refused with a clear error", "[e2e]") {
  const std::string good = sb::x25519_key_pair::generate().public_key().to_base64();
  for (const std::string& bad : {std::string(), b64(std::string(31, 'k')), b64(std::string(33, 'k')),
                                 good.substr(0, 43),                         // padding missing
                                 good.substr(0, 42) + "!=",                  // outside the alphabet
                                 std::string(good).replace(0, 1, "-"),       // the URL-safe alphabet
                                 good + "\n", std::string(100000, 'A')}) {
    INFO("key: " << bad.substr(0, 60));
    CHECK_THROWS_WITH(sb::x25519_public_key::from_base64(bad), Catch::Contains("X25519 public key"));
    CHECK_THROWS_WITH(sb::ed25519_public_key::from_base64(bad), Catch::Contains("Ed25519 public key"));
  }
  CHECK_THROWS_AS(sb::x25519_public_key::from_bytes(std::string(31, 'k')), std::invalid_argument);
  CHECK(raw(sb::x25519_public_key::from_bytes(std::string(32, 'k'))) == std::string(32, 'k'));
}

TEST_CASE("a direct message opens for its recipient, from its sender, as it was written", "[e2e]") {
  const parties p;
  for (const std::string& plaintext : {std::string(text), std::string(), std::string("\0\x01\xff\n", 4),
                                       std::string(100000, 'x')}) {
    const std::string envelope = sb::encrypt_direct_message(plaintext, p.bob.public_key(), p.alice);
    const sb::decryption_result r = sb::decrypt_direct_message(envelope, p.alice.public_key(), p.bob);
    REQUIRE(r.ok());
    CHECK(r.reason().empty());
    CHECK(r.plaintext() == plaintext);
  }
  SECTION("a user may write to themselves") {
    const std::string envelope = sb::encrypt_direct_message(text, p.alice.public_key(), p.alice);
    CHECK(sb::decrypt_direct_message(envelope, p.alice.public_key(), p.alice).plaintext() == text);
  }
  SECTION("the envelope is read in any JSON spelling, with other members ignored") {
    const envelope_parts parts = parts_of(sb::encrypt_direct_message(text, p.bob.public_key(), p.alice));
    const std::string respelled = " {\"ciphertext\" : \"" + b64(parts.ciphertext) + "\", \"extra\": [1, {}],\n \"n\\u006fnce\":\"" +
                                  b64(parts.nonce) + R"(", "alg": "x25519-xsalsa20poly1305", "v": 1 } )";
    const sb::decryption_result r = sb::decrypt_direct_message(respelled, p.alice.public_key(), p.bob);
    REQUIRE(r.ok());
    CHECK(r.plaintext() == text);
  }
}

TEST_CASE("the envelope is the documented format, and libsodium alone opens it", "[e2e]") {
  const parties p;
  const std::string envelope = sb::encrypt_direct_message(text, p.bob.public_key(), p.alice);
  const envelope_parts parts = parts_of(envelope);
  REQUIRE(parts.nonce.size() == crypto_box_NONCEBYTES);
  // The 16-byte tag, the sender's public key, the text.
  REQUIRE(parts.ciphertext.size() == crypto_box_MACBYTES + 32 + text.size());

  std::string opened(parts.ciphertext.size() - crypto_box_MACBYTES, '\0');
  REQUIRE(crypto_box_open_easy(reinterpret_cast<unsigned char*>(&opened[0]), bytes(parts.ciphertext),
                               parts.ciphertext.size(), bytes(parts.nonce), p.alice.public_key().data(),
                               p.bob.secret_key().data()) == 0);
  CHECK(opened == raw(p.alice.public_key()) + std::string(text));

  SECTION("an envelope made by libsodium alone opens too") {
    const std::string sealed = raw(p.alice.public_key()) + "written elsewhere";
    unsigned char nonce[crypto_box_NONCEBYTES];
    randombytes_buf(nonce, sizeof nonce);
    std::string ciphertext(crypto_box_MACBYTES + sealed.size(), '\0');
    REQUIRE(crypto_box_easy(reinterpret_cast<unsigned char*>(&ciphertext[0]), bytes(sealed), sealed.size(), nonce,
                            p.bob.public_key().data(), p.alice.secret_key().data()) == 0);
    const std::string foreign = envelope_of(std::string(reinterpret_cast<const char*>(nonce), sizeof nonce), ciphertext);
    CHECK(sb::decrypt_direct_message(foreign, p.alice.public_key(), p.bob).plaintext() == "written elsewhere");
  }
}

TEST_CASE("the envelope never holds the plaintext, and no two are alike", "[e2e]") {
  const parties p;
  const std::string envelope = sb::encrypt_direct_message(text, p.bob.public_key(), p.alice);
  const envelope_parts parts = parts_of(envelope);
  CHECK(envelope.find("meet me") == std::string::npos);
  CHECK(envelope.find(b64(text).substr(0, 20)) == std::string::npos);
  CHECK(parts.ciphertext.find("meet me") == std::string::npos);

  const std::string again = sb::encrypt_direct_message(text, p.bob.public_key(), p.alice);
  CHECK(again != envelope);
  CHECK(parts_of(again).nonce != parts.nonce);
  CHECK(parts_of(again).ciphertext != parts.ciphertext);
}

TEST_CASE("an altered envelope does not open", "[e2e]") {
  const parties p;
  const envelope_parts parts = parts_of(sb::encrypt_direct_message(text, p.bob.public_key(), p.alice));
  const auto flipped = [](std::string s, std::size_t byte, int bit) {
    s[byte] = static_cast<char>(s[byte] ^ (1 << bit));
    return s;
  };
  SECTION("any bit of the nonce") {
    for (std::size_t i = 0; i < parts.nonce.size(); ++i)
      for (int bit = 0; bit < 8; ++bit)
        CHECK(failure_of(p, envelope_of(flipped(parts.nonce, i, bit), parts.ciphertext)) ==
              decryption_failure::not_authentic);
  }
  SECTION("any bit of the tag, the sealed sender key or the encrypted text") {
    for (std::size_t i = 0; i < parts.ciphertext.size(); ++i)
      for (int bit = 0; bit < 8; ++bit)
        CHECK(failure_of(p, envelope_of(parts.nonce, flipped(parts.ciphertext, i, bit))) ==
              decryption_failure::not_authentic);
  }
  SECTION("cut short or lengthened") {
    CHECK(failure_of(p, envelope_of(parts.nonce, parts.ciphertext.substr(0, parts.ciphertext.size() - 1))) ==
          decryption_failure::not_authentic);
    CHECK(failure_of(p, envelope_of(parts.nonce, parts.ciphertext + '\0')) == decryption_failure::not_authentic);
    // Too short to hold the tag and the sender's key: not an envelope at all.
    CHECK(failure_of(p, envelope_of(parts.nonce, parts.ciphertext.substr(0, 47))) == decryption_failure::malformed);
    CHECK(failure_of(p, envelope_of(parts.nonce, "")) == decryption_failure::malformed);
    CHECK(failure_of(p, envelope_of(parts.nonce.substr(0, 23), parts.ciphertext)) == decryption_failure::malformed);
    CHECK(failure_of(p, envelope_of(parts.nonce + "n", parts.ciphertext)) == decryption_failure::malformed);
  }
}

TEST_CASE("only the recipient opens a message, and only from its real sender", "[e2e]") {
  const parties p;
  const std::string envelope = sb::encrypt_direct_message(text, p.bob.public_key(), p.alice);
  const auto failure = [&](const sb::x25519_public_key& sender, const sb::x25519_key_pair& recipient) {
    const sb::decryption_result r = sb::decrypt_direct_message(envelope, sender, recipient);
    REQUIRE_FALSE(r.ok());
    CHECK_THROWS_AS(r.plaintext(), std::bad_optional_access);
    return r.failure();
  };
  SECTION("another recipient") { CHECK(failure(p.alice.public_key(), p.carol) == decryption_failure::not_authentic); }
  SECTION("another sender claimed") { CHECK(failure(p.carol.public_key(), p.bob) == decryption_failure::not_authentic); }
  SECTION("the sender's own message handed back as if the recipient had written it") {
    // Alice and Bob share one key either way; the sealed sender key tells the two apart.
    CHECK(failure(p.bob.public_key(), p.alice) == decryption_failure::not_authentic);
  }
  SECTION("a message another sender sealed with someone else's key inside") {
    const std::string sealed = raw(p.carol.public_key()) + "from carol, claiming alice";
    unsigned char nonce[crypto_box_NONCEBYTES] = {};
    std::string ciphertext(crypto_box_MACBYTES + sealed.size(), '\0');
    REQUIRE(crypto_box_easy(reinterpret_cast<unsigned char*>(&ciphertext[0]), bytes(sealed), sealed.size(), nonce,
                            p.bob.public_key().data(), p.alice.secret_key().data()) == 0);
    const std::string mislabelled = envelope_of(std::string(sizeof nonce, '\0'), ciphertext);
    CHECK(failure_of(p, mislabelled) == decryption_failure::not_authentic);
  }
  SECTION("a low-order public key is never used") {
    const sb::x25519_public_key zero(sb::x25519_public_key::bytes_type{});
    CHECK_THROWS_WITH(sb::encrypt_direct_message(text, zero, p.alice), Catch::Contains("not usable"));
    CHECK(failure(zero, p.bob) == decryption_failure::not_authentic);
  }
}

TEST_CASE("anything but an envelope is refused as malformed or unsupported", "[e2e]") {
  const parties p;
  const envelope_parts parts = parts_of(sb::encrypt_direct_message(text, p.bob.public_key(), p.alice));
  const std::string nonce = b64(parts.nonce);
  const std::string ciphertext = b64(parts.ciphertext);
  const auto with = [&](std::string_view v, std::string_view alg, std::string_view n, std::string_view c) {
    return "{\"v\":" + std::string(v) + ",\"alg\":" + std::string(alg) + ",\"nonce\":" + std::string(n) +
           ",\"ciphertext\":" + std::string(c) + "}";
  };
  const std::string alg = "\"x25519-xsalsa20poly1305\"";
  const std::string n = "\"" + nonce + "\"";
  const std::string c = "\"" + ciphertext + "\"";
  REQUIRE(sb::decrypt_direct_message(with("1", alg, n, c), p.alice.public_key(), p.bob).ok());

  SECTION("not one JSON object") {
    for (const std::string& bad : {std::string(), std::string("null"), std::string("[]"), std::string("\"text\""),
                                   std::string("{"), with("1", alg, n, c) + "{}", with("1", alg, n, c) + std::string(1, '\0'),
                                   std::string("{\"v\":1,}"), std::string("{\"v\":\"\xff\"}"),
                                   std::string(R"({"v":1,"alg":"\udc00"})")})
      CHECK(failure_of(p, bad) == decryption_failure::malformed);
  }
  SECTION("a member missing, repeated or of the wrong type") {
    CHECK(failure_of(p, "{}") == decryption_failure::malformed);
    CHECK(failure_of(p, R"({"alg":"x25519-xsalsa20poly1305","nonce":")" + nonce + R"(","ciphertext":")" + ciphertext +
                            R"("})") == decryption_failure::malformed);
    CHECK(failure_of(p, with("1", alg, n, c).insert(1, "\"v\":1,")) == decryption_failure::malformed);
    CHECK(failure_of(p, with("1", alg, n, c).insert(1, "\"nonce\":" + n + ",")) == decryption_failure::malformed);
    CHECK(failure_of(p, with("\"1\"", alg, n, c)) == decryption_failure::malformed);
    CHECK(failure_of(p, with("1.0", alg, n, c)) == decryption_failure::malformed);
    CHECK(failure_of(p, with("1", "null", n, c)) == decryption_failure::malformed);
    CHECK(failure_of(p, with("1", alg, "null", c)) == decryption_failure::malformed);
    CHECK(failure_of(p, with("1", alg, n, "[" + c + "]")) == decryption_failure::malformed);
    CHECK(failure_of(p, with("1", alg, n, "{}")) == decryption_failure::malformed);
  }
  SECTION("not strict standard base64") {
    std::string url_safe = ciphertext;
    for (char& ch : url_safe) ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    // One byte short, the ciphertext is 92 bytes: base64 with one `=`, which must be there.
    const std::string padded = b64(parts.ciphertext.substr(0, parts.ciphertext.size() - 1));
    REQUIRE(padded.back() == '=');
    const std::string unpadded = padded.substr(0, padded.size() - 1);
    for (const std::string& bad_c : {"\"" + ciphertext + "!\"", "\"" + ciphertext.substr(1) + "\"", std::string("\"\""),
                                     "\" " + ciphertext + "\""}) {
      CHECK(failure_of(p, with("1", alg, n, bad_c)) == decryption_failure::malformed);
    }
    if (url_safe != ciphertext) CHECK(failure_of(p, with("1", alg, n, "\"" + url_safe + "\"")) == decryption_failure::malformed);
    CHECK(failure_of(p, with("1", alg, n, "\"" + padded + "\"")) == decryption_failure::not_authentic);
    CHECK(failure_of(p, with("1", alg, n, "\"" + unpadded + "\"")) == decryption_failure::malformed);
  }
  SECTION("another version or algorithm") {
    CHECK(failure_of(p, with("2", alg, n, c)) == decryption_failure::unsupported);
    CHECK(failure_of(p, with("0", alg, n, c)) == decryption_failure::unsupported);
    CHECK(failure_of(p, with("2", alg, "{}", "null")) == decryption_failure::unsupported);
    CHECK(failure_of(p, with("1", "\"x25519-xchacha20poly1305\"", n, c)) == decryption_failure::unsupported);
    CHECK(failure_of(p, with("1", "\"X25519-XSALSA20POLY1305\"", n, c)) == decryption_failure::unsupported);
  }
}

TEST_CASE("a huge envelope is refused before it is read, and nesting never exhausts the stack", "[e2e]") {
  const parties p;
  CHECK(failure_of(p, std::string((1 << 20) + 1, '{')) == decryption_failure::too_large);
  CHECK(failure_of(p, "{}", 1) == decryption_failure::too_large);

  const std::string big(1 << 20, 'x');
  const std::string envelope = sb::encrypt_direct_message(big, p.bob.public_key(), p.alice);
  CHECK(failure_of(p, envelope) == decryption_failure::too_large);
  const sb::decryption_result r = sb::decrypt_direct_message(envelope, p.alice.public_key(), p.bob, envelope.size());
  REQUIRE(r.ok());
  CHECK(r.plaintext() == big);

  CHECK(failure_of(p, std::string(500000, '[') + std::string(500000, ']')) == decryption_failure::malformed);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += R"({"v":)";
  CHECK(failure_of(p, objects + "1" + std::string(100000, '}')) == decryption_failure::malformed);
}

TEST_CASE("random, truncated and mutated envelopes never crash the opener and never open", "[e2e]") {
  const parties p;
  const std::string envelope = sb::encrypt_direct_message(text, p.bob.public_key(), p.alice);
  std::mt19937 random(20240611);
  const auto random_byte = [&] { return static_cast<char>(std::uniform_int_distribution<int>(0, 255)(random)); };

  for (std::size_t length = 0; length < envelope.size(); ++length) {
    CHECK_FALSE(sb::decrypt_direct_message(envelope.substr(0, length), p.alice.public_key(), p.bob).ok());
    CHECK_FALSE(sb::decrypt_direct_message(envelope.substr(length + 1), p.alice.public_key(), p.bob).ok());
  }
  for (int i = 0; i < 3000; ++i) {
    std::string noise(std::uniform_int_distribution<std::size_t>(0, 300)(random), '\0');
    for (char& ch : noise) ch = random_byte();
    CHECK_FALSE(sb::decrypt_direct_message(noise, p.alice.public_key(), p.bob).ok());

    std::string mutated = envelope;
    const int changes = std::uniform_int_distribution<int>(1, 4)(random);
    for (int k = 0; k < changes; ++k) {
      // Each change at a byte not changed yet, so that a second change never undoes the first.
      std::size_t at = 0;
      do at = std::uniform_int_distribution<std::size_t>(0, mutated.size() - 1)(random);
      while (mutated[at] != envelope[at]);
      char replacement = random_byte();
      while (replacement == envelope[at]) replacement = random_byte();
      mutated[at] = replacement;
    }
    INFO("mutated: " << mutated);
    CHECK_FALSE(sb::decrypt_direct_message(mutated, p.alice.public_key(), p.bob).ok());
  }
}

TEST_CASE("a message signature covers exactly the topic, a line feed and the data's text", "[e2e]") {
  const auto signer = sb::ed25519_key_pair::generate();
  const std::string data = R"({"text":"hi","n":1})";
  const std::string sig = sb::sign_message(signer, "room.1", data);
  CHECK(sig.size() == 88);
  CHECK(b64_decoded(sig).size() == 64);
  CHECK(sb::verify_message_signature(signer.public_key(), "room.1", data, sig));

  SECTION("the signed bytes, checked with libsodium directly, as a server in any language would") {
    CHECK(sb::message_signing_input("room.1", data) == "room.1\n" + data);
    const std::string signature = b64_decoded(sig);
    const std::string input = "room.1\n" + data;
    CHECK(crypto_sign_verify_detached(bytes(signature), bytes(input), input.size(), signer.public_key().data()) == 0);

    unsigned char foreign[crypto_sign_BYTES];
    const std::string seed = [&] {
      const sb::secret_bytes<32> s = signer.seed();
      return std::string(reinterpret_cast<const char*>(s.data()), s.size());
    }();
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, bytes(seed));
    crypto_sign_detached(foreign, nullptr, bytes(input), input.size(), sk);
    CHECK(sb::verify_message_signature(signer.public_key(), "room.1", data,
                                       b64(std::string(reinterpret_cast<const char*>(foreign), sizeof foreign))));
  }
  SECTION("another topic, other data, or the same data spelled differently") {
    CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.2", data, sig));
    CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room", data, sig));
    CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", R"({"text":"ho","n":1})", sig));
    CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", R"({"text":"hi", "n":1})", sig));
    CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", R"({"n":1,"text":"hi"})", sig));
    CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", data + " ", sig));
  }
  SECTION("another signer") {
    CHECK_FALSE(sb::verify_message_signature(sb::ed25519_key_pair::generate().public_key(), "room.1", data, sig));
  }
  SECTION("a signature that is not the standard base64 of 64 bytes") {
    std::string url_safe = sig;
    for (char& ch : url_safe) ch = ch == '+' ? '-' : ch == '/' ? '_' : ch;
    const std::string signature = b64_decoded(sig);
    for (const std::string& bad :
         {std::string(), sig.substr(0, 86), sig.substr(0, 86) + "A=" /* 65 bytes */, b64(signature.substr(0, 63)),
          b64(signature + "x"), sig.substr(0, 87) + "!", " " + sig.substr(1), std::string(88, '='),
          std::string(100000, 'A'), b64(std::string(64, '\0')), b64(std::string(64, '\xff'))}) {
      INFO("sig: " << bad.substr(0, 100));
      CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", data, bad));
    }
    if (url_safe != sig) CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", data, url_safe));
  }
  SECTION("any bit of the signature flipped") {
    const std::string signature = b64_decoded(sig);
    for (std::size_t i = 0; i < signature.size(); ++i)
      for (int bit = 0; bit < 8; ++bit) {
        std::string altered = signature;
        altered[i] = static_cast<char>(altered[i] ^ (1 << bit));
        CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", data, b64(altered)));
      }
  }
  SECTION("a key that is no Ed25519 key verifies nothing") {
    CHECK_FALSE(sb::verify_message_signature(sb::ed25519_public_key(sb::ed25519_public_key::bytes_type{}), "room.1",
                                             data, sig));
  }
  SECTION("only topics one can publish to, and data that is there") {
    for (const std::string_view topic : {"", "room.*", "room.>", "room..1", "room.1\n{", "room 1"}) {
      CHECK_THROWS_AS(sb::sign_message(signer, topic, data), std::invalid_argument);
      CHECK_FALSE(sb::verify_message_signature(signer.public_key(), topic, data, sig));
    }
    CHECK_THROWS_AS(sb::sign_message(signer, "room.1", ""), std::invalid_argument);
    CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", "", sig));
  }
  SECTION("random signatures never verify and never crash") {
    std::mt19937 random(7);
    for (int i = 0; i < 2000; ++i) {
      std::string noise(std::uniform_int_distribution<std::size_t>(0, 100)(random), '\0');
      for (char& ch : noise) ch = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(random));
      CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", data, noise));
      CHECK_FALSE(sb::verify_message_signature(signer.public_key(), "room.1", data, b64(noise.substr(0, 64))));
    }
  }
}

TEST_CASE("a login challenge is signed as the nonce text, and only a base64 nonce is signed", "[e2e]") {
  const auto signer = sb::ed25519_key_pair::generate();
  const std::string nonce = b64(std::string(32, '\x5a'));
  const std::string signature = b64_decoded(sb::sign_login_challenge(signer, nonce));
  CHECK(crypto_sign_verify_detached(bytes(signature), bytes(nonce), nonce.size(), signer.public_key().data()) == 0);
  CHECK(sb::jwt_key::ed25519_public_key(raw(signer.public_key())).verify(nonce, signature));

  // A nonce that is message bytes would make this a message signature.
  const std::string data = R"({"text":"forged"})";
  for (const std::string& bad : {std::string(), "room.1\n" + data, nonce + "\n", std::string(344, 'A'), nonce.substr(1)})
    CHECK_THROWS_AS(sb::sign_login_challenge(signer, bad), std::invalid_argument);
}
