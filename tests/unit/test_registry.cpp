// The connection table: ids, users with several connections, counts.
#include <switchboard/registry.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

using switchboard::connection_id;
using switchboard::identity;

namespace {
using registry = switchboard::connection_registry<int>;

identity user(const char* name) { return identity{std::string(name)}; }
identity anonymous() { return identity{}; }

std::vector<connection_id> sorted(std::vector<connection_id> v) {
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

TEST_CASE("registry ids are never 0, unique, and not reused after erase", "[registry]") {
  registry r;
  std::set<connection_id> seen;
  std::vector<connection_id> live, erased;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 10; ++i) {
      const connection_id id = r.insert(anonymous(), round * 100 + i);
      REQUIRE(id != 0);
      REQUIRE(seen.insert(id).second);
      live.push_back(id);
    }
    // Free some slots so later inserts reuse them. Every id in `live` is registered, so
    // each erase must succeed, and only once.
    for (int i = 0; i < 7; ++i) {
      const connection_id gone = live[static_cast<std::size_t>(i * 3) % live.size()];
      REQUIRE(r.erase(gone));
      CHECK_FALSE(r.erase(gone));
      live.erase(std::find(live.begin(), live.end(), gone));
      erased.push_back(gone);
    }
  }
  CHECK(r.connection_count() == live.size());
  // A stale id finds nothing, even where its slot has a new tenant (as most have by now).
  std::set<std::uint32_t> live_slots;
  for (const connection_id id : live) live_slots.insert(registry::slot_of(id));
  std::size_t reused = 0;
  for (const connection_id gone : erased) {
    CHECK(r.find(gone) == nullptr);
    reused += live_slots.count(registry::slot_of(gone));
  }
  CHECK(reused > 0);  // so the lookups above did meet new tenants
  for (const connection_id id : live) {
    auto* e = r.find(id);
    REQUIRE(e != nullptr);
    CHECK(e->id == id);
  }
  CHECK(r.find(0) == nullptr);
  CHECK(r.find(~connection_id(0)) == nullptr);
}

TEST_CASE("registry stores the value and identity, and addresses slots densely", "[registry]") {
  registry r;
  const connection_id a = r.insert(user("alice"), 41);
  const connection_id b = r.insert(anonymous(), 42);
  REQUIRE(r.find(a) != nullptr);
  CHECK(r.find(a)->value == 41);
  CHECK(r.find(a)->user() == std::optional<std::string>("alice"));
  CHECK_FALSE(r.find(b)->user().has_value());
  r.find(b)->value = 7;
  CHECK(r.find(b)->value == 7);

  CHECK(registry::slot_of(a) == 0);
  CHECK(registry::slot_of(b) == 1);
  CHECK(r.live_slot(0));
  CHECK(&r.at_slot(registry::slot_of(b)) == r.find(b));
  CHECK_FALSE(r.live_slot(2));

  REQUIRE(r.erase(a));
  CHECK_FALSE(r.erase(a));
  CHECK_FALSE(r.live_slot(0));
  const connection_id c = r.insert(anonymous(), 43);
  CHECK(registry::slot_of(c) == 0);  // the slot is reused ...
  CHECK(c != a);                      // ... the id is not

  int visited = 0, sum = 0;
  r.for_each([&](registry::entry& e) {
    ++visited;
    sum += e.value;
  });
  CHECK(visited == 2);
  CHECK(sum == 7 + 43);
}

TEST_CASE("registry indexes users with several connections", "[registry]") {
  registry r;
  const connection_id a1 = r.insert(user("alice"), 0);
  const connection_id b1 = r.insert(user("bob"), 0);
  const connection_id a2 = r.insert(user("alice"), 0);
  const connection_id anon = r.insert(anonymous(), 0);
  const connection_id a3 = r.insert(user("alice"), 0);

  CHECK(r.connection_count() == 5);
  CHECK(r.user_count() == 2);  // the anonymous connection is not a user
  CHECK(sorted(r.connections_of("alice")) == sorted({a1, a2, a3}));
  CHECK(r.connections_of("bob") == std::vector<connection_id>{b1});
  CHECK(r.connections_of("carol").empty());

  REQUIRE(r.erase(a2));
  CHECK(sorted(r.connections_of("alice")) == sorted({a1, a3}));
  CHECK(r.user_count() == 2);
  REQUIRE(r.erase(a1));
  REQUIRE(r.erase(a3));
  CHECK(r.connections_of("alice").empty());
  CHECK(r.user_count() == 1);
  REQUIRE(r.erase(anon));
  CHECK(r.user_count() == 1);
  CHECK(r.connection_count() == 1);
}

TEST_CASE("registry connections not counted as the user's stay out of the user index", "[registry]") {
  registry r;
  const connection_id a1 = r.insert(user("alice"), 0);
  const connection_id refused = r.insert(user("alice"), 0, false);
  const connection_id lone = r.insert(user("zed"), 0, false);

  CHECK(r.connection_count() == 3);
  CHECK(r.user_count() == 1);
  CHECK(r.connections_of("alice") == std::vector<connection_id>{a1});
  CHECK(r.connections_of("zed").empty());
  REQUIRE(r.find(refused) != nullptr);
  CHECK(r.find(refused)->user() == std::optional<std::string>("alice"));  // identity kept

  // Removing the uncounted connection leaves the user's counted one alone.
  REQUIRE(r.erase(refused));
  CHECK(r.connections_of("alice") == std::vector<connection_id>{a1});
  CHECK(r.user_count() == 1);
  REQUIRE(r.erase(lone));
  REQUIRE(r.erase(a1));
  CHECK(r.user_count() == 0);
  CHECK(r.connection_count() == 0);

  // A later counted connection of the same user is indexed normally.
  const connection_id a2 = r.insert(user("alice"), 0);
  CHECK(r.connections_of("alice") == std::vector<connection_id>{a2});
}
