// A WebSocket client for the RFC 6455 conformance cases: it sends any frame, legal or
// not (reserved bits and opcodes, unmasked, lengths that lie or are not minimal, bytes
// chopped into single writes), and sorts what the server answers into data messages,
// pongs and the close frame, each wait bounded by a deadline.
#ifndef SWITCHBOARD_TESTS_CONFORMANCE_RAW_CLIENT_HPP
#define SWITCHBOARD_TESTS_CONFORMANCE_RAW_CLIENT_HPP

#include "support/websocket_codec.hpp"
#include "support/ws_test_client.hpp"

#include <switchboard/detail/utf8.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

namespace switchboard {
namespace test {
namespace conformance {

/// Frame opcodes as numbers, reserved ones included (RFC 6455 section 5.2).
namespace opcode {
constexpr std::uint8_t continuation = 0x0;
constexpr std::uint8_t text = 0x1;
constexpr std::uint8_t binary = 0x2;
constexpr std::uint8_t close = 0x8;
constexpr std::uint8_t ping = 0x9;
constexpr std::uint8_t pong = 0xA;
}  // namespace opcode

/// The reserved header bits, to combine in `frame_spec::rsv`.
namespace rsv {
constexpr std::uint8_t rsv1 = 0x4;
constexpr std::uint8_t rsv2 = 0x2;
constexpr std::uint8_t rsv3 = 0x1;
}  // namespace rsv

/// How the payload length is written in the header.
enum class length_form {
  minimal,     ///< as RFC 6455 5.2 requires: 7 bits, else 16, else 64
  two_bytes,   ///< always the 16-bit form (126), even for a length below 126
  eight_bytes  ///< always the 64-bit form (127), even for a length below 65536
};

/// One client frame, described field by field.
struct frame_spec {
  std::uint8_t opcode = opcode::text;
  bool fin = true;
  std::uint8_t rsv = 0;  ///< RSV1..RSV3 as the low three bits (see `rsv`)
  bool masked = true;
  length_form form = length_form::minimal;
  /// The length the header announces, when it should differ from `payload.size()`;
  /// only `payload` is sent either way.
  std::optional<std::uint64_t> declared_length;
  std::string payload;
};

/// A data frame or control frame `op` carrying `payload`.
inline frame_spec make_frame(std::uint8_t op, std::string payload, bool fin = true) {
  frame_spec f;
  f.opcode = op;
  f.fin = fin;
  f.payload = std::move(payload);
  return f;
}

/// A close frame's payload: the code in network order, then the reason.
inline std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason.data(), reason.size());
  return payload;
}

/// A data message (fragments joined) as the server sent it.
struct data_message {
  std::uint8_t opcode = opcode::text;
  std::string payload;
};

/// How the server ended a connection.
struct close_outcome {
  bool close_received = false;  ///< a close frame arrived
  std::uint16_t code = closed_without_frame;  ///< its code; 1005 when it carried none
  std::string reason;
  bool tcp_closed = false;  ///< the server ended the TCP connection within the deadline
  /// Frames of any kind the server sent after its close frame: none may follow it
  /// (RFC 6455 5.5.1), not even a pong for a ping that came after the client's close.
  std::size_t frames_after_close = 0;
};

/// A client on one connection, used from the test thread only.
///
/// Everything the server sends is kept in arrival order per kind: `next_message` takes
/// the oldest data message, `next_pong` the oldest pong, and either reads on (keeping
/// the other kind) until one arrives. Pings from the server are answered. The server's
/// close frame is echoed once (as a well-behaved client does), after which the client
/// only waits for the server to end the TCP connection.
class raw_client {
 public:
  raw_client() : rng_(std::random_device{}()) {}
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  /// Connects to 127.0.0.1:`port` and REQUIREs the handshake and the `welcome` frame.
  void open(std::uint16_t port) { ws_.open(port); }

  /// The bytes of `frame` on the wire, masked with a fresh key when `frame.masked`.
  std::string encode(const frame_spec& frame) {
    const std::uint64_t length = frame.declared_length.value_or(frame.payload.size());
    std::string wire;
    wire.push_back(static_cast<char>((frame.fin ? 0x80u : 0u) | ((frame.rsv & 0x7u) << 4) | (frame.opcode & 0xFu)));
    const unsigned mask_bit = frame.masked ? 0x80u : 0u;
    length_form form = frame.form;
    if (form == length_form::minimal && length >= 126)
      form = length <= 0xFFFF ? length_form::two_bytes : length_form::eight_bytes;
    if (form == length_form::minimal) {
      wire.push_back(static_cast<char>(mask_bit | length));
    } else if (form == length_form::two_bytes) {
      wire.push_back(static_cast<char>(mask_bit | 126u));
      for (int shift = 8; shift >= 0; shift -= 8) wire.push_back(static_cast<char>((length >> shift) & 0xFFu));
    } else {
      wire.push_back(static_cast<char>(mask_bit | 127u));
      for (int shift = 56; shift >= 0; shift -= 8) wire.push_back(static_cast<char>((length >> shift) & 0xFFu));
    }
    const std::size_t header_size = wire.size();
    wire += frame.payload;
    if (frame.masked) {
      unsigned char key[4];
      for (auto& b : key) b = static_cast<unsigned char>(rng_());
      wire.insert(header_size, reinterpret_cast<const char*>(key), 4);
      detail::mask_ws_payload(reinterpret_cast<unsigned char*>(&wire[header_size + 4]), frame.payload.size(), key);
    }
    return wire;
  }

  /// Sends `bytes`, `chop` bytes per write (0: in one write). False once the server
  /// has stopped taking them; a test that expects a close checks the close, not this.
  bool send_bytes(std::string_view bytes, std::size_t chop = 0) {
    if (chop == 0) chop = bytes.size() ? bytes.size() : 1;
    for (std::size_t at = 0; at < bytes.size(); at += chop) {
      if (!ws_.send_raw(bytes.substr(at, chop))) return false;
    }
    return true;
  }

  /// Sends one frame, `chop` bytes per write.
  bool send(const frame_spec& frame, std::size_t chop = 0) { return send_bytes(encode(frame), chop); }

  /// Sends a close frame carrying `payload` (empty: no code).
  bool send_close(std::string payload = {}) {
    close_sent_ = true;
    return send(make_frame(opcode::close, std::move(payload)));
  }

  /// The oldest data message not taken yet; nullopt when none arrives within
  /// `timeout` or the connection closes first.
  std::optional<data_message> next_message(std::chrono::milliseconds timeout = default_timeout) {
    pump_until([this] { return !messages_.empty(); }, timeout);
    if (messages_.empty()) return std::nullopt;
    data_message m = std::move(messages_.front());
    messages_.pop_front();
    return m;
  }

  /// The oldest pong's payload not taken yet; nullopt when none arrives in time.
  std::optional<std::string> next_pong(std::chrono::milliseconds timeout = default_timeout) {
    pump_until([this] { return !pongs_.empty(); }, timeout);
    if (pongs_.empty()) return std::nullopt;
    std::string payload = std::move(pongs_.front());
    pongs_.pop_front();
    return payload;
  }

  /// Whether the server's close frame arrives within `timeout` (or has arrived). Data
  /// messages and pongs that arrive meanwhile stay available.
  bool close_arrives_within(std::chrono::milliseconds timeout) {
    pump_until([this] { return close_.close_received; }, timeout);
    return close_.close_received;
  }

  /// Waits up to `timeout` for the server's close frame and then for the end of the
  /// TCP connection. Data messages and pongs that arrive first stay available.
  close_outcome await_close(std::chrono::milliseconds timeout = default_timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    pump_until([this] { return close_.close_received; }, timeout);
    // After the close frame (or without one) only the end of the stream may follow.
    while (!eof_) {
      const auto left = time_left(deadline);
      if (left.count() <= 0 || !pump_one(left)) break;
    }
    close_.tcp_closed = eof_;
    return close_;
  }

  /// Data messages received and not taken yet.
  std::size_t pending_messages() const { return messages_.size(); }
  /// Pongs received and not taken yet.
  std::size_t pending_pongs() const { return pongs_.size(); }

 private:
  static std::chrono::milliseconds time_left(std::chrono::steady_clock::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  }

  template <class Done>
  void pump_until(Done done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && !eof_ && !close_.close_received) {
      const auto left = time_left(deadline);
      if (left.count() <= 0 || !pump_one(left)) break;
    }
  }

  // Reads one frame into the queues; false on timeout or at the end of the stream.
  bool pump_one(std::chrono::milliseconds timeout) {
    const read_status status = ws_.read_frames([this](const detail::ws_frame& f) { return take(f); }, timeout);
    if (status == read_status::closed) eof_ = true;
    return status == read_status::message;
  }

  bool take(const detail::ws_frame& frame) {
    if (close_.close_received) {
      ++close_.frames_after_close;
      return true;
    }
    CHECK_FALSE(frame.masked);  // a server never masks (RFC 6455 5.1)
    const auto op = static_cast<std::uint8_t>(frame.opcode);
    const std::string payload(frame.payload.data(), frame.payload.size());
    switch (op) {
      case opcode::ping:
        // The server's heartbeat; unanswered it would end the connection.
        if (!close_sent_) send(make_frame(opcode::pong, payload));
        return true;
      case opcode::pong:
        pongs_.push_back(payload);
        return true;
      case opcode::close:
        CHECK(payload.size() != 1);  // a code is two bytes or absent (RFC 6455 5.5.1)
        close_.close_received = true;
        close_.code = payload.size() >= 2 ? static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                                                       static_cast<unsigned char>(payload[1]))
                                          : std::uint16_t{1005};
        if (payload.size() > 2) close_.reason = payload.substr(2);
        if (!close_sent_) {
          // Echo the code only: the reason is the server's own and need not be repeated.
          send_close(payload.substr(0, payload.size() >= 2 ? 2 : 0));
        }
        return true;
      default:
        break;
    }
    if (op != opcode::continuation) {
      if (partial_) FAIL_CHECK("the server started a message inside a fragmented one");
      partial_ = data_message{op, payload};
    } else if (partial_) {
      partial_->payload += payload;
    } else {
      FAIL_CHECK("the server sent a continuation frame without a message to continue");
      return true;
    }
    if (frame.fin && partial_) {
      // The server is held to the rules it enforces (RFC 6455 8.1).
      if (partial_->opcode == opcode::text) CHECK(detail::is_valid_utf8(partial_->payload));
      messages_.push_back(std::move(*partial_));
      partial_.reset();
    }
    return true;
  }

  ws_test_client ws_;
  std::mt19937 rng_;
  std::deque<data_message> messages_;
  std::deque<std::string> pongs_;
  std::optional<data_message> partial_;
  close_outcome close_;
  bool close_sent_ = false;
  bool eof_ = false;
};

}  // namespace conformance
}  // namespace test
}  // namespace switchboard

#endif
