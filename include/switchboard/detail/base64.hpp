// Base64 (RFC 4648): the standard alphabet with padding (section 4) and the URL-safe
// alphabet without padding (section 5, as JWS uses it). Decoding is strict: anything but
// the one canonical encoding of some bytes is refused.
#ifndef SWITCHBOARD_DETAIL_BASE64_HPP
#define SWITCHBOARD_DETAIL_BASE64_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace switchboard {
namespace detail {

/// The two encodings of RFC 4648 that switchboard speaks.
enum class base64_variant : std::uint8_t {
  standard,  ///< `+` and `/`, padded with `=` to a multiple of four characters
  url,       ///< `-` and `_`, never padded (base64url as JWS uses it)
};

/// The six bits `c` stands for in `variant`, or -1 when it is not one of its digits.
inline int base64_digit_value(char c, base64_variant variant = base64_variant::standard) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  const bool url = variant == base64_variant::url;
  if (c == (url ? '-' : '+')) return 62;
  if (c == (url ? '_' : '/')) return 63;
  return -1;
}

/// Appends the base64 of `bytes` in `variant` to `out` (std::string or frame_writer).
template <class Out>
void append_base64(Out& out, std::string_view bytes, base64_variant variant = base64_variant::standard) {
  const char* const alphabet = variant == base64_variant::url
                                   ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                                   : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto byte = [&](std::size_t k) { return std::uint32_t(static_cast<unsigned char>(bytes[k])); };
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    const char quad[] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], alphabet[v & 63]};
    out.append(std::string_view(quad, 4));
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 0) return;
  std::uint32_t v = byte(i) << 16;
  if (rest == 2) v |= byte(i + 1) << 8;
  const char quad[] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], rest == 2 ? alphabet[(v >> 6) & 63] : '=', '='};
  // base64url drops the padding, and with it the last digit of a one-byte remainder.
  const bool padded = variant == base64_variant::standard;
  out.append(std::string_view(quad, padded ? 4 : rest + 1));
}

/// Appends to `out` the bytes `text` encodes in `variant`; returns false, leaving `out`
/// with a partial result, when `text` is not the canonical encoding of any bytes: a
/// character outside the alphabet, a wrong length, padding where the variant has none
/// (or missing where it needs it), or unused bits that are not zero. Linear in
/// `text.size()`; the caller bounds the size.
inline bool decode_base64(std::string_view text, std::string& out, base64_variant variant = base64_variant::standard) {
  if (variant == base64_variant::standard) {
    if (text.size() % 4 != 0) return false;
    // At most two `=`, only at the end: cut them and decode the rest as unpadded.
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
    text.remove_suffix(padding);
  }
  if (text.size() % 4 == 1) return false;  // one leftover digit cannot hold a whole byte
  out.reserve(out.size() + text.size() / 4 * 3 + 2);
  std::uint32_t bits = 0;
  int bit_count = 0;
  for (const char c : text) {
    const int digit = base64_digit_value(c, variant);
    if (digit < 0) return false;
    bits = (bits << 6) | static_cast<std::uint32_t>(digit);
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out.push_back(static_cast<char>((bits >> bit_count) & 0xFF));
    }
  }
  // The last digit's unused low bits must be zero, or several texts would decode alike.
  return (bits & ((1u << bit_count) - 1u)) == 0;
}

}  // namespace detail
}  // namespace switchboard

#endif
