// A connection's outgoing frames: one kept inline (the common case in a fan-out, where
// each connection gets one frame per loop turn), more in a heap buffer that is kept
// for reuse.
#ifndef SWITCHBOARD_DETAIL_FRAME_QUEUE_HPP
#define SWITCHBOARD_DETAIL_FRAME_QUEUE_HPP

#include <switchboard/frame.hpp>

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

namespace switchboard {
namespace detail {

class frame_queue {
 public:
  frame_queue() noexcept = default;
  frame_queue(frame_queue&& other) noexcept
      : inline_(std::move(other.inline_)),
        heap_(std::exchange(other.heap_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)),
        on_heap_(std::exchange(other.on_heap_, false)) {}
  frame_queue(const frame_queue&) = delete;
  frame_queue& operator=(const frame_queue&) = delete;
  frame_queue& operator=(frame_queue&&) = delete;
  ~frame_queue() {
    clear();
    ::operator delete(heap_);
  }

  const shared_frame* data() const noexcept { return on_heap_ ? heap_ : &inline_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  void push_back(const shared_frame& frame) {
    if (!on_heap_) {
      if (size_ == 0) {
        inline_ = frame;
        size_ = 1;
        return;
      }
      reserve(4);
      ::new (heap_) shared_frame(std::move(inline_));
      on_heap_ = true;
    } else if (size_ == capacity_) {
      reserve(2 * capacity_);
    }
    ::new (heap_ + size_) shared_frame(frame);
    ++size_;
  }

  /// Puts `count` frames before the frame at `at` (`at <= size()`). Linear: for the rare
  /// answer that must overtake frames queued after it was asked for.
  void insert(std::size_t at, const shared_frame* frames, std::size_t count) {
    if (count == 0) return;
    std::vector<shared_frame> all(data(), data() + size_);
    all.insert(all.begin() + static_cast<std::ptrdiff_t>(at), frames, frames + count);
    clear();
    for (const auto& f : all) push_back(f);
  }

  /// Releases every frame. A small heap buffer is kept for the next burst.
  void clear() noexcept {
    if (on_heap_) {
      for (std::uint32_t i = 0; i < size_; ++i) heap_[i].~shared_frame();
      on_heap_ = false;
      if (capacity_ > max_kept_capacity) {
        ::operator delete(heap_);
        heap_ = nullptr;
        capacity_ = 0;
      }
    } else {
      inline_ = shared_frame();
    }
    size_ = 0;
  }

 private:
  static constexpr std::uint32_t max_kept_capacity = 16;

  // Grows the heap buffer to `capacity`, moving the frames already on it.
  void reserve(std::uint32_t capacity) {
    if (capacity <= capacity_) return;
    auto* bigger = static_cast<shared_frame*>(::operator new(sizeof(shared_frame) * capacity));
    if (on_heap_)
      for (std::uint32_t i = 0; i < size_; ++i) {
        ::new (bigger + i) shared_frame(std::move(heap_[i]));
        heap_[i].~shared_frame();
      }
    ::operator delete(heap_);
    heap_ = bigger;
    capacity_ = capacity;
  }

  shared_frame inline_;
  shared_frame* heap_ = nullptr;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = 0;
  bool on_heap_ = false;
};

}  // namespace detail
}  // namespace switchboard

#endif
