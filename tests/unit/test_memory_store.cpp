// The in-memory store: sequence numbers, bounded history, all-or-nothing replay, epochs.
#include <switchboard/memory_store.hpp>
#include <switchboard/policies.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
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

// Appends a frame of about `payload_bytes` ("<topic>:<padding>#<seq>").
std::uint64_t append_sized(memory_store& s, const std::string& topic, std::size_t payload_bytes) {
  return s.append(topic, [&](std::uint64_t seq) {
            std::string payload = topic + ":";
            payload.append(payload_bytes, 'x');
            payload += "#" + std::to_string(seq);
            return switchboard::make_frame(frame_kind::binary, payload);
          }).first;
}

memory_store::options opts(std::size_t history_size, std::size_t max_topics,
                           std::size_t max_bytes = memory_store::options{}.max_bytes) {
  memory_store::options o;
  o.history_size = history_size;
  o.max_topics = max_topics;
  o.max_bytes = max_bytes;
  return o;
}

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
  // Streams created while nothing was forgotten share one epoch (PROTOCOL 3.2 allows
  // one epoch per process for every stream not forgotten).
  CHECK(epoch_of(s, "b") == epoch);
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

// Formerly "forgets the least recently used stream": reading no longer creates or
// refreshes a stream, and only idle streams (published, nothing stored, no subscriber)
// are forgotten, least recently idle first. With history_size 0 every unretained
// stream is idle right after its publish.
TEST_CASE("memory_store forgets idle streams past max_topics and gives a returning topic a new epoch",
          "[memory_store]") {
  memory_store s(opts(0, 2));
  append(s, "a");
  append(s, "a");
  append(s, "b");
  const std::string epoch_a = epoch_of(s, "a");
  const std::string epoch_b = epoch_of(s, "b");
  append(s, "a");  // a is now the most recently idle
  CHECK(s.stream_count() == 2);
  const std::string epoch_c = epoch_of(s, "c");  // what c will take; reading keeps nothing
  CHECK(s.stream_count() == 2);
  append(s, "c");  // forgets b
  CHECK(s.stream_count() == 2);
  CHECK(epoch_of(s, "c") == epoch_c);  // the epoch a reader saw before the first publish
  CHECK(s.position("a").seq == 3);
  CHECK(epoch_of(s, "a") == epoch_a);

  const auto b_again = s.position("b");
  CHECK(b_again.seq == 0);
  CHECK(std::string(b_again.epoch) != epoch_b);  // its past is gone, and clients can tell
  CHECK(s.stream_count() == 2);                  // reading b kept nothing
  collector c;
  CHECK_FALSE(s.replay("b", 0, epoch_b, std::ref(c)));
  const std::string epoch_b2 = std::string(b_again.epoch);
  CHECK(append(s, "b") == 1);  // forgets a
  CHECK(epoch_of(s, "b") == epoch_b2);
  CHECK(s.position("c").seq == 1);
  CHECK(s.position("a").seq == 0);
  CHECK(epoch_of(s, "a") != epoch_a);
}

TEST_CASE("memory_store never forgets a stream with a stored message, whatever max_topics", "[memory_store]") {
  memory_store s(opts(10, 2));
  std::map<std::string, std::string> epochs;
  for (int i = 0; i < 50; ++i) {
    const std::string topic = "t" + std::to_string(i);
    append(s, topic);
    epochs[topic] = epoch_of(s, topic);
  }
  CHECK(s.stream_count() == 50);
  for (int i = 0; i < 50; ++i) {
    const std::string topic = "t" + std::to_string(i);
    CHECK(append(s, topic) == 2);
    CHECK(epoch_of(s, topic) == epochs[topic]);
    CHECK(history(s, topic, std::nullopt, 10) == range(1, 2));
  }
}

TEST_CASE("memory_store reads keep nothing: random history requests do not push real topics out",
          "[memory_store]") {
  for (const std::size_t history_size : {std::size_t{0}, std::size_t{10}}) {
    CAPTURE(history_size);
    // history_size 0: the real topics are idle, the first to go if reads made streams.
    memory_store s(opts(history_size, 4));
    for (int i = 0; i < 5; ++i) {
      append(s, "real.1");
      append(s, "real.2");
      append(s, "real.3");
    }
    const std::string epoch = epoch_of(s, "real.1");
    const std::size_t streams = s.stream_count();
    const std::size_t bytes = s.bytes_used();
    REQUIRE(streams == 3);

    std::mt19937_64 rng(42);
    for (int i = 0; i < 100000; ++i) {
      const std::string topic = "random." + std::to_string(rng());
      collector c;
      const auto pos = s.history(topic, std::nullopt, 100, std::ref(c));
      REQUIRE(pos.seq == 0);
      REQUIRE(std::string(pos.epoch) == epoch);  // what its first publish would take now
      REQUIRE(c.seqs.empty());
    }
    for (int i = 0; i < 1000; ++i) {
      const std::string topic = "other." + std::to_string(rng());
      REQUIRE(s.position(topic).seq == 0);
      collector c;
      REQUIRE(s.replay(topic, 0, epoch, std::ref(c)));
      REQUIRE_FALSE(s.replay(topic, 3, std::nullopt, std::ref(c)));
    }
    CHECK(s.stream_count() == streams);
    CHECK(s.bytes_used() == bytes);
    for (const char* topic : {"real.1", "real.2", "real.3"}) {
      CHECK(append(s, topic) == 6);
      CHECK(epoch_of(s, topic) == epoch);
    }
  }
}

TEST_CASE("memory_store history and replay past the latest seq return nothing", "[memory_store]") {
  memory_store s(opts(5, 100));
  for (int i = 0; i < 3; ++i) append(s, "t");
  constexpr auto max = std::numeric_limits<std::uint64_t>::max();
  CHECK(history(s, "t", max, 10).empty());
  CHECK(history(s, "t", max - 1, 10).empty());
  CHECK(history(s, "t", 3, 10).empty());
  CHECK(history(s, "t", 4, 10).empty());
  CHECK(history(s, "t", 2, max) == range(3, 3));
  CHECK(history(s, "t", std::nullopt, max) == range(1, 3));
  collector c;
  CHECK_FALSE(s.replay("t", max, std::nullopt, std::ref(c)));
  CHECK_FALSE(s.replay("t", 4, std::nullopt, std::ref(c)));
  CHECK(c.seqs.empty());
}

TEST_CASE("memory_store keeps its bytes under max_bytes by dropping the oldest messages of all topics",
          "[memory_store]") {
  constexpr std::size_t budget = 1024 * 1024;
  constexpr std::size_t frame = 64 * 1024;
  memory_store s(opts(100, 100000, budget));
  struct publish {
    std::string topic, epoch;
    std::uint64_t seq;
  };
  std::vector<publish> published;  // in publish order
  for (int i = 0; i < 400; ++i) {
    const std::string topic = "room." + std::to_string(i * 7 % 37);
    const std::uint64_t seq = append_sized(s, topic, frame);
    published.push_back({topic, epoch_of(s, topic), seq});
    REQUIRE(s.bytes_used() <= budget);
  }
  // What is kept: the newest messages, as many as fit.
  const std::size_t kept = s.message_count();
  CHECK(kept >= 12);
  CHECK(kept < 16);
  CHECK(s.bytes_used() >= kept * (frame + memory_store::message_overhead));
  std::size_t found = 0;
  for (std::size_t i = 0; i < published.size(); ++i) {
    const auto& [topic, epoch, seq] = published[i];
    const auto stored = history(s, topic, seq - 1, 1);
    const bool is_stored = epoch_of(s, topic) == epoch && stored == std::vector<std::uint64_t>{seq};
    CAPTURE(i, topic, seq);
    CHECK(is_stored == (i >= published.size() - kept));
    found += is_stored;
  }
  CHECK(found == kept);
  // Topics holding a stored message kept their stream (those left with nothing stored
  // and no subscriber may have been forgotten to make room).
  for (std::size_t i = published.size() - kept; i < published.size(); ++i) {
    const auto& p = published[i];
    CHECK(epoch_of(s, p.topic) == p.epoch);
    CHECK(s.position(p.topic).seq >= p.seq);
  }
}

TEST_CASE("memory_store takes max_bytes from the config", "[memory_store]") {
  switchboard::config cfg;
  cfg.store_max_bytes = 256 * 1024;
  memory_store s(cfg);
  CHECK(s.limits().max_bytes == cfg.store_max_bytes);
  for (int i = 0; i < 100; ++i) {
    append_sized(s, "t" + std::to_string(i % 3), 32 * 1024);
    REQUIRE(s.bytes_used() <= cfg.store_max_bytes);
  }
  CHECK(s.message_count() >= 5);
}

TEST_CASE("memory_store counts stream records against max_bytes and forgets idle ones to fit", "[memory_store]") {
  constexpr std::size_t budget = 64 * 1024;
  memory_store s(opts(0, 100000, budget));  // nothing stored: every stream idle after its publish
  for (int i = 0; i < 10000; ++i) {
    CHECK(append(s, "topic.number." + std::to_string(i)) == 1);
    REQUIRE(s.bytes_used() <= budget);
  }
  CHECK(s.stream_count() < 1000);
  CHECK(s.stream_count() > 10);
}

TEST_CASE("memory_store moves with its streams", "[memory_store]") {
  memory_store s(opts(3, 100, 1024 * 1024));
  for (int i = 0; i < 5; ++i) append(s, "t");
  s.retain("r");
  const std::string epoch = epoch_of(s, "t");
  const std::size_t bytes = s.bytes_used();
  memory_store moved(std::move(s));
  CHECK(moved.bytes_used() == bytes);
  CHECK(append(moved, "t") == 6);
  CHECK(epoch_of(moved, "t") == epoch);
  CHECK(history(moved, "t", std::nullopt, 10) == range(4, 6));
  memory_store other(opts(3, 100));
  other = std::move(moved);
  CHECK(append(other, "t") == 7);
  CHECK(history(other, "t", std::nullopt, 10) == range(5, 7));
  CHECK(other.stream_count() == 2);
}

TEST_CASE("memory_store per-topic history limit: bookkeeping stays bounded", "[memory_store]") {
  memory_store s(opts(3, 100));
  const auto append_fixed = [&](const std::string& topic) {  // frames of one size
    s.append(topic, [&](std::uint64_t seq) {
      std::string digits = std::to_string(seq);
      return switchboard::make_frame(frame_kind::text, topic + "#" + std::string(8 - digits.size(), '0') + digits);
    });
  };
  for (int i = 0; i < 10; ++i) {
    append_fixed("a");
    append_fixed("b");
  }
  const std::size_t bytes = s.bytes_used();
  for (int i = 0; i < 10000; ++i) {
    append_fixed("a");
    append_fixed("b");
  }
  CHECK(s.message_count() == 6);
  CHECK(s.bytes_used() == bytes);  // frames of one size; no slot or record grows
  CHECK(history(s, "a", std::nullopt, 10) == range(10008, 10010));
}

TEST_CASE("memory_store does not store a message larger than the budget, and keeps its seq", "[memory_store]") {
  constexpr std::size_t budget = 64 * 1024;
  memory_store s(opts(10, 100, budget));
  for (int i = 0; i < 3; ++i) {
    append(s, "x");
    append(s, "y");
  }
  const std::string epoch = epoch_of(s, "y");
  CHECK(append_sized(s, "y", budget) == 4);
  CHECK(s.bytes_used() <= budget);
  CHECK(s.position("y").seq == 4);
  CHECK(epoch_of(s, "y") == epoch);
  // y's older messages could not be replayed past the gap: they went with it. Others stay.
  CHECK(history(s, "y", std::nullopt, 10).empty());
  CHECK(history(s, "x", std::nullopt, 10) == range(1, 3));
  collector c;
  CHECK(s.replay("y", 4, epoch, std::ref(c)));
  CHECK_FALSE(s.replay("y", 3, epoch, std::ref(c)));
  CHECK(append(s, "y") == 5);
  CHECK(history(s, "y", std::nullopt, 10) == range(5, 5));
  CHECK(s.replay("y", 4, epoch, std::ref(c)));
  CHECK(c.seqs == range(5, 5));
}

TEST_CASE("memory_store retain keeps a stream's seq and epoch; release lets it go", "[memory_store]") {
  memory_store s(opts(0, 1));  // every unretained stream idle, one stream kept
  s.retain("r");               // never published: a record fixes its epoch
  CHECK(s.stream_count() == 1);
  const std::string epoch = epoch_of(s, "r");
  CHECK(s.position("r").seq == 0);
  for (int i = 0; i < 20; ++i) append(s, "other." + std::to_string(i));  // each forgets the one before
  CHECK(epoch_of(s, "other.0") != epoch);   // new generations meanwhile
  CHECK(epoch_of(s, "r") == epoch);
  CHECK(append(s, "r") == 1);
  CHECK(epoch_of(s, "r") == epoch);
  for (int i = 0; i < 20; ++i) append(s, "more." + std::to_string(i));
  CHECK(s.position("r").seq == 1);  // retained, nothing stored: kept
  CHECK(epoch_of(s, "r") == epoch);
  s.retain("r");  // again: no change
  s.release("r");
  CHECK(s.position("r").seq == 1);  // idle now, kept until something needs the room
  append(s, "last");
  CHECK(s.position("r").seq == 0);
  CHECK(epoch_of(s, "r") != epoch);

  // A retained stream nobody published to goes away with its last subscriber.
  memory_store t(opts(10, 100));
  const std::size_t bytes = t.bytes_used();
  t.retain("q");
  CHECK(t.stream_count() == 1);
  CHECK(t.bytes_used() > bytes);
  t.release("q");
  CHECK(t.stream_count() == 0);
  CHECK(t.bytes_used() == bytes);
  t.release("q");     // unknown: ignored
  t.release("none");
}

TEST_CASE("memory_store keeps a retained stream under byte pressure, dropping its messages", "[memory_store]") {
  constexpr std::size_t budget = 256 * 1024;
  memory_store s(opts(10, 100000, budget));
  s.retain("r");
  append_sized(s, "r", 1000);
  const std::string epoch = epoch_of(s, "r");
  for (int i = 0; i < 200; ++i) {
    append_sized(s, "flood." + std::to_string(i), 16 * 1024);
    REQUIRE(s.bytes_used() <= budget);
  }
  CHECK(history(s, "r", std::nullopt, 10).empty());  // the oldest message went first
  CHECK(s.position("r").seq == 1);
  CHECK(epoch_of(s, "r") == epoch);
  CHECK(append_sized(s, "r", 1000) == 2);
  CHECK(epoch_of(s, "r") == epoch);
}

// Many random operations against what must hold whatever the interleaving.
TEST_CASE("memory_store randomized: oldest dropped first, seq never restarts within an epoch", "[memory_store]") {
  constexpr std::size_t budget = 256 * 1024;
  constexpr std::size_t history_size = 5;
  memory_store s(opts(history_size, 8, budget));
  std::mt19937 rng(7);
  const auto topic_of = [](unsigned i) { return "t" + std::to_string(i); };

  struct publish {
    std::string topic, epoch;
    std::uint64_t seq;
  };
  std::vector<publish> log;
  std::map<std::pair<std::string, std::string>, std::uint64_t> last_seq;  // (topic, epoch) -> seq
  std::set<std::string> retained;

  for (int op = 0; op < 4000; ++op) {
    const unsigned topic_index = rng() % 30;
    const std::string topic = topic_of(topic_index);
    const unsigned kind = rng() % 10;
    // Retained streams must not move unless published to.
    std::map<std::string, std::pair<std::string, std::uint64_t>> before;
    for (const auto& r : retained) before[r] = {epoch_of(s, r), s.position(r).seq};

    if (kind < 7) {
      std::string epoch;
      const std::size_t size = 1 + rng() % 20000;
      const auto seq = s.append(topic, [&](std::uint64_t n) {
                          epoch = std::string(s.position(topic).epoch);
                          return switchboard::make_frame(frame_kind::text,
                                                         topic + ":" + std::string(size, 'x') + "#" + std::to_string(n));
                        }).first;
      auto& last = last_seq[{topic, epoch}];
      REQUIRE(seq == last + 1);  // an epoch never sees its seq restart
      last = seq;
      log.push_back({topic, epoch, seq});
      REQUIRE(s.bytes_used() <= budget);
      before.erase(topic);
    } else if (kind == 7) {
      s.retain(topic);
      retained.insert(topic);
    } else if (kind == 8) {
      s.release(topic);
      retained.erase(topic);
      before.erase(topic);
    } else {
      history(s, "unknown." + std::to_string(rng()), std::nullopt, 10);
    }
    for (const auto& [r, pos] : before) {
      REQUIRE(epoch_of(s, r) == pos.first);
      REQUIRE(s.position(r).seq == pos.second);
    }

    // Every stream's stored run is contiguous and ends at its seq; count the total.
    std::set<std::pair<std::string, std::uint64_t>> stored;
    for (unsigned i = 0; i < 30; ++i) {
      const auto t = topic_of(i);
      const auto seqs = history(s, t, std::nullopt, 1000);
      REQUIRE(seqs.size() <= history_size);
      if (!seqs.empty()) REQUIRE(seqs == range(s.position(t).seq - seqs.size() + 1, s.position(t).seq));
      for (auto q : seqs) stored.emplace(t, q);
    }
    REQUIRE(stored.size() == s.message_count());

    // Among messages not pushed out by their topic's own limit, the stored ones are the
    // newest: nothing older than a dropped one is still stored.
    if (op % 10 != 0) continue;
    std::map<std::pair<std::string, std::string>, std::size_t> later;  // later publishes per stream
    bool dropped_seen = false;
    for (auto it = log.rbegin(); it != log.rend(); ++it) {
      const std::size_t newer = later[{it->topic, it->epoch}]++;
      if (newer >= history_size) continue;
      const bool live = epoch_of(s, it->topic) == it->epoch;
      const bool is_stored = live && stored.count({it->topic, it->seq}) > 0;
      if (!is_stored) dropped_seen = true;
      REQUIRE(!(is_stored && dropped_seen));
    }
  }
}

namespace {

std::vector<std::string> take_all(memory_store& s, const std::string& user) {
  std::vector<std::string> out;
  s.take_directs(user, [&](const shared_frame& f) { out.emplace_back(f.payload()); });
  return out;
}

shared_frame text_frame(const std::string& payload) { return switchboard::make_frame(frame_kind::text, payload); }

}  // namespace

TEST_CASE("memory_store keeps direct messages for offline users until taken, once", "[memory_store]") {
  memory_store s;
  const std::size_t empty = s.bytes_used();
  CHECK(s.store_direct("bob", text_frame("one")));
  CHECK(s.store_direct("bob", text_frame("two")));
  CHECK(s.store_direct("a-user-id-longer-than-the-small-string-buffer", text_frame("three")));
  CHECK(s.direct_count() == 3);
  CHECK(s.bytes_used() > empty);

  CHECK(take_all(s, "carol").empty());  // nobody else's
  CHECK(take_all(s, "bob") == std::vector<std::string>{"one", "two"});
  CHECK(take_all(s, "bob").empty());  // handed out once
  CHECK(take_all(s, "a-user-id-longer-than-the-small-string-buffer") == std::vector<std::string>{"three"});
  CHECK(s.direct_count() == 0);
  CHECK(s.bytes_used() == empty);  // every byte counted in is counted out

  CHECK_FALSE(s.store_direct("", text_frame("x")));
  CHECK_FALSE(s.store_direct("bob", shared_frame()));
}

TEST_CASE("memory_store bounds kept directs per user, in all and in bytes", "[memory_store]") {
  memory_store::options o;
  o.max_directs_per_user = 3;
  o.max_directs = 5;
  memory_store s(o);
  for (int i = 0; i < 3; ++i) CHECK(s.store_direct("bob", text_frame("b" + std::to_string(i))));
  CHECK_FALSE(s.store_direct("bob", text_frame("b3")));  // bob's mailbox is full
  CHECK(s.store_direct("carol", text_frame("c0")));      // others' are not
  CHECK(s.store_direct("dave", text_frame("d0")));
  CHECK_FALSE(s.store_direct("erin", text_frame("e0")));  // max_directs in all
  CHECK(take_all(s, "bob") == std::vector<std::string>{"b0", "b1", "b2"});  // the refused one is not there
  CHECK(s.store_direct("erin", text_frame("e0")));                          // room again

  memory_store::options small;
  small.max_direct_bytes = 4096;
  memory_store b(small);
  std::size_t kept = 0;
  while (b.store_direct("user" + std::to_string(kept), text_frame(std::string(500, 'x')))) ++kept;
  CHECK(kept >= 3);
  CHECK(kept < 9);  // 4 KiB holds at most eight 500-byte frames, whatever the overhead
  CHECK(b.bytes_used() <= small.max_direct_bytes + memory_store{}.bytes_used());
}

TEST_CASE("memory_store never drops kept directs for history, and history keeps the rest of max_bytes",
          "[memory_store]") {
  memory_store::options o;
  o.max_bytes = 64 * 1024;
  o.max_direct_bytes = 16 * 1024;
  o.history_size = 1000;
  memory_store s(o);
  std::size_t directs = 0;
  while (s.store_direct("u" + std::to_string(directs % 50), text_frame(std::string(300, 'd')))) ++directs;
  REQUIRE(directs > 10);
  // A flood of publishes pushes older history out, never the directs.
  for (int i = 0; i < 2000; ++i) append_sized(s, "flood", 200);
  CHECK(s.direct_count() == directs);
  CHECK(s.bytes_used() <= o.max_bytes);
  // What is left for history is at least max_bytes - max_direct_bytes, less the records.
  CHECK(s.message_count() * 200 >= (o.max_bytes - o.max_direct_bytes) / 2);
  std::size_t taken = 0;
  for (int u = 0; u < 50; ++u) taken += take_all(s, "u" + std::to_string(u)).size();
  CHECK(taken == directs);
}

TEST_CASE("memory_store history_max_bytes bounds one topic's stored frames", "[memory_store]") {
  memory_store::options o;
  o.history_size = 100;
  o.history_max_bytes = 3500;
  memory_store s(o);
  for (int i = 0; i < 10; ++i) append_sized(s, "big", 1000);
  for (int i = 0; i < 10; ++i) append(s, "small");
  // Each frame of "big" is a little over 1,000 bytes: three fit, a fourth would not.
  CHECK(history(s, "big", std::nullopt, 100) == range(8, 10));
  CHECK(history(s, "small", std::nullopt, 100) == range(1, 10));  // other topics keep theirs
  collector replayed;
  CHECK_FALSE(s.replay("big", 5, std::nullopt, std::ref(replayed)));  // 6 and 7 are gone: all or nothing
  CHECK(replayed.seqs.empty());
  CHECK(s.replay("big", 7, std::nullopt, std::ref(replayed)));
  CHECK(replayed.seqs == range(8, 10));

  // A frame over the bound alone is not kept, and nothing before it either.
  append_sized(s, "big", 4000);
  CHECK(history(s, "big", std::nullopt, 100).empty());
  append_sized(s, "big", 10);
  CHECK(history(s, "big", std::nullopt, 100) == range(12, 12));
  CHECK(s.position("big").seq == 12);
}

namespace {
std::chrono::steady_clock::time_point fake_now;
std::chrono::steady_clock::time_point fake_clock() { return fake_now; }
}  // namespace

TEST_CASE("memory_store history_max_age: older messages are neither served nor kept", "[memory_store]") {
  using namespace std::chrono_literals;
  fake_now = std::chrono::steady_clock::time_point(1h);
  memory_store::options o;
  o.history_max_age = 10s;
  o.clock = &fake_clock;
  memory_store s(o);
  append(s, "a");  // seq 1 at 0 s
  append(s, "b");
  fake_now += 6s;
  append(s, "a");  // seq 2 at 6 s
  CHECK(history(s, "a", std::nullopt, 10) == range(1, 2));

  fake_now += 5s;  // 11 s: seq 1 of both topics is past the age, seq 2 of "a" is not
  CHECK(history(s, "a", std::nullopt, 10) == range(2, 2));
  CHECK(history(s, "a", 0, 10) == range(2, 2));
  CHECK(history(s, "b", std::nullopt, 10).empty());
  collector replayed;
  CHECK_FALSE(s.replay("a", 0, std::nullopt, std::ref(replayed)));  // seq 1 is gone
  CHECK(s.replay("a", 1, std::nullopt, std::ref(replayed)));
  CHECK(replayed.seqs == range(2, 2));
  CHECK(s.position("b").seq == 1);  // the stream keeps its seq and epoch
  CHECK(s.message_count() == 3);    // reads free nothing

  append(s, "c");  // an append frees what is past the age
  CHECK(s.message_count() == 2);
  fake_now += 1h;
  append(s, "c");
  CHECK(s.message_count() == 1);
  CHECK(history(s, "c", std::nullopt, 10) == range(2, 2));
}

TEST_CASE("memory_store records the latest sessions only when asked, bounded", "[memory_store]") {
  memory_store off;
  CHECK_FALSE(off.records_sessions());
  off.record_session(switchboard::session_record{});
  CHECK(off.sessions().empty());

  memory_store::options o;
  o.max_sessions = 2;
  o.max_session_field_bytes = 8;
  memory_store s(o);
  CHECK(s.records_sessions());
  const std::size_t empty = s.bytes_used();
  for (std::uint64_t i = 1; i <= 3; ++i) {
    switchboard::session_record r;
    r.connection = i;
    r.user = "u" + std::to_string(i);
    r.remote = "127.0.0.1:" + std::to_string(40000 + i);
    r.user_agent = std::string(1000, 'a');
    r.messages_in = i;
    r.messages_out = 10 * i;
    s.record_session(std::move(r));
  }
  REQUIRE(s.sessions().size() == 2);
  CHECK(s.sessions().front().connection == 2);  // the oldest went first
  CHECK(s.sessions().back().user == "u3");
  CHECK(s.sessions().back().remote == "127.0.0.");  // cut to max_session_field_bytes
  CHECK(s.sessions().back().user_agent == "aaaaaaaa");
  CHECK(s.sessions().back().messages_out == 30);
  CHECK(s.bytes_used() > empty);
}

namespace {

switchboard::user_keys keys_from(unsigned char seed) {
  switchboard::user_keys keys;
  for (std::size_t i = 0; i < keys.ed25519.size(); ++i) {
    keys.ed25519[i] = static_cast<unsigned char>(seed + i);
    keys.x25519[i] = static_cast<unsigned char>(seed * 3 + i);
  }
  return keys;
}

}  // namespace

TEST_CASE("memory_store registers a user's keys once and refuses a takeover", "[memory_store][user_keys]") {
  using switchboard::user_registration;
  static_assert(switchboard::store_keeps_user_keys<memory_store>::value, "memory_store keeps user keys");
  memory_store s;
  CHECK_FALSE(s.find_user_keys("alice"));
  CHECK(s.register_user("alice", keys_from(1)) == user_registration::created);
  REQUIRE(s.find_user_keys("alice"));
  CHECK(*s.find_user_keys("alice") == keys_from(1));

  // The same keys again: nothing changes. Other keys: refused, and the first ones stay.
  CHECK(s.register_user("alice", keys_from(1)) == user_registration::already_registered);
  CHECK(s.register_user("alice", keys_from(2)) == user_registration::conflict);
  switchboard::user_keys other_x25519 = keys_from(1);
  other_x25519.x25519[0] ^= 1;
  CHECK(s.register_user("alice", other_x25519) == user_registration::conflict);
  CHECK(*s.find_user_keys("alice") == keys_from(1));

  // User ids are exact bytes: no case folding, no trimming.
  CHECK_FALSE(s.find_user_keys("Alice"));
  CHECK_FALSE(s.find_user_keys("alice "));
  CHECK(s.user_count() == 1);
}

TEST_CASE("memory_store keeps at most max_users users", "[memory_store][user_keys]") {
  using switchboard::user_registration;
  memory_store::options options;
  options.max_users = 3;
  memory_store s(options);
  for (int i = 0; i < 3; ++i)
    CHECK(s.register_user("user" + std::to_string(i), keys_from(static_cast<unsigned char>(i))) ==
          user_registration::created);
  CHECK(s.register_user("user3", keys_from(3)) == user_registration::full);
  CHECK_FALSE(s.find_user_keys("user3"));
  CHECK(s.user_count() == 3);
  // Users already registered still answer as before when the store is full.
  CHECK(s.register_user("user1", keys_from(1)) == user_registration::already_registered);
  CHECK(s.register_user("user1", keys_from(9)) == user_registration::conflict);

  // The hub's config sets the limit of a store built from it; a moved store keeps its users.
  switchboard::config cfg;
  cfg.max_registered_users = 1;
  memory_store from_config(cfg);
  CHECK(from_config.limits().max_users == 1);
  CHECK(from_config.register_user("a", keys_from(1)) == user_registration::created);
  CHECK(from_config.register_user("b", keys_from(2)) == user_registration::full);
  memory_store moved(std::move(from_config));
  CHECK(moved.find_user_keys("a"));
  CHECK(moved.register_user("b", keys_from(2)) == user_registration::full);
}
