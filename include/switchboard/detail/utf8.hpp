// UTF-8 checks for what the server quotes or takes as identity: every text frame the
// server sends must be valid UTF-8, or RFC 6455 clients drop the connection.
#ifndef SWITCHBOARD_DETAIL_UTF8_HPP
#define SWITCHBOARD_DETAIL_UTF8_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
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

/// Validates UTF-8 (RFC 3629) fed in pieces, as a fragmented WebSocket text message
/// arrives: a sequence split across pieces is checked across the split, and an invalid
/// byte is reported in the piece that holds it, not at the end of the message. Runs of
/// ASCII are checked eight bytes at a time.
class utf8_validator {
 public:
  /// Checks the next `size` bytes; false once anything fed so far is not UTF-8.
  bool feed(const char* data, std::size_t size) noexcept {
    if (failed_) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(data);
    const auto* const end = p + size;
    while (p < end) {
      if (need_ == 0) {
        // ASCII fast path: a word without any high bit is eight valid characters.
        while (end - p >= 8) {
          std::uint64_t word;
          std::memcpy(&word, p, 8);
          if (word & 0x8080808080808080ull) break;
          p += 8;
        }
        if (p == end) break;
        const unsigned char c = *p++;
        if (c < 0x80) continue;
        if (c >= 0xC2 && c <= 0xDF) {
          expect(1, 0x80, 0xBF);
        } else if (c >= 0xE0 && c <= 0xEF) {
          // E0: no overlong forms; ED: no UTF-16 surrogates.
          expect(2, c == 0xE0 ? 0xA0 : 0x80, c == 0xED ? 0x9F : 0xBF);
        } else if (c >= 0xF0 && c <= 0xF4) {
          // F0: no overlong forms; F4: nothing past U+10FFFF.
          expect(3, c == 0xF0 ? 0x90 : 0x80, c == 0xF4 ? 0x8F : 0xBF);
        } else {
          return fail();
        }
      } else {
        const unsigned char c = *p++;
        if (c < low_ || c > high_) return fail();
        --need_;
        low_ = 0x80;
        high_ = 0xBF;
      }
    }
    return true;
  }
  /// True when everything fed so far is UTF-8 and ends on a whole character.
  bool complete() const noexcept { return !failed_ && need_ == 0; }
  /// Starts over, for the next message.
  void reset() noexcept { *this = utf8_validator(); }

 private:
  void expect(std::uint8_t continuations, std::uint8_t low, std::uint8_t high) noexcept {
    need_ = continuations;
    low_ = low;
    high_ = high;
  }
  bool fail() noexcept {
    failed_ = true;
    return false;
  }

  std::uint8_t need_ = 0;  // continuation bytes still expected
  std::uint8_t low_ = 0x80, high_ = 0xBF;  // the range the next continuation byte must be in
  bool failed_ = false;
};

/// True when `s` is entirely well-formed UTF-8.
inline bool is_valid_utf8(std::string_view s) noexcept {
  utf8_validator v;
  return v.feed(s.data(), s.size()) && v.complete();
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
