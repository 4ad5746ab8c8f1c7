// Known attacks replayed against a real pubsub_server process, each against a fresh
// server with a bystander running; see README.md for the bounds.
#include "hostile/harness.hpp"

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

using namespace hostile;

namespace {

/// Sends `request` and returns the first text frame quoting `"id":"<tag>"` (or the first
/// frame at all with `any_frame`); empty payload and `status` != message when none came.
struct reply {
  recv_status status = recv_status::timeout;
  ws_message frame;
  rapidjson::Document json;
  bool ok() const { return status == recv_status::message && !frame.is_close(); }
};

reply ask(raw_ws& c, const std::string& request, const std::string& tag, milliseconds timeout = milliseconds(10000)) {
  reply r;
  if (!c.send_text(request, timeout)) {
    r.status = recv_status::closed;
    return r;
  }
  r.status = c.recv_until("\"id\":\"" + tag + "\"", r.frame, timeout);
  if (r.ok()) r.json = parse(r.frame.payload);
  return r;
}

std::string describe(const reply& r) {
  switch (r.status) {
    case recv_status::timeout: return "no answer";
    case recv_status::closed: return "connection ended";
    case recv_status::malformed: return "malformed frame";
    case recv_status::message: break;
  }
  if (r.frame.is_close()) return "close " + std::to_string(r.frame.close_code());
  return r.frame.payload.substr(0, 160);
}

/// A client-side token bucket that keeps a connection under the server's rate limit.
class pacer {
 public:
  pacer(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst), last_(clock::now()) {}
  void take() {
    for (;;) {
      const auto now = clock::now();
      tokens_ = std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
      last_ = now;
      if (tokens_ >= 1) {
        tokens_ -= 1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long>(1e6 / rate_)));
    }
  }

 private:
  double rate_, burst_, tokens_;
  clock::time_point last_;
};

/// Counts reply codes from several threads ("ack", "result", or an error's code).
class code_counter {
 public:
  void add(const std::string& code, std::uint64_t n = 1) {
    std::lock_guard<std::mutex> lock(mutex_);
    counts_[code] += n;
  }
  std::uint64_t get(const std::string& code) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = counts_.find(code);
    return it == counts_.end() ? 0 : it->second;
  }
  std::uint64_t total() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::uint64_t n = 0;
    for (const auto& entry : counts_) n += entry.second;
    return n;
  }
  std::string text() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (const auto& [code, n] : counts_) out += (out.empty() ? "" : " ") + code + "=" + std::to_string(n);
    return out.empty() ? "none" : out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> counts_;
};

/// What a reply frame is, for counting: `ack`, `result`, `pong`, an error's code, or
/// `close <code>` / `closed`.
std::string kind(const ws_message& m) {
  if (m.is_close()) return "close " + std::to_string(m.close_code());
  const auto doc = parse(m.payload);
  const std::string type = type_of(doc);
  if (type == "error") return code_of(doc);
  return type.empty() ? "unparsable" : type;
}

/// Publishes `count` messages of `payload_bytes` on topics named by `topic(i)` from one
/// connection, at most `window` unanswered; counts the replies.
void publish_many(raw_ws& c, std::size_t count, std::size_t payload_bytes, const std::function<std::string(std::size_t)>& topic,
                  std::size_t window, code_counter& codes, clock::time_point deadline,
                  const std::function<bool()>& give_up = [] { return false; }) {
  const std::string data = "\"" + std::string(payload_bytes, 'x') + "\"";
  std::size_t sent = 0, answered = 0;
  while (answered < count && clock::now() < deadline && !c.closed()) {
    if (give_up()) {
      codes.add("stopped", count - answered);
      return;
    }
    while (sent < count && sent - answered < window) {
      const std::string frame = R"({"type":"publish","id":)" + std::to_string(sent) + R"(,"topic":")" + topic(sent) +
                                R"(","data":)" + data + "}";
      if (!c.send_text(frame, milliseconds(10000))) {
        codes.add("write stalled");
        return;
      }
      ++sent;
    }
    ws_message m;
    const recv_status s = c.recv(m, milliseconds(10000));
    if (s != recv_status::message) {
      codes.add(s == recv_status::timeout ? "no answer" : "closed");
      return;
    }
    codes.add(kind(m));
    if (m.is_close()) return;
    ++answered;
  }
  if (answered < count) codes.add("unfinished", count - answered);
}

}  // namespace

// --- 1 -----------------------------------------------------------------------------
TEST_CASE("1 deep nesting is answered and does not crash the server", "[hostile]") {
  attack_run run("1 deep nesting");
  run.begin();
  constexpr std::size_t depth = 100000;
  const std::string arrays = R"({"type":"command","id":"deep-1","name":"echo","params":)" + std::string(depth, '[') +
                             std::string(depth, ']') + "}";
  std::string objects = R"({"type":"mystery","id":"deep-2","x":)";
  for (std::size_t i = 0; i < depth; ++i) objects += R"({"a":)";
  objects += "1" + std::string(depth, '}') + "}";

  for (const auto& [frame, tag] : {std::pair{arrays, std::string("deep-1")}, std::pair{objects, std::string("deep-2")}}) {
    raw_ws c;
    REQUIRE(c.open(run.port()));
    c.send_text(frame, milliseconds(10000));
    // The answer may quote the id or not (a parser that gives up has none): take the
    // first frame.
    ws_message m;
    const recv_status s = c.recv(m, milliseconds(10000));
    const auto doc = parse(m.payload);
    const std::string type = s == recv_status::message ? type_of(doc) : "";
    run.note(tag + ": " + (s == recv_status::message ? kind(m) : "no answer"));
    run.expect(type == "error" || type == "result",
               tag + " (" + std::to_string(frame.size()) + " bytes) gets an error or a result, got: " +
                   (s == recv_status::message ? m.payload.substr(0, 120) : "nothing"));
    run.expect(still_answers(c, "after-" + tag), tag + ": the connection still answers");
    run.expect(run.server().alive(), tag + ": the server is alive after it");
  }
  run.finish();
}

// --- 2 -----------------------------------------------------------------------------
TEST_CASE("2 invalid UTF-8 identities are refused and replies stay valid UTF-8", "[hostile]") {
  attack_run run("2 invalid UTF-8");
  run.begin();
  for (const std::string& token : std::vector<std::string>{"%C3%28", "%ED%A0%80", "a%00b", "a%0Ab", std::string(129, 'u')}) {
    raw_ws c;
    REQUIRE(c.tcp_connect(run.port()));
    const http_response r = c.handshake(run.port(), "/ws?token=" + token);
    run.expect(r.status == 401, "handshake with token " + token.substr(0, 16) + " gets 401, got " + std::to_string(r.status));
  }

  raw_ws c;
  REQUIRE(c.open(run.port()));
  const std::vector<std::string> frames = {
      R"({"type":"command","id":"u1","name":"\udc00"})",
      R"({"type":"command","id":"u2","name":"x\ud800y"})",
      R"({"type":"\udc00","id":"u3"})",
      R"({"type":"publish","id":"u4","topic":"a.\ud83d","data":1})",
      R"({"type":"subscribe","id":"u5","topics":["\udfff"]})",
      R"({"type":"history","id":"u6","topic":"\udc00\ud800"})",
  };
  std::size_t n = 0;
  for (const auto& frame : frames) {
    const std::string tag = "u" + std::to_string(++n);
    c.send_text(frame);
    ws_message m;
    const recv_status s = c.recv(m, milliseconds(5000));
    if (!run.expect(s == recv_status::message && m.is_text(), frame + " gets a text reply, got " +
                                                                  (s == recv_status::message ? kind(m) : "nothing")))
      break;
    run.expect(valid_utf8(m.payload), frame + " is answered in valid UTF-8, got: " + m.payload.substr(0, 160));
    const auto doc = parse(m.payload);
    run.expect(type_of(doc) == "error" || type_of(doc) == "result" || type_of(doc) == "ack",
               frame + " gets a JSON reply, got: " + m.payload.substr(0, 160));
  }
  run.expect(still_answers(c, "utf8-check"), "the connection still answers");
  run.finish();
}

// --- 3 -----------------------------------------------------------------------------
TEST_CASE("3 clients cannot forge events on system.presence", "[hostile]") {
  attack_run run("3 forged server events");
  run.begin();
  raw_ws watcher, forger;
  REQUIRE(watcher.open(run.port()));
  REQUIRE(forger.open(run.port()));
  const reply sub = ask(watcher, R"({"type":"subscribe","id":"w","topics":["system.presence","system.>"]})", "w");
  REQUIRE(type_of(sub.json) == "ack");

  const reply json = ask(forger,
                         R"({"type":"publish","id":"f1","topic":"system.presence","data":{"user":"admin","status":"online"}})",
                         "f1");
  run.expect(type_of(json.json) == "error" && code_of(json.json) == "forbidden",
             "a JSON publish on system.presence is forbidden, got: " + describe(json));
  const reply other = ask(forger, R"({"type":"publish","id":"f2","topic":"system.alerts","data":1})", "f2");
  run.expect(type_of(other.json) == "error" && code_of(other.json) == "forbidden",
             "a JSON publish on system.alerts is forbidden, got: " + describe(other));
  // The binary envelope: 0x01 | topic_len | topic | payload.
  const std::string topic = "system.presence";
  std::string binary = "\x01";
  binary += static_cast<char>(topic.size());
  binary += topic + R"({"user":"admin","status":"offline"})";
  forger.send_frame(ws_opcode::binary, binary);
  ws_message m;
  const recv_status s = forger.recv(m, milliseconds(2000));
  const auto doc = parse(m.payload);
  run.expect(s == recv_status::message && code_of(doc) == "forbidden",
             "a binary publish on system.presence is forbidden, got: " + (s == recv_status::message ? m.payload : std::string("nothing")));

  // The server's own system.stats messages (pubsub_server's dashboard) are genuine events,
  // not forgeries: skip them.
  ws_message leaked;
  recv_status w;
  const auto quiet_until = std::chrono::steady_clock::now() + milliseconds(500);
  do {
    const auto left = std::chrono::duration_cast<milliseconds>(quiet_until - std::chrono::steady_clock::now());
    w = watcher.recv(leaked, std::max(left, milliseconds(1)));
  } while (w == recv_status::message && leaked.payload.find(R"("topic":"system.stats")") != std::string::npos &&
           std::chrono::steady_clock::now() < quiet_until);
  if (w == recv_status::message && leaked.payload.find(R"("topic":"system.stats")") != std::string::npos)
    w = recv_status::timeout;
  run.expect(w == recv_status::timeout, "the system.presence subscriber receives nothing, got: " +
                                            (w == recv_status::message ? leaked.payload.substr(0, 160) : "the connection ended"));
  run.finish();
}

// --- 4 -----------------------------------------------------------------------------
TEST_CASE("4 a store flood stays within the store's budget", "[hostile]") {
  attack_run run("4 store flood", attack_budget + store_budget);
  run.begin();
  constexpr std::size_t publishers = 10, each = 100, payload = 1000 * 1000;  // under max_message_bytes
  code_counter codes;
  const auto deadline = clock::now() + milliseconds(45000);
  const auto started = clock::now();
  run_parallel(publishers, [&](std::size_t p) {
    raw_ws c;
    if (!c.open(run.port())) {
      codes.add("not connected");
      return;
    }
    publish_many(c, each, payload, [p](std::size_t i) { return "flood." + std::to_string(p) + "." + std::to_string(i); },
                 4, codes, deadline, [&run] { return run.runaway(); });
  });
  if (codes.get("stopped") > 0) run.note("flood stopped early: RSS over twice its bound");
  run.note("publishes: " + codes.text() + " in " +
           std::to_string(std::chrono::duration_cast<milliseconds>(clock::now() - started).count()) + " ms");
  // Every publish sent is acknowledged (those a runaway stop left unsent aside).
  run.expect(codes.get("ack") + codes.get("stopped") == publishers * each,
             "every 1 MB publish is acknowledged (" + std::to_string(codes.get("ack")) + "/" +
                 std::to_string(publishers * each - codes.get("stopped")) + "): " + codes.text());
  run.finish();
}

// --- 5 -----------------------------------------------------------------------------
TEST_CASE("5 a history flood gets bounded replies and does not cut the asker", "[hostile]") {
  attack_run run("5 history flood", attack_budget + store_budget);
  constexpr std::size_t topics = 4, per_topic = 100, payload = 100 * 1024;  // 10 MiB stored per topic
  {
    code_counter fill;
    run_parallel(topics, [&](std::size_t t) {
      raw_ws c;
      if (!c.open(run.port())) return fill.add("not connected");
      publish_many(c, per_topic, payload, [t](std::size_t) { return "hist." + std::to_string(t); }, 8, fill,
                   clock::now() + milliseconds(20000));
    });
    REQUIRE(fill.get("ack") == topics * per_topic);
  }
  run.begin();

  constexpr std::size_t askers = 20, requests = 5;
  constexpr std::size_t reply_bound = 1024 * 1024 + 64 * 1024;  // max_history_reply_bytes + the envelope
  code_counter codes;
  std::atomic<std::size_t> oversized{0}, without_more{0}, empty{0};
  std::atomic<std::size_t> largest{0};
  run_parallel(askers, [&](std::size_t a) {
    raw_ws c;
    if (!c.open(run.port())) return codes.add("not connected");
    for (std::size_t r = 0; r < requests; ++r) {
      const std::string tag = "h" + std::to_string(r);
      const reply answer = ask(c,
                               R"({"type":"history","id":")" + tag + R"(","topic":"hist.)" + std::to_string(a % topics) +
                                   R"(","limit":1000})",
                               tag, milliseconds(15000));
      if (!answer.ok()) {
        codes.add(answer.status == recv_status::message ? kind(answer.frame) : describe(answer));
        return;
      }
      codes.add(kind(answer.frame));
      const std::size_t size = answer.frame.payload.size();
      std::size_t seen = largest;
      while (size > seen && !largest.compare_exchange_weak(seen, size)) {
      }
      if (size > reply_bound) ++oversized;
      const auto& d = answer.json;
      const bool has_data = d.IsObject() && d.HasMember("data") && d["data"].IsObject();
      if (!has_data || !d["data"].HasMember("more") || !d["data"]["more"].IsBool() || !d["data"]["more"].GetBool())
        ++without_more;
      if (!has_data || !d["data"].HasMember("messages") || !d["data"]["messages"].IsArray() ||
          d["data"]["messages"].Empty())
        ++empty;
    }
    if (!still_answers(c, "asker-check", milliseconds(5000))) codes.add("asker cut");
  });
  run.note("history replies: " + codes.text() + ", largest " + mib(largest) + " MiB");
  run.expect(codes.get("result") == askers * requests,
             "every history request gets a result (" + std::to_string(codes.get("result")) + "/" +
                 std::to_string(askers * requests) + "): " + codes.text());
  run.expect(oversized == 0, std::to_string(oversized) + " replies over ~1 MiB (largest " + mib(largest) + " MiB)");
  run.expect(without_more == 0, std::to_string(without_more) + " truncated replies without \"more\": true");
  run.expect(empty == 0, std::to_string(empty) + " replies without messages");

  // A recovery that would not fit the send queue (10 MiB stored > 8 MiB) is not attempted.
  raw_ws late;
  REQUIRE(late.open(run.port()));
  late.send_text(R"({"type":"subscribe","id":"since0","topics":["hist.0"],"since":{"hist.0":0}})");
  std::size_t replayed = 0;
  ws_message m;
  const recv_status s = late.recv_until("\"since0\"", m, milliseconds(15000), &replayed);
  const auto ack = parse(s == recv_status::message ? m.payload : std::string());
  bool recovered_false = false;
  if (type_of(ack) == "ack" && ack.HasMember("data") && ack["data"].IsObject() && ack["data"].HasMember("topics")) {
    const auto& t = ack["data"]["topics"];
    recovered_false = t.IsObject() && t.HasMember("hist.0") && t["hist.0"].IsObject() &&
                      t["hist.0"].HasMember("recovered") && t["hist.0"]["recovered"].IsBool() &&
                      !t["hist.0"]["recovered"].GetBool();
  }
  run.note("subscribe since 0: " + std::to_string(replayed) + " frames replayed, then " +
           (s == recv_status::message ? kind(m) : std::string("nothing")));
  run.expect(recovered_false, "subscribe since 0 on 10 MiB is acked with recovered false, got: " +
                                  (s != recv_status::message ? std::string("nothing")
                                   : m.is_close()            ? kind(m)
                                                             : m.payload.substr(0, 160)));
  run.expect(replayed == 0, "nothing is replayed before that ack, got " + std::to_string(replayed) + " frames");
  run.expect(still_answers(late, "late-check", milliseconds(5000)), "the recovering connection is not cut");
  run.finish();
}

// --- 6 -----------------------------------------------------------------------------
TEST_CASE("6 reads on unknown topics do not wipe a topic's history", "[hostile]") {
  attack_run run("6 reads that wipe history");
  raw_ws owner;
  REQUIRE(owner.open(run.port()));
  for (int i = 1; i <= 5; ++i) {
    const reply r = ask(owner, R"({"type":"publish","id":"p)" + std::to_string(i) + R"(","topic":"real.topic","data":)" +
                                   std::to_string(i) + "}",
                        "p" + std::to_string(i));
    REQUIRE(type_of(r.json) == "ack");
  }
  const reply before = ask(owner, R"({"type":"history","id":"before","topic":"real.topic"})", "before");
  REQUIRE(type_of(before.json) == "result");
  const std::string epoch = before.json["data"]["epoch"].GetString();
  REQUIRE(before.json["data"]["seq"].GetUint64() == 5);
  run.begin();

  constexpr std::size_t readers = 20, each = 5000;  // 100,000 history requests
  code_counter codes;
  run_parallel(readers, [&](std::size_t r) {
    raw_ws c;
    if (!c.open(run.port())) return codes.add("not connected");
    std::mt19937_64 rng(r * 7919 + 1);
    pacer pace(900, 1800);  // under the default 1000/s, burst 2000
    std::size_t sent = 0, answered = 0;
    const auto deadline = clock::now() + milliseconds(30000);
    std::map<std::string, std::uint64_t> local;
    while (answered < each && clock::now() < deadline) {
      // Up to 256 unanswered requests, sent in one write.
      std::string batch;
      while (sent < each && sent - answered < 256 && batch.size() < 64 * 1024) {
        pace.take();
        char name[64];
        std::snprintf(name, sizeof name, "rnd.%zu.%016llx", r, static_cast<unsigned long long>(rng()));
        batch += c.encode(ws_opcode::text, R"({"type":"history","id":)" + std::to_string(sent) + R"(,"topic":")" + name +
                                               R"(","limit":10})");
        ++sent;
        if (sent % 32 == 0) break;
      }
      if (!batch.empty() && !c.send_raw(batch, milliseconds(10000))) {
        ++local["write stalled"];
        break;
      }
      ws_message m;
      recv_status s;
      while ((s = c.recv(m, milliseconds(batch.empty() ? 10000 : 0))) == recv_status::message) {
        ++local[kind(m)];
        if (m.is_close()) break;
        ++answered;
        if (answered == sent) break;
      }
      if (s == recv_status::closed || s == recv_status::malformed || (s == recv_status::message && m.is_close())) {
        ++local["connection ended"];
        break;
      }
      if (batch.empty() && s == recv_status::timeout) {
        ++local["no answer"];
        break;
      }
    }
    for (const auto& [k, v] : local) codes.add(k, v);
  });
  run.note("history on random topics: " + codes.text());
  run.expect(codes.get("result") == readers * each, "every history request on a random topic gets a result (" +
                                                        std::to_string(codes.get("result")) + "/" +
                                                        std::to_string(readers * each) + ")");

  const reply again = ask(owner, R"({"type":"publish","id":"p6","topic":"real.topic","data":6})", "p6");
  const reply after = ask(owner, R"({"type":"history","id":"after","topic":"real.topic"})", "after");
  std::uint64_t seq = 0;
  std::string epoch_after;
  if (type_of(again.json) == "ack" && again.json["data"].IsObject() && again.json["data"].HasMember("seq"))
    seq = again.json["data"]["seq"].GetUint64();
  if (type_of(after.json) == "result") epoch_after = after.json["data"]["epoch"].GetString();
  run.note("real.topic after: seq " + std::to_string(seq) + ", epoch " + (epoch_after == epoch ? "same" : "changed"));
  run.expect(seq == 6, "the next publish on real.topic has seq 6, got " + std::to_string(seq) + " (" + describe(again) + ")");
  run.expect(epoch_after == epoch, "real.topic keeps its epoch '" + epoch + "', got '" + epoch_after + "'");
  run.finish();
}

// --- 7 -----------------------------------------------------------------------------
TEST_CASE("7 long wildcard patterns are bounded", "[hostile]") {
  attack_run run("7 wildcard patterns");
  run.begin();
  // Batch 0: patterns of 128 tokens (past max_pattern_tokens); batches 1 and 2: 100
  // patterns each of 16 tokens, the most the default limits allow, ending in `>` so
  // that each matches the 128-token topic published below (the worst walk); batch 2
  // passes max_patterns_per_connection.
  constexpr std::size_t connections = 10, batches = 3, per_batch = 100, tokens = 128, pattern_tokens = 16,
                        publishes = 30;
  std::vector<std::unique_ptr<raw_ws>> subs(connections);
  std::vector<std::size_t> accepted(connections, 0);
  code_counter codes;
  run_parallel(connections, [&](std::size_t i) {
    subs[i] = std::make_unique<raw_ws>();
    auto& c = *subs[i];
    if (!c.open(run.port())) return codes.add("not connected");
    std::mt19937 rng(static_cast<unsigned>(i) * 104729u + 3u);
    for (std::size_t b = 0; b < batches; ++b) {
      const std::size_t length = b == 0 ? tokens : pattern_tokens;
      std::string list;
      for (std::size_t p = 0; p < per_batch; ++p) {
        // The first token is always "a": no pattern matches the bystander's topic.
        std::string pattern = "a";
        for (std::size_t t = 1; t + 1 < length; ++t) pattern += rng() % 2 ? ".*" : ".a";
        pattern += b == 0 ? ".*" : ".>";
        list += (p ? ",\"" : "\"") + pattern + "\"";
      }
      const std::string tag = "s" + std::to_string(b);
      const reply r = ask(c, R"({"type":"subscribe","id":")" + tag + R"(","topics":[)" + list + "]}", tag,
                          milliseconds(15000));
      const std::string k = r.ok() ? kind(r.frame) : describe(r);
      codes.add(k);
      if (k == "ack") accepted[i] += per_batch;
    }
  });
  run.note("subscribes: " + codes.text());
  for (const std::string& k : {std::string("not connected"), std::string("no answer"), std::string("connection ended")})
    run.expect(codes.get(k) == 0, "subscribe: " + k + " x" + std::to_string(codes.get(k)));
  run.expect(codes.total() == codes.get("ack") + codes.get("too_large"),
             "every subscribe is acked or too_large: " + codes.text());
  run.expect(codes.get("ack") == connections && codes.get("too_large") == 2 * connections,
             "128-token patterns and a second hundred patterns are too_large, 100 of 16 tokens are acked: " +
                 codes.text());

  std::string topic = "a";
  for (std::size_t t = 1; t < tokens; ++t) topic += ".a";
  raw_ws pub;
  REQUIRE(pub.open(run.port()));
  code_counter acks;
  double slowest_ms = 0;
  for (std::size_t i = 0; i < publishes; ++i) {
    const auto t0 = clock::now();
    const std::string tag = "w" + std::to_string(i);
    const reply r = ask(pub, R"({"type":"publish","id":")" + tag + R"(","topic":")" + topic + R"(","data":)" +
                                 std::to_string(i) + "}",
                        tag, milliseconds(10000));
    slowest_ms = std::max(slowest_ms, std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    acks.add(r.ok() ? kind(r.frame) : describe(r));
  }
  run.expect(acks.get("ack") == publishes, "every publish on a 128-token topic is acked: " + acks.text());

  std::vector<std::size_t> received(connections, 0);
  const std::string delivery = "\"topic\":\"" + topic + "\"";
  run_parallel(connections, [&](std::size_t i) {
    if (!subs[i] || accepted[i] == 0) return;
    // Until every publish arrived, then 200 ms more: a duplicate would show up there.
    auto deadline = clock::now() + milliseconds(5000);
    bool all = false;
    while (clock::now() < deadline) {
      ws_message m;
      const recv_status s = subs[i]->recv(m, milliseconds(50));
      if (s == recv_status::closed || s == recv_status::malformed) break;
      if (s == recv_status::message && m.is_text() && m.payload.find(delivery) != std::string::npos) ++received[i];
      if (!all && received[i] >= publishes) {
        all = true;
        deadline = clock::now() + milliseconds(200);
      }
    }
  });
  std::size_t patterns = 0;
  for (std::size_t i = 0; i < connections; ++i) {
    patterns += accepted[i];
    if (accepted[i] > 0)
      run.expect(received[i] == publishes, "connection " + std::to_string(i) + " with " + std::to_string(accepted[i]) +
                                               " patterns gets each publish once: " + std::to_string(received[i]) + "/" +
                                               std::to_string(publishes));
  }
  char slowest[32];
  std::snprintf(slowest, sizeof slowest, "%.0f", slowest_ms);
  run.note(std::to_string(patterns) + " patterns accepted; slowest publish ack " + slowest + " ms");
  run.finish();
}

// --- 8 -----------------------------------------------------------------------------
TEST_CASE("8 backpressure from slow consumers does not pause other connections", "[hostile]") {
  attack_run run("8 backpressure bystanders");
  constexpr std::size_t slow_count = 20, publishers = 4, payload = 32 * 1024;
  const milliseconds flood_time{3000};
  std::vector<std::unique_ptr<raw_ws>> slow;
  for (std::size_t i = 0; i < slow_count; ++i) {
    slow.push_back(std::make_unique<raw_ws>());
    REQUIRE(slow.back()->open(run.port(), 4096));
    const reply r = ask(*slow.back(), R"({"type":"subscribe","id":"slow","topics":["bp.flood"]})", "slow");
    REQUIRE(type_of(r.json) == "ack");
  }
  raw_ws pinger;
  REQUIRE(pinger.open(run.port()));
  stamp_arrivals(pinger);
  run.begin();

  // The ping-only bystander: a JSON ping every 10 ms, never a publish.
  std::atomic<bool> flooding{true};
  delivery_log pongs;
  std::uint64_t pings_sent = 0;
  std::thread ping_thread([&] {
    if (!raise_timing_priority()) pongs.timed_at_normal_priority();
    const cpu_wait_reader server_waits(run.server().pid());
    const auto record_pong = [&](const ws_message& m) {
      const auto waited = server_waits.ns();
      pongs.record_received(static_cast<std::uint64_t>(number_after(m.payload, "id")), pinger.last_arrival(),
                            clock::now(), waited);
    };
    auto next = clock::now();
    while (flooding && pings_sent < delivery_log::capacity) {
      const std::uint64_t n = ++pings_sent;
      const std::string frame = pinger.encode(ws_opcode::text, R"({"type":"ping","id":)" + std::to_string(n) + "}");
      // Stamped right before the write, as the bystander's publishes are. A ping that
      // could not be written stays counted: its pong never comes.
      const auto at = clock::now();
      pongs.record_sent(n, at, server_waits.ns());
      if (!pinger.send_raw(frame, milliseconds(2000))) break;
      next += bystander_period;
      ws_message m;
      while (pinger.recv(m, std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(next - clock::now()))) ==
             recv_status::message)
        if (m.is_text()) record_pong(m);
      if (next < clock::now()) next = clock::now();
    }
    const auto deadline = clock::now() + milliseconds(3000);
    ws_message m;
    while (pongs.received() < pings_sent && clock::now() < deadline &&
           pinger.recv(m, milliseconds(100)) != recv_status::closed)
      if (m.is_text() && m.payload.find("pong") != std::string::npos) {
        record_pong(m);
        m.payload.clear();
      }
    pongs.close(pings_sent);
  });

  std::atomic<std::uint64_t> published{0}, stalls{0};
  const auto flood_end = clock::now() + flood_time;
  run_parallel(publishers, [&](std::size_t) {
    raw_ws c;
    if (!c.open(run.port())) return;
    const std::string frame = R"({"type":"publish","topic":"bp.flood","data":")" + std::string(payload, 'x') + "\"}";
    pacer pace(900, 100);
    while (clock::now() < flood_end) {
      pace.take();
      if (!c.send_text(frame, milliseconds(500))) {
        ++stalls;  // the server stopped reading this publisher
        if (c.closed()) break;
        continue;
      }
      ++published;
      ws_message m;
      while (c.recv(m, milliseconds(0)) == recv_status::message) {
      }
    }
  });
  flooding = false;
  ping_thread.join();

  run.note("published " + std::to_string(published.load()) + " x 32 KiB, publisher stalls " +
           std::to_string(stalls.load()) + "; ping bystander: " + std::to_string(pongs.received()) + "/" +
           std::to_string(pings_sent) + " pongs, max latency " + pongs.max_latency_text());
  run.expect(pongs.max_latency_ms() <= static_cast<double>(bystander_max_latency.count()),
             "the ping-only bystander's largest latency from ping to pong is " + pongs.max_latency_text() +
                 ", bound " + std::to_string(bystander_max_latency.count()) + " ms");
  run.expect(pongs.in_order() && pongs.received() == pings_sent, "the ping-only bystander gets every pong in order (" +
                                                                     std::to_string(pongs.received()) + "/" +
                                                                     std::to_string(pings_sent) + ")");
  run.expect(still_answers(pinger, "pinger-check"), "the ping-only bystander's connection survives");
  run.finish();
}

// --- 9 -----------------------------------------------------------------------------
TEST_CASE("9 a ping flood from a client that never reads is bounded", "[hostile]") {
  attack_run run("9 ping flood");
  raw_ws c;
  REQUIRE(c.open(run.port(), 4096));
  run.begin();
  constexpr std::size_t pings = 50000, per_write = 500;
  const std::string payload(125, 'p');
  std::size_t sent_bytes = 0, total_bytes = 0;
  const auto deadline = clock::now() + milliseconds(20000);
  for (std::size_t i = 0; i < pings; i += per_write) {
    std::string batch;
    for (std::size_t j = 0; j < per_write; ++j) batch += c.encode(ws_opcode::ping, payload);
    total_bytes += batch.size();
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
    const std::size_t n = left.count() > 0 ? c.write_some(batch, left) : 0;
    sent_bytes += n;
    if (n < batch.size()) break;
  }
  const std::size_t frame_size = 2 + 4 + payload.size();
  run.note("pings written " + std::to_string(sent_bytes / frame_size) + "/" + std::to_string(pings) +
           (sent_bytes < total_bytes ? " (the server stopped reading)" : ""));
  std::this_thread::sleep_for(milliseconds(500));  // the server answers what it read
  run.finish();
}

// --- 10 ----------------------------------------------------------------------------
TEST_CASE("10 old and malformed handshakes are not upgraded", "[hostile]") {
  attack_run run("10 handshakes");
  run.begin();
  const std::string host = "Host: 127.0.0.1:" + std::to_string(run.port()) + "\r\n";
  {
    raw_ws c;
    REQUIRE(c.tcp_connect(run.port()));
    const http_response r = c.http_exchange("GET /ws HTTP/1.1\r\n" + host +
                                            "Upgrade: WebSocket\r\nConnection: Upgrade\r\n"
                                            "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
                                            "Sec-WebSocket-Key2: 12998 5  Y3 1  .P00\r\n"
                                            "Origin: http://example.com\r\n\r\n^n:ds[4U");
    run.note("hixie-76: " + std::to_string(r.status));
    run.expect(r.status == 426 || r.status == 400, "a hixie-76 handshake gets 426 or 400, got " + std::to_string(r.status));
  }
  {
    raw_ws c;
    REQUIRE(c.tcp_connect(run.port()));
    const http_response r = c.http_exchange("GET /ws HTTP/1.1\r\n" + host +
                                            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                            "Sec-WebSocket-Version: 8\r\n\r\n");
    run.note("version 8: " + std::to_string(r.status));
    run.expect(r.status == 426, "Sec-WebSocket-Version 8 gets 426, got " + std::to_string(r.status));
    run.expect(r.status != 426 || r.header("Sec-WebSocket-Version") == "13",
               "the 426 names version 13, got '" + r.header("Sec-WebSocket-Version") + "'");
  }
  {
    raw_ws c;
    REQUIRE(c.tcp_connect(run.port()));
    const http_response r = c.http_exchange("GET /ws HTTP/1.1\r\n" + host +
                                            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                            "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
                                            "Sec-WebSocket-Version: 13\r\n\r\n");
    run.note("duplicate key: " + std::to_string(r.status));
    run.expect(r.status == 400, "a duplicate Sec-WebSocket-Key gets 400, got " + std::to_string(r.status));
  }
  run.finish();
}

// --- 11 ----------------------------------------------------------------------------
TEST_CASE("11 running out of descriptors neither spins nor stops accepting", "[hostile]") {
  server_options options;
  options.max_open_files = 64;
  attack_run run("11 descriptor exhaustion", attack_budget, options);
  run.begin();
  std::vector<std::unique_ptr<raw_ws>> held;
  std::size_t upgraded = 0, refused_in_a_row = 0, refusals = 0;
  int last_refusal = -1;
  while (held.size() < 200 && refused_in_a_row < 3) {
    held.push_back(std::make_unique<raw_ws>());
    auto& c = *held.back();
    if (!c.tcp_connect(run.port(), 0, milliseconds(500))) {
      ++refused_in_a_row, ++refusals;
      continue;
    }
    const http_response r = c.handshake(run.port(), "/ws", {}, milliseconds(500));
    if (r.status == 101) {
      ++upgraded;
      refused_in_a_row = 0;
    } else {
      ++refused_in_a_row, ++refusals;
      last_refusal = r.status;
    }
  }
  run.expect(refused_in_a_row >= 3, "the server runs out of descriptors (" + std::to_string(upgraded) + " upgraded)");
  const double cpu_before = run.server().cpu();
  std::this_thread::sleep_for(milliseconds(1000));
  const double spin = run.server().cpu() - cpu_before;
  held.clear();
  const auto freed = clock::now();
  bool accepted = false;
  while (!accepted && clock::now() - freed < milliseconds(2000)) {
    raw_ws c;
    const auto left = std::chrono::duration_cast<milliseconds>(milliseconds(2000) - (clock::now() - freed));
    accepted = c.open(run.port(), 0, "/ws", std::max(left, milliseconds(1)));
    if (!accepted) std::this_thread::sleep_for(milliseconds(50));
  }
  const double accept_ms = std::chrono::duration<double, std::milli>(clock::now() - freed).count();
  char text[160];
  std::snprintf(text, sizeof text, "%zu upgraded, %zu refused (last answer %d), CPU while exhausted %.2f s/s, new connection %s after %.0f ms",
                upgraded, refusals, last_refusal, spin, accepted ? "accepted" : "NOT accepted", accept_ms);
  run.note(text);
  run.expect(spin < 0.5, "CPU while out of descriptors is under 0.5 s per s, got " + std::to_string(spin));
  run.expect(accepted, "a new connection is accepted within 2 s of descriptors being freed");
  run.finish();
}

// --- 12 ----------------------------------------------------------------------------
TEST_CASE("12 a message ending inside a UTF-8 sequence closes with 1007", "[hostile]") {
  attack_run run("12 truncated UTF-8");
  run.begin();
  struct attempt {
    std::string first, last;
  };
  for (const auto& a : {attempt{R"({"type":"ping",)", "\"id\":1}\xE2\x82"},
                        attempt{R"({"type":"ping","id":2})", "\xF0\x9F"},
                        attempt{R"({"type":"ping","id":3,"x":"ab)", "c\"}\xC3"}}) {
    raw_ws c;
    REQUIRE(c.open(run.port()));
    c.send_frame(ws_opcode::text, a.first, false);
    c.send_frame(ws_opcode::continuation, a.last, true);
    const std::uint16_t code = c.wait_close(milliseconds(2000));
    run.expect(code == 1007, "a message whose last fragment ends inside a UTF-8 sequence closes with 1007, got " +
                                 (code == 0 ? std::string("no close") : std::to_string(code)));
  }
  // A character split across fragments is valid.
  raw_ws c;
  REQUIRE(c.open(run.port()));
  c.send_frame(ws_opcode::text, "{\"type\":\"ping\",\"id\":\"split\",\"x\":\"\xE2", false);
  c.send_frame(ws_opcode::continuation, "\x82\xAC\"}", true);
  ws_message m;
  const recv_status s = c.recv_until("\"split\"", m, milliseconds(5000));
  run.expect(s == recv_status::message && m.payload.find("pong") != std::string::npos,
             "a character split across fragments is accepted (pong), got " + (s == recv_status::message ? kind(m) : "nothing"));
  run.finish();
}
