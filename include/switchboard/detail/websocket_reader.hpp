// The receiving half of RFC 6455 on a server: client frames in, messages and control
// frames out, every protocol violation turned into the close code PROTOCOL section 6
// gives it. No socket here, so that it can be tested and fuzzed on its own.
#ifndef SWITCHBOARD_DETAIL_WEBSOCKET_READER_HPP
#define SWITCHBOARD_DETAIL_WEBSOCKET_READER_HPP

#include <switchboard/detail/utf8.hpp>
#include <switchboard/detail/websocket_frame.hpp>
#include <switchboard/error.hpp>
#include <switchboard/frame.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace switchboard {
namespace detail {

/// XORs `size` bytes with the 4-byte `key`, starting at key byte `phase` (0-3); returns
/// the phase after them. A word at a time: unmasking is on every received byte's path.
inline unsigned unmask_ws_payload(char* data, std::size_t size, const unsigned char* key, unsigned phase) noexcept {
  std::size_t i = 0;
  // Bytewise until the phase is 0, so that the word loop below uses the key as is.
  for (; i < size && phase != 0; ++i, phase = (phase + 1) & 3) data[i] ^= static_cast<char>(key[phase]);
  if (size - i >= 8) {
    std::uint32_t key32;
    std::memcpy(&key32, key, 4);
    const std::uint64_t key64 = (std::uint64_t(key32) << 32) | key32;
    for (; size - i >= 8; i += 8) {
      std::uint64_t word;
      std::memcpy(&word, data + i, 8);
      word ^= key64;
      std::memcpy(data + i, &word, 8);
    }
  }
  for (; i < size; ++i, phase = (phase + 1) & 3) data[i] ^= static_cast<char>(key[phase]);
  return phase;
}

/// True for the close codes an endpoint may send (RFC 6455 7.4, IANA registry).
constexpr bool is_valid_close_code(std::uint16_t code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/// Turns the bytes a client sends after the handshake into messages and control frames.
///
/// `consume` takes whatever arrived (any split: a byte at a time or many frames at once)
/// and unmasks it in place. A message that arrived whole in one buffer is handed to the
/// sink as a view into that buffer, without a copy; only the part of a message that
/// spans reads is kept, in a buffer allocated on demand and freed once it is delivered.
///
/// The sink provides:
///   bool on_message(frame_kind, std::string_view payload);  // false: stop reading
///   void on_ping(std::string_view payload);
///   void on_pong(std::string_view payload);
///   void on_close(std::uint16_t code, std::string_view reason);  // code 0: none given
///   void on_failure(std::uint16_t close_code, const char* reason);
/// After on_close or on_failure the reader consumes nothing more.
class websocket_reader {
 public:
  explicit websocket_reader(std::size_t max_message_bytes) noexcept : max_message_bytes_(max_message_bytes) {}

  /// Consumes `data`, unmasking it in place; returns how many bytes were consumed. Fewer
  /// than `size` only when the sink stopped reading or the reader has finished.
  template <class Sink>
  std::size_t consume(char* data, std::size_t size, Sink& sink) {
    std::size_t at = 0;
    while (at < size && !finished_) {
      if (!in_frame_) {
        at += take_header(data + at, size - at, sink);
        if (!in_frame_) continue;  // incomplete header (all taken) or failure
        if (remaining_ == 0 && !payload_part(data + at, 0, true, sink)) return at;
        continue;
      }
      const std::size_t n = remaining_ < size - at ? static_cast<std::size_t>(remaining_) : size - at;
      char* payload = data + at;
      mask_phase_ = static_cast<std::uint8_t>(unmask_ws_payload(payload, n, mask_, mask_phase_));
      const bool whole = n == remaining_ && n == frame_size_;  // the frame arrived in this buffer
      remaining_ -= n;
      at += n;
      if (!payload_part(payload, n, whole, sink)) return at;
    }
    return at;
  }

  /// True when nothing is half-received (no partial frame or fragmented message held).
  bool idle() const noexcept { return !in_frame_ && header_size_ == 0 && message_kind_ == 0; }
  /// True after a close frame or a protocol failure.
  bool finished() const noexcept { return finished_; }
  /// Bytes allocated for a message or control frame that spans reads; 0 when idle.
  std::size_t buffered_bytes() const noexcept { return allocated_bytes(message_) + allocated_bytes(control_); }

 private:
  // Parses a frame header from `header_` + `data`; returns the bytes of `data` taken.
  template <class Sink>
  std::size_t take_header(const char* data, std::size_t size, Sink& sink) {
    const std::size_t before = header_size_;
    const std::size_t copy = size < max_ws_header_size - before ? size : max_ws_header_size - before;
    std::memcpy(header_ + before, data, copy);
    const std::size_t have = before + copy;
    const std::size_t need = header_length(have);
    if (need == 0 || need > have) {  // not even the length known yet, or incomplete
      header_size_ = static_cast<std::uint8_t>(have);
      return copy;
    }
    header_size_ = 0;
    start_frame(sink);
    return need - before;
  }

  // The header's full length once its first two bytes are known; 0 before.
  std::size_t header_length(std::size_t have) const noexcept {
    if (have < 2) return 0;
    const unsigned length7 = header_[1] & 0x7Fu;
    const std::size_t extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
    return 2 + extended + ((header_[1] & 0x80u) ? 4 : 0);
  }

  template <class Sink>
  void start_frame(Sink& sink) {
    const unsigned b0 = header_[0], b1 = header_[1];
    fin_ = (b0 & 0x80u) != 0;
    opcode_ = static_cast<std::uint8_t>(b0 & 0x0Fu);
    if (b0 & 0x70u) return fail(sink, close_code::protocol_error, "reserved bits set without an extension");
    if (!(b1 & 0x80u)) return fail(sink, close_code::protocol_error, "client frames must be masked");
    std::uint64_t length = b1 & 0x7Fu;
    std::size_t at = 2;
    if (length == 126) {
      length = (std::uint64_t(header_[2]) << 8) | header_[3];
      at = 4;
      if (length < 126) return fail(sink, close_code::protocol_error, "length not in its shortest form");
    } else if (length == 127) {
      length = 0;
      for (std::size_t i = 0; i < 8; ++i) length = (length << 8) | header_[2 + i];
      at = 10;
      if (length >> 63) return fail(sink, close_code::protocol_error, "length with its most significant bit set");
      if (length <= 0xFFFF) return fail(sink, close_code::protocol_error, "length not in its shortest form");
    }
    std::memcpy(mask_, header_ + at, 4);
    mask_phase_ = 0;
    frame_size_ = remaining_ = length;
    switch (static_cast<ws_opcode>(opcode_)) {
      case ws_opcode::close:
      case ws_opcode::ping:
      case ws_opcode::pong:
        if (!fin_) return fail(sink, close_code::protocol_error, "fragmented control frame");
        if (length > 125) return fail(sink, close_code::protocol_error, "control frame longer than 125 bytes");
        break;
      case ws_opcode::continuation:
        if (message_kind_ == 0) return fail(sink, close_code::protocol_error, "continuation frame without a message");
        break;
      case ws_opcode::text:
      case ws_opcode::binary:
        if (message_kind_ != 0) return fail(sink, close_code::protocol_error, "new message inside a fragmented one");
        message_kind_ = opcode_;
        message_size_ = 0;
        break;
      default: return fail(sink, close_code::protocol_error, "reserved opcode");
    }
    if (opcode_ < 8 && length > max_message_bytes_ - message_size_)
      return fail(sink, close_code::message_too_big, "message too big");
    if (opcode_ < 8) message_size_ += length;
    in_frame_ = true;
  }

  // A piece of the current frame's payload (already unmasked); false: stop consuming.
  template <class Sink>
  bool payload_part(char* payload, std::size_t n, bool whole, Sink& sink) {
    if (opcode_ >= 8) {  // control
      if (whole) return end_frame(payload, n, true, sink);
      if (n != 0) control_.append(payload, n);
      if (remaining_ != 0) return true;
      const bool go_on = end_frame(control_.data(), control_.size(), true, sink);
      std::string().swap(control_);
      return go_on;
    }
    if (message_kind_ == static_cast<std::uint8_t>(ws_opcode::text) && !utf8_.feed(payload, n)) {
      fail(sink, close_code::invalid_payload, "invalid UTF-8 in a text message");
      return false;
    }
    // A single-frame message that arrived whole goes to the sink from the read buffer.
    if (whole && fin_ && message_.empty()) return end_frame(payload, n, false, sink);
    if (n != 0) message_.append(payload, n);
    if (remaining_ != 0) return true;
    return end_frame(nullptr, 0, false, sink);
  }

  // The current frame is complete. `payload` is its payload for a control frame or a
  // message delivered in place; otherwise the message is in `message_`.
  template <class Sink>
  bool end_frame(const char* payload, std::size_t n, bool in_place, Sink& sink) {
    in_frame_ = false;
    switch (static_cast<ws_opcode>(opcode_)) {
      case ws_opcode::ping: sink.on_ping(std::string_view(payload, n)); return true;
      case ws_opcode::pong: sink.on_pong(std::string_view(payload, n)); return true;
      case ws_opcode::close: close_frame(payload, n, sink); return false;
      default: break;
    }
    if (!fin_) return true;
    const bool text = message_kind_ == static_cast<std::uint8_t>(ws_opcode::text);
    if (text && !utf8_.complete()) {
      fail(sink, close_code::invalid_payload, "text message ends inside a UTF-8 sequence");
      return false;
    }
    const frame_kind kind = text ? frame_kind::text : frame_kind::binary;
    message_kind_ = 0;
    utf8_.reset();
    if (in_place || message_.empty()) return sink.on_message(kind, std::string_view(payload, n));
    std::string message;
    message.swap(message_);  // freed after delivery: nothing is kept while idle
    return sink.on_message(kind, message);
  }

  template <class Sink>
  void close_frame(const char* payload, std::size_t n, Sink& sink) {
    if (n == 1) return fail(sink, close_code::protocol_error, "close frame with a 1-byte payload");
    std::uint16_t code = 0;
    std::string_view reason;
    if (n >= 2) {
      code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]));
      if (!is_valid_close_code(code)) return fail(sink, close_code::protocol_error, "invalid close code");
      reason = std::string_view(payload + 2, n - 2);
      if (!is_valid_utf8(reason)) return fail(sink, close_code::invalid_payload, "close reason is not UTF-8");
    }
    finished_ = true;
    sink.on_close(code, reason);
  }

  template <class Sink>
  void fail(Sink& sink, std::uint16_t code, const char* reason) {
    finished_ = true;
    in_frame_ = false;
    sink.on_failure(code, reason);
  }

  // An empty string's capacity is its small-string buffer inside the object, which
  // costs nothing beyond the reader itself.
  static std::size_t allocated_bytes(const std::string& s) noexcept {
    return s.capacity() > std::string().capacity() ? s.capacity() : 0;
  }

  std::uint64_t max_message_bytes_;
  std::uint64_t remaining_ = 0;     // payload bytes of the current frame still to come
  std::uint64_t frame_size_ = 0;    // payload bytes of the current frame
  std::uint64_t message_size_ = 0;  // payload bytes of the current message so far
  std::string message_;             // a message spanning reads, on demand
  std::string control_;             // a control frame spanning reads, on demand
  utf8_validator utf8_;
  unsigned char header_[max_ws_header_size];
  unsigned char mask_[4] = {};
  std::uint8_t header_size_ = 0;    // bytes of an incomplete header held in header_
  std::uint8_t mask_phase_ = 0;
  std::uint8_t opcode_ = 0;         // of the current frame
  std::uint8_t message_kind_ = 0;   // opcode of the message being received; 0 between messages
  bool fin_ = false;
  bool in_frame_ = false;
  bool finished_ = false;
};

}  // namespace detail
}  // namespace switchboard

#endif
