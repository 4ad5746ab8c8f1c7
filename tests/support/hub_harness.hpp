// A hub on its own io_context, driven through the in-memory transport, and helpers to
// read the JSON frames it sends: the harness of the unit tests.
#ifndef SWITCHBOARD_TESTS_SUPPORT_HUB_HARNESS_HPP
#define SWITCHBOARD_TESTS_SUPPORT_HUB_HARNESS_HPP

#include <switchboard/hub.hpp>
#include <switchboard/memory_transport.hpp>

#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sb = switchboard;
using sb::connection_id;

namespace {

// A received JSON frame, with JSON Pointer access to its members.
struct json {
  std::string text;
  rapidjson::Document doc;

  const rapidjson::Value* at(const char* pointer) const { return rapidjson::Pointer(pointer).Get(doc); }
  bool has(const char* pointer) const { return at(pointer) != nullptr; }
  bool is_null(const char* pointer) const { return at(pointer) && at(pointer)->IsNull(); }
  std::string str(const char* pointer = "/type") const {
    const auto* v = at(pointer);
    return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string("<not a string>");
  }
  std::uint64_t num(const char* pointer) const {
    const auto* v = at(pointer);
    return v && v->IsUint64() ? v->GetUint64() : ~std::uint64_t(0);
  }
  std::size_t size(const char* pointer) const {
    const auto* v = at(pointer);
    if (!v) return ~std::size_t(0);
    return v->IsArray() ? v->Size() : v->IsObject() ? v->MemberCount() : ~std::size_t(0);
  }
  bool is_true(const char* pointer) const { return at(pointer) && at(pointer)->IsTrue(); }
  bool is_false(const char* pointer) const { return at(pointer) && at(pointer)->IsFalse(); }
  std::string type() const { return str("/type"); }
  std::string code() const { return str("/code"); }
};

inline json parse(std::string text) {
  json j;
  j.text = std::move(text);
  j.doc.Parse<rapidjson::kParseIterativeFlag>(j.text.data(), j.text.size());  // replies may nest 100,000 deep
  INFO(j.text);
  REQUIRE_FALSE(j.doc.HasParseError());
  REQUIRE(j.doc.IsObject());
  return j;
}

// The harness steps the hub with poll(), which runs only handlers that are ready. Under
// load a flush may be deferred to a timer (up to max_write_delay), and poll() would go
// idle before it fires, so frames would be missing; 0 makes every flush a posted handler.
inline sb::config stepped(sb::config cfg) {
  cfg.max_write_delay = std::chrono::microseconds(0);
  return cfg;
}

// A hub on its own io_context with the in-memory transport attached.
template <class Hub = sb::hub>
struct harness {
  asio::io_context io;
  Hub hub;
  sb::memory_transport net;

  explicit harness(sb::config cfg = {}) : hub(io, stepped(std::move(cfg))), net(hub) {}
  harness(sb::config cfg, typename Hub::auth_type auth) : hub(io, stepped(std::move(cfg)), std::move(auth)), net(hub) {}
  harness(sb::config cfg, typename Hub::auth_type auth, typename Hub::store_type store)
      : hub(io, stepped(std::move(cfg)), std::move(auth), std::move(store)), net(hub) {}

  // Runs the loop until nothing is ready: frames leave, write completions and closes arrive.
  void pump() {
    for (int turn = 0; turn < 10000; ++turn) {
      io.restart();
      if (io.poll() == 0) return;
    }
    FAIL("the hub's loop never went idle");
  }

  connection_id connect(std::string_view token = {}) {
    const connection_id id = net.connect(token);
    pump();
    return id;
  }
  // Connects and consumes the welcome.
  connection_id join(std::string_view token = {}) {
    const connection_id id = connect(token);
    REQUIRE(id != 0);
    const auto frames = texts(id);
    REQUIRE(frames.size() == 1);
    REQUIRE(parse(frames[0]).type() == "welcome");
    return id;
  }
  void send(connection_id id, std::string_view text) {
    net.receive_text(id, text);
    pump();
  }
  void send_binary(connection_id id, std::string_view bytes) {
    net.receive_binary(id, bytes);
    pump();
  }
  std::vector<std::string> texts(connection_id id) { return net.take_texts(id); }
  std::vector<json> frames(connection_id id) {
    std::vector<json> out;
    for (auto& t : net.take_texts(id)) out.push_back(parse(std::move(t)));
    return out;
  }
  // The single frame `id` received since the last take.
  json one(connection_id id) {
    auto all = texts(id);
    INFO("frames received: " << all.size() << (all.empty() ? std::string() : ", first: " + all.front()));
    REQUIRE(all.size() == 1);
    return parse(std::move(all.front()));
  }
  // Sends `text` and returns the single reply.
  json request(connection_id id, std::string_view text) {
    send(id, text);
    return one(id);
  }
  void subscribe(connection_id id, std::string_view topics_json) {
    const json ack = request(id, R"({"type":"subscribe","id":"s","topics":)" + std::string(topics_json) + "}");
    INFO(ack.text);
    REQUIRE(ack.type() == "ack");
  }
};

// Checks `reply` is an error with `code` and the raw id `id_json` ("null" for none).
inline void require_error(const json& reply, const char* code, const std::string& id_json) {
  INFO(reply.text);
  REQUIRE(reply.type() == "error");
  CHECK(reply.code() == code);
  CHECK(reply.has("/message"));
  CHECK(reply.str("/message") != "<not a string>");
  const std::string expected_prefix = R"({"type":"error","id":)" + id_json + ",";
  CHECK(reply.text.compare(0, expected_prefix.size(), expected_prefix) == 0);
}

inline std::string binary_publish(std::string_view topic, std::string_view payload) {
  std::string frame;
  frame.push_back('\x01');
  frame.push_back(static_cast<char>(topic.size()));
  frame.append(topic.data(), topic.size());
  frame.append(payload.data(), payload.size());
  return frame;
}

inline std::string binary_delivery(std::string_view topic, std::uint64_t seq, std::string_view payload) {
  std::string frame;
  frame.push_back('\x02');
  frame.push_back(static_cast<char>(topic.size()));
  frame.append(topic.data(), topic.size());
  for (int i = 0; i < 8; ++i) frame.push_back(static_cast<char>((seq >> (8 * i)) & 0xFF));
  frame.append(payload.data(), payload.size());
  return frame;
}

inline sb::config no_timestamps() {
  sb::config cfg;
  cfg.timestamps = false;
  return cfg;
}

}  // namespace

#endif
