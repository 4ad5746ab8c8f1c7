// The log records of the native transport and the hub behind it, over real sockets: a
// session that connects with a JWT, publishes a secret payload, is rate limited and cuts
// a slow consumer gives the records an operator needs, with their fields, and none of
// them holds the token, the key or the payload. The websocketpp adapter logs less
// (its own errors and failed accepts), so these tests are [native_only] and not compiled
// into socket_tests_websocketpp.
#ifndef SWITCHBOARD_TEST_WEBSOCKETPP
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <switchboard/jwt.hpp>
#include <switchboard/jwt_auth.hpp>
#include <switchboard/logging.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

using namespace switchboard::test;
namespace sb = switchboard;
using sb::detail::ws_opcode;

namespace {

using jwt_test_server = basic_test_server<sb::policies<sb::jwt_auth>>;

const std::string jwt_secret = "the logging test's HS256 secret, over 32 bytes";

std::string token_for(const std::string& user) {
  sb::jwt_claims claims;
  claims.subject = user;
  claims.expires_at =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now() + std::chrono::hours(1));
  return sign_jwt(sb::jwt_key::hs256(jwt_secret), claims);
}

// Records kept from the server thread, read from the test's.
class shared_log {
 public:
  struct record {
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

  sb::log_hook hook() {
    return [this](const sb::log_record& r) {
      record kept{r.level, std::string(r.event), {}, sb::format_log_line(r)};
      for (const auto& f : r.fields) {
        const sb::log_value& v = f.value;
        std::string text;
        switch (v.type()) {
          case sb::log_value::kind::string: text = std::string(v.text()); break;
          case sb::log_value::kind::unsigned_integer: text = std::to_string(v.unsigned_value()); break;
          case sb::log_value::kind::signed_integer: text = std::to_string(v.signed_value()); break;
          case sb::log_value::kind::boolean: text = v.boolean() ? "true" : "false"; break;
          case sb::log_value::kind::none: continue;
        }
        kept.fields.emplace_back(std::string(f.key), std::move(text));
      }
      std::lock_guard<std::mutex> lock(mutex_);
      records_.push_back(std::move(kept));
    };
  }
  std::vector<record> all() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return records_;
  }
  std::vector<record> of(const std::string& event) const {
    std::vector<record> found;
    for (auto& r : all())
      if (r.event == event) found.push_back(std::move(r));
    return found;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<record> records_;
};

}  // namespace

TEST_CASE("logging over sockets: a scripted session gives every record its fields, and never a secret",
          "[socket][logging][native_only]") {
  auto cfg = test_config();
  // Bob's queue holds none of alice's publishes, and alice's 20 small refusals fit hers.
  cfg.send_queue_bytes = 4096;
  cfg.rate_limit = 1;
  cfg.rate_burst = 20;
  shared_log log;
  jwt_test_server server(
      cfg, {}, [&log](auto& hub, auto&) { hub.set_log_hook(sb::log_level::debug, log.hook()); },
      sb::jwt_auth{sb::jwt_verifier{sb::jwt_key::hs256(jwt_secret)}});

  const auto listening = log.of("listening");
  REQUIRE(listening.size() == 1);
  CHECK(listening[0].level == sb::log_level::info);
  CHECK(listening[0].field("address") == "127.0.0.1:" + std::to_string(server.port()));
  CHECK(listening[0].field("tls") == "false");
  CHECK(listening[0].field("path") == "/ws");

  const std::string alice_token = token_for("alice");
  const std::string bob_token = token_for("bob");
  const std::string secret_marker = "TOP-SECRET-PAYLOAD-c41d";
  // Larger than the kernel's buffers towards bob (his receive window is 4 KiB and he
  // never reads) take at once: his second publish finds the first still being written.
  const std::string payload = secret_marker + std::string(400 * 1000, 'p');

  ws_test_client refused;
  CHECK(refused.connect(server.port(), {"/ws?token=" + alice_token + "x", {}, {}, 0}).status == 401);

  ws_test_client alice, bob;
  alice.open(server.port(), {"/ws?token=" + alice_token, {}, {}, 0});
  bob.open(server.port(), {"/ws", {"Authorization: Bearer " + bob_token}, {}, 4096});
  REQUIRE(bob.send_text(R"({"type":"subscribe","id":1,"topics":["room"]})"));
  bob.recv_type("ack");

  // Forty publishes in one write: once the first has filled the socket towards bob, his
  // queue of 4 KiB overflows (a slow consumer), and alice runs out of her burst of 20
  // (rate limited).
  std::string wire;
  for (int i = 0; i < 40; ++i)
    wire += alice.encode_frame(ws_opcode::text, R"({"type":"publish","topic":"room","data":")" + payload + R"("})");
  REQUIRE(alice.send_raw(wire));
  CHECK(bob.expect_close() == 1013);
  // The refusals (19 or 20: the bucket may refill by one meanwhile) reach alice before
  // she closes, so the transport has written them whatever the flush timing.
  for (int i = 0; i < 19; ++i) alice.recv_type("error");
  REQUIRE(alice.send_close(1000));
  CHECK(alice.expect_close() == 1000);
  REQUIRE(server.wait_until([](auto&, server_under_test& s) { return s.connection_count() == 0; }));
  REQUIRE(server.wait_until([&log](auto&, server_under_test&) { return log.of("connection_closed").size() == 2; }));

  const auto opened = log.of("connection_opened");
  REQUIRE(opened.size() == 2);
  CHECK(opened[0].level == sb::log_level::debug);
  CHECK(opened[0].field("user") == "alice");
  CHECK(opened[0].field("remote").rfind("127.0.0.1:", 0) == 0);
  CHECK(opened[0].field("tls") == "false");
  CHECK(opened[1].field("user") == "bob");

  const auto refusals = log.of("handshake_refused");
  REQUIRE(refusals.size() == 1);
  CHECK(refusals[0].level == sb::log_level::warn);
  CHECK(refusals[0].field("remote").rfind("127.0.0.1:", 0) == 0);

  const auto cuts = log.of("slow_consumer");
  REQUIRE(cuts.size() == 1);
  CHECK(cuts[0].level == sb::log_level::warn);
  CHECK(cuts[0].field("user") == "bob");
  CHECK(cuts[0].field("connection") == opened[1].field("connection"));
  CHECK(cuts[0].field("limit") == "send_queue_bytes");

  const auto limited = log.of("rate_limited");
  REQUIRE_FALSE(limited.empty());
  CHECK(limited.size() <= sb::detail::log_limit::per_window);  // 20 refusals, a bounded few records
  CHECK(limited[0].field("user") == "alice");

  const auto closed = log.of("connection_closed");
  const auto& bob_closed = closed[0].field("user") == "bob" ? closed[0] : closed[1];
  const auto& alice_closed = closed[0].field("user") == "bob" ? closed[1] : closed[0];
  CHECK(bob_closed.level == sb::log_level::info);
  CHECK(bob_closed.field("code") == "1013");
  CHECK(bob_closed.field("closed_by") == "server");
  CHECK(bob_closed.field("messages_in") == "1");
  CHECK(bob_closed.field("remote").rfind("127.0.0.1:", 0) == 0);
  CHECK(bob_closed.field("duration_ms") != "<absent>");
  CHECK(alice_closed.field("code") == "1000");
  CHECK(alice_closed.field("closed_by") == "peer");
  CHECK(alice_closed.field("messages_in") == "40");
  CHECK(std::stoul(alice_closed.field("messages_out")) >= 20);  // welcome and the refusals she read

  for (const auto& r : log.all()) {
    INFO(r.line);
    CHECK(r.line.find(secret_marker) == std::string::npos);
    CHECK(r.line.find(jwt_secret) == std::string::npos);
    for (const std::string& token : {alice_token, bob_token})
      CHECK(r.line.find(token.substr(token.rfind('.') + 1)) == std::string::npos);  // its signature
    CHECK(r.line.find(alice_token.substr(alice_token.find('.') + 1, 20)) == std::string::npos);  // its claims
  }
}

TEST_CASE("logging over sockets: below the threshold the transport writes nothing", "[socket][logging][native_only]") {
  shared_log log;
  test_server server(test_config(), {}, [&log](auto& hub, auto&) { hub.set_log_hook(sb::log_level::warn, log.hook()); });
  {
    ws_test_client c;
    c.open(server.port());
  }
  REQUIRE(server.wait_until([](auto&, server_under_test& s) { return s.connection_count() == 0; }));
  CHECK(log.all().empty());
}

#endif  // SWITCHBOARD_TEST_WEBSOCKETPP
