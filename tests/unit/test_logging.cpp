// The logging hook: records reach it with their level, event and fields; a level below
// the threshold builds and calls nothing; the logfmt formatter keeps a hostile value on
// its line; and no token, secret or payload reaches a record in a whole session.
#include "support/hub_harness.hpp"

#include <switchboard/jwt.hpp>
#include <switchboard/jwt_auth.hpp>
#include <switchboard/logging.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

// Counts every allocation of this program, so that a test can show a disabled record
// makes none.
namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

// GCC pairs the replaced operator new with this free() and warns of a mismatch that the
// replacement itself makes right.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace {

// A record as a test keeps it: the event, its level, and each field formatted alone.
struct kept_record {
  sb::log_level level;
  std::string event;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string line;

  std::string field(const std::string& key) const {
    for (const auto& f : fields)
      if (f.first == key) return f.second;
    return "<absent>";
  }
};

std::string value_text(const sb::log_value& v) {
  switch (v.type()) {
    case sb::log_value::kind::string: return std::string(v.text());
    case sb::log_value::kind::unsigned_integer: return std::to_string(v.unsigned_value());
    case sb::log_value::kind::signed_integer: return std::to_string(v.signed_value());
    case sb::log_value::kind::boolean: return v.boolean() ? "true" : "false";
    case sb::log_value::kind::none: break;
  }
  return "<none>";
}

struct log_collector {
  std::vector<kept_record> records;

  sb::log_hook hook() {
    return [this](const sb::log_record& r) {
      kept_record k{r.level, std::string(r.event), {}, sb::format_log_line(r)};
      for (const auto& f : r.fields)
        if (f.value.type() != sb::log_value::kind::none) k.fields.emplace_back(std::string(f.key), value_text(f.value));
      records.push_back(std::move(k));
    };
  }
  std::vector<kept_record> of(const std::string& event) const {
    std::vector<kept_record> found;
    for (const auto& r : records)
      if (r.event == event) found.push_back(r);
    return found;
  }
};

sb::log_record record_of(sb::log_level level, std::string_view event, std::initializer_list<sb::log_field> fields) {
  return sb::log_record{level, event, sb::log_fields(fields.begin(), fields.size())};
}

constexpr auto at_known_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796290867250));

}  // namespace

TEST_CASE("logging: levels are named, parsed and ordered", "[logging]") {
  CHECK(sb::log_level_name(sb::log_level::warn) == "warn");
  CHECK(sb::parse_log_level("debug") == sb::log_level::debug);
  CHECK(sb::parse_log_level("warning") == sb::log_level::warn);
  CHECK(sb::parse_log_level("off") == sb::log_level::off);
  CHECK_FALSE(sb::parse_log_level("loud").has_value());

  sb::logger log;
  CHECK_FALSE(log.enabled(sb::log_level::error));  // no hook: nothing is enabled
  log.set_hook(sb::log_level::info, [](const sb::log_record&) {});
  CHECK_FALSE(log.enabled(sb::log_level::debug));
  CHECK(log.enabled(sb::log_level::info));
  CHECK(log.enabled(sb::log_level::error));
  CHECK_FALSE(log.enabled(sb::log_level::off));
  log.set_hook(sb::log_level::off, [](const sb::log_record&) {});
  CHECK_FALSE(log.enabled(sb::log_level::error));
  log.set_hook(sb::log_level::debug, {});
  CHECK(log.threshold() == sb::log_level::off);
}

TEST_CASE("logging: a record below the threshold calls nothing and allocates nothing", "[logging]") {
  int calls = 0;
  sb::logger log;
  log.set_hook(sb::log_level::warn, [&calls](const sb::log_record&) { ++calls; });
  const std::string user = "a user id long enough to live on the heap, not in the string";
  const std::size_t before = allocations.load();
  for (int i = 0; i < 1000; ++i)
    log.write(sb::log_level::info, "connection_closed", {{"connection", 12u}, {"user", user}, {"code", 1000}});
  const std::size_t after_disabled = allocations.load();
  CHECK(after_disabled == before);
  CHECK(calls == 0);

  // Enabled, the logger hands the hook views: the record itself costs no allocation either.
  const std::size_t before_enabled = allocations.load();
  log.write(sb::log_level::warn, "slow_consumer", {{"connection", 12u}, {"user", user}});
  const std::size_t after_enabled = allocations.load();
  CHECK(after_enabled == before_enabled);
  CHECK(calls == 1);
}

TEST_CASE("logging: a hook that throws loses its record, never the caller", "[logging]") {
  sb::logger log;
  log.set_hook(sb::log_level::debug, [](const sb::log_record&) { throw std::runtime_error("disk full"); });
  CHECK_NOTHROW(log.write(sb::log_level::error, "store_failed"));
}

TEST_CASE("logging: the logfmt line has the timestamp, level, event and fields in order", "[logging][format]") {
  const auto line = sb::format_log_line(
      record_of(sb::log_level::warn, "slow_consumer",
                {{"connection", 12u}, {"user", "alice"}, {"queued", -3}, {"tls", true}, {"absent", sb::log_value()}}),
      at_known_time);
  CHECK(line == "ts=2026-12-03T09:41:07.250Z level=warn event=slow_consumer connection=12 user=alice queued=-3 tls=true");
  CHECK(sb::format_log_line(record_of(sb::log_level::info, "x", {}),
                            std::chrono::system_clock::time_point(std::chrono::milliseconds(1709251199999))) ==
        "ts=2024-02-29T23:59:59.999Z level=info event=x");
  CHECK(sb::format_log_line(record_of(sb::log_level::debug, "x", {{"remote", "[::1]:5000"}, {"empty", ""}}),
                            std::chrono::system_clock::time_point()) ==
        "ts=1970-01-01T00:00:00.000Z level=debug event=x remote=[::1]:5000 empty=\"\"");
}

TEST_CASE("logging: a hostile value cannot end the line or forge a field", "[logging][format]") {
  const auto value_of = [](std::string_view v) {
    const std::string line = sb::format_log_line(record_of(sb::log_level::info, "e", {{"user", v}}), at_known_time);
    const std::string prefix = "ts=2026-12-03T09:41:07.250Z level=info event=e user=";
    REQUIRE(line.compare(0, prefix.size(), prefix) == 0);
    return line.substr(prefix.size());
  };
  CHECK(value_of("alice bob") == R"("alice bob")");
  CHECK(value_of("a=b") == R"("a=b")");
  CHECK(value_of(R"(say "hi" \o/)") == R"("say \"hi\" \\o/")");
  CHECK(value_of("alice\nts=2026-12-03T09:41:07.250Z level=error event=forged") ==
        R"("alice\nts=2026-12-03T09:41:07.250Z level=error event=forged")");
  CHECK(value_of("cr\rtab\tbell\aesc\x1b[31m del\x7f") == R"("cr\rtab\tbell\u0007esc\u001b[31m del\u007f")");
  CHECK(value_of(std::string_view("nul\0byte", 8)) == R"("nul\u0000byte")");
  CHECK(value_of("next\xc2\x85line") == R"("next\u0085line")");                   // NEL
  CHECK(value_of("ls\xe2\x80\xa8ps\xe2\x80\xa9") == R"("ls\u2028ps\u2029")");      // line and paragraph separators
  CHECK(value_of("caf\xc3\xa9 \xe2\x82\xac") == "\"caf\xc3\xa9 \xe2\x82\xac\"");  // ordinary UTF-8 stays
  CHECK(value_of("bad \xff\xc3 utf8") == R"("bad \xff\xc3 utf8")");
  const std::string cut = value_of(std::string(5000, 'a'));
  CHECK(cut == "\"" + std::string(1024, 'a') + "...\"");

  // Whatever the bytes, the line is one line: no raw control character is left in it.
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  const std::string line = sb::format_log_line(record_of(sb::log_level::info, "e", {{"v", every_byte}}));
  for (const char c : line) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));

  // Keys come from code, but a bad one still cannot break the line.
  CHECK(sb::format_log_line(record_of(sb::log_level::info, "e", {{"a b=\n", 1u}}), at_known_time) ==
        "ts=2026-12-03T09:41:07.250Z level=info event=e a_b__=1");
}

TEST_CASE("logging: log_limit lets a few records through per window and counts the rest", "[logging]") {
  sb::detail::log_limit limit;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint32_t i = 0; i < sb::detail::log_limit::per_window; ++i) CHECK(limit.admit(t0));
  for (int i = 0; i < 500; ++i) CHECK_FALSE(limit.admit(t0 + std::chrono::seconds(1)));
  CHECK(limit.admit(t0 + sb::detail::log_limit::window));
  CHECK(limit.take_suppressed() == 500);
  CHECK(limit.take_suppressed() == 0);
}

TEST_CASE("logging: a hub logs slow consumers, rate limiting and handler failures with their fields", "[logging]") {
  sb::config cfg;
  cfg.send_queue_frames = 4;
  cfg.rate_limit = 1;
  cfg.rate_burst = 50;
  harness<> h(cfg);
  log_collector log;
  h.hub.set_log_hook(sb::log_level::debug, log.hook());
  std::vector<sb::audit_kind> audited;
  h.hub.set_audit_hook([&audited](const sb::audit_event& e) { audited.push_back(e.kind); });

  const connection_id reader = h.join("bob");
  h.subscribe(reader, R"(["room"])");
  h.net.set_draining(reader, false);
  const connection_id writer = h.join("alice");
  // The first write to bob never completes; what follows piles up behind it.
  h.send(writer, R"({"type":"publish","topic":"room","data":1})");
  for (int i = 0; i < 7; ++i) h.net.receive_text(writer, R"({"type":"publish","topic":"room","data":1})");
  h.pump();

  const auto cuts = log.of("slow_consumer");
  REQUIRE(cuts.size() == 1);
  CHECK(cuts[0].level == sb::log_level::warn);
  CHECK(cuts[0].field("connection") == std::to_string(reader));
  CHECK(cuts[0].field("user") == "bob");
  CHECK(cuts[0].field("limit") == "send_queue_frames");
  CHECK(cuts[0].field("queued_frames") == "4");

  // A flood past the rate limit: every refusal reaches the audit hook, a bounded few the
  // log. One at a time, so that the replies drain and alice's short queue never overflows.
  for (int i = 0; i < 200; ++i) h.send(writer, R"({"type":"ping"})");
  std::size_t refused = 0;
  for (const auto k : audited) refused += k == sb::audit_kind::rate_limited ? 1 : 0;
  CHECK(refused > 100);
  const auto limited = log.of("rate_limited");
  REQUIRE(!limited.empty());
  CHECK(limited.size() <= sb::detail::log_limit::per_window);
  CHECK(limited[0].level == sb::log_level::warn);
  CHECK(limited[0].field("user") == "alice");
  CHECK(limited[0].field("connection") == std::to_string(writer));

  // A handler that throws: an error record naming the type, never the exception's text.
  harness<> other;  // a fresh rate limit
  log_collector other_log;
  other.hub.set_log_hook(sb::log_level::error, other_log.hook());
  other.hub.handlers().on("boom", [](auto&) -> void { throw std::runtime_error("parse error near 'hunter2'"); });
  const connection_id carol = other.join("carol");
  require_error(other.request(carol, R"({"type":"boom","id":1,"secret":"hunter2"})"), "internal", "1");
  const auto failures = other_log.of("handler_failed");
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].level == sb::log_level::error);
  CHECK(failures[0].field("type") == "boom");
  CHECK(failures[0].field("user") == "carol");
  CHECK(failures[0].line.find("hunter2") == std::string::npos);
}

TEST_CASE("logging: security events reach the log at warn and the audit hook, in either order of setting", "[logging]") {
  harness<sb::basic_hub<sb::policies<sb::jwt_auth>>> h(
      sb::config{}, sb::jwt_auth{sb::jwt_verifier{sb::jwt_key::hs256("a secret of thirty-two bytes or more!")}});
  log_collector log;
  h.hub.set_log_hook(sb::log_level::warn, log.hook());
  CHECK(h.connect("not a token") == 0);
  REQUIRE(log.of("handshake_refused").size() == 1);
  CHECK(log.of("handshake_refused")[0].level == sb::log_level::warn);
  CHECK(log.of("handshake_refused")[0].field("remote") == "memory");

  int audited = 0;
  h.hub.set_audit_hook([&audited](const sb::audit_event&) { ++audited; });
  CHECK(h.connect("still not a token") == 0);
  CHECK(audited == 1);
  CHECK(log.of("handshake_refused").size() == 2);

  // Logging off at warn: the audit hook alone still hears everything.
  h.hub.set_log_hook(sb::log_level::error, log.hook());
  CHECK(h.connect("nor this") == 0);
  CHECK(audited == 2);
  CHECK(log.of("handshake_refused").size() == 2);
}

TEST_CASE("logging: no token, secret or payload reaches a record in a whole session", "[logging][secrets]") {
  const std::string jwt_secret = "the HS256 secret, thirty-two bytes or more";
  const sb::jwt_key key = sb::jwt_key::hs256(jwt_secret);
  const auto token_for = [&key](const std::string& user) {
    sb::jwt_claims claims;
    claims.subject = user;
    claims.expires_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now() +
                                                                           std::chrono::hours(1));
    return sb::sign_jwt(key, claims);
  };
  sb::config cfg;
  cfg.send_queue_frames = 4;
  cfg.rate_limit = 1;
  cfg.rate_burst = 20;
  cfg.in_band_auth = true;
  harness<sb::basic_hub<sb::policies<sb::jwt_auth>>> h(cfg, sb::jwt_auth{sb::jwt_verifier{key}});
  log_collector log;
  h.hub.set_log_hook(sb::log_level::debug, log.hook());
  h.hub.handlers().on("boom", [](auto& ctx) -> void { throw std::runtime_error(std::string(ctx.frame())); });

  const std::string alice_token = token_for("alice");
  const std::string bob_token = token_for("bob");
  const std::string payload = "TOP-SECRET-PAYLOAD-7f3a";
  const connection_id bob = h.join(bob_token);
  h.subscribe(bob, R"(["room"])");
  h.net.set_draining(bob, false);
  const connection_id alice = h.join(alice_token);
  // A refused handshake and a refused in-band auth, each with a token-like string.
  CHECK(h.connect(alice_token + "tampered") == 0);
  const connection_id late = h.connect();
  h.send(late, R"({"type":"auth","id":1,"token":")" + alice_token + R"(x"})");
  // A forbidden publish and a handler failure, both carrying the payload.
  h.send(alice, R"({"type":"publish","topic":"system.x","data":")" + payload + R"("})");
  h.send(alice, R"({"type":"boom","id":2,"data":")" + payload + R"("})");
  // Publishes of the payload until bob is cut as a slow consumer and alice rate-limited
  // (one at a time: alice reads her replies, so she is not cut too).
  for (int i = 0; i < 40; ++i) h.send(alice, R"({"type":"publish","topic":"room","data":")" + payload + R"("})");
  h.net.disconnect(alice);
  h.pump();

  CHECK(log.of("slow_consumer").size() == 1);
  CHECK(!log.of("rate_limited").empty());
  CHECK(log.of("handshake_refused").size() == 1);
  CHECK(log.of("auth_failed").size() == 1);
  CHECK(log.of("action_refused").size() == 1);
  CHECK(log.of("handler_failed").size() == 1);
  for (const auto& r : log.records) {
    INFO(r.line);
    CHECK(r.line.find(payload) == std::string::npos);
    CHECK(r.line.find(jwt_secret) == std::string::npos);
    // No token, nor any of its three parts (a header or signature alone identifies it).
    for (const std::string& token : {alice_token, bob_token}) {
      std::size_t start = 0;
      for (std::size_t dot = token.find('.'); start <= token.size(); dot = token.find('.', start)) {
        const std::string part = token.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (part.size() > 20) CHECK(r.line.find(part) == std::string::npos);
        if (dot == std::string::npos) break;
        start = dot + 1;
      }
    }
  }
}
