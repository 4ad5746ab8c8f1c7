// Authorization rules behind a real server: rules_auth<jwt_auth> refuses what the rules
// do not allow with `forbidden`, for every action; a refused publish takes no seq; a
// recovery cannot read a forbidden topic; a refusal says nothing about subscribers. And
// pubsub_server --rules FILE, as a process.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <switchboard/jwt.hpp>
#include <switchboard/jwt_auth.hpp>
#include <switchboard/rules_auth.hpp>

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#if defined(__linux__) && defined(SWITCHBOARD_PUBSUB_SERVER_PATH)
#include "hostile/server_process.hpp"
#define SWITCHBOARD_TEST_RUN_PUBSUB_SERVER 1
#endif

using namespace switchboard::test;
namespace sb = switchboard;

namespace {

using rules_test_server = basic_test_server<sb::policies<sb::rules_auth<sb::jwt_auth>>>;

const std::string secret = "socket test secret, thirty-two bytes or more";

const char* const rules_json = R"({
  "subscribe": [{"pattern": "user.{user}.>"}, {"pattern": "public.>"},
                {"pattern": "admin.>", "role": "admin"},
                {"pattern": "public.secret", "allow": false}],
  "publish": [{"pattern": "public.>"}, {"pattern": "user.{user}.>"}, {"pattern": "admin.>", "role": "admin"}],
  "direct": [{"pattern": "*"}, {"pattern": "ceo", "allow": false}],
  "command": [{"pattern": "ping"}, {"pattern": "server_info", "role": "admin"}]
})";

std::string token_for(const std::string& user, std::vector<std::string> roles = {}) {
  sb::jwt_claims claims;
  claims.subject = user;
  claims.roles = std::move(roles);
  claims.expires_at = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now() +
                                                                        std::chrono::hours(1));
  return sign_jwt(sb::jwt_key::hs256(secret), claims);
}

handshake_options with_token(const std::string& token) { return {"/ws?token=" + token, {}, {}, 0}; }

sb::rules_auth<sb::jwt_auth> rules_auth_from(const char* json) {
  auto loaded = sb::parse_access_rules(json);
  INFO(loaded.error);
  REQUIRE(loaded);
  return sb::rules_auth<sb::jwt_auth>{sb::jwt_auth{sb::jwt_verifier{sb::jwt_key::hs256(secret)}}, std::move(loaded.rules)};
}

// Sends `frame` and returns the next frame, which must be JSON.
rapidjson::Document ask(ws_test_client& c, std::string_view frame) {
  REQUIRE(c.send_text(frame));
  return c.recv_json();
}

// Sends `frame` and checks that the very next frame is error `forbidden` with `id`.
std::string expect_forbidden(ws_test_client& c, std::string_view frame, const char* id_json) {
  INFO("request: " << frame);
  const rapidjson::Document doc = ask(c, frame);
  INFO("answer: " << c.last_text());
  CHECK(str(doc, "type") == "error");
  CHECK(str(doc, "code") == "forbidden");
  REQUIRE(doc.HasMember("id"));
  CHECK(to_json(doc["id"]) == id_json);
  return c.last_text();
}

// Sends `frame` and checks that the answer is a success (`ack` or `result`) with `id`.
rapidjson::Document expect_success(ws_test_client& c, std::string_view frame) {
  INFO("request: " << frame);
  rapidjson::Document doc = ask(c, frame);
  INFO("answer: " << c.last_text());
  const std::string type = str(doc, "type");
  CHECK((type == "ack" || type == "result"));
  return doc;
}

// A round trip: nothing may be queued to `c` ahead of the pong.
void expect_nothing_queued(ws_test_client& c) {
  const rapidjson::Document pong = ask(c, R"({"type":"ping","id":"barrier"})");
  INFO("expected only the barrier's pong, got " << c.last_text());
  CHECK(str(pong, "type") == "pong");
}

}  // namespace

TEST_CASE("requests the rules do not allow answer forbidden, for every action", "[socket][rules]") {
  rules_test_server server(test_config(), {}, {}, rules_auth_from(rules_json));
  ws_test_client alice, root;
  CHECK(str(alice.open(server.port(), with_token(token_for("alice", {"member"}))), "user") == "alice");
  root.open(server.port(), with_token(token_for("root", {"admin"})));

  SECTION("subscribe") {
    expect_forbidden(alice, R"({"type":"subscribe","id":1,"topics":["admin.logs"]})", "1");
    expect_forbidden(alice, R"({"type":"subscribe","id":2,"topics":["user.bob.inbox"]})", "2");
    expect_forbidden(alice, R"({"type":"subscribe","id":3,"topics":["public.secret"]})", "3");
    // A pattern that could receive a denied topic, or one the allow does not cover.
    expect_forbidden(alice, R"({"type":"subscribe","id":4,"topics":["public.*"]})", "4");
    expect_forbidden(alice, R"({"type":"subscribe","id":5,"topics":[">"]})", "5");
    expect_forbidden(alice, R"({"type":"subscribe","id":6,"topics":["user.*.inbox"]})", "6");
    expect_forbidden(root, R"({"type":"subscribe","id":7,"topics":["public.secret"]})", "7");
    expect_success(alice, R"({"type":"subscribe","id":8,"topics":["public.news.*","user.alice.>"]})");
    expect_success(root, R"({"type":"subscribe","id":9,"topics":["admin.>"]})");

    // One refused topic refuses the whole request: the allowed one is not subscribed.
    expect_forbidden(alice, R"({"type":"subscribe","id":10,"topics":["public.chat","admin.logs"]})", "10");
    expect_success(root, R"({"type":"publish","id":11,"topic":"public.chat","data":1})");
    expect_nothing_queued(alice);
  }
  SECTION("publish, JSON and binary") {
    expect_forbidden(alice, R"({"type":"publish","id":1,"topic":"admin.news","data":1})", "1");
    expect_forbidden(alice, R"({"type":"publish","id":2,"topic":"elsewhere","data":1})", "2");
    expect_forbidden(alice, R"({"type":"publish","id":3,"topic":"user.bob.inbox","data":1})", "3");
    expect_success(alice, R"({"type":"publish","id":4,"topic":"user.alice.notes","data":1})");
    expect_success(root, R"({"type":"publish","id":5,"topic":"admin.news","data":1})");
    const std::string topic = "admin.news";
    REQUIRE(alice.send_binary(std::string("\x01", 1) + static_cast<char>(topic.size()) + topic + "payload"));
    const rapidjson::Document refused = alice.recv_json();
    CHECK(str(refused, "code") == "forbidden");
    CHECK(refused["id"].IsNull());
  }
  SECTION("history and presence need subscribe permission") {
    expect_forbidden(alice, R"({"type":"history","id":1,"topic":"admin.news"})", "1");
    expect_forbidden(alice, R"({"type":"presence","id":2,"topic":"admin.news"})", "2");
    expect_forbidden(alice, R"({"type":"history","id":3,"topic":"public.secret"})", "3");
    expect_forbidden(alice, R"({"type":"presence","id":4,"topic":"user.bob.inbox"})", "4");
    expect_success(alice, R"({"type":"history","id":5,"topic":"public.news"})");
    expect_success(alice, R"({"type":"presence","id":6,"topic":"user.alice.inbox"})");
    expect_success(root, R"({"type":"history","id":7,"topic":"admin.news"})");
  }
  SECTION("direct") {
    expect_forbidden(alice, R"({"type":"direct","id":1,"to":"ceo","data":"hi"})", "1");
    expect_success(alice, R"({"type":"direct","id":2,"to":"root","data":"hi"})");
    CHECK(str(root.recv_type("direct"), "from") == "alice");
  }
  SECTION("command") {
    expect_forbidden(alice, R"({"type":"command","id":1,"name":"server_info"})", "1");
    expect_forbidden(alice, R"({"type":"command","id":2,"name":"echo","params":{}})", "2");
    expect_success(alice, R"({"type":"command","id":3,"name":"ping"})");
    expect_success(root, R"({"type":"command","id":4,"name":"server_info"})");
  }
  // A refusal leaves the connection open and usable.
  expect_nothing_queued(alice);
}

TEST_CASE("{user} in a rule cannot be widened by a hostile user id", "[socket][rules]") {
  rules_test_server server(test_config(), {}, {}, rules_auth_from(rules_json));
  for (const char* id : {"*", ">", "a.b", "user.*"}) {
    INFO("user id " << id);
    ws_test_client c;
    CHECK(str(c.open(server.port(), with_token(token_for(id))), "user") == id);
    expect_forbidden(c, R"({"type":"subscribe","id":1,"topics":["user.*.inbox"]})", "1");
    expect_forbidden(c, R"({"type":"subscribe","id":2,"topics":["user.>"]})", "2");
    expect_forbidden(c, R"({"type":"subscribe","id":3,"topics":["user.a.b.inbox"]})", "3");
    expect_forbidden(c, R"({"type":"subscribe","id":4,"topics":["user.x.inbox"]})", "4");
    expect_forbidden(c, R"({"type":"publish","id":5,"topic":"user.a.b","data":1})", "5");
    expect_success(c, R"({"type":"subscribe","id":6,"topics":["public.news"]})");
  }
}

TEST_CASE("a refused publish takes no seq", "[socket][rules]") {
  rules_test_server server(test_config(), {}, {}, rules_auth_from(rules_json));
  ws_test_client alice, root;
  alice.open(server.port(), with_token(token_for("alice")));
  root.open(server.port(), with_token(token_for("root", {"admin"})));

  rapidjson::Document ack = expect_success(root, R"({"type":"publish","id":1,"topic":"admin.news","data":1})");
  CHECK(num(ack["data"], "seq") == 1);
  for (int i = 0; i < 3; ++i) expect_forbidden(alice, R"({"type":"publish","id":2,"topic":"admin.news","data":2})", "2");
  ack = expect_success(root, R"({"type":"publish","id":3,"topic":"admin.news","data":3})");
  CHECK(num(ack["data"], "seq") == 2);
  const rapidjson::Document history = expect_success(root, R"({"type":"history","id":4,"topic":"admin.news"})");
  CHECK(history["data"]["messages"].Size() == 2);
}

TEST_CASE("recovery with since on a forbidden topic replays nothing", "[socket][rules]") {
  rules_test_server server(test_config(), {}, {}, rules_auth_from(rules_json));
  ws_test_client alice, root;
  alice.open(server.port(), with_token(token_for("alice")));
  root.open(server.port(), with_token(token_for("root", {"admin"})));
  for (int i = 0; i < 3; ++i) expect_success(root, R"({"type":"publish","id":1,"topic":"admin.news","data":"private"})");

  // The error is the very next frame: no stored message came first.
  expect_forbidden(alice, R"({"type":"subscribe","id":"r","topics":["admin.news"],"since":{"admin.news":0}})", R"("r")");
  expect_forbidden(alice,
                   R"({"type":"subscribe","id":"s","topics":["public.news","admin.news"],"since":{"admin.news":{"seq":1}}})",
                   R"("s")");
  expect_nothing_queued(alice);
}

TEST_CASE("a refusal reads the same whether or not the topic has subscribers", "[socket][rules]") {
  rules_test_server server(test_config(), {}, {}, rules_auth_from(rules_json));
  ws_test_client alice, root;
  alice.open(server.port(), with_token(token_for("alice")));
  root.open(server.port(), with_token(token_for("root", {"admin"})));
  expect_success(root, R"({"type":"subscribe","id":1,"topics":["admin.busy"]})");
  expect_success(root, R"({"type":"publish","id":2,"topic":"admin.busy","data":1})");

  // `admin.busy` has a subscriber and a stored message; `admin.idle` has neither. The
  // answers differ only in the topic's name.
  for (const char* type : {"publish", "presence", "history", "subscribe"}) {
    INFO(type);
    const auto frame = [&](const std::string& topic) {
      return std::string(R"({"type":")") + type + R"(","id":7,)" +
             (std::string_view(type) == "subscribe" ? R"("topics":[")" + topic + "\"]" : R"("topic":")" + topic + "\"") +
             R"(,"data":1})";
    };
    std::string busy = expect_forbidden(alice, frame("admin.busy"), "7");
    const std::string idle = expect_forbidden(alice, frame("admin.idle"), "7");
    busy.replace(busy.find("admin.busy"), 10, "admin.idle");
    CHECK(busy == idle);
  }
}

#ifdef SWITCHBOARD_TEST_RUN_PUBSUB_SERVER
namespace {

// A file in the working directory, removed at the end of the scope.
struct temporary_file {
  std::string path = "test_rules_" + std::to_string(std::random_device{}()) + ".json";
  explicit temporary_file(const std::string& text) { std::ofstream(path, std::ios::binary) << text; }
  temporary_file(const temporary_file&) = delete;
  temporary_file& operator=(const temporary_file&) = delete;
  ~temporary_file() { std::remove(path.c_str()); }
};

struct process_outcome {
  int exit_status = -1;
  std::string error_output;
};

// Runs pubsub_server with `args` until it exits (it must, within 10 s), keeping its stderr.
process_outcome run_pubsub_server(std::vector<std::string> args) {
  int err[2];
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  args.insert(args.begin(), SWITCHBOARD_PUBSUB_SERVER_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(err[1], STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(err[1]);
  process_outcome outcome;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{err[0], POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char chunk[512];
    const ssize_t n = read(err[0], chunk, sizeof chunk);
    if (n <= 0) break;
    outcome.error_output.append(chunk, static_cast<std::size_t>(n));
  }
  close(err[0]);
  // Its stderr has closed; the exit follows.
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      FAIL("pubsub_server did not exit; stderr: " << outcome.error_output);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) outcome.exit_status = WEXITSTATUS(status);
  return outcome;
}

}  // namespace

TEST_CASE("pubsub_server --rules FILE enforces the rules; a bad file stops it with status 2", "[socket][rules][pubsub_server]") {
  SECTION("the rules apply to the demo auth's users") {
    const temporary_file rules(rules_json);
    hostile::server_process server(SWITCHBOARD_PUBSUB_SERVER_PATH, {{"--rules", rules.path}, 0});
    ws_test_client alice;
    alice.open(server.port(), {"/ws?token=alice", {}, {}, 0});
    expect_success(alice, R"({"type":"subscribe","id":1,"topics":["public.news","user.alice.>"]})");
    expect_forbidden(alice, R"({"type":"subscribe","id":2,"topics":["admin.logs"]})", "2");
    expect_forbidden(alice, R"({"type":"subscribe","id":3,"topics":[">"]})", "3");
    expect_forbidden(alice, R"({"type":"publish","id":4,"topic":"elsewhere","data":1})", "4");
    expect_forbidden(alice, R"({"type":"command","id":5,"name":"server_info"})", "5");
    CHECK(server.alive());
  }
  SECTION("a file that does not parse") {
    const temporary_file rules(R"({"subscribe": [{"pattern": "a"}, {"pattern": "a..b"}]})");
    const process_outcome outcome = run_pubsub_server({"--port", "0", "--rules", rules.path});
    CHECK(outcome.exit_status == 2);
    CHECK(outcome.error_output.find(rules.path + ": subscribe[1].pattern: \"a..b\" is not a valid pattern") !=
          std::string::npos);
  }
  SECTION("a file that cannot be read") {
    const process_outcome outcome = run_pubsub_server({"--port", "0", "--rules", "no/such/rules.json"});
    CHECK(outcome.exit_status == 2);
    CHECK(outcome.error_output.find("no/such/rules.json: cannot be opened") != std::string::npos);
  }
}
#endif
