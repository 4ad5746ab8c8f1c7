// Reference-counted, immutable outgoing frames: encoded once, shared by every recipient.
#ifndef SWITCHBOARD_FRAME_HPP
#define SWITCHBOARD_FRAME_HPP

#include <switchboard/detail/websocket_frame.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace switchboard {

/// Whether a frame travels as a WebSocket text or binary message.
enum class frame_kind : std::uint8_t { text = 1, binary = 2 };

class shared_frame;

namespace detail {

// Header, then room for the WebSocket header, then the payload: one allocation per frame.
struct frame_block {
  std::atomic<std::uint32_t> refs;
  frame_kind kind;
  std::uint8_t ws_header_size;
  std::uint8_t note_size;  // bytes after the payload that never go on the wire
  std::size_t payload_size;

  static constexpr std::size_t headroom = 10;  // longest unmasked WebSocket header
  char* storage() noexcept { return reinterpret_cast<char*>(this + 1); }
  const char* payload() const noexcept { return reinterpret_cast<const char*>(this + 1) + headroom; }
};

/// A WebSocket control frame (close, ping or pong; `payload` at most 125 bytes), for
/// transports: it travels through the same write path as messages.
inline shared_frame make_control_frame(ws_opcode opcode, std::string_view payload);

}  // namespace detail

/// A handle to an immutable outgoing frame. Copying it shares the bytes (an atomic
/// reference count), so a publish to a thousand subscribers is one frame and a thousand
/// handles. The bytes include the unmasked WebSocket header, ready for the socket.
/// Handles may be copied and destroyed on any thread.
class shared_frame {
 public:
  shared_frame() noexcept = default;
  shared_frame(const shared_frame& other) noexcept : block_(other.block_) {
    if (block_) block_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  shared_frame(shared_frame&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
  shared_frame& operator=(shared_frame other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  ~shared_frame() { release(); }

  explicit operator bool() const noexcept { return block_ != nullptr; }
  /// Text or binary (a transport's control frames carry their opcode here instead).
  frame_kind kind() const noexcept { return block_->kind; }
  /// The message as the application sees it (JSON text, or the binary envelope).
  std::string_view payload() const noexcept { return {block_->payload(), block_->payload_size}; }
  /// The message as the socket sees it: WebSocket header followed by the payload.
  std::string_view wire() const noexcept {
    return {block_->payload() - block_->ws_header_size, block_->payload_size + block_->ws_header_size};
  }
  /// What the frame's encoder attached for the server's own use and never sends (the
  /// publisher of a binary message, for history); empty when nothing.
  std::string_view note() const noexcept { return {block_->payload() + block_->payload_size, block_->note_size}; }

 private:
  friend class frame_writer;
  explicit shared_frame(detail::frame_block* block) noexcept : block_(block) {}
  void release() noexcept {
    if (block_ && block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      block_->~frame_block();
      std::free(block_);
    }
    block_ = nullptr;
  }
  detail::frame_block* block_ = nullptr;
};

/// Builds one frame in place; `finish()` seals it into a `shared_frame`. The interface
/// follows std::string (`append`, `push_back`) so the JSON helpers write to either.
class frame_writer {
 public:
  explicit frame_writer(frame_kind kind, std::size_t capacity_hint = 256)
      : frame_writer(static_cast<detail::ws_opcode>(kind), capacity_hint) {}
  frame_writer(const frame_writer&) = delete;
  frame_writer& operator=(const frame_writer&) = delete;
  ~frame_writer() { std::free(raw_); }

  void append(std::string_view s) {
    reserve(size_ + s.size());
    if (!s.empty()) std::memcpy(payload_begin() + size_, s.data(), s.size());
    size_ += s.size();
  }
  void append(const char* s, std::size_t n) { append(std::string_view(s, n)); }
  void push_back(char c) {
    reserve(size_ + 1);
    payload_begin()[size_++] = c;
  }
  /// Appends `n` bytes and returns where they start (valid until the next append).
  char* extend(std::size_t n) {
    reserve(size_ + n);
    char* at = payload_begin() + size_;
    size_ += n;
    return at;
  }
  std::size_t size() const noexcept { return size_; }
  std::string_view view() const noexcept { return {payload_begin(), size_}; }

  /// Longest note a frame may carry (see `shared_frame::note`).
  static constexpr std::size_t max_note_size = 255;

  /// Seals the frame: writes its WebSocket header in front of the payload, and keeps
  /// `note` (at most `max_note_size` bytes, longer is cut) after it, off the wire.
  shared_frame finish(std::string_view note = {}) && {
    if (note.size() > max_note_size) note = note.substr(0, max_note_size);
    if (!note.empty()) {
      reserve(size_ + note.size());
      std::memcpy(payload_begin() + size_, note.data(), note.size());
    }
    auto* block = ::new (raw_)
        detail::frame_block{{1}, static_cast<frame_kind>(opcode_), 0, static_cast<std::uint8_t>(note.size()), size_};
    raw_ = nullptr;
    const auto header = detail::ws_header_size(size_);
    block->ws_header_size = static_cast<std::uint8_t>(header);
    detail::write_ws_header(reinterpret_cast<unsigned char*>(block->storage() + detail::frame_block::headroom - header),
                            opcode_, size_);
    return shared_frame(block);
  }

 private:
  friend shared_frame detail::make_control_frame(detail::ws_opcode, std::string_view);
  frame_writer(detail::ws_opcode opcode, std::size_t capacity_hint) : opcode_(opcode) { grow(capacity_hint); }

  static constexpr std::size_t prefix = sizeof(detail::frame_block) + detail::frame_block::headroom;
  char* payload_begin() const noexcept { return raw_ + prefix; }
  void reserve(std::size_t needed) {
    if (needed > capacity_) grow(needed > 2 * capacity_ ? needed : 2 * capacity_);
  }
  void grow(std::size_t capacity) {
    void* bigger = std::realloc(raw_, prefix + capacity);
    if (!bigger) throw std::bad_alloc();
    raw_ = static_cast<char*>(bigger);
    capacity_ = capacity;
  }

  detail::ws_opcode opcode_;
  char* raw_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

/// A frame holding a copy of `payload`.
inline shared_frame make_frame(frame_kind kind, std::string_view payload) {
  frame_writer writer(kind, payload.size());
  writer.append(payload);
  return std::move(writer).finish();
}

namespace detail {
inline shared_frame make_control_frame(ws_opcode opcode, std::string_view payload) {
  frame_writer writer(opcode, payload.size());
  writer.append(payload);
  return std::move(writer).finish();
}
}  // namespace detail

}  // namespace switchboard

#endif
