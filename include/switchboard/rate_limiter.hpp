// Per-connection token bucket.
#ifndef SWITCHBOARD_RATE_LIMITER_HPP
#define SWITCHBOARD_RATE_LIMITER_HPP

#include <chrono>
#include <cstdint>

namespace switchboard {

/// A token bucket that starts full. Rate and burst are passed on each call so that one
/// copy of them (in the hub's config) serves every connection; the bucket itself is
/// 16 bytes. A rate of 0 means unlimited.
///
/// Thread safety: none; one bucket per connection on the hub's thread.
class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  /// Takes one token at time `now`; false when the bucket is empty.
  bool try_take(clock::time_point now, double rate, double burst) noexcept {
    if (rate <= 0) return true;
    const std::int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    if (last_ns_ == 0) {
      tokens_ = burst;
    } else if (now_ns > last_ns_) {
      tokens_ += static_cast<double>(now_ns - last_ns_) * rate * 1e-9;
      if (tokens_ > burst) tokens_ = burst;
    }
    last_ns_ = now_ns;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

  /// Tokens left after the last call (for tests and stats).
  double tokens() const noexcept { return tokens_; }

 private:
  double tokens_ = 0;
  std::int64_t last_ns_ = 0;  // 0: never used, so the bucket is full
};

}  // namespace switchboard

#endif
