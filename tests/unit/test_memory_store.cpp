// The in-memory store: sequence numbers, bounded history, all-or-nothing replay, epochs.
#include <switchboard/memory_store.hpp>
#include <switchboard/policies.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

using switchboard::frame_kind;
using switchboard::memory_store;
using switchboard::shared_frame;

static_assert(switchboard::is_store_policy<memory_store>::value, "memory_store models the store policy");

namespace {

std::uint64_t append(memory_store& s, const std::string& topic) {
  return s.append(topic, [&](std::uint64_t seq) {
            return switchboard::make_frame(frame_kind::text, topic + "#" + std::to_string(seq));
          }).first;
}

// The seqs of the frames a store call hands out, recovered from their payloads.
struct collector {
  std::vector<std::uint64_t> seqs;
  void operator()(const shared_frame& f) {
    const auto p = f.payload();
    seqs.push_back(std::stoull(std::string(p.substr(p.find('#') + 1))));
  }
};

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> v;
  for (std::uint64_t s = first; s <= last; ++s) v.push_back(s);
  return v;
}

std::vector<std::uint64_t> history(memory_store& s, const std::string& topic, std::optional<std::uint64_t> since,
                                   std::size_t limit) {
  collector c;
  s.history(topic, since, limit, std::ref(c));
  return c.seqs;
}

std::string epoch_of(memory_store& s, const std::string& topic) { return std::string(s.position(topic).epoch); }

}  // namespace

TEST_CASE("memory_store numbers each topic from 1 and keeps its epoch", "[memory_store]") {
  memory_store s;
  const auto fresh = s.position("a");
  CHECK(fresh.seq == 0);
  const std::string epoch = std::string(fresh.epoch);
  CHECK_FALSE(epoch.empty());
  CHECK(epoch.size() <= 32);

  const auto [seq, frame] = s.append("a", [](std::uint64_t n) {
    return switchboard::make_frame(frame_kind::text, "frame " + std::to_string(n));
  });
  CHECK(seq == 1);
  CHECK(frame.payload() == "frame 1");
  CHECK(append(s, "a") == 2);
  CHECK(append(s, "b") == 1);
  CHECK(append(s, "a") == 3);
  CHECK(s.position("a").seq == 3);
  CHECK(s.position("b").seq == 1);
  CHECK(epoch_of(s, "a") == epoch);
  CHECK(epoch_of(s, "b") != epoch);  // every stream has its own epoch
  CHECK(s.stream_count() == 2);
}

TEST_CASE("memory_store epochs differ between stores (a restarted process)", "[memory_store]") {
  memory_store first, second;
  CHECK(epoch_of(first, "room.1") != epoch_of(second, "room.1"));
}

TEST_CASE("memory_store history: latest, since, limit, ring wrap", "[memory_store]") {
  memory_store s(memory_store::options{5, 100});
  CHECK(history(s, "t", std::nullopt, 10).empty());
  CHECK(history(s, "t", 0, 10).empty());

  for (int i = 0; i < 3; ++i) append(s, "t");
  CHECK(history(s, "t", std::nullopt, 10) == range(1, 3));
  CHECK(history(s, "t", std::nullopt, 2) == range(2, 3));
  CHECK(history(s, "t", 1, 10) == range(2, 3));
  CHECK(history(s, "t", 0, 1) == range(1, 1));

  for (int i = 0; i < 9; ++i) append(s, "t");  // seq 12; 8..12 kept
  CHECK(s.position("t").seq == 12);
  CHECK(history(s, "t", std::nullopt, 100) == range(8, 12));
  CHECK(history(s, "t", std::nullopt, 3) == range(10, 12));
  CHECK(history(s, "t", 0, 100) == range(8, 12));   // since older than the oldest stored
  CHECK(history(s, "t", 6, 2) == range(8, 9));
  CHECK(history(s, "t", 9, 2) == range(10, 11));   // the oldest after since, not the latest
  CHECK(history(s, "t", 11, 100) == range(12, 12));
  CHECK(history(s, "t", 12, 100).empty());
  CHECK(history(s, "t", 500, 100).empty());
  CHECK(history(s, "t", std::nullopt, 0).empty());

  // Keep wrapping the ring many times: always the latest five, in order.
  for (std::uint64_t latest = 13; latest <= 40; ++latest) {
    append(s, "t");
    REQUIRE(history(s, "t", std::nullopt, 100) == range(latest - 4, latest));
  }

  collector c;
  const auto pos = s.history("t", std::nullopt, 1, std::ref(c));
  CHECK(pos.seq == 40);
  CHECK(std::string(pos.epoch) == epoch_of(s, "t"));
}

TEST_CASE("memory_store dropping old messages does not change the epoch", "[memory_store]") {
  memory_store s(memory_store::options{2, 100});
  const std::string epoch = epoch_of(s, "t");
  for (int i = 0; i < 10; ++i) append(s, "t");
  CHECK(epoch_of(s, "t") == epoch);
}

TEST_CASE("memory_store replay is all or nothing", "[memory_store]") {
  memory_store s(memory_store::options{3, 100});
  for (int i = 0; i < 7; ++i) append(s, "t");  // 5, 6, 7 kept
  const std::string epoch = epoch_of(s, "t");
  auto replay = [&](std::uint64_t since, std::optional<std::string> ep, std::vector<std::uint64_t>* out) {
    collector c;
    const bool ok = s.replay("t", since, ep, std::ref(c));
    *out = c.seqs;
    return ok;
  };
  std::vector<std::uint64_t> got;

  CHECK(replay(4, epoch, &got));
  CHECK(got == range(5, 7));
  CHECK(replay(6, std::nullopt, &got));  // no epoch check
  CHECK(got == range(7, 7));
  CHECK(replay(7, epoch, &got));  // up to date: nothing to send, nothing missing
  CHECK(got.empty());

  CHECK_FALSE(replay(3, epoch, &got));  // seq 4 is gone: a gap
  CHECK(got.empty());
  CHECK_FALSE(replay(0, std::nullopt, &got));
  CHECK(got.empty());
  CHECK_FALSE(replay(5, std::string("other-epoch"), &got));
  CHECK(got.empty());
  CHECK_FALSE(replay(7, std::string(""), &got));  // an empty epoch is an epoch, and not this one
  CHECK_FALSE(replay(8, epoch, &got));  // beyond the latest: the stream was reset
  CHECK(got.empty());

  // A stream nobody published to yet.
  collector c;
  CHECK(s.replay("fresh", 0, std::nullopt, std::ref(c)));
  CHECK_FALSE(s.replay("fresh", 1, std::nullopt, std::ref(c)));
  CHECK(c.seqs.empty());
}

TEST_CASE("memory_store with history_size 0 keeps no frames", "[memory_store]") {
  memory_store s(memory_store::options{0, 100});
  append(s, "t");
  append(s, "t");
  CHECK(s.position("t").seq == 2);
  CHECK(history(s, "t", std::nullopt, 10).empty());
  collector c;
  CHECK_FALSE(s.replay("t", 1, std::nullopt, std::ref(c)));
  CHECK(s.replay("t", 2, std::nullopt, std::ref(c)));
  CHECK(c.seqs.empty());
}

TEST_CASE("memory_store takes history_size from the config", "[memory_store]") {
  switchboard::config cfg;
  cfg.history_size = 2;
  memory_store s(cfg);
  for (int i = 0; i < 5; ++i) append(s, "t");
  CHECK(history(s, "t", std::nullopt, 100) == range(4, 5));
}

TEST_CASE("memory_store forgets the least recently used stream and gives it a new epoch", "[memory_store]") {
  memory_store s(memory_store::options{10, 2});
  append(s, "a");
  append(s, "a");
  append(s, "b");
  const std::string epoch_a = epoch_of(s, "a");  // touches a: b is now the least recently used
  const std::string epoch_b = epoch_of(s, "b");
  append(s, "a");                                // a is the most recent again
  append(s, "c");                                // evicts b
  CHECK(s.stream_count() == 2);
  CHECK(s.position("a").seq == 3);
  CHECK(epoch_of(s, "a") == epoch_a);

  const auto b_again = s.position("b");          // evicts c
  CHECK(b_again.seq == 0);
  CHECK(std::string(b_again.epoch) != epoch_b);  // its past is gone, and clients can tell
  CHECK(history(s, "b", std::nullopt, 10).empty());
  collector c;
  CHECK_FALSE(s.replay("b", 0, epoch_b, std::ref(c)));
  CHECK(s.stream_count() == 2);
  CHECK(s.position("a").seq == 3);               // a survived both evictions
  CHECK(s.position("c").seq == 0);               // c was the one forgotten for b
}

TEST_CASE("memory_store does not keep direct messages", "[memory_store]") {
  memory_store s;
  CHECK_FALSE(s.store_direct("bob", switchboard::make_frame(frame_kind::text, "{}")));
  int called = 0;
  s.take_directs("bob", [&](const shared_frame&) { ++called; });
  CHECK(called == 0);
}
