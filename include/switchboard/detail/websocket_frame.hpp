// RFC 6455 frame headers as a server writes them (unmasked, final).
#ifndef SWITCHBOARD_DETAIL_WEBSOCKET_FRAME_HPP
#define SWITCHBOARD_DETAIL_WEBSOCKET_FRAME_HPP

#include <cstddef>
#include <cstdint>

namespace switchboard {
namespace detail {

/// WebSocket frame opcodes (RFC 6455 section 5.2).
enum class ws_opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// The longest header a frame can have: 2 bytes, 8 bytes of extended length, 4 of mask key.
constexpr std::size_t max_ws_header_size = 14;

/// The header length of an unmasked (server) frame carrying `payload_size` bytes.
constexpr std::size_t ws_header_size(std::uint64_t payload_size, bool masked = false) noexcept {
  return (payload_size < 126 ? 2 : payload_size <= 0xFFFF ? 4 : 10) + (masked ? 4 : 0);
}

/// Writes the header of a final (FIN) frame into `out`, which must hold
/// `ws_header_size(payload_size, mask_key != nullptr)` bytes, and returns its length.
/// `mask_key` is null for server frames; clients pass their 4-byte key (the payload
/// must then be masked by the caller).
inline std::size_t write_ws_header(unsigned char* out, ws_opcode opcode, std::uint64_t payload_size,
                                   const unsigned char* mask_key = nullptr) noexcept {
  std::size_t n = 0;
  out[n++] = static_cast<unsigned char>(0x80u | static_cast<unsigned>(opcode));
  const unsigned char mask_bit = mask_key ? 0x80u : 0x00u;
  if (payload_size < 126) {
    out[n++] = static_cast<unsigned char>(mask_bit | payload_size);
  } else if (payload_size <= 0xFFFF) {
    out[n++] = static_cast<unsigned char>(mask_bit | 126u);
    out[n++] = static_cast<unsigned char>(payload_size >> 8);
    out[n++] = static_cast<unsigned char>(payload_size);
  } else {
    out[n++] = static_cast<unsigned char>(mask_bit | 127u);
    for (int shift = 56; shift >= 0; shift -= 8) out[n++] = static_cast<unsigned char>(payload_size >> shift);
  }
  if (mask_key) {
    for (int i = 0; i < 4; ++i) out[n++] = mask_key[i];
  }
  return n;
}

}  // namespace detail
}  // namespace switchboard

#endif
