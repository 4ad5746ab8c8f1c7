// A hub whose store is a real SQLite file: acks after commit, history and recovery
// answered from the disk in PROTOCOL's order, directs kept for offline users, a store
// that refuses or fails while live delivery goes on, and all of it across a restart.
#include <switchboard/e2e.hpp>
#include <switchboard/hub.hpp>
#include <switchboard/memory_transport.hpp>
#include <switchboard/sqlite_store.hpp>

#include "../support/hub_harness.hpp"
#include "../support/sqlite_test_support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace {

using sqlite_hub = sb::basic_hub<sb::policies<sb::insecure_token_auth, sb::sqlite_store>>;

static_assert(sb::is_async_store_policy<sb::sqlite_store>::value, "sqlite_store models the asynchronous store");
static_assert(!sb::is_store_policy<sb::sqlite_store>::value, "and not the synchronous one");

// A hub on a SQLite file, driven through the in-memory transport. The store answers from
// its own threads, so the loop runs until the expected frames are there.
struct sqlite_harness {
  asio::io_context io;
  sqlite_hub hub;
  sb::memory_transport net;
  std::map<connection_id, std::vector<json>> inbox;

  explicit sqlite_harness(sb::sqlite_store::options o, sb::config cfg = no_timestamps())
      : hub(io, stepped(std::move(cfg)), {}, sb::sqlite_store(io, std::move(o))), net(hub) {}

  void collect() {
    for (auto& [id, frames] : inbox)
      for (auto& t : net.take_texts(id)) frames.push_back(parse(std::move(t)));
  }
  // The frames `id` received, once there are `count` of them (fails after a deadline).
  std::vector<json> wait(connection_id id, std::size_t count) {
    auto& frames = inbox[id];
    const bool arrived = run_until(io, [&] {
      collect();
      return frames.size() >= count;
    });
    INFO("frames received: " << frames.size() << " of " << count);
    REQUIRE(arrived);
    return std::exchange(frames, {});
  }
  json wait_one(connection_id id) { return std::move(wait(id, 1).front()); }
  // Lets the loop run a little, for frames that must not come.
  std::vector<json> settle(connection_id id) {
    for (int i = 0; i < 10; ++i) {
      io.restart();
      io.run_for(std::chrono::milliseconds(10));
    }
    collect();
    return std::exchange(inbox[id], {});
  }
  connection_id join(std::string_view user) {
    const connection_id id = net.connect(user);
    REQUIRE(id != 0);
    inbox[id];
    const json welcome = wait_one(id);
    REQUIRE(welcome.type() == "welcome");
    return id;
  }
  void send(connection_id id, std::string_view text) { net.receive_text(id, text); }
  json request(connection_id id, std::string_view text) {
    send(id, text);
    return wait_one(id);
  }
  bool stored_all() {
    return run_until(io, [&] { return hub.store().pending_appends() == 0; });
  }
};

std::string publish_request(const std::string& id, const std::string& topic, const std::string& data) {
  return R"({"type":"publish","id":")" + id + R"(","topic":")" + topic + R"(","data":)" + data + "}";
}

}  // namespace

TEST_CASE("sqlite hub: a publish is acknowledged once committed, and history reads it back", "[sqlite][hub]") {
  temp_dir dir;
  sqlite_harness h(options_for(dir / "db"));
  const connection_id alice = h.join("alice");
  const connection_id bob = h.join("bob");
  h.send(bob, R"({"type":"subscribe","id":"s","topics":["room"]})");
  REQUIRE(h.wait_one(bob).type() == "ack");

  for (int i = 1; i <= 3; ++i) {
    const json ack = h.request(alice, publish_request("p" + std::to_string(i), "room", std::to_string(i)));
    INFO(ack.text);
    REQUIRE(ack.type() == "ack");
    CHECK(ack.num("/data/seq") == static_cast<std::uint64_t>(i));
    CHECK(ack.num("/data/recipients") == 1);
    // The ack comes after the commit report: nothing of it is pending any more.
    CHECK(h.hub.store().committed_through() >= static_cast<std::uint64_t>(i));
  }
  const auto delivered = h.wait(bob, 3);
  CHECK(delivered[2].num("/seq") == 3);

  const json history = h.request(alice, R"({"type":"history","id":"h","topic":"room","limit":2})");
  INFO(history.text);
  REQUIRE(history.type() == "result");
  REQUIRE(history.size("/data/messages") == 2);
  CHECK(history.num("/data/messages/0/seq") == 2);
  CHECK(history.num("/data/messages/1/seq") == 3);
  CHECK(history.num("/data/seq") == 3);
  const json paged = h.request(alice, R"({"type":"history","id":"h2","topic":"room","since":0,"limit":1})");
  INFO(paged.text);
  REQUIRE(paged.size("/data/messages") == 1);
  CHECK(paged.num("/data/messages/0/seq") == 1);
  CHECK(paged.is_true("/data/more"));
  CHECK(h.hub.stats().commit.count() >= 3);
}

TEST_CASE("sqlite hub: recovery replays from the disk before the ack, live messages after it", "[sqlite][hub]") {
  temp_dir dir;
  sqlite_harness h(options_for(dir / "db"));
  const connection_id alice = h.join("alice");
  for (int i = 1; i <= 5; ++i)
    REQUIRE(h.request(alice, publish_request("p" + std::to_string(i), "room", std::to_string(i))).type() == "ack");
  const json position = h.request(alice, R"({"type":"subscribe","id":"s0","topics":["other"]})");
  REQUIRE(position.type() == "ack");

  const connection_id bob = h.join("bob");
  const json first = h.request(bob, R"({"type":"subscribe","id":"s","topics":["room"]})");
  const std::string epoch = first.str("/data/topics/room/epoch");
  CHECK(first.num("/data/topics/room/seq") == 5);
  h.send(bob, R"({"type":"unsubscribe","id":"u","topics":["room"]})");
  REQUIRE(h.wait_one(bob).type() == "ack");

  // The subscribe's read goes to the disk; a publish right behind it must reach bob after
  // the replay and the ack, with the next seq.
  h.send(bob, R"({"type":"subscribe","id":"r","topics":["room","lobby"],"since":{"room":{"seq":2,"epoch":")" + epoch +
                  R"("}}})");
  h.send(alice, publish_request("p6", "room", "6"));
  const auto frames = h.wait(bob, 5);
  REQUIRE(frames[0].type() == "message");
  CHECK(frames[0].num("/seq") == 3);
  CHECK(frames[1].num("/seq") == 4);
  CHECK(frames[2].num("/seq") == 5);
  INFO(frames[3].text);
  REQUIRE(frames[3].type() == "ack");
  CHECK(frames[3].is_true("/data/topics/room/recovered"));
  CHECK(frames[3].num("/data/topics/room/seq") == 5);
  CHECK(frames[3].num("/data/topics/lobby/seq") == 0);
  CHECK(frames[4].type() == "message");
  CHECK(frames[4].num("/seq") == 6);

  // A topic named twice in `since` is replayed once, from its first position.
  h.send(bob, R"({"type":"unsubscribe","id":"u2","topics":["room"]})");
  REQUIRE(h.wait_one(bob).type() == "ack");
  h.send(bob, R"({"type":"subscribe","id":"twice","topics":["room"],"since":{"room":{"seq":4,"epoch":")" + epoch +
                  R"("},"room":{"seq":1,"epoch":")" + epoch + R"("}}})");
  const auto once = h.wait(bob, 3);
  CHECK(once[0].num("/seq") == 5);
  CHECK(once[1].num("/seq") == 6);
  CHECK(once[2].type() == "ack");
  CHECK(h.settle(bob).empty());

  // Another epoch: nothing replayed, recovered false.
  const json refused =
      h.request(bob, R"({"type":"subscribe","id":"x","topics":["room"],"since":{"room":{"seq":1,"epoch":"nope"}}})");
  INFO(refused.text);
  CHECK(refused.type() == "ack");
  CHECK(refused.is_false("/data/topics/room/recovered"));
}

TEST_CASE("sqlite hub: seqs, epoch, history and recovery survive a restart", "[sqlite][hub]") {
  temp_dir dir;
  std::string epoch;
  {
    sqlite_harness h(options_for(dir / "db"));
    const connection_id alice = h.join("alice");
    for (int i = 1; i <= 4; ++i)
      REQUIRE(h.request(alice, publish_request("p" + std::to_string(i), "room", std::to_string(i))).type() == "ack");
    const json ack = h.request(alice, R"({"type":"subscribe","id":"s","topics":["room"]})");
    epoch = ack.str("/data/topics/room/epoch");
  }
  sqlite_harness h(options_for(dir / "db"));
  const connection_id bob = h.join("bob");
  h.send(bob, R"({"type":"subscribe","id":"r","topics":["room"],"since":{"room":{"seq":1,"epoch":")" + epoch + R"("}}})");
  const auto frames = h.wait(bob, 4);
  CHECK(frames[0].num("/seq") == 2);
  CHECK(frames[0].text.find(R"("data":2)") != std::string::npos);
  CHECK(frames[2].num("/seq") == 4);
  INFO(frames[3].text);
  CHECK(frames[3].is_true("/data/topics/room/recovered"));
  CHECK(frames[3].str("/data/topics/room/epoch") == epoch);
  const json next = h.request(bob, publish_request("p5", "room", "5"));
  CHECK(next.num("/data/seq") == 5);
}

TEST_CASE("sqlite hub: a direct to an offline user is kept, acked once stored, and delivered once after welcome",
          "[sqlite][hub]") {
  temp_dir dir;
  {
    sqlite_harness h(options_for(dir / "db"));
    const connection_id alice = h.join("alice");
    const json ack = h.request(alice, R"({"type":"direct","id":"d1","to":"bob","data":{"n":1}})");
    INFO(ack.text);
    REQUIRE(ack.type() == "ack");
    CHECK(ack.num("/data/delivered") == 0);
    CHECK(ack.is_true("/data/stored"));
    REQUIRE(h.request(alice, R"({"type":"direct","id":"d2","to":"bob","data":{"n":2}})").type() == "ack");
  }
  sqlite_harness h(options_for(dir / "db"));
  // Another user gets nothing of bob's.
  const connection_id carol = h.join("carol");
  CHECK(h.settle(carol).empty());

  const connection_id bob = h.net.connect("bob");
  h.inbox[bob];
  const auto frames = h.wait(bob, 3);
  REQUIRE(frames[0].type() == "welcome");
  REQUIRE(frames[1].type() == "direct");
  CHECK(frames[1].text.find(R"({"n":1})") != std::string::npos);
  CHECK(frames[1].str("/from") == "alice");
  CHECK(frames[2].text.find(R"({"n":2})") != std::string::npos);

  // Exactly once: a second connection of bob's gets none of them.
  const connection_id again = h.join("bob");
  CHECK(h.settle(again).empty());
  CHECK(h.settle(bob).size() <= 1);  // at most a presence event, never a direct
}

TEST_CASE("sqlite hub: a store that is behind refuses publishes with overloaded; delivery goes on", "[sqlite][hub]") {
  temp_dir dir;
  auto o = options_for(dir / "db", sb::durability::buffered);
  o.max_queued = 3;  // buffered: appends wait for a commit, which waits for flush_interval
  o.flush_appends = 1000;
  o.flush_interval = std::chrono::milliseconds(60000);
  sqlite_harness h(o);
  const connection_id alice = h.join("alice");
  const connection_id bob = h.join("bob");
  h.send(bob, R"({"type":"subscribe","id":"s","topics":["room"]})");
  REQUIRE(h.wait_one(bob).type() == "ack");

  std::size_t refused = 0;
  for (int i = 1; i <= 5; ++i) {
    const json reply = h.request(alice, publish_request("p" + std::to_string(i), "room", std::to_string(i)));
    INFO(reply.text);
    if (reply.type() == "error") {
      CHECK(reply.code() == "overloaded");
      ++refused;
    } else {
      CHECK(reply.type() == "ack");  // buffered: acknowledged at once
    }
  }
  CHECK(refused >= 2);
  const auto delivered = h.settle(bob);
  CHECK(delivered.size() == 5 - refused);
  for (std::size_t i = 0; i < delivered.size(); ++i) CHECK(delivered[i].num("/seq") == i + 1);  // no seq used by a refusal
  CHECK(h.hub.stats().store_refusals == refused);
}

TEST_CASE("sqlite hub: a database that cannot be written fails acknowledged publishes with internal; delivery goes on",
          "[sqlite][hub]") {
  temp_dir dir;
  auto o = options_for(dir / "db");
  o.max_database_bytes = 64 * 1024;  // writes fail like a full disk past it
  sqlite_harness h(o);
  const connection_id alice = h.join("alice");
  const connection_id bob = h.join("bob");
  h.send(bob, R"({"type":"subscribe","id":"s","topics":["room"]})");
  REQUIRE(h.wait_one(bob).type() == "ack");

  const std::string big = "\"" + std::string(4000, 'x') + "\"";
  bool failed = false;
  std::size_t sent = 0;
  for (int i = 1; i <= 200 && !failed; ++i) {
    const json reply = h.request(alice, publish_request("p" + std::to_string(i), "room", big));
    ++sent;
    INFO(reply.text);
    if (reply.type() == "error") {
      CHECK(reply.code() == "internal");
      failed = true;
    }
  }
  REQUIRE(failed);
  // Every publish reached the subscriber, the failed one included.
  CHECK(h.wait(bob, sent).size() == sent);
  CHECK(h.hub.stats().store_commit_failures >= 1);
}

TEST_CASE("sqlite hub: every closed connection leaves a session row", "[sqlite][hub]") {
  temp_dir dir;
  sqlite_harness h(options_for(dir / "db"));
  const connection_id alice = h.net.connect("alice", sb::peer_info{"198.51.100.4:40100", "Mozilla/5.0 test"});
  REQUIRE(alice != 0);
  h.inbox[alice];
  REQUIRE(h.wait_one(alice).type() == "welcome");
  REQUIRE(h.request(alice, publish_request("p", "room", "1")).type() == "ack");
  h.net.disconnect(alice);

  raw_db db(dir / "db");
  const std::string row =
      "SELECT connection || ',' || user || ',' || remote || ',' || user_agent || ',' || messages_in || ',' || "
      "messages_out || ',' || (disconnected_at >= connected_at) || ',' || (connected_at > 1700000000000) "
      "FROM sessions";
  std::string seen;
  const bool written = run_until(h.io, [&] {
    seen = db.value(row);
    return !seen.empty();
  });
  INFO(seen);
  REQUIRE(written);
  CHECK(seen == std::to_string(alice) + ",alice,198.51.100.4:40100,Mozilla/5.0 test,1,2,1,1");
}

TEST_CASE("sqlite hub: signed publishes are checked against the key on disk",
          "[sqlite][hub]") {
  temp_dir dir;
  const sb::ed25519_key_pair alice_signing = sb::ed25519_key_pair::generate();
  sb::user_keys alice_keys;
  alice_keys.ed25519 = alice_signing.public_key().bytes();
  alice_keys.x25519 = sb::x25519_key_pair::generate().public_key().bytes();
  auto signed_publish = [](const std::string& id, const std::string& data, const std::string& sig) {
    return R"({"type":"publish","id":")" + id + R"(","topic":"room","data":)" + data + R"(,"sig":")" + sig + R"("})";
  };
  {
    sqlite_harness h(options_for(dir / "db"));
    bool registered = false;
    h.hub.store().register_user("alice", alice_keys, [&](std::error_code ec, sb::user_registration r) {
      CHECK_FALSE(ec);
      CHECK(r == sb::user_registration::created);
      registered = true;
    });
    REQUIRE(run_until(h.io, [&] { return registered; }));
    sb::verify_signed_publishes(h.hub);
    const connection_id alice = h.join("alice");
    const connection_id bob = h.join("bob");
    const connection_id carol = h.join("carol");
    h.send(bob, R"({"type":"subscribe","id":"s","topics":["room"]})");
    REQUIRE(h.wait_one(bob).type() == "ack");

    // The order of a burst is checked over real sockets (test_pubsub_server_storage.cpp):
    // the memory transport does not stop delivering while a connection is held.
    std::vector<json> replies;
    replies.push_back(h.request(alice, signed_publish("good1", "1", sb::sign_message(alice_signing, "room", "1"))));
    replies.push_back(h.request(alice, signed_publish("forged", "2", sb::sign_message(alice_signing, "room", "not 2"))));
    replies.push_back(h.request(alice, publish_request("plain", "room", "3")));
    replies.push_back(h.request(alice, signed_publish("good2", "4", sb::sign_message(alice_signing, "room", "4"))));
    CHECK(replies[0].str("/id") == "good1");
    CHECK(replies[0].num("/data/seq") == 1);
    CHECK(replies[1].type() == "error");
    CHECK(replies[1].code() == "forbidden");
    CHECK(replies[1].str("/message").find("does not verify") != std::string::npos);
    CHECK(replies[2].num("/data/seq") == 2);
    CHECK(replies[3].str("/id") == "good2");
    CHECK(replies[3].num("/data/seq") == 3);
    const auto delivered = h.wait(bob, 3);
    CHECK(delivered[0].text.find(R"("data":1)") != std::string::npos);
    CHECK(delivered[0].has("/sig"));
    CHECK(delivered[1].text.find(R"("data":3)") != std::string::npos);
    CHECK_FALSE(delivered[1].has("/sig"));
    CHECK(delivered[2].text.find(R"("data":4)") != std::string::npos);

    // A user with no key on disk.
    const json refused = h.request(carol, signed_publish("c", "5", sb::sign_message(alice_signing, "room", "5")));
    CHECK(refused.code() == "forbidden");
    CHECK(refused.str("/message").find("no registered key") != std::string::npos);
  }
  // The key outlives the process.
  sqlite_harness h(options_for(dir / "db"));
  sb::verify_signed_publishes(h.hub);
  const connection_id alice = h.join("alice");
  const json ack = h.request(alice, signed_publish("again", "6", sb::sign_message(alice_signing, "room", "6")));
  INFO(ack.text);
  CHECK(ack.type() == "ack");
  CHECK(ack.num("/data/seq") == 4);
}
