// shared_frame handles copied and dropped on several threads at once: under TSan a
// reference count that is not atomic is reported as a race, however the threads interleave.
#include <switchboard/frame.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace sb = switchboard;

namespace {
// The reference count behind `f` (white-box, as in tests/unit/test_frame.cpp).
std::uint32_t refs(const sb::shared_frame& f) {
  using block = sb::detail::frame_block;
  const char* headroom = f.payload().data() - block::headroom;
  return (reinterpret_cast<const block*>(headroom) - 1)->refs.load(std::memory_order_acquire);
}
}  // namespace

TEST_CASE("shared_frame copies may be made and dropped on several threads at once", "[tsan][frame]") {
  const sb::shared_frame frame = sb::make_frame(sb::frame_kind::text, std::string(64, 'f'));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&frame, &go] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      std::vector<sb::shared_frame> held;
      for (int i = 0; i < 2000; ++i) {
        held.push_back(frame);
        if (i % 3 == 0) held.erase(held.begin());
      }
    });
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  CHECK(refs(frame) == 1);  // every copy made on the threads was released
  CHECK(frame.payload() == std::string(64, 'f'));
}
