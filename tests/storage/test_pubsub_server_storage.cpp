// pubsub_server with `--store sqlite`, as a real process: what survives a clean restart
// and what survives SIGKILL in the middle of a burst of acknowledged publishes.
#include "hostile/raw_ws.hpp"
#include "hostile/server_process.hpp"
#include "support/hub_harness.hpp"
#include "support/sqlite_test_support.hpp"

#include <switchboard/detail/base64.hpp>
#include <switchboard/e2e.hpp>

#include <catch2/catch.hpp>
#include <sodium.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <utility>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using hostile::raw_ws;
using hostile::recv_status;
using hostile::server_options;
using hostile::server_process;
using hostile::ws_message;
using std::chrono::milliseconds;

server_options sqlite_server(const std::filesystem::path& db) {
  server_options o;
  o.args = {"--store", "sqlite", "--db", db.string(), "--history", "100000", "--rate-limit", "0"};
  return o;
}

// The same, serving the login routes (they need a key that signs tokens).
server_options sqlite_login_server(const std::filesystem::path& db) {
  server_options o = sqlite_server(db);
  o.args.insert(o.args.end(), {"--jwt-hs256-secret", "a secret of thirty-two bytes or more, for tests"});
  return o;
}

// Sends `request` (which carries `"id":"<id>"`) and returns the reply with that id.
json ask(raw_ws& ws, const std::string& id, const std::string& request) {
  REQUIRE(ws.send_text(request));
  ws_message m;
  REQUIRE(ws.recv_until("\"id\":\"" + id + "\"", m, milliseconds(20000)) == recv_status::message);
  return parse(m.payload);
}

// Every stored message of `topic`, oldest first, paged through `history`.
std::vector<json> read_all(raw_ws& ws, const std::string& topic) {
  std::vector<json> all;
  std::uint64_t since = 0;
  for (int page = 0;; ++page) {
    const std::string id = "h" + std::to_string(page);
    json reply = ask(ws, id, R"({"type":"history","id":")" + id + R"(","topic":")" + topic +
                                 R"(","since":)" + std::to_string(since) + R"(,"limit":1000})");
    INFO(reply.text);
    REQUIRE(reply.type() == "result");
    const std::size_t n = reply.size("/data/messages");
    if (n == 0) break;
    for (std::size_t i = 0; i < n; ++i) {
      const std::string at = "/data/messages/" + std::to_string(i);
      std::string data = reply.str((at + "/data/text").c_str());
      const std::uint64_t seq = reply.num((at + "/seq").c_str());
      all.push_back(parse(R"({"seq":)" + std::to_string(seq) + R"(,"text":")" + data + "\"}"));
      since = seq;
    }
  }
  return all;
}

// One HTTP request with a JSON body on a fresh connection; the response.
hostile::http_response post(std::uint16_t port, const std::string& path, const std::string& body) {
  raw_ws http;
  REQUIRE(http.tcp_connect(port));
  return http.http_exchange("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
}

std::string base64(const unsigned char* bytes, std::size_t size) {
  std::string out;
  switchboard::detail::append_base64(out, std::string_view(reinterpret_cast<const char*>(bytes), size));
  return out;
}

// The body of POST /auth/register for `user` and its two raw 32-byte public keys.
std::string registration_of(const std::string& user, const unsigned char* ed25519, const unsigned char* x25519) {
  return R"({"user":")" + user + R"(","ed25519_public_key":")" + base64(ed25519, 32) + R"(","x25519_public_key":")" +
         base64(x25519, 32) + R"("})";
}

}  // namespace

TEST_CASE("pubsub_server --store sqlite: users registered for login are kept across a restart", "[sqlite][process]") {
  REQUIRE(sodium_init() >= 0);
  unsigned char sign_public[crypto_sign_PUBLICKEYBYTES], sign_secret[crypto_sign_SECRETKEYBYTES];
  unsigned char box_public[crypto_box_PUBLICKEYBYTES], box_secret[crypto_box_SECRETKEYBYTES];
  crypto_sign_keypair(sign_public, sign_secret);
  crypto_box_keypair(box_public, box_secret);
  const std::string registration = registration_of("alice", sign_public, box_public);
  temp_dir dir;
  const server_options o = sqlite_login_server(dir / "db");
  {
    server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, o);
    const auto created = post(server.port(), "/auth/register", registration);
    INFO(created.body);
    REQUIRE(created.status == 201);
    REQUIRE(server.terminate());
  }
  server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, o);
  // The same keys again: known (200), from the database.
  const auto again = post(server.port(), "/auth/register", registration);
  INFO(again.body);
  CHECK(again.status == 200);
  unsigned char other_public[crypto_sign_PUBLICKEYBYTES], other_secret[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(other_public, other_secret);
  const auto takeover = post(server.port(), "/auth/register",
                             R"({"user":"alice","ed25519_public_key":")" + base64(other_public, sizeof other_public) +
                                 R"(","x25519_public_key":")" + base64(box_public, sizeof box_public) + R"("})");
  CHECK(takeover.status == 409);

  const auto challenge = post(server.port(), "/auth/challenge", R"({"user":"alice"})");
  INFO(challenge.body);
  REQUIRE(challenge.status == 200);
  const std::string nonce = parse(challenge.body).str("/nonce");
  unsigned char signature[crypto_sign_BYTES];
  crypto_sign_detached(signature, nullptr, reinterpret_cast<const unsigned char*>(nonce.data()), nonce.size(),
                       sign_secret);
  const auto verified = post(server.port(), "/auth/verify",
                             R"({"user":"alice","nonce":")" + nonce + R"(","signature":")" +
                                 base64(signature, sizeof signature) + R"("})");
  INFO(verified.body);
  REQUIRE(verified.status == 200);
  const std::string token = parse(verified.body).str("/token");
  raw_ws alice;
  REQUIRE(alice.open(server.port(), 0, "/ws?token=" + token));
  const auto unknown = post(server.port(), "/auth/challenge", R"({"user":"nobody"})");
  CHECK(unknown.status == 404);
}

TEST_CASE("pubsub_server --store sqlite: signed publishes are verified against the key on disk, in order",
          "[sqlite][process]") {
  namespace sb = switchboard;
  const sb::ed25519_key_pair signing = sb::ed25519_key_pair::generate();
  const std::string registration = registration_of("alice", signing.public_key().bytes().data(),
                                                   sb::x25519_key_pair::generate().public_key().bytes().data());
  temp_dir dir;
  server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, sqlite_login_server(dir / "db"));
  const auto created = post(server.port(), "/auth/register", registration);
  INFO(created.body);
  REQUIRE(created.status == 201);
  const auto challenge = post(server.port(), "/auth/challenge", R"({"user":"alice"})");
  REQUIRE(challenge.status == 200);
  const std::string nonce = parse(challenge.body).str("/nonce");
  const auto verified = post(server.port(), "/auth/verify",
                             R"({"user":"alice","nonce":")" + nonce + R"(","signature":")" +
                                 sb::sign_login_challenge(signing, nonce) + R"("})");
  INFO(verified.body);
  REQUIRE(verified.status == 200);
  const std::string token = parse(verified.body).str("/token");
  raw_ws alice, bob;  // bob: another of alice's connections, the subscriber
  REQUIRE(alice.open(server.port(), 0, "/ws?token=" + token));
  REQUIRE(bob.open(server.port(), 0, "/ws?token=" + token));
  REQUIRE(ask(bob, "s", R"({"type":"subscribe","id":"s","topics":["room"]})").type() == "ack");

  auto signed_publish = [&](const std::string& id, const std::string& data, const std::string& signed_data) {
    return R"({"type":"publish","id":")" + id + R"(","topic":"room","data":)" + data + R"(,"sig":")" +
           sb::sign_message(signing, "room", signed_data) + R"("})";
  };
  // Back to back, in one burst: the key is read from the disk for each signed publish,
  // and nothing of alice's overtakes it.
  REQUIRE(alice.send_text(signed_publish("good1", "1", "1")));
  REQUIRE(alice.send_text(signed_publish("forged", "2", "not 2")));
  REQUIRE(alice.send_text(R"({"type":"publish","id":"plain","topic":"room","data":3})"));
  REQUIRE(alice.send_text(signed_publish("good2", "4", "4")));
  // Replies are matched by id: an ack waits for its commit, an error does not.
  std::map<std::string, json> replies;
  while (replies.size() < 4) {
    ws_message m;
    REQUIRE(alice.recv(m, milliseconds(20000)) == recv_status::message);
    json reply = parse(m.payload);
    if (reply.type() == "ack" || reply.type() == "error") replies.emplace(reply.str("/id"), std::move(reply));
  }
  // The publishes took their seqs in the order alice sent them.
  CHECK(replies.at("good1").num("/data/seq") == 1);
  CHECK(replies.at("forged").code() == "forbidden");
  CHECK(replies.at("plain").num("/data/seq") == 2);
  CHECK(replies.at("good2").num("/data/seq") == 3);
  for (const char* data : {R"("data":1)", R"("data":3)", R"("data":4)"}) {
    ws_message m;
    REQUIRE(bob.recv_until(data, m, milliseconds(20000)) == recv_status::message);
  }
}

TEST_CASE("pubsub_server --store sqlite: POST /api/publish answers 200 once committed; SIGKILL right after loses none",
          "[sqlite][process]") {
  temp_dir dir;
  {
    server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, sqlite_server(dir / "db"));
    for (int i = 1; i <= 20; ++i) {
      const auto answer =
          post(server.port(), "/api/publish", R"({"topic":"http","data":{"text":"h)" + std::to_string(i) + R"("}})");
      INFO(answer.body);
      REQUIRE(answer.status == 200);
      CHECK(parse(answer.body).num("/seq") == static_cast<std::uint64_t>(i));
    }
    server.kill();
  }
  server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, sqlite_server(dir / "db"));
  raw_ws reader;
  REQUIRE(reader.open(server.port(), 0, "/ws?token=reader"));
  const auto stored = read_all(reader, "http");
  REQUIRE(stored.size() == 20);
  CHECK(stored.back().str("/text") == "h20");
}

TEST_CASE("pubsub_server --store sqlite: history and recovery come back after a restart, same seqs and epoch",
          "[sqlite][process]") {
  temp_dir dir;
  std::string epoch;
  {
    server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, sqlite_server(dir / "db"));
    raw_ws alice;
    REQUIRE(alice.open(server.port(), 0, "/ws?token=alice"));
    for (int i = 1; i <= 10; ++i) {
      const std::string id = "p" + std::to_string(i);
      const json ack = ask(alice, id, R"({"type":"publish","id":")" + id +
                                          R"(","topic":"room","data":{"text":"m)" + std::to_string(i) + R"("}})");
      REQUIRE(ack.type() == "ack");
      CHECK(ack.num("/data/seq") == static_cast<std::uint64_t>(i));
    }
    const json sub = ask(alice, "s", R"({"type":"subscribe","id":"s","topics":["room"]})");
    epoch = sub.str("/data/topics/room/epoch");
    REQUIRE(server.terminate());
  }
  server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, sqlite_server(dir / "db"));
  raw_ws bob;
  REQUIRE(bob.open(server.port(), 0, "/ws?token=bob"));
  REQUIRE(bob.send_text(R"({"type":"subscribe","id":"r","topics":["room"],"since":{"room":{"seq":3,"epoch":")" +
                        epoch + R"("}}})"));
  for (int i = 4; i <= 10; ++i) {
    ws_message m;
    REQUIRE(bob.recv(m, milliseconds(20000)) == recv_status::message);
    const json message = parse(m.payload);
    INFO(message.text);
    REQUIRE(message.type() == "message");
    CHECK(message.num("/seq") == static_cast<std::uint64_t>(i));
    CHECK(message.str("/data/text") == "m" + std::to_string(i));
  }
  ws_message m;
  REQUIRE(bob.recv(m, milliseconds(20000)) == recv_status::message);
  const json ack = parse(m.payload);
  INFO(ack.text);
  CHECK(ack.type() == "ack");
  CHECK(ack.is_true("/data/topics/room/recovered"));
  CHECK(ack.str("/data/topics/room/epoch") == epoch);
  const auto stored = read_all(bob, "room");
  REQUIRE(stored.size() == 10);
  CHECK(stored.front().str("/text") == "m1");
}

TEST_CASE("pubsub_server --store sqlite: every acknowledged publish survives SIGKILL mid-burst, 20 times over",
          "[sqlite][process]") {
  temp_dir dir;
  std::mt19937 rng(std::random_device{}());
  constexpr int rounds = 20;
  constexpr int window = 500;  // publishes sent and not yet acknowledged
  std::vector<std::map<int, bool>> acked(rounds);  // per round, the indexes acknowledged
  int in_flight_at_kills = 0;
  for (int round = 0; round < rounds; ++round) {
    server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, sqlite_server(dir / "db"));  // opens every time
    raw_ws client;
    REQUIRE(client.open(server.port(), 0, "/ws?token=writer"));
    std::atomic<bool> killed{false};
    std::thread killer([&, delay = std::uniform_int_distribution<int>(5, 150)(rng)] {
      std::this_thread::sleep_for(milliseconds(delay));
      server.kill();
      killed = true;
    });
    // Publishes until the server dies, keeping `window` of them unacknowledged.
    const std::string topic = "burst." + std::to_string(round);
    int sent = 0, in_flight = 0;
    bool open = true;
    while (open) {
      if (!killed && in_flight < window) {
        open = client.send_text(R"({"type":"publish","id":)" + std::to_string(sent) + R"(,"topic":")" + topic +
                                    R"(","data":{"text":"r)" + std::to_string(round) + "m" + std::to_string(sent) +
                                    R"("}})",
                                milliseconds(1000));
        ++sent;
        ++in_flight;
      }
      ws_message m;
      const recv_status s = client.recv(m, milliseconds(killed || in_flight >= window ? 200 : 0));
      if (s == recv_status::closed || s == recv_status::malformed || (s == recv_status::message && m.is_close()))
        open = false;
      else if (s == recv_status::timeout && killed)
        open = false;
      else if (s == recv_status::message && m.is_text()) {
        const json reply = parse(m.payload);
        INFO(reply.text);
        REQUIRE(reply.type() == "ack");
        acked[round][static_cast<int>(reply.num("/id"))] = true;
        --in_flight;
      }
    }
    killer.join();
    in_flight_at_kills += in_flight;
  }
  // Some kills must have caught publishes between their send and their ack.
  CHECK(in_flight_at_kills > 0);

  server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, sqlite_server(dir / "db"));
  raw_ws reader;
  REQUIRE(reader.open(server.port(), 0, "/ws?token=reader"));
  std::size_t acknowledged = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto stored = read_all(reader, "burst." + std::to_string(round));
    std::map<int, bool> found;
    int previous = -1;
    for (std::size_t i = 0; i < stored.size(); ++i) {
      INFO("round " << round << ", stored message " << i << ": " << stored[i].text);
      REQUIRE(stored[i].num("/seq") == i + 1);  // no gap
      const std::string text = stored[i].str("/text");
      const int index = std::stoi(text.substr(text.find('m') + 1));
      CHECK(index > previous);  // in the order they were published
      previous = index;
      found[index] = true;
    }
    std::size_t missing = 0;
    for (const auto& a : acked[round])
      if (!found.count(a.first)) ++missing;
    INFO("round " << round << ": " << acked[round].size() << " acknowledged, " << stored.size() << " stored");
    CHECK(missing == 0);
    acknowledged += acked[round].size();
  }
  CHECK(acknowledged > 0);
}
