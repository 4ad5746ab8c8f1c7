// Flow control over real sockets: a slow consumer is cut off without hurting a healthy
// one, and the heartbeat drops peers that stop answering pings.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace switchboard::test;
using namespace std::chrono_literals;
using switchboard::detail::ws_opcode;

namespace {

// `count` connections subscribed to `topic`; the first with a receive window of
// `first_receive_buffer` bytes (0: the system's default).
std::vector<std::unique_ptr<ws_test_client>> subscribed_readers(std::uint16_t port, int count, const std::string& topic,
                                                                int first_receive_buffer = 0) {
  std::vector<std::unique_ptr<ws_test_client>> readers;
  for (int i = 0; i < count; ++i) {
    readers.push_back(std::make_unique<ws_test_client>());
    readers.back()->open(port, {"/ws", {}, {}, i == 0 ? first_receive_buffer : 0});
    REQUIRE(readers.back()->send_text(R"({"type":"subscribe","id":1,"topics":[")" + topic + R"("]})"));
    readers.back()->recv_type("ack");
  }
  return readers;
}

// Reads `total` messages from each reader: seq 1, 2, ... and `check(i, data)` for the i-th.
template <class Check>
void expect_every_message(const std::vector<std::unique_ptr<ws_test_client>>& readers, std::size_t total, Check check) {
  for (std::size_t r = 0; r < readers.size(); ++r) {
    INFO("reader " << r);
    for (std::size_t i = 0; i < total; ++i) {
      const ws_message m = readers[r]->recv(10s);
      REQUIRE(m.is_text());
      rapidjson::Document doc;
      doc.Parse(m.payload.data(), m.payload.size());
      REQUIRE(doc.IsObject());
      REQUIRE(num(doc, "seq") == i + 1);
      check(i, doc["data"]);
    }
  }
}

}  // namespace

TEST_CASE("a slow consumer is cut off while a healthy subscriber receives every message", "[socket][slow]") {
  auto cfg = test_config();
  cfg.send_queue_frames = 128;
  cfg.send_queue_bytes = 512 * 1024;
  cfg.close_timeout = 300ms;
  cfg.rate_limit = 0;
  cfg.timestamps = false;
  test_server server(cfg);

  ws_test_client healthy, slow, publisher;
  healthy.open(server.port());
  // A small receive window, so the kernel buffers fill quickly once it stops reading.
  slow.open(server.port(), {"/ws", {}, {}, 4096});
  publisher.open(server.port());
  REQUIRE(healthy.send_text(R"({"type":"subscribe","id":1,"topics":["flow.t"]})"));
  healthy.recv_type("ack");
  REQUIRE(slow.send_text(R"({"type":"subscribe","id":1,"topics":["flow.t"]})"));
  slow.recv_type("ack");
  // From here on `slow` is never read until the end.

  constexpr std::uint64_t total = 20000;
  constexpr std::uint64_t batch = 32;  // well under send_queue_frames for the healthy one
  const std::string data = "\"" + std::string(1000, 'x') + "\"";
  std::uint64_t next_expected = 1;

  for (std::uint64_t sent = 0; sent < total;) {
    std::string wire;
    for (std::uint64_t i = 0; i < batch && sent < total; ++i, ++sent)
      wire += publisher.encode_frame(ws_opcode::text, R"({"type":"publish","topic":"flow.t","data":)" + data + "}");
    REQUIRE(publisher.send_raw(wire));
    // Every message, in order, before the next batch: the healthy queue stays short.
    while (next_expected <= sent) {
      const ws_message m = healthy.recv();
      REQUIRE(m.is_text());
      rapidjson::Document doc;
      doc.Parse(m.payload.data(), m.payload.size());
      REQUIRE(doc.IsObject());
      if (num(doc, "seq") != next_expected) FAIL("healthy subscriber: expected seq " << next_expected << ", got " << m.payload.substr(0, 80));
      REQUIRE(doc["data"].GetStringLength() == 1000);
      ++next_expected;
    }
  }
  CHECK(next_expected == total + 1);
  // The healthy subscriber got every publish, so the hub has handled them all: 20 MB to
  // a peer that reads nothing overflowed its queue long ago.
  REQUIRE(server.stats().slow_consumers_dropped == 1);
  // The slow peer never reads, so it never answers the close frame: only close_timeout
  // (300 ms) can end its socket. Waiting far longer than that proves it did, without
  // asserting how soon a loaded machine gets round to it.
  CHECK(server.wait_until([](auto&, server_under_test& s) { return s.connection_count() == 2; }, 30s));

  // The slow one got a gap-free prefix of the stream, then 1013 or a dropped socket.
  std::uint64_t slow_seq = 0;
  std::uint16_t slow_close = 0;
  for (;;) {
    ws_message m;
    const read_status status = slow.try_recv(m, 5s);
    REQUIRE(status != read_status::timeout);
    if (status == read_status::closed) {
      slow_close = closed_without_frame;
      break;
    }
    if (m.is_close()) {
      slow_close = m.close_code();
      break;
    }
    rapidjson::Document doc;
    doc.Parse(m.payload.data(), m.payload.size());
    REQUIRE(doc.IsObject());
    REQUIRE(num(doc, "seq") == slow_seq + 1);
    slow_seq = num(doc, "seq");
  }
  INFO("slow consumer received " << slow_seq << " messages, then close code " << slow_close);
  CHECK(slow_seq < total);
  CHECK((slow_close == 1013 || slow_close == closed_without_frame));

  // The healthy subscriber and the publisher are still connected and served.
  REQUIRE(publisher.send_text(R"({"type":"publish","id":"last","topic":"flow.t","data":"end"})"));
  CHECK(num(publisher.recv_type("ack")["data"], "recipients") == 1);
  const rapidjson::Document last = healthy.recv_type("message");
  CHECK(num(last, "seq") == total + 1);
}

TEST_CASE("frames of every size reach readers byte for byte and in order, also after their sockets filled up", "[socket][flow]") {
  auto cfg = test_config();
  cfg.rate_limit = 0;
  cfg.timestamps = false;
  cfg.send_queue_frames = 16384;
  cfg.send_queue_bytes = 16 * 1024 * 1024;
  cfg.publish_backlog_bytes = 256 * 1024 * 1024;
  cfg.max_flush_slice = std::chrono::microseconds(0);  // flushes interleaved with reads
  test_server server(cfg);

  // None of them reads while the messages are published. Each is sent more (8 MB) than
  // the kernel buffers of its socket hold (4 MB on Linux by default), so its writes stop
  // part way through, inside runs of small frames as well as large ones.
  const auto readers = subscribed_readers(server.port(), 6, "sizes", 4096);  // the first with a small window
  ws_test_client publisher;
  publisher.open(server.port());

  // Mostly small frames, packed together into writes, with one larger than a packed
  // write can hold every so often.
  constexpr std::size_t total = 12000;
  const auto data_of = [](std::size_t i) {
    const std::size_t size = i % 100 == 99 ? 40000 : (i * 37) % 600;
    return std::string(size, static_cast<char>('a' + i % 26));
  };
  for (std::size_t sent = 0; sent < total;) {
    std::string wire;
    for (int j = 0; j < 50 && sent < total; ++j, ++sent)
      wire += publisher.encode_frame(ws_opcode::text,
                                     R"({"type":"publish","topic":"sizes","data":")" + data_of(sent) + "\"}");
    REQUIRE(publisher.send_raw(wire));
  }

  expect_every_message(readers, total, [&](std::size_t i, const rapidjson::Value& data) {
    REQUIRE(std::string(data.GetString(), data.GetStringLength()) == data_of(i));
  });
  CHECK(server.stats().slow_consumers_dropped == 0);
}

// Native only: the websocketpp adapter reports every write as in flight until its
// handler runs, so the burst counts as slowness there (docs/websocketpp.md).
TEST_CASE("a burst of publishes many times send_queue_frames reaches subscribers that keep up",
          "[socket][flow][native_only]") {
  auto cfg = test_config();
  cfg.rate_limit = 0;
  cfg.timestamps = false;
  cfg.send_queue_frames = 64;
  test_server server(cfg);

  const auto readers = subscribed_readers(server.port(), 3, "burst");
  ws_test_client publisher;
  publisher.open(server.port());

  // 5,000 publishes in one send: the server reads hundreds of them at a time, far more
  // than a queue may hold, before it writes anything.
  constexpr std::size_t total = 5000;
  std::string wire;
  for (std::size_t i = 0; i < total; ++i)
    wire += publisher.encode_frame(ws_opcode::text,
                                   R"({"type":"publish","topic":"burst","data":)" + std::to_string(i) + "}");
  REQUIRE(publisher.send_raw(wire));

  expect_every_message(readers, total, [](std::size_t i, const rapidjson::Value& data) {
    REQUIRE(data.GetUint64() == i);
  });
  CHECK(server.stats().slow_consumers_dropped == 0);
}

TEST_CASE("heartbeat: a peer that does not answer pings is dropped, one that answers stays", "[socket][heartbeat]") {
  // ping_timeout > ping_interval: a ping must not reset the pending pong deadline.
  // The live peer answers between 10 ms reads; ping_timeout is what it may take at
  // most, so it is far above any scheduling delay.
  auto cfg = test_config();
  cfg.ping_interval = 100ms;
  cfg.ping_timeout = 1000ms;
  test_server server(cfg);
  ws_test_client alive, deaf;
  deaf.auto_pong = false;
  CHECK(num(alive.open(server.port()), "heartbeat_ms") == 100);
  deaf.open(server.port());

  // Until the deaf peer is gone and the live one has been pinged (and answered) several
  // times; the deadline only stops a hang.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool deaf_gone = false;
  while (!(deaf_gone && alive.pings_received() >= 3) && std::chrono::steady_clock::now() < deadline) {
    ws_message m;
    CHECK(alive.try_recv(m, 10ms) == read_status::timeout);  // answers pings, sees no data
    if (deaf_gone) continue;
    const read_status status = deaf.try_recv(m, 10ms);
    if (status == read_status::closed || (status == read_status::message && m.is_close())) deaf_gone = true;
  }
  INFO("deaf peer: " << deaf.pings_received() << " pings received, gone: " << deaf_gone
                     << "; alive peer: " << alive.pings_received() << " pings");
  CHECK(deaf.pings_received() >= 1);  // it was pinged before it was dropped
  CHECK(deaf_gone);
  CHECK(alive.pings_received() >= 3);
  REQUIRE(alive.send_text(R"({"type":"ping","id":1})"));
  CHECK(num(alive.recv_type("pong"), "id") == 1);
  CHECK(server.wait_until([](auto& hub, auto&) { return hub.connection_count() == 1; }));
}

TEST_CASE("heartbeat with ping_timeout shorter than ping_interval", "[socket][heartbeat]") {
  // As above, ping_timeout is how long the live peer may take to answer, so it stays
  // well above scheduling delays while still below the interval.
  auto cfg = test_config();
  cfg.ping_interval = 400ms;
  cfg.ping_timeout = 300ms;
  test_server server(cfg);
  ws_test_client alive, deaf;
  deaf.auto_pong = false;
  alive.open(server.port());
  deaf.open(server.port());

  // Until the deaf peer is gone and the live one has been pinged several times (it
  // outlives the deaf one by a few intervals); the deadline only stops a hang.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  bool deaf_gone = false;
  while (!(deaf_gone && alive.pings_received() >= 3) && std::chrono::steady_clock::now() < deadline) {
    ws_message m;
    CHECK(alive.try_recv(m, 10ms) == read_status::timeout);
    if (deaf_gone) continue;
    const read_status status = deaf.try_recv(m, 10ms);
    if (status == read_status::closed || (status == read_status::message && m.is_close())) deaf_gone = true;
  }
  INFO("deaf peer: " << deaf.pings_received() << " pings; alive peer: " << alive.pings_received() << " pings");
  CHECK(deaf_gone);
  CHECK(alive.pings_received() >= 3);
  REQUIRE(alive.send_text(R"({"type":"ping","id":2})"));
  CHECK(num(alive.recv_type("pong"), "id") == 2);
  CHECK(server.wait_until([](auto&, server_under_test& s) { return s.connection_count() == 1; }));
}
