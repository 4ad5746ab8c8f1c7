// Base64 (RFC 4648, standard alphabet, with padding).
#ifndef SWITCHBOARD_DETAIL_BASE64_HPP
#define SWITCHBOARD_DETAIL_BASE64_HPP

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace switchboard {
namespace detail {

/// Appends standard base64 (with padding) of `bytes`.
template <class Out>
void append_base64(Out& out, std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16) |
                            (std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                            std::uint32_t(static_cast<unsigned char>(bytes[i + 2]));
    const char quad[] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], alphabet[v & 63]};
    out.append(std::string_view(quad, 4));
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 0) return;
  std::uint32_t v = std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16;
  if (rest == 2) v |= std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8;
  const char quad[] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], rest == 2 ? alphabet[(v >> 6) & 63] : '=', '='};
  out.append(std::string_view(quad, 4));
}

}  // namespace detail
}  // namespace switchboard

#endif
