// The client half of RFC 6455 for tests and the load generator: masking, reading
// frames from a byte stream, SHA-1 and the opening handshake. Not part of the
// library: a server only writes unmasked frame headers (detail/websocket_frame.hpp).
#ifndef SWITCHBOARD_TESTS_SUPPORT_WEBSOCKET_CODEC_HPP
#define SWITCHBOARD_TESTS_SUPPORT_WEBSOCKET_CODEC_HPP

#include <switchboard/detail/base64.hpp>
#include <switchboard/detail/websocket_frame.hpp>
#include <switchboard/detail/websocket_handshake.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace switchboard {
namespace detail {

/// XORs `size` bytes of `data` with the 4-byte `mask_key` (RFC 6455 section 5.3).
/// `offset` is the position of `data[0]` within the frame's payload, so a payload can
/// be masked in pieces. Masking twice restores the original bytes.
inline void mask_ws_payload(unsigned char* data, std::size_t size, const unsigned char* mask_key,
                            std::size_t offset = 0) noexcept {
  // Eight bytes at a time: the rotated key repeats every 4 bytes, so a 64-bit word of
  // it lines up with any 8-byte aligned position relative to `data`.
  unsigned char key[8];
  for (std::size_t i = 0; i < 8; ++i) key[i] = mask_key[(offset + i) & 3];
  std::uint64_t key_word;
  std::memcpy(&key_word, key, 8);
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, data + i, 8);
    word ^= key_word;
    std::memcpy(data + i, &word, 8);
  }
  for (; i < size; ++i) data[i] ^= key[i & 7];
}

/// One frame found in a byte stream. Fragments are reported as they come: a
/// fragmented message is a first frame with `fin == false` and its opcode, then
/// `continuation` frames, the last with `fin == true`.
struct ws_frame {
  ws_opcode opcode = ws_opcode::continuation;
  bool fin = false;
  bool masked = false;
  unsigned char mask_key[4] = {0, 0, 0, 0};
  std::size_t header_size = 0;
  std::uint64_t payload_size = 0;
  /// The payload bytes. Filled by `ws_frame_reader::next` (unmasked); left empty by
  /// `parse_ws_frame`, which only reads the header.
  std::string_view payload;
};

/// What `parse_ws_frame` found.
enum class ws_parse_status {
  incomplete,      ///< more bytes are needed (`needed` says how many in total, when known)
  ok,              ///< a whole frame is available
  protocol_error,  ///< reserved bits or opcode, or a malformed control frame
  too_large,       ///< the payload exceeds the caller's limit
};

/// The outcome of `parse_ws_frame`: `needed` is the whole frame's size in bytes
/// (header and payload) once the header is complete, otherwise the bytes needed to
/// read the header.
struct ws_parse_result {
  ws_parse_status status = ws_parse_status::incomplete;
  std::size_t needed = 2;
};

/// Reads the frame header at the start of `data`. With status `ok`, the payload is
/// `data[frame.header_size .. frame.header_size + frame.payload_size)`, still masked
/// when `frame.masked`. Never reads past `size`.
inline ws_parse_result parse_ws_frame(const unsigned char* data, std::size_t size, ws_frame& frame,
                                      std::uint64_t max_payload = std::uint64_t(1) << 24) noexcept {
  ws_parse_result result;
  if (size < 2) return result;
  const unsigned b0 = data[0];
  const unsigned b1 = data[1];
  // No extension is ever negotiated, so the RSV bits must be clear.
  if (b0 & 0x70u) return {ws_parse_status::protocol_error, 0};
  const unsigned op = b0 & 0x0Fu;
  if ((op > 0x2u && op < 0x8u) || op > 0xAu) return {ws_parse_status::protocol_error, 0};
  frame.opcode = static_cast<ws_opcode>(op);
  frame.fin = (b0 & 0x80u) != 0;
  frame.masked = (b1 & 0x80u) != 0;
  std::uint64_t length = b1 & 0x7Fu;
  std::size_t header = 2;
  if (length == 126) {
    header = 4;
  } else if (length == 127) {
    header = 10;
  }
  if (frame.masked) header += 4;
  if (size < header) {
    result.needed = header;
    return result;
  }
  if (length == 126) {
    length = (std::uint64_t(data[2]) << 8) | data[3];
  } else if (length == 127) {
    length = 0;
    for (std::size_t i = 2; i < 10; ++i) length = (length << 8) | data[i];
    if (length >> 63) return {ws_parse_status::protocol_error, 0};
  }
  // Control frames are short and never fragmented (RFC 6455 section 5.5).
  if ((op & 0x8u) && (length > 125 || !frame.fin)) return {ws_parse_status::protocol_error, 0};
  if (length > max_payload) return {ws_parse_status::too_large, 0};
  if (frame.masked) std::memcpy(frame.mask_key, data + header - 4, 4);
  frame.header_size = header;
  frame.payload_size = length;
  frame.payload = {};
  result.needed = header + static_cast<std::size_t>(length);
  result.status = size >= result.needed ? ws_parse_status::ok : ws_parse_status::incomplete;
  return result;
}

/// A growable receive buffer that splits a byte stream into frames.
///
/// Read into `prepare()`, `commit()` what arrived, then call `next()` until it stops
/// returning `ok`. Before frames, `data()` / `consume()` give access to the raw bytes
/// (the HTTP response of the handshake). Masked frames are unmasked in place.
/// Not thread-safe.
class ws_frame_reader {
 public:
  explicit ws_frame_reader(std::size_t initial_capacity = 4096,
                           std::uint64_t max_payload = std::uint64_t(1) << 24)
      : max_payload_(max_payload), initial_capacity_(initial_capacity < 16 ? 16 : initial_capacity) {}

  /// Returns space for at least `min_size` more bytes (and at least the rest of a
  /// partly received frame); `writable()` tells the space actually available.
  /// Invalidates payloads returned by `next()`.
  unsigned char* prepare(std::size_t min_size = 1) {
    std::size_t want = min_size;
    const std::size_t pending = end_ - begin_;
    if (need_ > pending && need_ - pending > want) want = need_ - pending;
    if (capacity_ - end_ < want) {
      if (capacity_ - pending >= want && begin_ > 0) {
        std::memmove(buffer_.get(), buffer_.get() + begin_, pending);
      } else {
        std::size_t capacity = capacity_ ? capacity_ * 2 : initial_capacity_;
        while (capacity < pending + want) capacity *= 2;
        // Not value-initialized: untouched pages of a large buffer cost no memory.
        std::unique_ptr<unsigned char[]> bigger(new unsigned char[capacity]);
        if (pending) std::memcpy(bigger.get(), buffer_.get() + begin_, pending);
        buffer_ = std::move(bigger);
        capacity_ = capacity;
      }
      begin_ = 0;
      end_ = pending;
    }
    return buffer_.get() + end_;
  }

  /// The bytes available at `prepare()`'s pointer.
  std::size_t writable() const noexcept { return capacity_ - end_; }

  /// Marks `size` bytes written at `prepare()`'s pointer as received.
  void commit(std::size_t size) noexcept { end_ += size; }

  /// The received bytes not consumed yet.
  std::string_view data() const noexcept {
    return {reinterpret_cast<const char*>(buffer_.get() + begin_), end_ - begin_};
  }

  /// Drops the first `size` bytes of `data()`.
  void consume(std::size_t size) noexcept {
    begin_ += size < end_ - begin_ ? size : end_ - begin_;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  /// Takes the next whole frame out of the buffer. On `ok`, `frame.payload` is valid
  /// until the next `prepare()`. After an error the stream cannot be resynchronized.
  ws_parse_status next(ws_frame& frame) noexcept {
    const std::size_t pending = end_ - begin_;
    const ws_parse_result r = parse_ws_frame(buffer_.get() + begin_, pending, frame, max_payload_);
    if (r.status != ws_parse_status::ok) {
      need_ = r.status == ws_parse_status::incomplete ? r.needed : 0;
      return r.status;
    }
    unsigned char* payload = buffer_.get() + begin_ + frame.header_size;
    const auto length = static_cast<std::size_t>(frame.payload_size);
    if (frame.masked) mask_ws_payload(payload, length, frame.mask_key);
    frame.payload = {reinterpret_cast<const char*>(payload), length};
    // Not consume(): resetting to the front here would let the next read overwrite
    // the payload just returned.
    begin_ += r.needed;
    need_ = 0;
    return ws_parse_status::ok;
  }

  /// The bytes currently allocated.
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  std::unique_ptr<unsigned char[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t need_ = 0;  // size of the frame being received, when its header is known
  std::uint64_t max_payload_;
  std::size_t initial_capacity_;
};

/// Standard base64 (RFC 4648) with padding.
inline std::string ws_base64_encode(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  append_base64(out, std::string_view(reinterpret_cast<const char*>(data), size));
  return out;
}

/// SHA-1, as the server computes it for the accept key.
inline std::string ws_sha1(std::string_view input) { return switchboard::detail::sha1(input); }

/// The `Sec-WebSocket-Accept` value a server must answer to `client_key`.
inline std::string ws_accept_key(std::string_view client_key) { return switchboard::detail::websocket_accept_key(client_key); }

/// A `Sec-WebSocket-Key` made from 16 random bytes supplied by the caller.
inline std::string ws_client_key(const unsigned char* nonce16) { return ws_base64_encode(nonce16, 16); }

/// The client's opening handshake (RFC 6455 section 4.1). `host` is `host[:port]`;
/// `extra_headers` is inserted as is and must end each line with CRLF (for example
/// `"Sec-WebSocket-Protocol: switchboard.v1\r\n"`).
inline std::string ws_client_handshake(std::string_view host, std::string_view path, std::string_view key,
                                       std::string_view extra_headers = {}) {
  std::string request;
  request.reserve(160 + host.size() + path.size() + extra_headers.size());
  request += "GET ";
  request += path.empty() ? std::string_view("/") : path;
  request += " HTTP/1.1\r\nHost: ";
  request += host;
  request += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  request += key;
  request += "\r\nSec-WebSocket-Version: 13\r\n";
  request += extra_headers;
  request += "\r\n";
  return request;
}

/// The value of header `name` (case-insensitive) in an HTTP header block, trimmed;
/// empty when absent. `headers` may include the status line.
inline std::string_view ws_http_header(std::string_view headers, std::string_view name) noexcept {
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  std::size_t line = headers.find("\r\n");
  while (line != std::string_view::npos) {
    line += 2;
    const std::size_t end = headers.find("\r\n", line);
    const std::string_view text = headers.substr(line, end == std::string_view::npos ? end : end - line);
    const std::size_t colon = text.find(':');
    if (colon == name.size() &&
        std::equal(name.begin(), name.end(), text.begin(), [&](char x, char y) { return lower(x) == lower(y); })) {
      std::string_view value = text.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
      return value;
    }
    line = end;
  }
  return {};
}

/// What the server answered to the opening handshake.
enum class ws_handshake_status {
  incomplete,  ///< the response header has not fully arrived
  accepted,    ///< 101 with the right accept key: frames follow
  refused,     ///< any other status (`http_status` says which), or a malformed response
  bad_accept,  ///< 101, but `Sec-WebSocket-Accept` does not match the key
};

/// `size` is the length of the response header including its final CRLF CRLF;
/// bytes after it are already frames.
struct ws_handshake_result {
  ws_handshake_status status = ws_handshake_status::incomplete;
  std::size_t size = 0;
  int http_status = 0;
};

/// Checks the server's answer to `ws_client_handshake`. `received` is the bytes read
/// so far; with an empty `client_key` the accept value is not checked. A header
/// longer than `max_header` bytes is `refused`.
inline ws_handshake_result check_ws_handshake_response(std::string_view received, std::string_view client_key,
                                                       std::size_t max_header = 16384) {
  ws_handshake_result result;
  const std::size_t end = received.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (received.size() > max_header) result.status = ws_handshake_status::refused;
    return result;
  }
  result.size = end + 4;
  const std::string_view header = received.substr(0, end + 2);
  result.status = ws_handshake_status::refused;
  // "HTTP/1.1 101 Switching Protocols"
  if (header.size() < 12 || header.substr(0, 5) != "HTTP/") return result;
  const std::size_t space = header.find(' ');
  if (space == std::string_view::npos || space + 4 > header.size()) return result;
  int code = 0;
  for (std::size_t i = space + 1; i < space + 4; ++i) {
    if (header[i] < '0' || header[i] > '9') return result;
    code = code * 10 + (header[i] - '0');
  }
  result.http_status = code;
  if (code != 101) return result;
  if (!client_key.empty() && ws_http_header(header, "Sec-WebSocket-Accept") != ws_accept_key(client_key)) {
    result.status = ws_handshake_status::bad_accept;
    return result;
  }
  result.status = ws_handshake_status::accepted;
  return result;
}

}  // namespace detail
}  // namespace switchboard

#endif
