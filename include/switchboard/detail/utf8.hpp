// UTF-8 checks for what the server quotes or takes as identity: every text frame the
// server sends must be valid UTF-8, or RFC 6455 clients drop the connection.
#ifndef SWITCHBOARD_DETAIL_UTF8_HPP
#define SWITCHBOARD_DETAIL_UTF8_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace switchboard {
namespace detail {

/// Length of the well-formed UTF-8 sequence starting at `s[i]` (1 to 4), or 0 when the
/// bytes there are not one (overlong forms, surrogates, code points past U+10FFFF and
/// truncated sequences included), per RFC 3629.
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  if (c < 0x80) return 1;
  const std::size_t left = s.size() - i;
  const auto continuation = [&](std::size_t k) { return (byte(k) & 0xC0) == 0x80; };
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && continuation(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !continuation(i + 1) || !continuation(i + 2)) return 0;
    const unsigned char c1 = byte(i + 1);
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return 0;
    const unsigned char c1 = byte(i + 1);
    if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
    if (c == 0xF4 && c1 > 0x8F) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

/// True when `s` is entirely well-formed UTF-8.
inline bool is_valid_utf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

/// Longest user id, in bytes (PROTOCOL section 1).
constexpr std::size_t max_user_id_bytes = 128;

/// PROTOCOL section 1: a user id is 1 to 128 bytes of valid UTF-8 without control
/// characters (C0, DEL, C1).
inline bool is_valid_user_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_user_id_bytes) return false;
  for (std::size_t i = 0; i < id.size();) {
    const std::size_t n = utf8_sequence_length(id, i);
    if (n == 0) return false;
    const auto c = static_cast<unsigned char>(id[i]);
    if (n == 1 && (c < 0x20 || c == 0x7F)) return false;
    if (n == 2 && c == 0xC2 && static_cast<unsigned char>(id[i + 1]) < 0xA0) return false;  // U+0080..U+009F
    i += n;
  }
  return true;
}

}  // namespace detail
}  // namespace switchboard

#endif
