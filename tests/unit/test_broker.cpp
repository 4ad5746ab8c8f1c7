// The topic index: exact and pattern recipients, O(1) removal bookkeeping, trie pruning.
#include <switchboard/broker.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

using switchboard::broker;
using switchboard::subscriber_index;
using sub_result = switchboard::broker::subscribe_result;

namespace {

// Every report of `for_each_subscriber`, sorted, duplicates kept.
std::vector<subscriber_index> reported(const broker& b, const std::string& topic) {
  std::vector<subscriber_index> out;
  b.for_each_subscriber(topic, [&](subscriber_index who) { out.push_back(who); });
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("broker reports exact and pattern subscribers of a topic", "[broker]") {
  broker b;
  REQUIRE(b.subscribe(1, "room.1.messages") == sub_result::added);
  REQUIRE(b.subscribe(2, "room.*.messages") == sub_result::added);
  REQUIRE(b.subscribe(3, "room.>") == sub_result::added);
  REQUIRE(b.subscribe(4, ">") == sub_result::added);
  REQUIRE(b.subscribe(5, "room.2.messages") == sub_result::added);
  REQUIRE(b.subscribe(6, "*") == sub_result::added);
  REQUIRE(b.subscribe(7, "room") == sub_result::added);

  CHECK(reported(b, "room.1.messages") == std::vector<subscriber_index>{1, 2, 3, 4});
  CHECK(reported(b, "room.2.messages") == std::vector<subscriber_index>{2, 3, 4, 5});
  CHECK(reported(b, "room.1") == std::vector<subscriber_index>{3, 4});
  CHECK(reported(b, "room") == std::vector<subscriber_index>{4, 6, 7});
  CHECK(reported(b, "hall.1.messages") == std::vector<subscriber_index>{4});
  CHECK(reported(b, "room.1.messages.x") == std::vector<subscriber_index>{3, 4});
  CHECK(b.topic_count() == 3);
  CHECK(b.pattern_count() == 4);
}

TEST_CASE("broker reports a subscriber once per matching subscription", "[broker]") {
  broker b;
  for (const char* t : {"a.b", "a.*", "a.>", ">", "*.b", "*.*", "*.>"}) REQUIRE(b.subscribe(9, t) == sub_result::added);
  REQUIRE(b.subscribe(3, "a.b") == sub_result::added);
  CHECK(reported(b, "a.b") == std::vector<subscriber_index>{3, 9, 9, 9, 9, 9, 9, 9});
  CHECK(reported(b, "a") == std::vector<subscriber_index>{9});  // only `>`
  CHECK(b.subscription_count(9) == 7);
}

TEST_CASE("broker subscribe results: added, already subscribed, limit, invalid", "[broker]") {
  broker b;
  CHECK(b.subscribe(0, "a", 2) == sub_result::added);
  CHECK(b.subscribe(0, "a", 2) == sub_result::already_subscribed);
  CHECK(b.subscribe(0, "b.*", 2) == sub_result::added);
  CHECK(b.subscribe(0, "b.*", 2) == sub_result::already_subscribed);
  CHECK(b.subscribe(0, "c", 2) == sub_result::limit_reached);
  CHECK(b.subscribe(0, "a..b") == sub_result::invalid);
  CHECK(b.subscribe(0, "") == sub_result::invalid);
  CHECK(b.subscribe(0, "a.>.b") == sub_result::invalid);
  CHECK(b.subscription_count(0) == 2);
  // The refused subscription left nothing behind.
  CHECK(b.topic_count() == 1);
  CHECK(b.pattern_count() == 1);
  CHECK(reported(b, "c").empty());
  // A duplicate does not duplicate delivery.
  CHECK(reported(b, "a") == std::vector<subscriber_index>{0});
  CHECK(b.is_subscribed(0, "b.*"));
  CHECK_FALSE(b.is_subscribed(0, "b.x"));
  CHECK_FALSE(b.is_subscribed(1, "a"));
  CHECK(b.subscription_count(12345) == 0);
}

TEST_CASE("broker unsubscribe and unsubscribe_all", "[broker]") {
  broker b;
  REQUIRE(b.subscribe(0, "a") == sub_result::added);
  REQUIRE(b.subscribe(0, "a.*") == sub_result::added);
  REQUIRE(b.subscribe(1, "a") == sub_result::added);
  REQUIRE(b.subscribe(1, ">") == sub_result::added);

  CHECK_FALSE(b.unsubscribe(0, "b"));
  CHECK_FALSE(b.unsubscribe(7, "a"));       // unknown subscriber
  CHECK_FALSE(b.unsubscribe(0, ">"));       // someone else's pattern
  CHECK(b.unsubscribe(0, "a"));
  CHECK_FALSE(b.unsubscribe(0, "a"));
  CHECK(reported(b, "a") == std::vector<subscriber_index>{1, 1});
  CHECK(reported(b, "a.x") == std::vector<subscriber_index>{0, 1});

  b.unsubscribe_all(1);
  b.unsubscribe_all(99);  // never subscribed: no effect
  CHECK(reported(b, "a").empty());
  CHECK(reported(b, "a.x") == std::vector<subscriber_index>{0});
  CHECK(b.subscription_count(1) == 0);
  CHECK(b.topic_count() == 0);
  CHECK(b.pattern_count() == 1);

  // Re-subscribing after removal works like the first time.
  REQUIRE(b.subscribe(1, "a") == sub_result::added);
  CHECK(reported(b, "a") == std::vector<subscriber_index>{1});
}

TEST_CASE("broker prunes emptied patterns and topics, and rebuilds them", "[broker]") {
  broker b;
  const std::vector<std::string> subs = {"a.b.c", "a.*.c", "a.>", "a.b.>", "*.*.*", ">", "x.y.z.*", "a.b.c.*"};
  for (int round = 0; round < 3; ++round) {
    for (subscriber_index who = 0; who < 4; ++who)
      for (const auto& s : subs) REQUIRE(b.subscribe(who, s) == sub_result::added);
    CHECK(b.pattern_count() == subs.size() - 1);
    CHECK(b.topic_count() == 1);
    CHECK(reported(b, "a.b.c").size() == 4 * 6);  // a.b.c a.*.c a.> a.b.> *.*.* >
    for (subscriber_index who = 0; who < 4; ++who) {
      if (who % 2 == 0) {
        b.unsubscribe_all(who);
      } else {
        for (auto it = subs.rbegin(); it != subs.rend(); ++it) REQUIRE(b.unsubscribe(who, *it));
      }
    }
    CHECK(b.pattern_count() == 0);
    CHECK(b.topic_count() == 0);
    CHECK(reported(b, "a.b.c").empty());
    CHECK(reported(b, "x.y.z.w").empty());
  }
}

// A model: the set of (subscriber, subscription) pairs, checked against the broker
// through the reference semantics of topic_matches.
TEST_CASE("broker recipient sets stay exact while subscribers leave in random order", "[broker]") {
  const std::vector<std::string> pool = {
      "room.1", "room.2", "room.1.messages", "room.2.messages", "room.*", "room.>", "room.*.messages",
      "*.1",    ">",      "*",               "*.*.messages",    "hall.>", "hall.3", "*.>",
  };
  const std::vector<std::string> probes = {
      "room.1", "room.2", "room.3", "room.1.messages", "room.2.messages", "room.9.messages", "hall.3",
      "hall.1", "room",   "hall",   "x.1",             "room.1.messages.extra",
  };
  std::mt19937 rng(20240611);
  constexpr subscriber_index subscribers = 300;
  broker b;
  std::map<subscriber_index, std::vector<std::string>> model;
  for (subscriber_index who = 0; who < subscribers; ++who) {
    std::vector<std::string> mine = pool;
    std::shuffle(mine.begin(), mine.end(), rng);
    mine.resize(1 + rng() % 6);
    for (const auto& t : mine) REQUIRE(b.subscribe(who, t) == sub_result::added);
    model[who] = mine;
  }

  auto check_against_model = [&] {
    for (const auto& topic : probes) {
      std::vector<subscriber_index> expected;
      for (const auto& [who, mine] : model)
        for (const auto& t : mine)
          if (switchboard::topic_matches(t, topic)) expected.push_back(who);
      std::sort(expected.begin(), expected.end());
      CAPTURE(topic);
      REQUIRE(reported(b, topic) == expected);
    }
    for (const auto& [who, mine] : model) REQUIRE(b.subscription_count(who) == mine.size());
  };
  check_against_model();

  std::vector<subscriber_index> order;
  for (subscriber_index who = 0; who < subscribers; ++who) order.push_back(who);
  std::shuffle(order.begin(), order.end(), rng);
  std::size_t step = 0;
  for (const subscriber_index who : order) {
    auto& mine = model[who];
    switch (step++ % 3) {
      case 0:  // everything at once
        b.unsubscribe_all(who);
        mine.clear();
        break;
      case 1:  // one at a time, in random order
        std::shuffle(mine.begin(), mine.end(), rng);
        while (!mine.empty()) {
          REQUIRE(b.unsubscribe(who, mine.back()));
          mine.pop_back();
        }
        break;
      default:  // one subscription now, the rest later with unsubscribe_all
        REQUIRE(b.unsubscribe(who, mine.front()));
        mine.erase(mine.begin());
        check_against_model();
        b.unsubscribe_all(who);
        mine.clear();
    }
    model.erase(who);
    check_against_model();
  }
  CHECK(b.pattern_count() == 0);
  CHECK(b.topic_count() == 0);
}
