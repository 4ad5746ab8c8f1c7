// Micro-benchmarks of the hub's publish path on the in-memory transport: fan-out cost per
// recipient, its independence from the number of other topics and patterns, the request
// parser, and a client publish end to end; the per-handshake cost of verifying a
// token, and the per-request cost of authorization rules. Written frames are only counted, so what is measured is the hub (plus the
// transport's bookkeeping), not copies into inboxes.
//
// Every timed iteration runs the io_context until it is idle: the flush hands the frames
// to the transport and the write completions come back, so queues never grow and the
// cost of a steady stream of publishes is what gets reported.

#include <switchboard/detail/utf8.hpp>
#include <switchboard/access_rules.hpp>
#include <switchboard/detail/websocket_reader.hpp>
#include <switchboard/hub.hpp>
#include <switchboard/jwt.hpp>
#include <switchboard/logging.hpp>
#include <switchboard/memory_transport.hpp>
#include <switchboard/rules_auth.hpp>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using switchboard::connection_id;

constexpr std::string_view topic = "room.lobby";
// A typical chat message: 64 bytes of JSON.
constexpr std::string_view payload = R"({"user":"alice","text":"hello, everyone in here","n":123,"ok":1})";
static_assert(payload.size() == 64, "the benchmark publishes 64-byte payloads");

// Nothing may be cut or throttled during a run: queues are bounded only to catch a bug.
switchboard::config bench_config() {
  switchboard::config cfg;
  cfg.rate_limit = 0;
  cfg.send_queue_frames = 1 << 20;
  cfg.send_queue_bytes = std::size_t(1) << 32;
  cfg.publish_backlog_bytes = std::size_t(1) << 34;
  cfg.max_subscriptions_per_connection = 1 << 20;
  // Each iteration must end with its frames handed to the transport: no coalescing delay.
  cfg.max_write_delay = std::chrono::microseconds(0);
  return cfg;
}

// A hub on its own io_context, with clients attached through a counting transport.
template <class Hub>
struct basic_bench_hub {
  asio::io_context io;
  // Keeps poll() from stopping the context when it runs out of handlers.
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  Hub hub{io, bench_config()};
  switchboard::memory_transport transport{hub, /*keep_frames=*/false};

  // Runs every ready handler, including those posted by handlers, until none is left.
  void drain() {
    while (io.poll() > 0) {
    }
  }

  connection_id connect(std::string_view token = {}) {
    const connection_id id = transport.connect(token);
    if (id == 0) throw std::runtime_error("connection refused");
    return id;
  }

  // Subscribes `id` to `topics` (at most max_topics_per_request of them) without an id,
  // so that no ack is queued.
  void subscribe(connection_id id, const std::vector<std::string>& topics) {
    std::string request = R"({"type":"subscribe","topics":[)";
    for (std::size_t i = 0; i < topics.size(); ++i) {
      if (i) request += ',';
      request += '"';
      request += topics[i];
      request += '"';
    }
    request += "]}";
    transport.receive_text(id, request);
  }

  // `n` new connections, each subscribed to `subscriptions`.
  void add_subscribers(std::size_t n, const std::vector<std::string>& subscriptions) {
    for (std::size_t i = 0; i < n; ++i) subscribe(connect(), subscriptions);
    drain();
  }

  // `count` other exact topics (`other.<i>`) or patterns (`other.<i>.*`), each held by
  // one subscription, spread over connections of up to max_topics_per_request each.
  void add_other_subscriptions(std::size_t count, bool patterns) {
    const std::size_t per_connection = hub.settings().max_topics_per_request;
    std::vector<std::string> batch;
    for (std::size_t i = 0; i < count; ++i) {
      batch.push_back("other." + std::to_string(i) + (patterns ? ".*" : ""));
      if (batch.size() == per_connection || i + 1 == count) {
        subscribe(connect(), batch);
        batch.clear();
      }
    }
    drain();
  }

  // Publishes once outside the timed loop (creates the topic's stream, sizes buffers).
  bool warm_up(std::size_t expected_recipients) {
    for (int i = 0; i < 3; ++i) {
      const auto r = hub.publish(topic, payload);
      drain();
      if (r.failure || r.recipients != expected_recipients) return false;
    }
    return true;
  }
};
using bench_hub = basic_bench_hub<switchboard::hub>;

// Hooks that count every event: what an application that uses all four pays.
struct counting_hooks {
  std::uint64_t events = 0;
  void on_connect(connection_id, const switchboard::identity&) { ++events; }
  void on_disconnect(connection_id, const switchboard::identity&) { ++events; }
  void on_message(connection_id, const switchboard::identity&, switchboard::frame_kind, std::string_view) { ++events; }
  void on_publish(std::string_view, std::uint64_t, const std::optional<std::string>&, std::size_t) { ++events; }
};
using hooked_hub = switchboard::basic_hub<switchboard::policies<switchboard::insecure_token_auth,
                                                                switchboard::memory_store, switchboard::no_user_data,
                                                                counting_hooks>>;

// Per-recipient time as a counter: the inverted rate of (recipients × iterations) / 1e9
// over the measured time is nanoseconds per recipient.
void report_per_recipient(benchmark::State& state, std::size_t recipients) {
  const auto delivered = static_cast<double>(state.iterations()) * static_cast<double>(recipients);
  state.counters["ns_per_recipient"] =
      benchmark::Counter(delivered * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
}

// The timed loop shared by the publish benchmarks.
void run_publish_loop(benchmark::State& state, bench_hub& b, std::size_t recipients) {
  if (!b.warm_up(recipients)) {
    state.SkipWithError("warm-up publish did not reach every subscriber");
    return;
  }
  const std::uint64_t frames_before = b.transport.frames_written();
  std::size_t delivered = 0;
  for (auto _ : state) {
    const auto r = b.hub.publish(topic, payload);
    b.drain();
    delivered += r.recipients;
  }
  const std::uint64_t written = b.transport.frames_written() - frames_before;
  if (delivered != recipients * static_cast<std::size_t>(state.iterations()) || written != delivered) {
    state.SkipWithError("a publish did not reach every subscriber");
    return;
  }
  report_per_recipient(state, recipients);
}

// One exact topic with N subscribers.
void BM_publish_fanout(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  auto b = std::make_unique<bench_hub>();
  b->add_subscribers(n, {std::string(topic)});
  run_publish_loop(state, *b, n);
}
BENCHMARK(BM_publish_fanout)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);

// 1000 subscribers on the published topic; T other exact topics with one subscriber each.
// The cost per recipient must not depend on T.
void BM_publish_other_topics(benchmark::State& state) {
  const auto others = static_cast<std::size_t>(state.range(0));
  auto b = std::make_unique<bench_hub>();
  b->add_subscribers(1000, {std::string(topic)});
  b->add_other_subscriptions(others, false);
  run_publish_loop(state, *b, 1000);
}
BENCHMARK(BM_publish_other_topics)->Arg(0)->Arg(100)->Arg(100000);

// The same with T wildcard patterns `other.<i>.*` instead of exact topics.
void BM_publish_other_patterns(benchmark::State& state) {
  const auto others = static_cast<std::size_t>(state.range(0));
  auto b = std::make_unique<bench_hub>();
  b->add_subscribers(1000, {std::string(topic)});
  b->add_other_subscriptions(others, true);
  run_publish_loop(state, *b, 1000);
}
BENCHMARK(BM_publish_other_patterns)->Arg(0)->Arg(100)->Arg(100000);

// 1000 subscribers each matching twice, through `room.*` and `room.lobby`: every
// subscriber is reported twice by the broker and must receive the publish once.
void BM_publish_patterns(benchmark::State& state) {
  auto b = std::make_unique<bench_hub>();
  b->add_subscribers(1000, {"room.*", std::string(topic)});
  run_publish_loop(state, *b, 1000);
}
BENCHMARK(BM_publish_patterns);

// The worst an attacker reaches with wildcard patterns at the default limits
// (`max_patterns_per_connection` 100, `max_pattern_tokens` 16): A connections, each
// holding 100 distinct patterns of 15 tokens mixing `a` and `*` followed by `>`, and a
// publish on the longest topic of `a` tokens, which every pattern matches. The walk
// visits every trie node the patterns share with that topic; each connection receives
// the publish once. Reported per publish, and per pattern held.
void BM_publish_pattern_attack(benchmark::State& state) {
  const auto attackers = static_cast<std::size_t>(state.range(0));
  constexpr std::size_t patterns_per_connection = 100, tokens = 16;
  std::string long_topic;
  while (long_topic.size() + 2 <= switchboard::max_topic_bytes) long_topic += long_topic.empty() ? "a" : ".a";
  auto b = std::make_unique<bench_hub>();
  std::uint64_t bits = 0x9E3779B97F4A7C15ull;
  for (std::size_t c = 0; c < attackers; ++c) {
    std::vector<std::string> patterns;
    for (std::size_t p = 0; p < patterns_per_connection; ++p) {
      std::string pattern;
      for (std::size_t t = 0; t + 1 < tokens; ++t) {
        bits ^= bits << 13, bits ^= bits >> 7, bits ^= bits << 17;  // xorshift: distinct patterns
        pattern += (bits & 1) ? "*." : "a.";
      }
      pattern += '>';
      patterns.push_back(std::move(pattern));
    }
    b->subscribe(b->connect(), patterns);
  }
  b->drain();
  const auto r = b->hub.publish(long_topic, payload);
  b->drain();
  if (r.failure || r.recipients != attackers) {
    state.SkipWithError("the attack's patterns were not all accepted");
    return;
  }
  for (auto _ : state) {
    b->hub.publish(long_topic, payload);
    b->drain();
  }
  state.counters["ns_per_publish"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["ns_per_pattern"] = benchmark::Counter(
      static_cast<double>(state.iterations() * static_cast<std::int64_t>(attackers * patterns_per_connection)) * 1e-9,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_publish_pattern_attack)->Arg(1)->Arg(10)->Arg(100);

// The request parser on a typical publish frame.
void BM_parse_publish_request(benchmark::State& state) {
  const std::string frame = R"({"type":"publish","id":42,"topic":"room.lobby","data":)" + std::string(payload) + "}";
  for (auto _ : state) {
    auto request = switchboard::detail::request_parser::parse(frame);
    benchmark::DoNotOptimize(request);
  }
  const auto check = switchboard::detail::request_parser::parse(frame);
  if (check.bad_json || check.problem || !check.type || *check.type != "publish" || check.data != payload) {
    state.SkipWithError("the publish frame did not parse as expected");
    return;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(frame.size()));
}
BENCHMARK(BM_parse_publish_request);

// A client publishes (with an id, so it also gets an ack) to 1000 subscribers: parse,
// auth, encode, fan-out, flush and write completions. `Hub` with no hooks (the default
// policy, whose calls compile away) and with hooks counting every event.
template <class Hub>
void client_publish_roundtrip(benchmark::State& state, switchboard::log_level log_threshold = switchboard::log_level::off,
                              std::uint64_t* log_records = nullptr) {
  constexpr std::size_t subscribers = 1000;
  auto b = std::make_unique<basic_bench_hub<Hub>>();
  if (log_records)
    b->hub.set_log_hook(log_threshold, [log_records](const switchboard::log_record&) { ++*log_records; });
  b->add_subscribers(subscribers, {std::string(topic)});
  if (!b->warm_up(subscribers)) {
    state.SkipWithError("warm-up publish did not reach every subscriber");
    return;
  }
  const connection_id publisher = b->connect();
  b->drain();
  const std::string frame = R"({"type":"publish","id":42,"topic":"room.lobby","data":)" + std::string(payload) + "}";
  const std::uint64_t frames_before = b->transport.frames_written();
  for (auto _ : state) {
    b->transport.receive_text(publisher, frame);
    b->drain();
  }
  const std::uint64_t written = b->transport.frames_written() - frames_before;
  // Each iteration: one message per subscriber plus the publisher's ack.
  if (written != (subscribers + 1) * static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("a publish did not reach every subscriber");
    return;
  }
  report_per_recipient(state, subscribers);
}
void BM_client_publish_roundtrip(benchmark::State& state) { client_publish_roundtrip<switchboard::hub>(state); }
BENCHMARK(BM_client_publish_roundtrip);
void BM_client_publish_roundtrip_hooked(benchmark::State& state) { client_publish_roundtrip<hooked_hub>(state); }
BENCHMARK(BM_client_publish_roundtrip_hooked);

// The same with a log hook installed: at `error` (every record of the session below it,
// so none is built), and at `debug` (all enabled: the publish path has no log point, so
// nothing is written either). Both must match the run without a hook.
void BM_client_publish_roundtrip_log_error(benchmark::State& state) {
  std::uint64_t records = 0;
  client_publish_roundtrip<switchboard::hub>(state, switchboard::log_level::error, &records);
  state.counters["log_records"] = static_cast<double>(records);
}
BENCHMARK(BM_client_publish_roundtrip_log_error);
void BM_client_publish_roundtrip_log_debug(benchmark::State& state) {
  std::uint64_t records = 0;
  client_publish_roundtrip<switchboard::hub>(state, switchboard::log_level::debug, &records);
  state.counters["log_records"] = static_cast<double>(records);
}
BENCHMARK(BM_client_publish_roundtrip_log_debug);

// Authorization rules as a deployment might have them: 10 deny entries and 90 allow
// entries for publish, mixing literals, wildcards, `{user}` and roles, the last of which
// is the one that permits `room.lobby`, so that a check walks all 100. Subscribing to
// `room.>` is allowed too (one more entry, in its own section).
switchboard::access_rules hundred_publish_rules() {
  using switchboard::action;
  switchboard::access_rules rules;
  rules.allow(action::subscribe, "room.>");
  for (int i = 0; i < 10; ++i) rules.deny(action::publish, "secret" + std::to_string(i) + ".>");
  for (int i = 0; i < 89; ++i) {
    const std::string n = std::to_string(i);
    switch (i % 4) {
      case 0: rules.allow(action::publish, "team" + n + ".*.messages"); break;
      case 1: rules.allow(action::publish, "user.{user}.box" + n); break;
      case 2: rules.allow(action::publish, "ops" + n + ".>", "admin"); break;
      default: rules.allow(action::publish, "room.lobby" + n);
    }
  }
  rules.allow(action::publish, "room.*");
  return rules;
}

using rules_hub = switchboard::basic_hub<switchboard::policies<switchboard::rules_auth<switchboard::insecure_token_auth>>>;

// One access_rules::permits for a publish on `room.lobby`: with the one entry that
// permits it (Arg 1), or behind 99 others (Arg 100).
void BM_access_rules_permits(benchmark::State& state) {
  switchboard::access_rules rules;
  if (state.range(0) == 1)
    rules.allow(switchboard::action::publish, "room.*");
  else
    rules = hundred_publish_rules();
  const switchboard::identity who{std::string("alice"), {"member"}};
  for (auto _ : state) {
    const bool permitted = rules.permits(who, switchboard::action::publish, topic);
    benchmark::DoNotOptimize(permitted);
  }
  if (!rules.permits(who, switchboard::action::publish, topic)) state.SkipWithError("the publish was refused");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_access_rules_permits)->Arg(1)->Arg(100);

// A client publish (parse, authorization, encode, fan-out to one subscriber, the ack)
// through rules_auth without rules (Arg 0: the inner policy alone decides) and with the
// 100 rules above (Arg 100). One subscriber keeps the fan-out small beside the check.
void BM_client_publish_rules(benchmark::State& state) {
  auto b = std::make_unique<basic_bench_hub<rules_hub>>();
  if (state.range(0) > 0) b->hub.auth().set_rules(hundred_publish_rules());
  b->add_subscribers(1, {std::string(topic)});
  const connection_id publisher = b->connect("alice");
  b->drain();
  const std::string frame = R"({"type":"publish","id":42,"topic":"room.lobby","data":)" + std::string(payload) + "}";
  const std::uint64_t frames_before = b->transport.frames_written();
  for (auto _ : state) {
    b->transport.receive_text(publisher, frame);
    b->drain();
  }
  // Each iteration: the message to the subscriber and the publisher's ack.
  if (b->transport.frames_written() - frames_before != 2 * static_cast<std::uint64_t>(state.iterations())) {
    state.SkipWithError("a publish was refused or not delivered");
    return;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_client_publish_rules)->Arg(0)->Arg(100);

}  // namespace

// UTF-8 validation of received text, as the transport runs it on every byte: ASCII
// (JSON's usual case) and mixed text (a quarter of the characters multi-byte).
// Reported in bytes per second.
void BM_utf8_validate(benchmark::State& state) {
  const bool ascii = state.range(0) == 0;
  std::string text;
  const char* const pieces[] = {"{\"type\":\"publish\",\"topic\":\"prices.eur\",\"data\":",
                                ascii ? "\"plain ascii text\"" : "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 na\xc3\xafve\"", "}"};
  while (text.size() < 64 * 1024)
    for (const char* p : pieces) text += p;
  for (auto _ : state) {
    switchboard::detail::utf8_validator v;
    benchmark::DoNotOptimize(v.feed(text.data(), text.size()) && v.complete());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_utf8_validate)->Arg(0)->Arg(1);

// Unmasking a received frame's payload (every byte a client sends), in bytes per second.
void BM_unmask(benchmark::State& state) {
  std::string payload(64 * 1024, 'x');
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  for (auto _ : state) {
    switchboard::detail::unmask_ws_payload(&payload[0], payload.size(), key, 0);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(payload.size()));
}
BENCHMARK(BM_unmask);

// Token verification as a handshake runs it (decode, parse, signature, claims), for a
// typical token: a user id, two roles, exp and iat. Reported as verifications per second.
namespace {
void verify_jwt_benchmark(benchmark::State& state, const switchboard::jwt_key& signer,
                          const switchboard::jwt_key& checker) {
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  switchboard::jwt_claims claims;
  claims.subject = "alice";
  claims.roles = {"member", "trader"};
  claims.issued_at = now;
  claims.expires_at = now + std::chrono::hours(1);
  const std::string token = sign_jwt(signer, claims);
  const switchboard::jwt_verifier verifier(checker);
  for (auto _ : state) {
    auto result = verifier.verify(token, now);
    if (!result) state.SkipWithError("the token was refused");
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
}  // namespace

void BM_jwt_verify_hs256(benchmark::State& state) {
  const auto key = switchboard::jwt_key::hs256("a benchmark secret of thirty-two bytes");
  verify_jwt_benchmark(state, key, key);
}
BENCHMARK(BM_jwt_verify_hs256);

void BM_jwt_verify_eddsa(benchmark::State& state) {
  const std::string seed(switchboard::jwt_key::ed25519_seed_bytes, '\x2a');
  const auto signer = switchboard::jwt_key::ed25519_secret_key(seed);
  // The verifier holds the public key only, as a server that does not issue tokens would.
  std::string public_key(crypto_sign_PUBLICKEYBYTES, '\0'), secret_key(crypto_sign_SECRETKEYBYTES, '\0');
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(&public_key[0]),
                           reinterpret_cast<unsigned char*>(&secret_key[0]),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  verify_jwt_benchmark(state, signer, switchboard::jwt_key::ed25519_public_key(public_key));
}
BENCHMARK(BM_jwt_verify_eddsa);

BENCHMARK_MAIN();
