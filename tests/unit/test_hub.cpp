// The wire protocol end to end: a hub driven through the in-memory transport.
#include "support/hub_harness.hpp"

#include <switchboard/hub.hpp>
#include <switchboard/memory_transport.hpp>

#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>


// --- welcome ------------------------------------------------------------------------

TEST_CASE("hub: welcome is the first frame, with connection, user, server and heartbeat", "[hub]") {
  sb::config cfg;
  cfg.ping_interval = std::chrono::milliseconds(1234);
  harness<> h(cfg);
  const connection_id anon = h.connect();
  REQUIRE(anon != 0);
  const json w = h.one(anon);
  CHECK(w.type() == "welcome");
  CHECK(w.str("/connection") == std::to_string(anon));
  CHECK(w.is_null("/user"));
  CHECK(w.str("/server") == "switchboard/" SWITCHBOARD_VERSION_STRING);
  CHECK(w.num("/heartbeat_ms") == 1234);

  const connection_id alice = h.connect("alice");
  const json wa = h.one(alice);
  CHECK(wa.str("/user") == "alice");
  CHECK(wa.str("/connection") == std::to_string(alice));
  CHECK(alice != anon);
  CHECK(h.hub.connection_count() == 2);
  CHECK(h.hub.user_count() == 1);
}

// --- subscribe and publish ----------------------------------------------------------

TEST_CASE("hub: subscribe ack lists every topic with its seq and epoch", "[hub]") {
  harness<> h;
  const connection_id a = h.join(), b = h.join();
  const json ack = h.request(a, R"({"type":"subscribe","id":2,"topics":["room.1","room.*","room.1"]})");
  INFO(ack.text);
  CHECK(ack.type() == "ack");
  CHECK(ack.num("/id") == 2);
  CHECK(ack.size("/data/topics") == 2);  // listed twice, reported once
  CHECK(ack.num("/data/topics/room.1/seq") == 0);
  const std::string epoch = ack.str("/data/topics/room.1/epoch");
  CHECK_FALSE(epoch.empty());
  CHECK(epoch.size() <= 32);
  CHECK(ack.num("/data/topics/room.*/seq") == 0);
  CHECK(ack.str("/data/topics/room.*/epoch").empty());
  CHECK_FALSE(ack.has("/data/topics/room.1/recovered"));

  h.send(b, R"({"type":"publish","topic":"room.1","data":1})");
  h.send(b, R"({"type":"publish","topic":"room.1","data":2})");
  CHECK(h.frames(a).size() == 2);  // subscribing twice did not duplicate delivery

  const json later = h.request(b, R"({"type":"subscribe","id":"x","topics":["room.1"]})");
  CHECK(later.str("/id") == "x");
  CHECK(later.num("/data/topics/room.1/seq") == 2);
  CHECK(later.str("/data/topics/room.1/epoch") == epoch);  // same stream, same epoch

  // Subscribing again to a topic one holds is not an error.
  const json again = h.request(a, R"({"type":"subscribe","id":3,"topics":["room.1"]})");
  CHECK(again.type() == "ack");
  h.send(b, R"({"type":"publish","topic":"room.1","data":3})");
  CHECK(h.frames(a).size() == 1);
}

TEST_CASE("hub: publish is acked with seq and recipients and delivered as message", "[hub]") {
  harness<> h;
  const connection_id pub = h.join("alice"), s1 = h.join(), s2 = h.join("bob"), other = h.join();
  h.subscribe(s1, R"(["room.1"])");
  h.subscribe(s2, R"(["room.*"])");
  h.subscribe(other, R"(["room.2"])");

  const json ack = h.request(pub, R"({"type":"publish","id":4,"topic":"room.1","data":{"text":"hi"}})");
  INFO(ack.text);
  CHECK(ack.type() == "ack");
  CHECK(ack.num("/id") == 4);
  CHECK(ack.num("/data/seq") == 1);
  CHECK(ack.num("/data/recipients") == 2);

  for (const connection_id id : {s1, s2}) {
    const json m = h.one(id);
    INFO(m.text);
    CHECK(m.type() == "message");
    CHECK(m.str("/topic") == "room.1");
    CHECK(m.num("/seq") == 1);
    CHECK(m.str("/from") == "alice");
    CHECK(m.str("/data/text") == "hi");
    const auto now_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                       std::chrono::system_clock::now().time_since_epoch())
                                                       .count());
    CHECK(m.num("/ts") <= now_ms);
    CHECK(m.num("/ts") + 60000 > now_ms);
  }
  CHECK(h.texts(other).empty());

  // seq is per topic and strictly increasing.
  CHECK(h.request(pub, R"({"type":"publish","id":5,"topic":"room.1","data":2})").num("/data/seq") == 2);
  CHECK(h.request(pub, R"({"type":"publish","id":6,"topic":"room.2","data":3})").num("/data/seq") == 1);
  CHECK(h.request(pub, R"({"type":"publish","id":7,"topic":"room.1","data":4})").num("/data/seq") == 3);
  CHECK(h.request(pub, R"({"type":"publish","id":8,"topic":"nobody.here","data":4})").num("/data/recipients") == 0);

  // An anonymous publisher is `from: null`.
  h.texts(s1);
  h.send(other, R"({"type":"publish","topic":"room.1","data":5})");
  CHECK(h.one(s1).is_null("/from"));
}

TEST_CASE("hub: the publisher is excluded from its own publish unless echo_to_publisher", "[hub]") {
  SECTION("default") {
    harness<> h;
    const connection_id a = h.join(), b = h.join();
    h.subscribe(a, R"(["t"])");
    h.subscribe(b, R"(["t"])");
    const json ack = h.request(a, R"({"type":"publish","id":1,"topic":"t","data":0})");
    CHECK(ack.num("/data/recipients") == 1);  // the ack was the only frame a received
    CHECK(h.one(b).type() == "message");
  }
  SECTION("echo_to_publisher") {
    sb::config cfg;
    cfg.echo_to_publisher = true;
    harness<> h(cfg);
    const connection_id a = h.join(), b = h.join();
    h.subscribe(a, R"(["t"])");
    h.subscribe(b, R"(["t"])");
    h.send(a, R"({"type":"publish","id":1,"topic":"t","data":0})");
    const auto got = h.frames(a);
    REQUIRE(got.size() == 2);
    CHECK(got[0].type() == "message");
    CHECK(got[1].type() == "ack");
    CHECK(got[1].num("/data/recipients") == 2);
    CHECK(h.one(b).type() == "message");
  }
}

TEST_CASE("hub: a connection with several matching subscriptions receives a publish once", "[hub]") {
  harness<> h;
  const connection_id pub = h.join(), sub = h.join();
  h.subscribe(sub, R"(["room.1", "room.*", "room.>", ">", "*.1", "*.*"])");
  const json ack = h.request(pub, R"({"type":"publish","id":1,"topic":"room.1","data":true})");
  CHECK(ack.num("/data/recipients") == 1);
  CHECK(h.one(sub).num("/seq") == 1);
  // The next publish is delivered again (each publish is deduplicated on its own).
  h.send(pub, R"({"type":"publish","topic":"room.1","data":false})");
  CHECK(h.one(sub).num("/seq") == 2);
}

TEST_CASE("hub: message data is spliced byte for byte", "[hub]") {
  const std::vector<std::string> values = {
      R"({ "b" : [1, 2.50, "x\u00e9\n"] , "a":null })", R"("str\"ing")", "1E+2", "-0.0", "[ ]", "null", "true",
      R"({"z":1,"a":2,"z":3})",
  };
  SECTION("without timestamps the whole frame is exact") {
    harness<> h(no_timestamps());
    const connection_id pub = h.join(), sub = h.join();
    h.subscribe(sub, R"(["t"])");
    std::uint64_t seq = 0;
    for (const auto& v : values) {
      h.send(pub, R"({"type":"publish","topic":"t","data":   )" + v + "\n}");
      const auto got = h.texts(sub);
      REQUIRE(got.size() == 1);
      CHECK(got[0] == R"({"type":"message","topic":"t","seq":)" + std::to_string(++seq) + R"(,"from":null,"data":)" + v +
                          "}");
    }
  }
  SECTION("with timestamps the data ends the frame unchanged") {
    harness<> h;
    const connection_id pub = h.join(), sub = h.join();
    h.subscribe(sub, R"(["t"])");
    for (const auto& v : values) {
      h.send(pub, R"({"data":)" + v + R"(,"topic":"t","type":"publish"})");
      const auto got = h.texts(sub);
      REQUIRE(got.size() == 1);
      const std::string tail = R"(,"data":)" + v + "}";
      REQUIRE(got[0].size() > tail.size());
      CHECK(got[0].substr(got[0].size() - tail.size()) == tail);
      CHECK(got[0].find(R"(,"ts":)") != std::string::npos);
    }
  }
  SECTION("the application's publish is spliced too, and refused when invalid") {
    harness<> h(no_timestamps());
    const connection_id sub = h.join();
    h.subscribe(sub, R"(["t"])");
    const auto r = h.hub.publish("t", R"({"k" : [1,2]})");
    CHECK_FALSE(r.failure);
    CHECK(r.seq == 1);
    CHECK(r.recipients == 1);
    h.pump();
    CHECK(h.texts(sub) == std::vector<std::string>{R"({"type":"message","topic":"t","seq":1,"from":null,"data":{"k" : [1,2]}})"});

    CHECK(h.hub.publish("t", "not json").failure == sb::error::bad_request);
    CHECK(h.hub.publish("t", "").failure == sb::error::bad_request);
    CHECK(h.hub.publish("t", "{} {}").failure == sb::error::bad_request);
    CHECK(h.hub.publish("t.*", "1").failure == sb::error::bad_request);
    CHECK(h.hub.publish("a..b", "1").failure == sb::error::bad_request);
    h.pump();
    CHECK(h.texts(sub).empty());
    CHECK(h.hub.publish("t", "2").seq == 2);  // refused publishes took no seq
  }
}

TEST_CASE("hub: unsubscribe stops delivery and ignores unknown topics", "[hub]") {
  harness<> h;
  const connection_id pub = h.join(), sub = h.join();
  h.subscribe(sub, R"(["a", "b.*"])");
  const json ack = h.request(sub, R"({"type":"unsubscribe","id":3,"topics":["a","never.subscribed"]})");
  CHECK(ack.type() == "ack");
  CHECK(ack.num("/id") == 3);
  CHECK_FALSE(ack.has("/data"));
  h.send(pub, R"({"type":"publish","topic":"a","data":1})");
  CHECK(h.texts(sub).empty());
  h.send(pub, R"({"type":"publish","topic":"b.1","data":1})");
  CHECK(h.one(sub).str("/topic") == "b.1");
  h.send(sub, R"({"type":"unsubscribe","topics":["b.*"]})");
  CHECK(h.texts(sub).empty());  // no id: no reply
  h.send(pub, R"({"type":"publish","topic":"b.1","data":1})");
  CHECK(h.texts(sub).empty());
}

// --- direct ---------------------------------------------------------------------------

TEST_CASE("hub: directs to an offline user come right after welcome on the next connection, once", "[hub]") {
  sb::memory_store::options limits;
  limits.max_directs_per_user = 2;
  harness<> h(no_timestamps(), sb::insecure_token_auth{}, sb::memory_store(limits));
  const connection_id bob = h.join("bob"), carol = h.join("carol");
  CHECK(h.request(bob, R"({"type":"direct","id":1,"to":"alice","data":"first"})").is_true("/data/stored"));
  CHECK(h.request(bob, R"({"type":"direct","id":2,"to":"alice","data":{"n":2}})").is_true("/data/stored"));
  const json over = h.request(bob, R"({"type":"direct","id":3,"to":"alice","data":"third"})");
  CHECK(over.num("/data/delivered") == 0);
  CHECK(over.is_false("/data/stored"));  // past max_directs_per_user: not kept
  CHECK(h.texts(carol).empty());

  const connection_id alice = h.connect("alice");
  const auto frames = h.texts(alice);
  REQUIRE(frames.size() == 3);
  CHECK(parse(frames[0]).type() == "welcome");
  CHECK(frames[1] == R"({"type":"direct","from":"bob","data":"first"})");
  CHECK(frames[2] == R"({"type":"direct","from":"bob","data":{"n":2}})");
  CHECK(h.texts(h.connect("alice")).size() == 1);  // a second connection gets its welcome only
  h.net.disconnect(alice);
  h.pump();
  CHECK(h.texts(h.connect("alice")).size() == 1);  // and so does the next session
  CHECK(h.texts(carol).empty());
  CHECK(h.hub.store().direct_count() == 0);
}

TEST_CASE("hub: a store that records sessions gets each connection's life when it closes", "[hub]") {
  sb::memory_store::options o;
  o.max_sessions = 10;
  harness<> h(no_timestamps(), sb::insecure_token_auth{}, sb::memory_store(o));
  const auto before = std::chrono::system_clock::now();
  const connection_id alice = h.net.connect("alice", sb::peer_info{"192.0.2.7:51000", "switchboard-test/1.0"});
  h.pump();
  REQUIRE(h.texts(alice).size() == 1);  // welcome
  const connection_id anon = h.join();
  h.subscribe(alice, R"(["t"])");
  h.send(anon, R"({"type":"publish","id":1,"topic":"t","data":1})");
  h.send(anon, R"({"type":"publish","id":2,"topic":"t","data":2})");
  CHECK(h.hub.store().sessions().empty());  // nothing until a connection closes

  h.net.disconnect(alice);
  h.pump();
  REQUIRE(h.hub.store().sessions().size() == 1);
  const sb::session_record& r = h.hub.store().sessions().front();
  CHECK(r.connection == alice);
  CHECK(r.user == "alice");
  CHECK(r.remote == "192.0.2.7:51000");
  CHECK(r.user_agent == "switchboard-test/1.0");
  CHECK(r.connected_at >= before);
  CHECK(r.disconnected_at >= r.connected_at);
  CHECK(r.messages_in == 1);   // the subscribe
  CHECK(r.messages_out == 4);  // welcome, the ack, two messages

  h.net.disconnect(anon);
  h.pump();
  REQUIRE(h.hub.store().sessions().size() == 2);
  CHECK(h.hub.store().sessions().back().user.empty());
  CHECK(h.hub.store().sessions().back().messages_in == 2);
  CHECK(h.hub.store().sessions().back().messages_out == 3);  // welcome and two acks
}

TEST_CASE("hub: direct reaches every connection of the user", "[hub]") {
  harness<> h(no_timestamps());
  const connection_id a1 = h.join("alice"), a2 = h.join("alice"), bob = h.join("bob"), carol = h.join("carol");
  const json ack = h.request(bob, R"({"type":"direct","id":5,"to":"alice","data":{"x" : 1}})");
  INFO(ack.text);
  CHECK(ack.type() == "ack");
  CHECK(ack.num("/id") == 5);
  CHECK(ack.num("/data/delivered") == 2);
  REQUIRE(ack.has("/data/stored"));
  CHECK(ack.is_false("/data/stored"));
  for (const connection_id id : {a1, a2})
    CHECK(h.texts(id) == std::vector<std::string>{R"({"type":"direct","from":"bob","data":{"x" : 1}})"});
  CHECK(h.texts(carol).empty());

  const json none = h.request(bob, R"({"type":"direct","id":6,"to":"nobody","data":1})");
  CHECK(none.num("/data/delivered") == 0);
  CHECK(none.is_true("/data/stored"));  // kept for nobody's next connection

  require_error(h.request(bob, R"({"type":"direct","id":7,"data":1})"), "bad_request", "7");
  require_error(h.request(bob, R"({"type":"direct","id":8,"to":"alice"})"), "bad_request", "8");
  require_error(h.request(bob, R"({"type":"direct","id":9,"to":"","data":1})"), "bad_request", "9");

  // From the application: `from` is null.
  const auto r = h.hub.send_direct("carol", "[1]");
  CHECK(r.delivered == 1);
  CHECK_FALSE(r.stored);
  h.pump();
  CHECK(h.texts(carol) == std::vector<std::string>{R"({"type":"direct","from":null,"data":[1]})"});
}

// --- commands and application types -------------------------------------------------

TEST_CASE("hub: built-in commands", "[hub]") {
  harness<> h;
  const connection_id anon = h.join(), alice = h.join("alice");
  h.join("alice");
  h.join("bob");
  h.subscribe(anon, R"(["t1","t2","p.*"])");

  const json ping = h.request(alice, R"({"type":"command","id":1,"name":"ping"})");
  CHECK(ping.type() == "result");
  CHECK(ping.num("/id") == 1);
  CHECK(ping.is_true("/data/pong"));

  const json echo = h.request(alice, R"({"type":"command","id":2,"name":"echo","params":{"b" : [1, "x"],"a":2}})");
  CHECK(echo.text == R"({"type":"result","id":2,"data":{"b" : [1, "x"],"a":2}})");
  CHECK(h.request(alice, R"({"type":"command","id":3,"name":"echo"})").is_null("/data"));

  const json info = h.request(alice, R"({"type":"command","id":4,"name":"server_info","params":{}})");
  INFO(info.text);
  CHECK(info.str("/data/name") == "switchboard");
  CHECK(info.str("/data/version") == SWITCHBOARD_VERSION_STRING);
  CHECK(info.num("/data/uptime_s") < 3600);
  CHECK(info.num("/data/connections") == 4);
  CHECK(info.num("/data/users") == 2);
  CHECK(info.num("/data/topics") == 2);

  const json count = h.request(anon, R"({"type":"command","id":5,"name":"user_count"})");
  CHECK(count.num("/data/users") == 2);  // the anonymous connection is not a user
  CHECK(count.num("/data/connections") == 4);

  const json list = h.request(anon, R"({"type":"command","id":6,"name":"list_commands"})");
  INFO(list.text);
  CHECK(list.text == R"({"type":"result","id":6,"data":{"commands":["echo","list_commands","ping","server_info","user_count"]}})");

  require_error(h.request(anon, R"({"type":"command","id":7,"name":"nope"})"), "unknown_command", "7");
  require_error(h.request(anon, R"({"type":"command","id":8})"), "bad_request", "8");
  require_error(h.request(anon, R"({"type":"command","id":9,"name":5})"), "bad_request", "9");
}

TEST_CASE("hub: application commands", "[hub]") {
  harness<> h;
  h.hub.handlers().add_command("add", [](sb::hub::request_context& ctx) {
    const auto& p = ctx.params();
    if (!p.IsObject() || !p.HasMember("a") || !p.HasMember("b") || !p["a"].IsInt() || !p["b"].IsInt())
      return sb::command_result::fail(sb::error::bad_request, "add needs integers a and b");
    return sb::command_result::ok(std::to_string(p["a"].GetInt() + p["b"].GetInt()));
  });
  h.hub.handlers().add_command("boom", [](sb::hub::request_context&) -> sb::command_result {
    throw std::runtime_error("exploded");
  });
  const connection_id c = h.join();

  CHECK(h.request(c, R"({"type":"command","id":"q","name":"add","params":{"a":2,"b":40}})").text ==
        R"({"type":"result","id":"q","data":42})");
  require_error(h.request(c, R"({"type":"command","id":2,"name":"add","params":{"a":"x"}})"), "bad_request", "2");
  const json boom = h.request(c, R"({"type":"command","id":3,"name":"boom"})");
  require_error(boom, "internal", "3");
  CHECK(boom.str("/message") == "exploded");

  const json list = h.request(c, R"({"type":"command","id":4,"name":"list_commands"})");
  CHECK(list.text ==
        R"({"type":"result","id":4,"data":{"commands":["add","boom","echo","list_commands","ping","server_info","user_count"]}})");
  // The connection still works after a handler threw.
  CHECK(h.request(c, R"({"type":"ping","id":5})").type() == "pong");
}

TEST_CASE("hub: application message types", "[hub]") {
  harness<> h;
  std::vector<std::string> seen;
  h.hub.handlers().on("chat", [&](sb::hub::request_context& ctx) {
    const auto& doc = ctx.json();
    if (!doc.HasMember("text") || !doc["text"].IsString()) return ctx.fail(sb::error::bad_request, "text is required");
    seen.emplace_back(doc["text"].GetString());
    CHECK(ctx.frame().find("\"chat\"") != std::string_view::npos);
    ctx.send(R"({"type":"chat_echo","n":1})");
    ctx.reply(R"({"accepted":true})");
  });
  h.hub.handlers().on("bare", [](sb::hub::request_context& ctx) { ctx.reply(); });
  const connection_id c = h.join("u");

  h.send(c, R"({"type":"chat","id":10,"text":"hello"})");
  auto got = h.frames(c);
  REQUIRE(got.size() == 2);
  CHECK(got[0].type() == "chat_echo");
  CHECK(got[1].text == R"({"type":"ack","id":10,"data":{"accepted":true}})");
  CHECK(seen == std::vector<std::string>{"hello"});

  require_error(h.request(c, R"({"type":"chat","id":11})"), "bad_request", "11");
  CHECK(h.request(c, R"({"type":"bare","id":12})").text == R"({"type":"ack","id":12})");
  h.send(c, R"({"type":"bare"})");
  CHECK(h.texts(c).empty());  // no id: reply() sends nothing

  require_error(h.request(c, R"({"type":"nobody_handles_this","id":13})"), "unknown_type", "13");
  require_error(h.request(c, R"({"type":"Chat","id":14})"), "unknown_type", "14");
}

// --- presence -------------------------------------------------------------------------

TEST_CASE("hub: presence lists the connections a publish would reach", "[hub]") {
  harness<> h;
  const connection_id a1 = h.join("alice"), a2 = h.join("alice"), bob = h.join("bob"), anon = h.join(),
                      asker = h.join("zed");
  h.subscribe(a1, R"(["room.1"])");
  h.subscribe(a2, R"(["room.1","room.*"])");  // matched twice, counted once
  h.subscribe(bob, R"(["room.*"])");
  h.subscribe(anon, R"(["room.>"])");

  const json p = h.request(asker, R"({"type":"presence","id":7,"topic":"room.1"})");
  INFO(p.text);
  CHECK(p.type() == "result");
  CHECK(p.num("/id") == 7);
  CHECK(p.size("/data/users") == 2);
  CHECK(p.str("/data/users/0") == "alice");
  CHECK(p.str("/data/users/1") == "bob");
  CHECK(p.num("/data/connections") == 4);  // anonymous connections count here only

  h.subscribe(asker, R"(["room.1"])");  // the asking connection is included
  const json p2 = h.request(asker, R"({"type":"presence","id":8,"topic":"room.1"})");
  CHECK(p2.num("/data/connections") == 5);
  CHECK(p2.size("/data/users") == 3);

  const json empty = h.request(asker, R"({"type":"presence","id":9,"topic":"hall.1"})");
  CHECK(empty.text == R"({"type":"result","id":9,"data":{"users":[],"connections":0}})");

  require_error(h.request(asker, R"({"type":"presence","id":10,"topic":"room.*"})"), "bad_request", "10");
  require_error(h.request(asker, R"({"type":"presence","id":11})"), "bad_request", "11");
}

TEST_CASE("hub: presence events on system.presence for first online and last offline", "[hub]") {
  harness<> h;
  const connection_id watcher = h.join();
  h.subscribe(watcher, R"(["system.presence"])");
  auto events = [&] {
    std::vector<std::string> out;
    for (const auto& m : h.frames(watcher)) {
      REQUIRE(m.type() == "message");
      REQUIRE(m.str("/topic") == "system.presence");
      out.push_back(m.str("/data/user") + ":" + m.str("/data/status"));
    }
    return out;
  };

  const connection_id a1 = h.join("alice");
  CHECK(events() == std::vector<std::string>{"alice:online"});
  const connection_id a2 = h.join("alice");
  const connection_id anon = h.join();
  CHECK(events().empty());  // a second connection and an anonymous one announce nothing

  h.net.disconnect(a1);
  h.pump();
  CHECK(events().empty());
  h.net.disconnect(anon);
  h.pump();
  CHECK(events().empty());
  h.net.disconnect(a2);
  h.pump();
  CHECK(events() == std::vector<std::string>{"alice:offline"});
  CHECK(h.hub.user_count() == 0);

  h.join("alice");
  h.join("bob");
  CHECK(events() == std::vector<std::string>{"alice:online", "bob:online"});
}

// --- history ----------------------------------------------------------------------------

TEST_CASE("hub: history returns stored messages with since and limit", "[hub]") {
  sb::config cfg;
  cfg.max_history_limit = 3;
  cfg.history_size = 10;
  harness<> h(cfg);
  const connection_id pub = h.join("p"), sub = h.join(), asker = h.join();
  h.subscribe(sub, R"(["t"])");
  for (int i = 1; i <= 8; ++i) h.send(pub, R"({"type":"publish","topic":"t","data":{"n":)" + std::to_string(i) + "}}");
  const std::vector<std::string> live = h.texts(sub);
  REQUIRE(live.size() == 8);

  auto seqs = [](const json& r) {
    std::vector<std::uint64_t> out;
    const auto* messages = r.at("/data/messages");
    if (!messages || !messages->IsArray()) return out;
    for (const auto& m : messages->GetArray())
      out.push_back(m.IsObject() && m.HasMember("seq") && m["seq"].IsUint64() ? m["seq"].GetUint64() : 0);
    return out;
  };

  const json latest = h.request(asker, R"({"type":"history","id":8,"topic":"t","limit":2})");
  INFO(latest.text);
  CHECK(latest.type() == "result");
  CHECK(latest.num("/id") == 8);
  CHECK(seqs(latest) == std::vector<std::uint64_t>{7, 8});
  CHECK(latest.num("/data/seq") == 8);
  CHECK_FALSE(latest.str("/data/epoch").empty());
  // The stored messages are the frames subscribers received, byte for byte.
  CHECK(latest.text.find(live[6] + "," + live[7]) != std::string::npos);

  CHECK(seqs(h.request(asker, R"({"type":"history","id":9,"topic":"t","since":1,"limit":2})")) ==
        std::vector<std::uint64_t>{2, 3});
  CHECK(seqs(h.request(asker, R"({"type":"history","id":10,"topic":"t","limit":100})")) ==
        std::vector<std::uint64_t>{6, 7, 8});  // clamped to max_history_limit
  CHECK(seqs(h.request(asker, R"({"type":"history","id":11,"topic":"t","since":0,"limit":100})")) ==
        std::vector<std::uint64_t>{1, 2, 3});
  CHECK(seqs(h.request(asker, R"({"type":"history","id":12,"topic":"t","since":8})")).empty());
  CHECK(seqs(h.request(asker, R"({"type":"history","id":13,"topic":"t","limit":0})")).empty());

  const json none = h.request(asker, R"({"type":"history","id":14,"topic":"quiet"})");
  CHECK(none.size("/data/messages") == 0);
  CHECK(none.num("/data/seq") == 0);
  CHECK_FALSE(none.str("/data/epoch").empty());

  require_error(h.request(asker, R"({"type":"history","id":15,"topic":"t.*"})"), "bad_request", "15");
  require_error(h.request(asker, R"({"type":"history","id":16})"), "bad_request", "16");
  require_error(h.request(asker, R"({"type":"history","id":17,"topic":"t","limit":"2"})"), "bad_request", "17");
}

TEST_CASE("hub: history limit defaults to 100", "[hub]") {
  sb::config cfg;
  cfg.history_size = 150;
  harness<> h(cfg);
  for (int i = 0; i < 120; ++i) REQUIRE_FALSE(h.hub.publish("t", "0").failure);
  const connection_id c = h.join();
  const json r = h.request(c, R"({"type":"history","id":1,"topic":"t"})");
  REQUIRE(r.size("/data/messages") == 100);
  CHECK(r.num("/data/messages/0/seq") == 21);
  CHECK(r.num("/data/messages/99/seq") == 120);
}

TEST_CASE("hub: a binary publish appears in history as base64", "[hub]") {
  harness<> h;
  const connection_id pub = h.join("p"), asker = h.join();
  h.send_binary(pub, binary_publish("bin.1", std::string_view("\x00\xffhi", 4)));
  CHECK(h.texts(pub).empty());  // binary publishes are not acked
  const json r = h.request(asker, R"({"type":"history","id":1,"topic":"bin.1"})");
  INFO(r.text);
  REQUIRE(r.size("/data/messages") == 1);
  CHECK(r.str("/data/messages/0/type") == "message");
  CHECK(r.str("/data/messages/0/topic") == "bin.1");
  CHECK(r.num("/data/messages/0/seq") == 1);
  CHECK(r.str("/data/messages/0/encoding") == "base64");
  CHECK(r.str("/data/messages/0/data") == "AP9oaQ==");
  CHECK(r.has("/data/messages/0/from"));
}

// --- recovery -------------------------------------------------------------------------

TEST_CASE("hub: subscribe with since replays missed messages before the ack", "[hub]") {
  sb::config cfg = no_timestamps();
  cfg.history_size = 5;
  harness<> h(cfg);
  const connection_id first = h.join();
  const json first_ack = h.request(first, R"({"type":"subscribe","id":1,"topics":["room.1"]})");
  const std::string epoch = first_ack.str("/data/topics/room.1/epoch");
  for (int i = 1; i <= 3; ++i) REQUIRE_FALSE(h.hub.publish("room.1", std::to_string(i)).failure);
  h.pump();
  const std::vector<std::string> live = h.texts(first);
  REQUIRE(live.size() == 3);

  auto resubscribe = [&](const std::string& since) {
    const connection_id c = h.join();
    h.send(c, R"({"type":"subscribe","id":2,"topics":["room.1","other"],"since":)" + since + "}");
    return h.texts(c);
  };

  SECTION("everything after since, in order, then the ack with recovered true") {
    const auto got = resubscribe(R"({"room.1":{"seq":1,"epoch":")" + epoch + R"("}})");
    REQUIRE(got.size() == 3);
    CHECK(got[0] == live[1]);
    CHECK(got[1] == live[2]);
    const json ack = parse(got[2]);
    CHECK(ack.type() == "ack");
    CHECK(ack.is_true("/data/topics/room.1/recovered"));
    CHECK(ack.num("/data/topics/room.1/seq") == 3);
    CHECK_FALSE(ack.has("/data/topics/other/recovered"));  // not asked for
  }
  SECTION("a bare number or an object without epoch skips the epoch check") {
    for (const std::string since : {R"({"room.1":0})", R"({"room.1":{"seq":0}})"}) {
      const auto got = resubscribe(since);
      REQUIRE(got.size() == 4);
      CHECK(got[0] == live[0]);
      CHECK(parse(got[3]).is_true("/data/topics/room.1/recovered"));
    }
  }
  SECTION("up to date: nothing replayed, recovered true") {
    const auto got = resubscribe(R"({"room.1":{"seq":3,"epoch":")" + epoch + R"("}})");
    REQUIRE(got.size() == 1);
    CHECK(parse(got[0]).is_true("/data/topics/room.1/recovered"));
  }
  SECTION("since beyond the latest seq: the stream was reset") {
    const auto got = resubscribe(R"({"room.1":{"seq":9,"epoch":")" + epoch + R"("}})");
    REQUIRE(got.size() == 1);
    CHECK(parse(got[0]).is_false("/data/topics/room.1/recovered"));
  }
  SECTION("another epoch: nothing replayed, recovered false") {
    const auto got = resubscribe(R"({"room.1":{"seq":1,"epoch":"not-the-epoch"}})");
    REQUIRE(got.size() == 1);
    const json ack = parse(got[0]);
    CHECK(ack.is_false("/data/topics/room.1/recovered"));
    CHECK(ack.str("/data/topics/room.1/epoch") == epoch);  // the client learns the current one
  }
  SECTION("messages after since no longer stored: nothing replayed, recovered false") {
    for (int i = 4; i <= 9; ++i) REQUIRE_FALSE(h.hub.publish("room.1", std::to_string(i)).failure);  // 5..9 kept
    h.pump();
    auto got = resubscribe(R"({"room.1":{"seq":3,"epoch":")" + epoch + R"("}})");
    REQUIRE(got.size() == 1);
    CHECK(parse(got[0]).is_false("/data/topics/room.1/recovered"));
    got = resubscribe(R"({"room.1":4})");
    REQUIRE(got.size() == 6);  // 5..9 and the ack
    CHECK(parse(got[0]).num("/seq") == 5);
    CHECK(parse(got[5]).is_true("/data/topics/room.1/recovered"));
  }
  SECTION("since naming a topic not subscribed, or a pattern, is bad_request") {
    const connection_id c = h.join();
    require_error(h.request(c, R"({"type":"subscribe","id":3,"topics":["room.1"],"since":{"room.2":0}})"), "bad_request",
                  "3");
    require_error(h.request(c, R"({"type":"subscribe","id":4,"topics":["room.*"],"since":{"room.*":0}})"), "bad_request",
                  "4");
    require_error(h.request(c, R"({"type":"subscribe","id":5,"topics":["room.1"],"since":[0]})"), "bad_request", "5");
    require_error(h.request(c, R"({"type":"subscribe","id":6,"topics":["room.1"],"since":2})"), "bad_request", "6");
    // Nothing was subscribed by the refused requests.
    REQUIRE_FALSE(h.hub.publish("room.1", "0").failure);
    h.pump();
    CHECK(h.texts(c).empty());
  }
}

TEST_CASE("hub: binary publishes are replayed as binary frames", "[hub]") {
  harness<> h;
  const connection_id pub = h.join();
  h.send_binary(pub, binary_publish("b", "one"));
  h.send_binary(pub, binary_publish("b", "two"));
  const connection_id c = h.join();
  h.send(c, R"({"type":"subscribe","id":1,"topics":["b"],"since":{"b":0}})");
  const auto got = h.net.take(c);
  REQUIRE(got.size() == 3);
  CHECK(got[0].kind == sb::frame_kind::binary);
  CHECK(got[0].payload == binary_delivery("b", 1, "one"));
  CHECK(got[1].payload == binary_delivery("b", 2, "two"));
  CHECK(got[2].kind == sb::frame_kind::text);
  CHECK(parse(got[2].payload).is_true("/data/topics/b/recovered"));
}

// --- binary envelope ------------------------------------------------------------------

TEST_CASE("hub: binary envelope publish reaches JSON and binary subscribers alike", "[hub]") {
  harness<> h;
  const connection_id pub = h.join(), sub = h.join(), pattern_sub = h.join();
  h.subscribe(sub, R"(["px.eur"])");
  h.subscribe(pattern_sub, R"(["px.*"])");
  REQUIRE_FALSE(h.hub.publish("px.eur", "{}").failure);  // seq 1 is a JSON message
  h.pump();
  h.net.take(sub);
  h.net.take(pattern_sub);

  const std::string payload("\x00\x01\x02\xff quote", 10);
  h.send_binary(pub, binary_publish("px.eur", payload));
  for (const connection_id id : {sub, pattern_sub}) {
    const auto got = h.net.take(id);
    REQUIRE(got.size() == 1);
    CHECK(got[0].kind == sb::frame_kind::binary);
    CHECK(got[0].payload == binary_delivery("px.eur", 2, payload));
  }
  CHECK(h.net.take(pub).empty());

  // An empty payload is a valid publish.
  h.send_binary(pub, binary_publish("px.eur", ""));
  CHECK(h.net.take(sub).at(0).payload == binary_delivery("px.eur", 3, ""));

  // The application's binary publish.
  const auto r = h.hub.publish_binary("px.eur", "app");
  CHECK(r.seq == 4);
  CHECK(r.recipients == 2);
  CHECK(h.hub.publish_binary("px.*", "x").failure == sb::error::bad_request);
}

TEST_CASE("hub: a malformed binary frame is answered with bad_request", "[hub]") {
  harness<> h;
  const connection_id pub = h.join(), sub = h.join();
  h.subscribe(sub, R"([">"])");
  const std::vector<std::string> bad = {
      "",
      std::string("\x01", 1),
      std::string("\x02\x01t", 3),            // the server-to-client type byte
      std::string("\x01\x05" "abc", 5),      // topic length beyond the frame
      std::string("\x01\x00payload", 9),      // empty topic
      binary_publish("px.*", "x"),            // wildcard
      binary_publish("a..b", "x"),            // invalid topic
  };
  for (const auto& frame : bad) {
    CAPTURE(frame);
    h.send_binary(pub, frame);
    require_error(h.one(pub), "bad_request", "null");
  }
  CHECK(h.net.take(sub).empty());
  // The publisher still works.
  h.send_binary(pub, binary_publish("ok", "1"));
  CHECK(h.net.take(sub).size() == 1);
}

// --- errors ---------------------------------------------------------------------------

TEST_CASE("hub: bad_json and bad_request", "[hub]") {
  harness<> h;
  const connection_id c = h.join();
  for (const char* text : {"", "not json", "[1,2]", "42", "\"str\"", "{\"type\":\"ping\"", "{\"type\":\"ping\"}x"}) {
    CAPTURE(text);
    require_error(h.request(c, text), "bad_json", "null");
  }
  // Missing or non-string type: bad_request, with the request's id.
  require_error(h.request(c, R"({"id":3})"), "bad_request", "3");
  require_error(h.request(c, R"({"type":7,"id":"t"})"), "bad_request", "\"t\"");
  // An invalid id: bad_request with id null.
  for (const char* text : {R"({"type":"ping","id":1.5})", R"({"type":"ping","id":-1})", R"({"type":"ping","id":{}})",
                           R"({"type":"ping","id":9007199254740992})"}) {
    CAPTURE(text);
    require_error(h.request(c, text), "bad_request", "null");
  }
  const std::string long_id = R"({"type":"ping","id":")" + std::string(65, 'i') + "\"}";
  require_error(h.request(c, long_id), "bad_request", "null");
  const std::string max_id = R"({"type":"ping","id":")" + std::string(64, 'i') + "\"}";
  CHECK(h.request(c, max_id).type() == "pong");
  CHECK(h.request(c, R"({"type":"ping","id":9007199254740991})").text == R"({"type":"pong","id":9007199254740991})");
  CHECK(h.request(c, R"({"type":"ping","id":0})").text == R"({"type":"pong","id":0})");

  // Publish fields.
  require_error(h.request(c, R"({"type":"publish","id":1,"data":1})"), "bad_request", "1");
  require_error(h.request(c, R"({"type":"publish","id":2,"topic":"t"})"), "bad_request", "2");
  require_error(h.request(c, R"({"type":"publish","id":3,"topic":"t.*","data":1})"), "bad_request", "3");
  require_error(h.request(c, R"({"type":"publish","id":4,"topic":"t.>","data":1})"), "bad_request", "4");
  require_error(h.request(c, R"({"type":"publish","id":5,"topic":"a..b","data":1})"), "bad_request", "5");
  require_error(h.request(c, R"({"type":"publish","id":6,"topic":7,"data":1})"), "bad_request", "6");
  // Subscribe fields.
  require_error(h.request(c, R"({"type":"subscribe","id":7})"), "bad_request", "7");
  require_error(h.request(c, R"({"type":"subscribe","id":8,"topics":[]})"), "bad_request", "8");
  require_error(h.request(c, R"({"type":"subscribe","id":9,"topics":"a"})"), "bad_request", "9");
  require_error(h.request(c, R"({"type":"subscribe","id":10,"topics":["a",1]})"), "bad_request", "10");
  require_error(h.request(c, R"({"type":"subscribe","id":11,"topics":["ok","a..b"]})"), "bad_request", "11");
  require_error(h.request(c, R"({"type":"subscribe","id":12,"topics":{"k":"a"}})"), "bad_request", "12");
  require_error(h.request(c, R"({"type":"unsubscribe","id":13,"topics":[]})"), "bad_request", "13");
  // In-band auth is off by default.
  require_error(h.request(c, R"({"type":"auth","id":14,"token":"x"})"), "bad_request", "14");

  // None of it subscribed anything.
  REQUIRE_FALSE(h.hub.publish("ok", "1").failure);
  REQUIRE_FALSE(h.hub.publish("a", "1").failure);
  h.pump();
  CHECK(h.texts(c).empty());
}

TEST_CASE("hub: a bad frame never affects the connection or anyone else", "[hub]") {
  harness<> h;
  const connection_id bad = h.join(), other = h.join();
  h.subscribe(bad, R"(["t"])");
  h.subscribe(other, R"(["t"])");
  h.send(bad, "{{{{");
  require_error(h.one(bad), "bad_json", "null");
  CHECK(h.texts(other).empty());
  // Both keep working, subscriptions intact.
  const json ack = h.request(bad, R"({"type":"publish","id":1,"topic":"t","data":"after"})");
  CHECK(ack.num("/data/recipients") == 1);
  CHECK(h.one(other).str("/data") == "after");
  h.send(other, R"({"type":"publish","topic":"t","data":"back"})");
  CHECK(h.one(bad).str("/data") == "back");
  CHECK(h.net.close_code_of(bad) == 0);
  CHECK(h.hub.connection_count() == 2);
}

TEST_CASE("hub: requests without id get no reply on success, and errors with id null", "[hub]") {
  harness<> h;
  const connection_id c = h.join("me"), peer = h.join("peer");
  h.send(c, R"({"type":"subscribe","topics":["t"]})");
  h.send(c, R"({"type":"subscribe","topics":["t2"],"id":null})");
  h.send(peer, R"({"type":"subscribe","topics":["t"]})");
  h.send(c, R"({"type":"publish","topic":"t","data":1})");
  h.send(c, R"({"type":"direct","to":"peer","data":1})");
  h.send(c, R"({"type":"command","name":"ping"})");
  h.send(c, R"({"type":"presence","topic":"t"})");
  h.send(c, R"({"type":"history","topic":"t"})");
  h.send(c, R"({"type":"unsubscribe","topics":["t"]})");
  CHECK(h.texts(c).empty());
  // They did take effect.
  const auto peer_got = h.frames(peer);
  REQUIRE(peer_got.size() == 2);
  CHECK(peer_got[0].type() == "message");
  CHECK(peer_got[1].type() == "direct");
  REQUIRE_FALSE(h.hub.publish("t2", "1").failure);
  h.pump();
  CHECK(h.one(c).str("/topic") == "t2");

  // ping always gets pong; without id, it has no id member.
  CHECK(h.request(c, R"({"type":"ping"})").text == R"({"type":"pong"})");
  // Failures without id are reported with id null.
  require_error(h.request(c, R"({"type":"publish","topic":"t"})"), "bad_request", "null");
  require_error(h.request(c, R"({"type":"mystery"})"), "unknown_type", "null");
}

// A model of the auth policy (see is_auth_policy): refuses the token "banned" at the
// handshake; only the user "admin" may subscribe or publish under `secret.`, and patterns
// that could match such topics are refused for everyone else too.
class topic_guard {
 public:
  sb::auth_result authenticate(const sb::handshake_info& handshake) const {
    if (handshake.token == "banned") return sb::auth_result::refuse("banned", 403);
    if (handshake.token.empty()) return sb::auth_result::accept(std::nullopt);
    return sb::auth_result::accept(std::string(handshake.token));
  }
  bool authorize(const sb::identity& who, sb::action what, std::string_view topic) const {
    if (who.user == std::optional<std::string>("admin")) return true;
    switch (what) {
      case sb::action::subscribe:
      case sb::action::presence:
      case sb::action::history:
        return topic.substr(0, 7) != "secret." && topic.front() != '*' && topic.front() != '>';
      case sb::action::publish: return topic.substr(0, 7) != "secret.";
      case sb::action::direct:
      case sb::action::command: return true;
    }
    return false;
  }
};
static_assert(sb::is_auth_policy<topic_guard>::value, "topic_guard models the auth policy");
static_assert(!sb::is_auth_policy<int>::value, "int is not an auth policy");
using guarded_hub = sb::basic_hub<sb::policies<topic_guard>>;

TEST_CASE("hub: forbidden through a custom auth policy", "[hub]") {
  harness<guarded_hub> h;
  REQUIRE(h.net.connect("banned") == 0);
  CHECK(h.net.last_refusal().http_status == 403);
  CHECK(h.hub.connection_count() == 0);

  const connection_id user = h.join("user"), admin = h.join("admin");
  const json refused = h.request(user, R"({"type":"subscribe","id":1,"topics":["room.1","secret.x"]})");
  require_error(refused, "forbidden", "1");
  CHECK(refused.str("/message").find("secret.x") != std::string::npos);
  require_error(h.request(user, R"({"type":"subscribe","id":2,"topics":[">"]})"), "forbidden", "2");
  require_error(h.request(user, R"({"type":"publish","id":3,"topic":"secret.x","data":1})"), "forbidden", "3");
  require_error(h.request(user, R"({"type":"history","id":4,"topic":"secret.x"})"), "forbidden", "4");
  require_error(h.request(user, R"({"type":"presence","id":5,"topic":"secret.x"})"), "forbidden", "5");
  h.send_binary(user, binary_publish("secret.x", "1"));
  require_error(h.one(user), "forbidden", "null");

  // None of the refused request's topics was subscribed.
  h.send(admin, R"({"type":"publish","topic":"room.1","data":1})");
  CHECK(h.texts(user).empty());

  // The admin may.
  h.subscribe(admin, R"(["secret.x"])");
  CHECK(h.request(admin, R"({"type":"history","id":6,"topic":"secret.x"})").type() == "result");
  h.send(user, R"({"type":"subscribe","topics":["room.1"]})");
  CHECK(h.request(admin, R"({"type":"publish","id":7,"topic":"room.1","data":1})").num("/data/recipients") == 1);
}

TEST_CASE("hub: rate_limited carries the request id and the frame is not processed", "[hub]") {
  sb::config cfg;
  cfg.rate_limit = 0.001;  // effectively no refill during the test
  cfg.rate_burst = 3;
  harness<> h(cfg);
  const connection_id c = h.join(), sub = h.join();
  h.subscribe(c, R"(["t"])");  // 1
  h.subscribe(sub, R"(["t"])");
  CHECK(h.request(c, R"({"type":"ping","id":1})").type() == "pong");  // 2
  CHECK(h.request(c, R"({"type":"ping","id":2})").type() == "pong");  // 3
  require_error(h.request(c, R"({"type":"publish","id":"late","topic":"t","data":1})"), "rate_limited", "\"late\"");
  require_error(h.request(c, R"({"type":"ping"})"), "rate_limited", "null");
  require_error(h.request(c, "not json"), "rate_limited", "null");
  h.send_binary(c, binary_publish("t", "x"));
  require_error(h.one(c), "rate_limited", "null");
  CHECK(h.net.take(sub).empty());  // neither publish went through
  CHECK(h.hub.stats().rate_limited == 4);
  // Other connections have their own bucket.
  CHECK(h.request(sub, R"({"type":"ping","id":1})").type() == "pong");
  CHECK(h.net.close_code_of(c) == 0);
}

TEST_CASE("hub: too_large for subscription limits", "[hub]") {
  sb::config cfg;
  cfg.max_subscriptions_per_connection = 3;
  cfg.max_topics_per_request = 4;
  harness<> h(cfg);
  const connection_id c = h.join();
  h.subscribe(c, R"(["a","b"])");
  require_error(h.request(c, R"({"type":"subscribe","id":1,"topics":["c","d"]})"), "too_large", "1");
  REQUIRE_FALSE(h.hub.publish("c", "1").failure);
  h.pump();
  CHECK(h.texts(c).empty());  // all or nothing: c was not subscribed
  // Topics already held and duplicates in the request do not count twice.
  CHECK(h.request(c, R"({"type":"subscribe","id":2,"topics":["a","c","c","b"]})").type() == "ack");
  require_error(h.request(c, R"({"type":"subscribe","id":3,"topics":["d"]})"), "too_large", "3");
  // Unsubscribing makes room again.
  h.send(c, R"({"type":"unsubscribe","topics":["a"]})");
  CHECK(h.request(c, R"({"type":"subscribe","id":4,"topics":["d"]})").type() == "ack");

  require_error(h.request(c, R"({"type":"subscribe","id":5,"topics":["a","b","c","d","e"]})"), "too_large", "5");
  require_error(h.request(c, R"({"type":"unsubscribe","id":6,"topics":["a","b","c","d","e"]})"), "too_large", "6");
}

TEST_CASE("hub: max_connections_per_user refuses with forbidden, then close 1008", "[hub]") {
  sb::config cfg;
  cfg.max_connections_per_user = 2;
  harness<> h(cfg);
  const connection_id watcher = h.join();
  h.subscribe(watcher, R"(["system.presence"])");
  const connection_id a1 = h.join("alice");
  h.join("alice");
  CHECK(h.frames(watcher).size() == 1);  // online, once

  const connection_id third = h.net.connect("alice");
  REQUIRE(third != 0);
  h.pump();
  const auto got = h.frames(third);
  REQUIRE(got.size() == 1);  // no welcome
  require_error(got[0], "forbidden", "null");
  CHECK(h.net.close_code_of(third) == sb::close_code::policy_violation);
  CHECK(h.hub.connection_count() == 3);  // the refused one is gone once closed
  CHECK(h.hub.user_count() == 1);
  CHECK(h.frames(watcher).empty());  // neither online nor offline for the refused one

  // Once one of alice's connections goes, she may connect again.
  h.net.disconnect(a1);
  h.pump();
  h.join("alice");
  CHECK(h.frames(watcher).empty());  // she never went offline

  // Anonymous connections have no per-user limit.
  for (int i = 0; i < 5; ++i) h.join();
}

// --- slow consumers and backpressure ---------------------------------------------------

TEST_CASE("hub: a slow consumer is cut with 1013 while others get every message in order", "[hub]") {
  sb::config cfg;
  SECTION("frame limit") { cfg.send_queue_frames = 8; }
  SECTION("byte limit") { cfg.send_queue_bytes = 1000; }
  harness<> h(cfg);
  const connection_id slow = h.join(), healthy = h.join(), publisher = h.join();
  h.subscribe(slow, R"(["feed"])");
  h.subscribe(healthy, R"(["feed"])");
  h.net.set_draining(slow, false);

  const std::string data = "\"" + std::string(90, 'd') + "\"";
  for (int i = 0; i < 40; ++i) {
    const json ack = h.request(publisher, R"({"type":"publish","id":1,"topic":"feed","data":)" + data + "}");
    REQUIRE(ack.type() == "ack");
  }
  CHECK(h.net.close_code_of(slow) == sb::close_code::try_again_later);
  CHECK(h.hub.connection_count() == 2);
  CHECK(h.hub.stats().slow_consumers_dropped == 1);
  CHECK(h.net.close_code_of(healthy) == 0);
  const auto got = h.frames(healthy);
  REQUIRE(got.size() == 40);
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].num("/seq") == i + 1);
  CHECK(h.hub.queued_bytes() == 0);
}

TEST_CASE("hub: a flush longer than max_flush_slice lets reads in, and what they publish joins that flush", "[hub]") {
  sb::config cfg;
  cfg.max_flush_slice = std::chrono::microseconds(0);  // every flush yields after its first few connections
  cfg.timestamps = false;
  harness<> h(cfg);
  constexpr std::size_t subscribers = 64;
  std::vector<connection_id> subs;
  for (std::size_t i = 0; i < subscribers; ++i) {
    subs.push_back(h.join());
    h.subscribe(subs.back(), R"(["feed"])");
  }
  const connection_id publisher = h.join();
  const std::uint64_t written_before = h.net.frames_written();

  // The first publish is handled now and its flush posted; the second arrives in a
  // handler posted behind that flush, as a read that became ready meanwhile would.
  h.net.receive_text(publisher, R"({"type":"publish","topic":"feed","data":"a"})");
  std::uint64_t written_when_read = 0;
  asio::post(h.io, [&] {
    written_when_read = h.net.frames_written() - written_before;
    h.net.receive_text(publisher, R"({"type":"publish","topic":"feed","data":"b"})");
  });
  h.pump();

  INFO("frames written before the second publish was read: " << written_when_read);
  CHECK(written_when_read > 0);
  CHECK(written_when_read < subscribers);  // it did not wait for the whole flush
  for (const connection_id sub : subs) {
    const auto got = h.frames(sub);
    REQUIRE(got.size() == 2);
    CHECK(got[0].str("/data") == "a");
    CHECK(got[1].str("/data") == "b");
  }
  CHECK(h.hub.queued_bytes() == 0);
}

TEST_CASE("hub: publishes read in one loop turn past send_queue_frames reach a subscriber that keeps up", "[hub]") {
  sb::config cfg;
  cfg.send_queue_frames = 16;
  harness<> h(cfg);
  const connection_id sub = h.join(), publisher = h.join();
  h.subscribe(sub, R"(["burst"])");

  // All handled before the loop turns once, as from one large read: nothing was
  // written to the subscriber yet, so it cannot be behind.
  for (int i = 0; i < 40; ++i)
    h.net.receive_text(publisher, R"({"type":"publish","topic":"burst","data":)" + std::to_string(i) + "}");
  CHECK(h.net.paused(publisher));  // it waits for the flush that offers those frames
  h.pump();
  CHECK_FALSE(h.net.paused(publisher));
  CHECK(h.net.close_code_of(sub) == 0);
  CHECK(h.hub.stats().slow_consumers_dropped == 0);
  const auto got = h.frames(sub);
  REQUIRE(got.size() == 40);
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].num("/data") == i);

  // A subscriber with a write that never completes is behind: the same burst cuts it.
  h.net.set_draining(sub, false);
  h.send(publisher, R"({"type":"publish","topic":"burst","data":-1})");
  for (int i = 0; i < 40; ++i)
    h.net.receive_text(publisher, R"({"type":"publish","topic":"burst","data":)" + std::to_string(i) + "}");
  h.pump();
  CHECK(h.net.close_code_of(sub) == sb::close_code::try_again_later);
  CHECK(h.hub.stats().slow_consumers_dropped == 1);
  CHECK_FALSE(h.net.paused(publisher));
}

TEST_CASE("hub: a burst publisher whose flush leaves the backlog over its limit waits for it to drain", "[hub]") {
  sb::config cfg;
  cfg.send_queue_frames = 4;
  cfg.publish_backlog_bytes = 2000;
  harness<> h(cfg);
  const connection_id sub = h.join(), publisher = h.join();
  h.subscribe(sub, R"(["burst"])");
  h.net.set_draining(sub, false);  // the flush's write to it stays in flight

  // Read in one turn: four small publishes fill the queue, the fifth (large) passes its
  // limit before anything was written, so the publisher waits for the next flush.
  for (int i = 0; i < 4; ++i)
    h.net.receive_text(publisher, R"({"type":"publish","topic":"burst","data":)" + std::to_string(i) + "}");
  h.net.receive_text(publisher, R"({"type":"publish","topic":"burst","data":")" + std::string(3000, 'x') + "\"}");
  REQUIRE(h.net.paused(publisher));
  CHECK(h.hub.queued_bytes() > cfg.publish_backlog_bytes);

  // That flush leaves the backlog over its limit: the publisher stays paused with those
  // paused for the backlog, and is read again once it drains.
  h.pump();
  CHECK(h.net.paused(publisher));
  CHECK(h.net.close_code_of(sub) == 0);
  h.net.set_draining(sub, true);
  h.pump();
  CHECK_FALSE(h.net.paused(publisher));
  CHECK(h.hub.queued_bytes() == 0);
  CHECK(h.frames(sub).size() == 5);
  CHECK(h.hub.stats().slow_consumers_dropped == 0);
}

TEST_CASE("hub: publishers are paused while the backlog is over publish_backlog_bytes", "[hub]") {
  sb::config cfg;
  cfg.publish_backlog_bytes = 2000;
  cfg.send_queue_frames = 16;  // a reader with more than 2 frames queued is behind
  const std::string data = "\"" + std::string(400, 'x') + "\"";
  const std::string publish = R"({"type":"publish","topic":"feed","data":)" + data + "}";

  SECTION("and resumed when the backlog drains") {
    harness<> h(cfg);
    const connection_id sub = h.join(), pub = h.join(), bystander = h.join();
    h.subscribe(sub, R"(["feed"])");
    h.net.set_draining(sub, false);
    int sent = 0;
    while (!h.net.paused(pub) && sent < 20) {
      h.send(pub, publish);
      ++sent;
    }
    REQUIRE(h.net.paused(pub));
    CHECK(sent > 1);
    CHECK(sent < 10);
    CHECK(h.hub.queued_bytes() > cfg.publish_backlog_bytes);
    CHECK_FALSE(h.net.paused(bystander));  // only connections adding to the backlog

    h.net.set_draining(sub, true);
    h.pump();
    CHECK_FALSE(h.net.paused(pub));
    CHECK(h.hub.queued_bytes() == 0);
    const auto got = h.frames(sub);
    REQUIRE(got.size() == static_cast<std::size_t>(sent));
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].num("/seq") == i + 1);
  }
  SECTION("and the largest queue is cut when it does not drain in time") {
    cfg.publish_backlog_timeout = std::chrono::milliseconds(20);
    harness<> h(cfg);
    const connection_id sub = h.join(), pub = h.join();
    h.subscribe(sub, R"(["feed"])");
    h.net.set_draining(sub, false);
    for (int i = 0; i < 20 && !h.net.paused(pub); ++i) h.send(pub, publish);
    REQUIRE(h.net.paused(pub));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (h.net.close_code_of(sub) == 0 && std::chrono::steady_clock::now() < deadline) {
      h.io.restart();
      h.io.run_for(std::chrono::milliseconds(10));
    }
    h.pump();
    CHECK(h.net.close_code_of(sub) == sb::close_code::try_again_later);
    CHECK_FALSE(h.net.paused(pub));
    CHECK(h.net.close_code_of(pub) == 0);
  }
}

// --- application state ------------------------------------------------------------------

namespace {
struct session {
  int requests = 0;
  std::string nickname;
};
using session_hub = sb::basic_hub<sb::policies<sb::insecure_token_auth, sb::memory_store, session>>;
}  // namespace

TEST_CASE("hub: per-connection UserData is reachable from handlers and the hub", "[hub]") {
  harness<session_hub> h;
  h.hub.handlers().on("nick", [](session_hub::request_context& ctx) {
    session& s = ctx.user_data();
    ++s.requests;
    const auto& doc = ctx.json();
    if (doc.HasMember("nick") && doc["nick"].IsString()) s.nickname = doc["nick"].GetString();
    ctx.reply(R"({"requests":)" + std::to_string(s.requests) + "}");
  });
  h.hub.handlers().add_command("whoami", [](session_hub::request_context& ctx) {
    std::string data;
    sb::detail::append_json_string(data, ctx.user_data().nickname);
    return sb::command_result::ok(data);
  });
  const connection_id a = h.join(), b = h.join();
  REQUIRE(h.hub.user_data(a) != nullptr);
  CHECK(h.hub.user_data(a)->requests == 0);

  CHECK(h.request(a, R"({"type":"nick","id":1,"nick":"ann"})").text == R"({"type":"ack","id":1,"data":{"requests":1}})");
  CHECK(h.request(a, R"({"type":"nick","id":2})").text == R"({"type":"ack","id":2,"data":{"requests":2}})");
  CHECK(h.request(b, R"({"type":"nick","id":3,"nick":"bea"})").text == R"({"type":"ack","id":3,"data":{"requests":1}})");
  CHECK(h.request(a, R"({"type":"command","id":4,"name":"whoami"})").text == R"({"type":"result","id":4,"data":"ann"})");

  CHECK(h.hub.user_data(a)->nickname == "ann");
  CHECK(h.hub.user_data(b)->nickname == "bea");
  h.net.disconnect(a);
  h.pump();
  CHECK(h.hub.user_data(a) == nullptr);
  // A new connection starts from a default-constructed value, even in a reused slot.
  const connection_id c = h.join();
  REQUIRE(h.hub.user_data(c) != nullptr);
  CHECK(h.hub.user_data(c)->requests == 0);
  CHECK(h.hub.user_data(c)->nickname.empty());
}

TEST_CASE("hub: send queues any JSON object to one connection", "[hub]") {
  harness<> h;
  const connection_id c = h.join();
  CHECK(h.hub.send(c, R"({"type":"notice","n":1})"));
  h.pump();
  CHECK(h.texts(c) == std::vector<std::string>{R"({"type":"notice","n":1})"});
  h.net.disconnect(c);
  h.pump();
  CHECK_FALSE(h.hub.send(c, R"({"type":"notice"})"));
}

TEST_CASE("hub: a burst of post_publish larger than the send queue reaches a subscriber that keeps up", "[hub]") {
  sb::config cfg;
  cfg.send_queue_frames = 16;
  harness<> h(cfg);
  const connection_id sub = h.join();
  h.subscribe(sub, R"(["burst"])");
  // All posted before the loop turns once, as from a thread faster than the hub.
  for (int i = 0; i < 500; ++i) REQUIRE(h.hub.post_publish("burst", std::to_string(i)));
  h.pump();
  CHECK(h.net.close_code_of(sub) == 0);
  const auto got = h.frames(sub);
  REQUIRE(got.size() == 500);
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i].num("/data") == i);
}

TEST_CASE("hub: close_all closes every connection with 1001", "[hub]") {
  harness<> h;
  const connection_id a = h.join("alice"), b = h.join();
  h.hub.close_all();
  h.pump();
  CHECK(h.net.close_code_of(a) == sb::close_code::going_away);
  CHECK(h.net.close_code_of(b) == sb::close_code::going_away);
  CHECK(h.hub.connection_count() == 0);
  CHECK(h.hub.user_count() == 0);
}
