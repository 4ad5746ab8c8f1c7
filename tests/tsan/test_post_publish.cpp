// post_publish from other threads while the hub's thread runs its io_context.
// Built with -fsanitize=thread: any data race between the callers and the hub fails it.
#include <switchboard/hub.hpp>
#include <switchboard/memory_transport.hpp>

#include <catch2/catch.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace sb = switchboard;

namespace {

// Runs the loop on the calling thread until nothing is ready.
void pump(asio::io_context& io) {
  for (int turn = 0; turn < 100000; ++turn) {
    io.restart();
    if (io.poll() == 0) return;
  }
  FAIL("the hub's loop never went idle");
}

// The (producer, index) pair in the data of a `message` frame, and its seq.
struct delivery {
  int producer = -1;
  int index = -1;
  std::uint64_t seq = 0;
};

delivery decode(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  INFO(text);
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsObject());
  REQUIRE(doc.HasMember("type"));
  REQUIRE(std::string(doc["type"].GetString()) == "message");
  const auto& data = doc["data"];
  REQUIRE(data.IsObject());
  return {data["p"].GetInt(), data["i"].GetInt(), doc["seq"].GetUint64()};
}

std::string payload(int producer, int index) {
  return R"({"p":)" + std::to_string(producer) + R"(,"i":)" + std::to_string(index) + "}";
}

// Runs the loop on the calling thread until `id` has received `count` frames, or a
// generous deadline passes. Under load (and TSan is load) a flush may be deferred to a
// timer for up to max_write_delay, which poll() alone does not wait for.
std::vector<std::string> pump_until(asio::io_context& io, sb::memory_transport& net, sb::connection_id id,
                                    std::size_t count) {
  std::vector<std::string> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    pump(io);
    for (auto& t : net.take_texts(id)) got.push_back(std::move(t));
    if (got.size() >= count || std::chrono::steady_clock::now() > deadline) return got;
    io.restart();
    io.run_one_for(std::chrono::milliseconds(10));  // lets a pending flush timer fire
  }
}

sb::connection_id subscriber(asio::io_context& io, sb::memory_transport& net, const char* topics_json) {
  const sb::connection_id id = net.connect();
  REQUIRE(id != 0);
  net.receive_text(id, std::string(R"({"type":"subscribe","id":1,"topics":)") + topics_json + "}");
  const auto frames = pump_until(io, net, id, 2);
  REQUIRE(frames.size() == 2);  // welcome, ack
  return id;
}

}  // namespace

TEST_CASE("post_publish from several threads: every accepted publish delivered once, in each thread's order",
          "[tsan][post_publish]") {
  constexpr int producers = 4;
  constexpr int per_producer = 3000;

  asio::io_context io;
  sb::config cfg;
  cfg.timestamps = false;
  // The hub's thread may drain many posted publishes in one turn; this test is about
  // delivery, not slow-consumer cuts.
  cfg.send_queue_frames = 1u << 20;
  cfg.send_queue_bytes = std::size_t(1) << 30;
  sb::hub hub(io, cfg);
  sb::memory_transport net(hub);
  const sb::connection_id sub = subscriber(io, net, R"(["feed"])");

  auto work = asio::make_work_guard(io);
  io.restart();
  std::thread hub_thread([&io] { io.run(); });

  std::atomic<bool> start{false};
  std::vector<int> accepted(producers, 0);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      while (!start.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < per_producer; ++i)
        if (hub.post_publish("feed", payload(p, accepted[static_cast<std::size_t>(p)])))
          ++accepted[static_cast<std::size_t>(p)];  // the index of the next accepted publish
    });
  start.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();

  std::size_t total = 0;
  for (const int n : accepted) total += static_cast<std::size_t>(n);
  CHECK(total > 0);

  // The transport belongs to the hub's thread: collect its frames there.
  std::vector<std::string> received;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    std::promise<std::size_t> counted;
    asio::post(io, [&] {
      for (auto& t : net.take_texts(sub)) received.push_back(std::move(t));
      counted.set_value(received.size());
    });
    const std::size_t n = counted.get_future().get();
    if (n >= total || std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // Anything extra would show up now.
  std::promise<void> last;
  asio::post(io, [&] {
    for (auto& t : net.take_texts(sub)) received.push_back(std::move(t));
    last.set_value();
  });
  last.get_future().get();
  work.reset();
  hub_thread.join();

  REQUIRE(received.size() == total);
  std::vector<int> next(producers, 0);
  std::uint64_t seq = 0;
  for (const auto& text : received) {
    const delivery d = decode(text);
    REQUIRE(d.producer >= 0);
    REQUIRE(d.producer < producers);
    CHECK(d.seq == ++seq);  // one topic: seq 1, 2, 3, ... in delivery order
    CHECK(d.index == next[static_cast<std::size_t>(d.producer)]++);  // exactly once, in order
  }
  CHECK(next == accepted);
}

TEST_CASE("post_publish refuses beyond post_queue_capacity until the hub's thread drains", "[tsan][post_publish]") {
  constexpr int producers = 4;
  constexpr int attempts = 10;
  constexpr std::size_t capacity = 8;

  asio::io_context io;
  sb::config cfg;
  cfg.timestamps = false;
  cfg.post_queue_capacity = capacity;
  // This test steps the hub with poll() and expects every frame out: no deferred flushes.
  cfg.max_write_delay = std::chrono::microseconds(0);
  sb::hub hub(io, cfg);
  sb::memory_transport net(hub);
  const sb::connection_id sub = subscriber(io, net, R"(["cap.*"])");

  // Nobody runs the io_context while the threads fill the queue.
  std::atomic<bool> start{false};
  std::vector<std::vector<int>> accepted(producers);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      while (!start.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < attempts; ++i)
        if (hub.post_publish("cap." + std::to_string(p), payload(p, i)))
          accepted[static_cast<std::size_t>(p)].push_back(i);
    });
  start.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();

  std::size_t total = 0;
  for (const auto& a : accepted) total += a.size();
  CHECK(total == capacity);
  CHECK_FALSE(hub.post_publish("cap.0", payload(0, 99)));

  pump(io);  // this thread is the hub's thread now
  std::vector<std::vector<int>> delivered(producers);
  for (const auto& text : net.take_texts(sub)) {
    const delivery d = decode(text);
    delivered[static_cast<std::size_t>(d.producer)].push_back(d.index);
  }
  CHECK(delivered == accepted);

  // Drained: there is room again. Invalid publishes are accepted here and dropped by the
  // hub's thread, like `publish` would refuse them.
  CHECK(hub.post_publish("cap.9", R"("again")"));
  CHECK(hub.post_publish("cap..bad", "1"));
  CHECK(hub.post_publish("cap.*", "1"));
  CHECK(hub.post_publish("cap.9", "not json"));
  pump(io);
  const auto after = net.take_texts(sub);
  REQUIRE(after.size() == 1);
  CHECK(after[0] == R"({"type":"message","topic":"cap.9","seq":1,"from":null,"data":"again"})");
}

TEST_CASE("publishes posted to a hub destroyed before the context runs again are dropped safely",
          "[tsan][post_publish]") {
  asio::io_context io;
  {
    sb::hub hub(io);
    std::thread poster([&hub] {
      for (int i = 0; i < 100; ++i) hub.post_publish("gone", "1");
    });
    poster.join();
  }
  io.restart();
  CHECK(io.poll() >= 1);  // the handler ran, found the hub gone, did nothing
}
