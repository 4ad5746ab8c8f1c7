// The per-connection token bucket, driven with explicit time points.
#include <switchboard/rate_limiter.hpp>

#include <catch2/catch.hpp>

#include <chrono>

using switchboard::token_bucket;
using namespace std::chrono_literals;

namespace {
// A fixed, arbitrary start: the bucket must not depend on the clock's epoch.
const token_bucket::clock::time_point t0 = token_bucket::clock::time_point(1h);

int takes(token_bucket& b, token_bucket::clock::time_point now, double rate, double burst, int attempts) {
  int ok = 0;
  for (int i = 0; i < attempts; ++i) ok += b.try_take(now, rate, burst) ? 1 : 0;
  return ok;
}
}  // namespace

TEST_CASE("token bucket starts full with the burst", "[rate_limiter]") {
  token_bucket b;
  CHECK(takes(b, t0, 10, 5, 100) == 5);
  CHECK_FALSE(b.try_take(t0, 10, 5));
  CHECK(b.tokens() < 1.0);
}

TEST_CASE("token bucket refills at the rate, capped at the burst", "[rate_limiter]") {
  token_bucket b;
  const double rate = 2, burst = 3;
  REQUIRE(takes(b, t0, rate, burst, 3) == 3);
  CHECK_FALSE(b.try_take(t0, rate, burst));

  CHECK_FALSE(b.try_take(t0 + 499ms, rate, burst));  // 0.998 tokens
  CHECK(b.try_take(t0 + 501ms, rate, burst));        // 1.002 tokens
  CHECK_FALSE(b.try_take(t0 + 501ms, rate, burst));

  // Fractions accumulate across calls: 4 x 125 ms at 2/s is one token.
  CHECK_FALSE(b.try_take(t0 + 626ms, rate, burst));
  CHECK_FALSE(b.try_take(t0 + 751ms, rate, burst));
  CHECK_FALSE(b.try_take(t0 + 876ms, rate, burst));
  CHECK(b.try_take(t0 + 1002ms, rate, burst));

  // A long quiet period refills only up to the burst.
  CHECK(takes(b, t0 + 1h, rate, burst, 100) == 3);

  // Sustained: one message every 501 ms at 2/s never runs dry. One every 400 ms with
  // burst 1 gets every other one refused: the refill beyond a full bucket is lost.
  token_bucket steady;
  int refused = 0;
  for (int i = 0; i < 100; ++i) refused += steady.try_take(t0 + i * 501ms, rate, 1) ? 0 : 1;
  CHECK(refused == 0);
  token_bucket fast;
  refused = 0;
  for (int i = 0; i < 100; ++i) refused += fast.try_take(t0 + i * 400ms, rate, 1) ? 0 : 1;
  CHECK(refused == 50);
}

TEST_CASE("token bucket with rate 0 is unlimited", "[rate_limiter]") {
  token_bucket b;
  CHECK(takes(b, t0, 0, 0, 10000) == 10000);
  CHECK(takes(b, t0, 0, 1, 10000) == 10000);
}

TEST_CASE("token bucket does not refill when time goes backwards", "[rate_limiter]") {
  token_bucket b;
  REQUIRE(takes(b, t0, 1, 2, 2) == 2);
  CHECK_FALSE(b.try_take(t0 - 10s, 1, 2));
  CHECK_FALSE(b.try_take(t0 - 10s, 1, 2));
  CHECK(b.try_take(t0 + 1001ms, 1, 2));  // measured from the latest time seen
}
