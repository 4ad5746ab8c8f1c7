// Bytes as hex, for test failure messages.
#ifndef SWITCHBOARD_TESTS_SUPPORT_HEX_HPP
#define SWITCHBOARD_TESTS_SUPPORT_HEX_HPP

#include <string>
#include <string_view>

namespace switchboard {
namespace test {

/// `bytes` as lower-case hex pairs, each followed by `separator` (none when '\0').
inline std::string hex(std::string_view bytes, char separator = ' ') {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0xF];
    if (separator != '\0') out += separator;
  }
  return out;
}

}  // namespace test
}  // namespace switchboard

#endif
