// Deadlines of many connections behind one timer: token expiry and the in-band auth
// timeout cost a heap entry per connection, never a timer each.
#ifndef SWITCHBOARD_DETAIL_DEADLINE_QUEUE_HPP
#define SWITCHBOARD_DETAIL_DEADLINE_QUEUE_HPP

#include <asio/io_context.hpp>
#include <asio/system_timer.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

namespace switchboard {
namespace detail {

/// A min-heap of (deadline, connection id) with one `system_timer` armed for the
/// earliest; wall-clock time, since token expiry is. Entries are never removed early:
/// when a deadline comes due, the owner's `on_due(id, deadline)` decides whether it
/// still holds (the connection may have closed or moved its deadline by a refresh).
/// `compact` drops the stale ones so that repeated refreshes cannot grow the heap.
///
/// Thread safety: none; it belongs to one hub's thread.
class deadline_queue {
 public:
  using clock = std::chrono::system_clock;
  using due_handler = std::function<void(std::uint64_t id, clock::time_point deadline)>;

  deadline_queue(asio::io_context& io, due_handler on_due) : timer_(io), on_due_(std::move(on_due)) {}
  deadline_queue(const deadline_queue&) = delete;
  deadline_queue& operator=(const deadline_queue&) = delete;

  void schedule(clock::time_point deadline, std::uint64_t id) {
    heap_.push_back({deadline, id});
    std::push_heap(heap_.begin(), heap_.end(), later);
    if (!armed_ || deadline < armed_for_) arm();
  }

  /// Keeps only the entries for which `still_due(id, deadline)` is true.
  template <class StillDue>
  void compact(StillDue&& still_due) {
    heap_.erase(std::remove_if(heap_.begin(), heap_.end(),
                               [&](const entry& e) { return !still_due(e.id, e.deadline); }),
                heap_.end());
    std::make_heap(heap_.begin(), heap_.end(), later);
  }

  std::size_t size() const noexcept { return heap_.size(); }

  /// Forgets every deadline and cancels the timer, so that it keeps no `run()` going.
  void clear() {
    heap_.clear();
    arm();
  }

 private:
  struct entry {
    clock::time_point deadline;
    std::uint64_t id;
  };
  static bool later(const entry& a, const entry& b) noexcept { return a.deadline > b.deadline; }

  void arm() {
    if (heap_.empty()) {
      armed_ = false;
      timer_.cancel();
      return;
    }
    armed_ = true;
    armed_for_ = heap_.front().deadline;
    timer_.expires_at(armed_for_);
    std::weak_ptr<char> alive = alive_;
    timer_.async_wait([this, alive](const std::error_code& ec) {
      if (ec || !alive.lock()) return;  // cancelled by a re-arm, or the owner is gone
      fire();
    });
  }

  void fire() {
    armed_ = false;
    // The wall clock may be behind the timer's notion of it: only what is due now runs.
    const clock::time_point now = clock::now();
    while (!heap_.empty() && heap_.front().deadline <= now) {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      const entry due = heap_.back();
      heap_.pop_back();
      on_due_(due.id, due.deadline);
    }
    if (!armed_) arm();
  }

  asio::system_timer timer_;
  due_handler on_due_;
  std::vector<entry> heap_;
  clock::time_point armed_for_{};
  bool armed_ = false;
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace detail
}  // namespace switchboard

#endif
