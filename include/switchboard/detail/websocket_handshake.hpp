// The server's side of the RFC 6455 opening handshake: the accept key and the checks of
// the client's key.
#ifndef SWITCHBOARD_DETAIL_WEBSOCKET_HANDSHAKE_HPP
#define SWITCHBOARD_DETAIL_WEBSOCKET_HANDSHAKE_HPP

#include <switchboard/detail/base64.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace switchboard {
namespace detail {

/// SHA-1 (FIPS 180-4). Only the handshake's accept key needs it; SHA-1 is not used
/// for anything that must resist collisions.
inline std::string sha1(std::string_view input) {
  std::uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  const auto rol = [](std::uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); };
  const std::uint64_t bits = std::uint64_t(input.size()) * 8;
  // Message, 0x80, zeros, 64-bit big-endian length: a whole number of 64-byte blocks.
  const std::size_t padded = (input.size() + 8) / 64 * 64 + 64;
  for (std::size_t block = 0; block < padded; block += 64) {
    std::uint32_t w[80];
    for (std::size_t i = 0; i < 16; ++i) {
      std::uint32_t word = 0;
      for (std::size_t j = 0; j < 4; ++j) {
        const std::size_t at = block + i * 4 + j;
        std::uint32_t byte = 0;
        if (at < input.size()) {
          byte = static_cast<unsigned char>(input[at]);
        } else if (at == input.size()) {
          byte = 0x80u;
        } else if (at >= padded - 8) {
          byte = static_cast<std::uint32_t>((bits >> ((padded - 1 - at) * 8)) & 0xFFu);
        }
        word = (word << 8) | byte;
      }
      w[i] = word;
    }
    for (std::size_t i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (std::size_t i = 0; i < 80; ++i) {
      std::uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999u;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1u;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDCu;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6u;
      }
      const std::uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::string digest(20, '\0');
  for (std::size_t i = 0; i < 20; ++i) digest[i] = static_cast<char>((h[i / 4] >> (24 - 8 * (i % 4))) & 0xFFu);
  return digest;
}

/// The `Sec-WebSocket-Accept` value answering `client_key` (RFC 6455 4.2.2).
inline std::string websocket_accept_key(std::string_view client_key) {
  std::string input(client_key);
  input += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string accept;
  append_base64(accept, sha1(input));
  return accept;
}

/// True when `key` is a valid `Sec-WebSocket-Key`: the base64 of 16 bytes (24 characters,
/// "==" included).
inline bool is_valid_websocket_key(std::string_view key) {
  std::string nonce;
  return key.size() == 24 && decode_base64(key, nonce) && nonce.size() == 16;
}

}  // namespace detail
}  // namespace switchboard

#endif
