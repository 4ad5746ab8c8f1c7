// Signed publishes (signed_publish.hpp, e2e.hpp's verify_signed_publishes) through the
// in-memory transport: a publish whose `sig` verifies against the publisher's registered
// Ed25519 key is delivered with it (live, in history, in recovery); every other signed
// publish is `forbidden`, audited, delivers nothing and takes no seq; an unsigned publish
// is untouched.
#include "support/hub_harness.hpp"

#include <switchboard/audit.hpp>
#include <switchboard/e2e.hpp>
#include <switchboard/signed_publish.hpp>
#include <switchboard/user_keys.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::string b64(std::string_view bytes) {
  std::string out;
  sb::detail::append_base64(out, bytes);
  return out;
}

sb::user_keys keys_of(const sb::ed25519_key_pair& signing) {
  sb::user_keys keys;
  keys.ed25519 = signing.public_key().bytes();
  keys.x25519 = sb::x25519_key_pair::generate().public_key().bytes();
  return keys;
}

std::string signed_publish(std::string_view topic, std::string_view data, std::string_view sig,
                           std::string_view id = "1") {
  return R"({"type":"publish","id":)" + std::string(id) + R"(,"topic":")" + std::string(topic) + R"(","data":)" +
         std::string(data) + R"(,"sig":")" + std::string(sig) + R"("})";
}

// The demo auth (the token is the user id) with alice's key registered, signatures checked.
struct signing_harness : harness<> {
  sb::ed25519_key_pair alice_keys = sb::ed25519_key_pair::generate();
  std::vector<std::string> audited;  // "kind user detail"

  explicit signing_harness(sb::config cfg = no_timestamps(), bool verify = true) : harness<>(std::move(cfg)) {
    REQUIRE(hub.store().register_user("alice", keys_of(alice_keys)) == sb::user_registration::created);
    if (verify) sb::verify_signed_publishes(hub);
    hub.set_audit_hook([this](const sb::audit_event& e) {
      audited.push_back(std::string(sb::audit_kind_name(e.kind)) + " " + std::string(e.user) + " " +
                        std::string(e.detail));
    });
  }
};

}  // namespace

TEST_CASE("signed publish: a signature that verifies is delivered with the message, as sent", "[signed_publish]") {
  signing_harness h;
  const connection_id alice = h.join("alice");
  const connection_id bob = h.join("bob");
  h.subscribe(bob, R"(["room.1"])");

  const std::string data = R"({"text":"hi",  "n":[1, 2]})";  // spacing and order are signed
  const std::string sig = sb::sign_message(h.alice_keys, "room.1", data);
  const json ack = h.request(alice, signed_publish("room.1", data, sig));
  INFO(ack.text);
  REQUIRE(ack.type() == "ack");
  CHECK(ack.num("/data/seq") == 1);
  CHECK(ack.num("/data/recipients") == 1);

  const json delivered = h.one(bob);
  CHECK(delivered.text == R"({"type":"message","topic":"room.1","seq":1,"from":"alice","sig":")" + sig +
                              R"(","data":)" + data + "}");
  // A subscriber checks it with the key GET /auth/keys/alice would give it.
  CHECK(sb::verify_message_signature(h.alice_keys.public_key(), delivered.str("/topic"), data, delivered.str("/sig")));
  CHECK(h.audited.empty());

  SECTION("history and recovery replay it with its sig") {
    const json history = h.request(bob, R"({"type":"history","id":2,"topic":"room.1"})");
    REQUIRE(history.type() == "result");
    CHECK(history.str("/data/messages/0/sig") == sig);
    CHECK(history.str("/data/messages/0/from") == "alice");

    const connection_id carol = h.join("carol");
    h.send(carol, R"({"type":"subscribe","id":3,"topics":["room.1"],"since":{"room.1":0}})");
    const auto frames = h.frames(carol);
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].text == delivered.text);
    CHECK(frames[1].is_true("/data/topics/room.1/recovered"));
  }
  SECTION("with timestamps, sig still comes just before data") {
    signing_harness stamped{sb::config{}};
    const connection_id a = stamped.join("alice");
    const connection_id b = stamped.join("bob");
    stamped.subscribe(b, R"(["room.1"])");
    const std::string stamped_sig = sb::sign_message(stamped.alice_keys, "room.1", data);
    stamped.send(a, signed_publish("room.1", data, stamped_sig));
    const json message = stamped.one(b);
    CHECK(message.has("/ts"));
    CHECK(message.text.find(R"(,"sig":")" + stamped_sig + R"(","data":)" + data + "}") != std::string::npos);
  }
}

TEST_CASE("signed publish: anything that does not verify is forbidden, audited, and takes no seq",
          "[signed_publish]") {
  signing_harness h;
  const connection_id alice = h.join("alice");
  const connection_id bob = h.join("bob");
  h.subscribe(bob, R"(["room.1"])");
  const std::string data = R"({"text":"hi"})";
  const std::string good = sb::sign_message(h.alice_keys, "room.1", data);
  const std::string raw = [&] {
    std::string out;
    REQUIRE(sb::detail::decode_base64(good, out));
    return out;
  }();
  std::string flipped = raw;
  flipped[10] = static_cast<char>(flipped[10] ^ 0x01);

  struct refused_case {
    std::string name;
    connection_id from;
    std::string frame;
    std::string reason;
  };
  const std::string no_match = "the signature does not verify";
  const std::vector<refused_case> cases = {
      {"not base64", alice, signed_publish("room.1", data, std::string(88, '!')), no_match},
      {"url-safe base64", alice, signed_publish("room.1", data, std::string(86, '_') + "=="), no_match},
      {"63 bytes", alice, signed_publish("room.1", data, b64(raw.substr(0, 63))), no_match},
      {"65 bytes", alice, signed_publish("room.1", data, b64(raw + "x")), no_match},
      {"empty", alice, signed_publish("room.1", data, ""), no_match},
      {"one bit flipped", alice, signed_publish("room.1", data, b64(flipped)), no_match},
      {"another key", alice,
       signed_publish("room.1", data, sb::sign_message(sb::ed25519_key_pair::generate(), "room.1", data)), no_match},
      {"another topic's signature", alice,
       signed_publish("room.1", data, sb::sign_message(h.alice_keys, "room.2", data)), no_match},
      {"the data spelled differently", alice, signed_publish("room.1", R"({ "text":"hi"})", good), no_match},
      {"a publisher without a registered key", h.join("mallory"), signed_publish("room.1", data, good),
       "the publisher has no registered key"},
      {"an anonymous publisher", h.join(), signed_publish("room.1", data, good),
       "a signed message needs a publishing user"},
  };
  for (const refused_case& c : cases) {
    INFO(c.name);
    h.audited.clear();
    const json reply = h.request(c.from, c.frame);
    require_error(reply, "forbidden", "1");
    CHECK(reply.str("/message") == "publish 'room.1' is not allowed: " + c.reason);
    REQUIRE(h.audited.size() == 1);
    CHECK(h.audited[0].find("action_refused ") == 0);
    CHECK(h.audited[0].find("publish room.1: " + c.reason) != std::string::npos);
    CHECK(h.audited[0].find(good) == std::string::npos);  // never the signature
    CHECK(h.texts(bob).empty());
  }
  // Nothing above took a seq: the first good publish is seq 1.
  const json ack = h.request(alice, signed_publish("room.1", data, good));
  REQUIRE(ack.type() == "ack");
  CHECK(ack.num("/data/seq") == 1);
  CHECK(h.one(bob).str("/sig") == good);

  SECTION("without an id the refusal is an error with id null") {
    h.send(alice, R"({"type":"publish","topic":"room.1","data":{},"sig":"AAAA"})");
    require_error(h.one(alice), "forbidden", "null");
  }
  SECTION("authorization and topic checks come first") {
    require_error(h.request(alice, signed_publish("system.x", data, good)), "forbidden", "1");
    CHECK(h.audited.back().find("publish system.x") != std::string::npos);
    require_error(h.request(alice, signed_publish("room.*", data, good)), "bad_request", "1");
  }
}

TEST_CASE("signed publish: a hub that was not told to verify refuses every signed publish", "[signed_publish]") {
  signing_harness h{no_timestamps(), false};
  const connection_id alice = h.join("alice");
  const std::string data = R"({"text":"hi"})";
  const json reply = h.request(alice, signed_publish("room.1", data, sb::sign_message(h.alice_keys, "room.1", data)));
  require_error(reply, "forbidden", "1");
  CHECK(reply.str("/message") == "publish 'room.1' is not allowed: this server does not verify message signatures");

  // A store that keeps no user keys has nothing to verify against, whatever the check.
  struct keyless_store {};
  keyless_store keyless;
  const std::optional<std::string> user = std::string("alice");
  CHECK(sb::detail::signed_publish_refusal(keyless, &sb::registered_key_signed, user, "room.1", data, "x") ==
        "this server does not verify message signatures");
}

TEST_CASE("signed publish: sig must be a string; null or absent is an unsigned publish", "[signed_publish]") {
  signing_harness h;
  const connection_id alice = h.join("alice");
  const connection_id bob = h.join("bob");
  h.subscribe(bob, R"(["room.1"])");

  for (const char* bad : {"1", "true", "{}", R"(["x"])"}) {
    INFO(bad);
    const json reply =
        h.request(alice, std::string(R"({"type":"publish","id":1,"topic":"room.1","data":{},"sig":)") + bad + "}");
    require_error(reply, "bad_request", "1");
    CHECK(reply.str("/message") == "invalid field: sig");
  }
  CHECK(h.texts(bob).empty());

  h.send(alice, R"({"type":"publish","topic":"room.1","data":{"a":1},"sig":null})");
  CHECK(h.one(bob).text == R"({"type":"message","topic":"room.1","seq":1,"from":"alice","data":{"a":1}})");
  h.send(alice, R"({"type":"publish","topic":"room.1","data":{"a":2}})");
  CHECK(h.one(bob).text == R"({"type":"message","topic":"room.1","seq":2,"from":"alice","data":{"a":2}})");
  CHECK(h.texts(alice).empty());
}
