// The opening handshake's arithmetic: SHA-1 against FIPS 180 vectors, the accept key
// against RFC 6455's example, and the checks of a client's key.
#include <switchboard/detail/websocket_handshake.hpp>

#include "support/hex.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>

using switchboard::detail::is_valid_websocket_key;
using switchboard::detail::sha1;
using switchboard::detail::websocket_accept_key;

namespace {

std::string hex(std::string_view bytes) { return switchboard::test::hex(bytes, '\0'); }
}  // namespace

TEST_CASE("sha1 matches the FIPS 180 test vectors", "[handshake]") {
  CHECK(hex(sha1("abc")) == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(hex(sha1("")) == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  // 448 bits: the padding no longer fits the first block.
  CHECK(hex(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  CHECK(hex(sha1("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrs"
                 "tnopqrstu")) == "a49b2446a02c645bf419f995b67091253a04a259");
  CHECK(hex(sha1(std::string(1000000, 'a'))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("sha1 pads every length around the block boundaries", "[handshake]") {
  // Lengths 55, 56 and 64 change the number of padded blocks. The digests were computed
  // independently (coreutils sha1sum) for strings of 'a'.
  CHECK(hex(sha1(std::string(55, 'a'))) == "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  CHECK(hex(sha1(std::string(56, 'a'))) == "c2db330f6083854c99d4b5bfb6e8f29f201be699");
  CHECK(hex(sha1(std::string(63, 'a'))) == "03f09f5b158a7a8cdad920bddc29b81c18a551f5");
  CHECK(hex(sha1(std::string(64, 'a'))) == "0098ba824b5c16427bd7a1122a5a442a25ec644d");
  CHECK(hex(sha1(std::string(119, 'a'))) == "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56");
  CHECK(hex(sha1(std::string(120, 'a'))) == "f34c1488385346a55709ba056ddd08280dd4c6d6");
}

TEST_CASE("websocket_accept_key answers RFC 6455's example key", "[handshake]") {
  CHECK(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("is_valid_websocket_key: base64 of exactly 16 bytes", "[handshake]") {
  CHECK(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK(is_valid_websocket_key("AAAAAAAAAAAAAAAAAAAAAA=="));
  CHECK(is_valid_websocket_key("/+/+/+/+/+/+/+/+/+/+/w=="));
  CHECK_FALSE(is_valid_websocket_key(""));
  CHECK_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ="));    // 23 characters
  CHECK_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ==="));  // 25
  CHECK_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQA="));   // 17 bytes' worth
  CHECK_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZR=="));   // bits left over in the last digit
  CHECK_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZ-=="));   // base64url is not base64
  CHECK_FALSE(is_valid_websocket_key("dGhlIHNhbXBsZSBub25j Q=="));
}
