// GET /metrics over real HTTP: the Prometheus exposition passes `promtool check
// metrics` (Debian package prometheus) and its numbers follow what clients did.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

using namespace switchboard::test;

namespace {

// The value of the sample line that starts with `series` (name and labels exactly).
double sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line))
    if (line.compare(0, series.size() + 1, series + " ") == 0) return std::stod(line.substr(series.size() + 1));
  FAIL("no sample " << series << " in:\n" << exposition);
  return -1;
}

struct promtool_result {
  int status = -1;
  std::string output;
};

promtool_result promtool_check(const std::string& exposition) {
  char path[] = "/tmp/switchboard-metrics-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, exposition.data(), exposition.size()) == static_cast<ssize_t>(exposition.size()));
  close(fd);
  const std::string command = std::string("promtool check metrics < ") + path + " 2>&1";
  promtool_result result;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[512];
    std::size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
    result.status = pclose(pipe);
  }
  std::remove(path);
  return result;
}

}  // namespace

TEST_CASE("/metrics: Prometheus text that promtool accepts, with the hub's numbers", "[socket][metrics]") {
  basic_test_server<switchboard::policies<strict_auth>> server;
  ws_test_client alice, bob;
  alice.open(server.port(), {"/ws?token=alice", {}, {}, 0});
  bob.open(server.port(), {"/ws?token=bob", {}, {}, 0});
  REQUIRE(alice.send_text(R"({"type":"subscribe","id":1,"topics":["room.1","room.*"]})"));
  REQUIRE(str(alice.recv_json(), "type") == "ack");
  for (int i = 0; i < 3; ++i) {
    REQUIRE(bob.send_text(R"({"type":"publish","id":2,"topic":"room.1","data":{"i":1}})"));
    REQUIRE(str(bob.recv_json(), "type") == "ack");
    REQUIRE(str(alice.recv_json(), "type") == "message");
  }
  REQUIRE(bob.send_text(R"({"type":"subscribe","id":3,"topics":["secret.x"]})"));
  REQUIRE(str(bob.recv_json(), "code") == "forbidden");
  REQUIRE(bob.send_text("not json"));
  REQUIRE(str(bob.recv_json(), "code") == "bad_json");
  ws_test_client refused;
  REQUIRE(refused.connect(server.port(), {"/ws?token=bad", {}, {}, 0}).status == 401);

  const http_result r = http_request(server.port(), "GET", "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& m = r.body;
  INFO(m);

  CHECK(sample(m, "switchboard_connections") == 2);
  CHECK(sample(m, "switchboard_users") == 2);
  CHECK(sample(m, "switchboard_subscriptions") == 2);
  CHECK(sample(m, "switchboard_publishes_total") >= 3);  // presence events are publishes too
  CHECK(sample(m, "switchboard_messages_in_total{type=\"publish\"}") == 3);
  CHECK(sample(m, "switchboard_messages_in_total{type=\"subscribe\"}") == 2);
  CHECK(sample(m, "switchboard_messages_in_total{type=\"invalid\"}") == 1);
  CHECK(sample(m, "switchboard_deliveries_total") >= 3);
  CHECK(sample(m, "switchboard_messages_out_total{type=\"error\"}") == 2);
  CHECK(sample(m, "switchboard_forbidden_total") == 1);
  CHECK(sample(m, "switchboard_auth_failures_total{stage=\"handshake\"}") == 1);
  CHECK(sample(m, "switchboard_fan_out_duration_seconds_count") == sample(m, "switchboard_publishes_total"));
  CHECK(sample(m, "switchboard_fan_out_duration_seconds_bucket{le=\"+Inf\"}") ==
        sample(m, "switchboard_fan_out_duration_seconds_count"));
  CHECK(sample(m, "switchboard_flush_duration_seconds_count") > 0);

  const promtool_result check = promtool_check(m);
  INFO("promtool: " << check.output);
  CHECK(check.status == 0);
  CHECK(check.output.empty());
}
