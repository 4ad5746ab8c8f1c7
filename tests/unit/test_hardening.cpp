// Hostile input against the hub: each case sends what an attacker would, asserts the
// documented outcome, and checks that a bystander keeps receiving publishes in order.
#include "support/hub_harness.hpp"

#include <switchboard/detail/json.hpp>
#include <switchboard/detail/utf8.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace {

// A subscriber of `bystander.feed` and the publisher that feeds it.
struct bystander {
  connection_id reader, writer;
  std::uint64_t sent = 0;

  template <class Harness>
  explicit bystander(Harness& h) : reader(h.join("bystander")), writer(h.join("feeder")) {
    h.subscribe(reader, R"(["bystander.feed"])");
  }
  // Publishes one more message and checks the reader got exactly the ones sent, in order.
  template <class Harness>
  void check(Harness& h) {
    h.send(writer, R"({"type":"publish","topic":"bystander.feed","data":)" + std::to_string(++sent) + "}");
    const auto got = h.frames(reader);
    REQUIRE(got.size() == 1);
    CHECK(got[0].type() == "message");
    CHECK(got[0].num("/seq") == sent);
    CHECK(h.net.close_code_of(reader) == 0);
  }
};

std::string nested(std::size_t depth, std::string_view leaf = "1") {
  return std::string(depth, '[') + std::string(leaf) + std::string(depth, ']');
}

}  // namespace

TEST_CASE("hardening: 100,000-deep params and frames parse without exhausting the stack", "[hardening]") {
  harness<> h;
  bystander b(h);
  bool parsed_params = false, parsed_frame = false;
  h.hub.handlers().add_command("inspect", [&](sb::hub::request_context& ctx) {
    parsed_params = ctx.params().IsArray();
    return sb::command_result::ok("true");
  });
  h.hub.handlers().on("move", [&](sb::hub::request_context& ctx) {
    parsed_frame = ctx.json().IsObject();
    ctx.reply();
  });
  const connection_id c = h.join();
  const std::string deep = nested(100000);
  CHECK(h.request(c, R"({"type":"command","id":1,"name":"inspect","params":)" + deep + "}").type() == "result");
  CHECK(parsed_params);
  CHECK(h.request(c, R"({"type":"command","id":2,"name":"echo","params":)" + deep + "}").text.size() > 200000);
  CHECK(h.request(c, R"({"type":"move","id":3,"x":)" + deep + "}").type() == "ack");
  CHECK(parsed_frame);
  b.check(h);
}

TEST_CASE("hardening: a user id must be 1 to 128 bytes of UTF-8 without control characters", "[hardening]") {
  harness<> h;
  bystander b(h);
  for (const std::string& bad : {std::string("\xC3\x28"), std::string("\xED\xB0\x80"), std::string("a\nb"),
                                std::string("tab\there"), std::string("\xC2\x85"), std::string(129, 'u'),
                                std::string("del\x7F")}) {
    INFO("user id bytes: " << bad.size());
    CHECK(h.net.connect(bad) == 0);
    CHECK(h.net.last_refusal().http_status == 401);
  }
  CHECK(h.join(std::string(128, 'u')) != 0);
  const connection_id accented = h.connect("j\xC3\xBCrgen");
  REQUIRE(accented != 0);
  CHECK(h.one(accented).str("/user") == "j\xC3\xBCrgen");
  b.check(h);
}

TEST_CASE("hardening: every frame that quotes client input is valid UTF-8", "[hardening]") {
  harness<> h;
  bystander b(h);
  const connection_id c = h.join();
  for (const std::string& request : {std::string(R"({"type":"command","id":1,"name":"\udc00"})"),
                                    std::string(R"({"type":"\udfff","id":2})"),
                                    std::string(R"({"type":"subscribe","id":3,"topics":["a\udc00"]})"),
                                    std::string(R"({"type":"publish","id":4,"topic":"\ud800x","data":1})")}) {
    h.send(c, request);
    const auto replies = h.texts(c);
    REQUIRE(replies.size() == 1);
    INFO(replies[0]);
    CHECK(sb::detail::is_valid_utf8(replies[0]));
    CHECK(parse(replies[0]).type() == "error");
  }
  b.check(h);
}

TEST_CASE("hardening: clients cannot publish on system. topics", "[hardening]") {
  harness<> h;
  bystander b(h);
  const connection_id watcher = h.join("watcher"), forger = h.join("forger");
  h.subscribe(watcher, R"(["system.presence","system.>"])");
  require_error(h.request(forger, R"({"type":"publish","id":1,"topic":"system.presence","data":{"user":"x","status":"online"}})"),
                "forbidden", "1");
  require_error(h.request(forger, R"({"type":"publish","id":2,"topic":"system.alerts","data":1})"), "forbidden", "2");
  h.send_binary(forger, binary_publish("system.presence", "forged"));
  require_error(h.one(forger), "forbidden", "null");
  CHECK(h.texts(watcher).empty());
  CHECK(h.net.take(watcher).empty());
  // The server itself still may.
  CHECK(h.hub.publish("system.alerts", "1").recipients == 1);
  b.check(h);
}

TEST_CASE("hardening: application types are not refused for built-in field names", "[hardening]") {
  harness<> h;
  h.hub.handlers().on("move", [](sb::hub::request_context& ctx) { ctx.reply(R"({"moved":true})"); });
  const connection_id c = h.join();
  const json reply = h.request(c, R"({"type":"move","id":1,"to":{"x":1},"topic":5,"topics":"no","since":"x","limit":-1})");
  CHECK(reply.type() == "ack");
  CHECK(reply.is_true("/data/moved"));
  // Built-in types still check them.
  require_error(h.request(c, R"({"type":"direct","id":2,"to":{"x":1},"data":1})"), "bad_request", "2");
}

TEST_CASE("hardening: a history result stops at max_history_reply_bytes and says more", "[hardening]") {
  sb::config cfg = no_timestamps();
  cfg.max_history_reply_bytes = 1000;
  harness<> h(cfg);
  bystander b(h);
  const connection_id pub = h.join("pub"), asker = h.join("asker");
  const std::string data = "\"" + std::string(200, 'x') + "\"";
  for (int i = 0; i < 20; ++i) h.send(pub, R"({"type":"publish","topic":"big","data":)" + data + "}");

  const json newest = h.request(asker, R"({"type":"history","id":1,"topic":"big"})");
  INFO(newest.text);
  REQUIRE(newest.size("/data/messages") >= 1);
  CHECK(newest.size("/data/messages") < 20);
  CHECK(newest.is_true("/data/more"));
  CHECK(newest.text.size() < cfg.max_history_reply_bytes + 200);
  const std::size_t n = newest.size("/data/messages");
  CHECK(newest.num(("/data/messages/" + std::to_string(n - 1) + "/seq").c_str()) == 20);  // the newest kept

  const json oldest = h.request(asker, R"({"type":"history","id":2,"topic":"big","since":0})");
  REQUIRE(oldest.size("/data/messages") >= 1);
  CHECK(oldest.num("/data/messages/0/seq") == 1);  // paging forward keeps the oldest
  CHECK(oldest.is_true("/data/more"));

  // Paging with since reaches the end, where more is absent.
  std::uint64_t since = 0, pages = 0;
  for (;;) {
    const json page = h.request(asker, R"({"type":"history","id":3,"topic":"big","since":)" + std::to_string(since) + "}");
    const std::size_t count = page.size("/data/messages");
    REQUIRE(count >= 1);
    for (std::size_t i = 0; i < count; ++i)
      CHECK(page.num(("/data/messages/" + std::to_string(i) + "/seq").c_str()) == since + 1 + i);
    since += count;
    ++pages;
    if (!page.has("/data/more")) break;
    REQUIRE(pages < 40);
  }
  CHECK(since == 20);
  CHECK(h.net.close_code_of(asker) == 0);
  b.check(h);
}

TEST_CASE("hardening: a recovery that would not fit the send queue replays nothing", "[hardening]") {
  sb::config cfg;
  cfg.send_queue_frames = 16;
  harness<> h(cfg);
  bystander b(h);
  const connection_id pub = h.join("pub"), late = h.join("late");
  for (int i = 0; i < 40; ++i) h.send(pub, R"({"type":"publish","topic":"big","data":1})");
  const json ack = h.request(late, R"({"type":"subscribe","id":1,"topics":["big"],"since":{"big":0}})");
  INFO(ack.text);
  CHECK(ack.type() == "ack");
  CHECK(ack.is_false("/data/topics/big/recovered"));
  CHECK(ack.num("/data/topics/big/seq") == 40);
  CHECK(h.net.close_code_of(late) == 0);
  // One that fits is replayed in full.
  h.send(late, R"({"type":"subscribe","id":2,"topics":["big"],"since":{"big":30}})");
  const auto frames = h.frames(late);
  REQUIRE(frames.size() == 11);
  for (int i = 0; i < 10; ++i) CHECK(frames[static_cast<std::size_t>(i)].num("/seq") == 31u + static_cast<unsigned>(i));
  CHECK(frames[10].is_true("/data/topics/big/recovered"));
  b.check(h);
}

TEST_CASE("hardening: patterns per connection and tokens per pattern are bounded", "[hardening]") {
  sb::config cfg;
  cfg.max_patterns_per_connection = 3;
  cfg.max_pattern_tokens = 4;
  harness<> h(cfg);
  bystander b(h);
  const connection_id c = h.join();
  require_error(h.request(c, R"({"type":"subscribe","id":1,"topics":["a.*.b.c.d"]})"), "too_large", "1");
  h.subscribe(c, R"(["a.*.b.c","x.>","y.*"])");
  require_error(h.request(c, R"({"type":"subscribe","id":2,"topics":["z.*"]})"), "too_large", "2");
  // Exact topics of any length are hash lookups, not bounded by the pattern limits.
  h.subscribe(c, R"(["a.b.c.d.e.f.g.h","plain"])");
  // Subscribing again to a pattern it holds is not a new pattern.
  h.subscribe(c, R"(["y.*"])");
  h.hub.publish("y.1", "1");
  h.pump();
  CHECK(h.frames(c).size() == 1);
  b.check(h);
}

TEST_CASE("hardening: a connection that only asks is not paused by others' backlog", "[hardening]") {
  sb::config cfg;
  cfg.publish_backlog_bytes = 2000;
  cfg.send_queue_frames = 16;  // congested past 2 queued frames
  harness<> h(cfg);
  const connection_id slow = h.join("slow"), flooder = h.join("flooder"), pinger = h.join("pinger");
  bystander b(h);
  h.subscribe(slow, R"(["flood"])");
  h.net.set_draining(slow, false);
  const std::string publish = R"({"type":"publish","topic":"flood","data":")" + std::string(400, 'x') + "\"}";
  for (int i = 0; i < 20 && !h.net.paused(flooder); ++i) h.send(flooder, publish);
  REQUIRE(h.net.paused(flooder));
  REQUIRE(h.hub.queued_bytes() > cfg.publish_backlog_bytes);
  CHECK(h.request(pinger, R"({"type":"ping","id":1})").type() == "pong");
  CHECK_FALSE(h.net.paused(pinger));
  // A publisher whose readers keep up is not paused either.
  b.check(h);
  b.check(h);
  CHECK_FALSE(h.net.paused(b.writer));
}

TEST_CASE("hardening: history since 2^64-1 returns nothing", "[hardening]") {
  harness<> h(no_timestamps());
  const connection_id c = h.join();
  for (int i = 0; i < 3; ++i) h.send(c, R"({"type":"publish","topic":"t","data":1})");
  const json r = h.request(c, R"({"type":"history","id":1,"topic":"t","since":18446744073709551615})");
  INFO(r.text);
  CHECK(r.size("/data/messages") == 0);
  CHECK(r.num("/data/seq") == 3);
}

TEST_CASE("hardening: a binary publish keeps its publisher in history", "[hardening]") {
  harness<> h(no_timestamps());
  const connection_id alice = h.join("alice"), reader = h.join("reader");
  h.send_binary(alice, binary_publish("ticks", "\x01\x02"));
  const json r = h.request(reader, R"({"type":"history","id":1,"topic":"ticks"})");
  INFO(r.text);
  CHECK(r.str("/data/messages/0/from") == "alice");
  CHECK(r.str("/data/messages/0/encoding") == "base64");
  CHECK(r.str("/data/messages/0/data") == "AQI=");
  // The publisher's id never reaches the wire of the binary delivery.
  h.subscribe(reader, R"(["ticks"])");
  h.send_binary(alice, binary_publish("ticks", "\x03"));
  const auto got = h.net.take(reader);
  REQUIRE(got.size() == 1);
  CHECK(got[0].payload == binary_delivery("ticks", 2, "\x03"));
}

TEST_CASE("hardening: reading history or subscribing keeps no state for unknown topics", "[hardening]") {
  harness<> h;
  bystander b(h);
  const connection_id c = h.join();
  h.send(c, R"({"type":"publish","topic":"real","data":1})");
  const std::size_t streams = h.hub.store().stream_count();
  for (int i = 0; i < 300; ++i)
    CHECK(h.request(c, R"({"type":"history","id":1,"topic":"random.)" + std::to_string(i) + "\"}").type() == "result");
  CHECK(h.hub.store().stream_count() == streams);
  b.check(h);
}

TEST_CASE("hardening: a rate-limited frame's id is found without parsing it", "[hardening]") {
  using sb::detail::scan_request_id;
  CHECK(scan_request_id(R"({"type":"publish","id":7,"data":1})") == "7");
  CHECK(scan_request_id(R"({ "data" : {"id":1,"x":[{"id":2}]}, "id" : "abc" })") == "\"abc\"");
  CHECK(scan_request_id(R"({"data":"\"id\":3","id":4})") == "4");
  CHECK(scan_request_id(R"({"id":9007199254740991})") == "9007199254740991");
  CHECK(scan_request_id(R"({"id":9007199254740992})").empty());
  CHECK(scan_request_id(R"({"id":1.5})").empty());
  CHECK(scan_request_id(R"({"id":-1})").empty());
  CHECK(scan_request_id(R"({"id":01})").empty());
  CHECK(scan_request_id(R"({"id":null})").empty());
  CHECK(scan_request_id(R"({"type":"x"})").empty());
  CHECK(scan_request_id(R"([1,2])").empty());
  CHECK(scan_request_id("{\"id\":\"" + std::string(65, 'x') + "\"}").empty());
  CHECK(scan_request_id(R"({"data":)" + nested(100000) + R"(,"id":5})") == "5");

  sb::config cfg;
  cfg.rate_limit = 1;
  cfg.rate_burst = 1;
  harness<> h(cfg);
  const connection_id c = h.join();
  h.send(c, R"({"type":"ping","id":1})");
  CHECK(h.one(c).type() == "pong");
  require_error(h.request(c, R"({"type":"ping","data":)" + nested(1000) + R"(,"id":"late"})"), "rate_limited",
                "\"late\"");
}

// The transport-facing callbacks are not part of the hub's public API: only a transport,
// through hub_access, reaches them.
template <class H, class = void>
struct can_call_on_message : std::false_type {};
template <class H>
struct can_call_on_message<H, std::void_t<decltype(std::declval<H&>().on_message(
                                  sb::connection_id{}, sb::frame_kind::text, std::string_view()))>> : std::true_type {};
static_assert(!can_call_on_message<sb::hub>::value, "an application cannot call hub.on_message");
static_assert(can_call_on_message<sb::hub_endpoint>::value, "the endpoint a transport holds can");
static_assert(!std::is_convertible<sb::hub&, sb::hub_endpoint&>::value, "a hub is not usable as an endpoint directly");

TEST_CASE("hardening: a transport reaches the hub only through hub_access", "[hardening]") {
  asio::io_context io;
  sb::hub hub{io};
  sb::hub_endpoint& endpoint = sb::hub_access::endpoint(hub);
  CHECK(&endpoint.settings() == &hub.settings());
  sb::memory_transport net{hub};
  CHECK(net.connect("alice") != 0);
  CHECK(hub.connection_count() == 1);
}
