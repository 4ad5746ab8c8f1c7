// Limits of the websocketpp transport over real sockets: ping floods, old handshake
// drafts, max_connections, running out of descriptors, pongs outstanding at a peer's
// close, framing and UTF-8 at the end of fragmented messages, what an auth policy sees.
// Each attack is followed by a check that a bystander subscriber is still served.
#include "support/test_server.hpp"
#include "support/ws_test_client.hpp"

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>
#include <arpa/inet.h>

using namespace switchboard;
using namespace switchboard::test;
using detail::ws_opcode;

namespace {

// A subscriber and a publisher on topic `watch`: after an attack, `check` publishes and
// expects every message, in order, at the subscriber.
class bystander {
 public:
  void start(std::uint16_t port) {
    subscriber_.open(port);
    subscriber_.send_text(R"({"type":"subscribe","id":1,"topics":["watch"]})");
    subscriber_.recv_type("ack");
    publisher_.open(port);
  }

  void check(int count = 5) {
    for (int i = 0; i < count; ++i) {
      const int n = next_++;
      REQUIRE(publisher_.send_text(R"({"type":"publish","id":)" + std::to_string(n) +
                                   R"(,"topic":"watch","data":{"n":)" + std::to_string(n) + "}}"));
      publisher_.recv_type("ack");
    }
    for (int i = 0; i < count; ++i) {
      const rapidjson::Document m = subscriber_.recv_type("message");
      CHECK(str(m, "topic") == "watch");
      const std::uint64_t seq = num(m, "seq");
      CHECK(seq > last_seq_);
      last_seq_ = seq;
      REQUIRE(m.HasMember("data"));
      CHECK(num(m["data"], "n") == static_cast<std::uint64_t>(next_ - count + i));
    }
  }

 private:
  ws_test_client subscriber_;
  ws_test_client publisher_;
  int next_ = 1;
  std::uint64_t last_seq_ = 0;
};

std::string valid_key() { return "dGhlIHNhbXBsZSBub25jZQ=="; }

std::string upgrade_request(std::uint16_t port, const std::string& extra) {
  return "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + extra + "\r\n";
}

// A header-only frame with a chosen length form: `form` 126 or 127 encodes `payload`'s
// length in 2 or 8 bytes even when it would fit in 7 bits.
std::string frame_with_length_form(ws_opcode opcode, std::string_view payload, unsigned form) {
  std::string wire;
  wire.push_back(static_cast<char>(0x80u | static_cast<unsigned>(opcode)));
  wire.push_back(static_cast<char>(0x80u | form));
  const std::size_t bytes = form == 126 ? 2 : 8;
  for (std::size_t i = bytes; i-- > 0;) wire.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xFFu));
  const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
  wire.append(reinterpret_cast<const char*>(key), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    wire.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ key[i % 4]));
  return wire;
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (readdir(dir)) ++n;
    closedir(dir);
  }
  return n;
}

int highest_descriptor() {
  int highest = 2;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (const dirent* entry = readdir(dir)) highest = std::max(highest, std::atoi(entry->d_name));
    closedir(dir);
  }
  return highest;
}

// Lowers RLIMIT_NOFILE and takes every descriptor left but `spare`; the destructor gives
// them back and restores the limit.
class descriptor_exhaustion {
 public:
  explicit descriptor_exhaustion(int headroom) {
    REQUIRE(getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(highest_descriptor() + headroom);
    REQUIRE(setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    restore_ = true;
    for (;;) {
      const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      taken_.push_back(fd);
    }
    REQUIRE(errno == EMFILE);
  }
  descriptor_exhaustion(const descriptor_exhaustion&) = delete;
  descriptor_exhaustion& operator=(const descriptor_exhaustion&) = delete;
  ~descriptor_exhaustion() { release(); }

  /// Gives one descriptor back (for the caller to use at once).
  void free_one() {
    REQUIRE_FALSE(taken_.empty());
    ::close(taken_.back());
    taken_.pop_back();
  }

  void release() {
    for (int fd : taken_) ::close(fd);
    taken_.clear();
    if (restore_) setrlimit(RLIMIT_NOFILE, &saved_);
    restore_ = false;
  }

 private:
  rlimit saved_{};
  bool restore_ = false;
  std::vector<int> taken_;
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

TEST_CASE("a ping flood from a client that never reads gets at most one pending pong", "[socket][transport-limits]") {
  test_server server;
  bystander watch;
  watch.start(server.port());

  ws_test_client flooder;
  flooder.open(server.port());
  // Small frames: websocketpp's 1 KiB reads then hold ~170 pings each, so an answer to
  // every ping and an answer per read differ by two orders of magnitude.
  constexpr std::size_t pings = 200000;
  std::string flood;
  flood.reserve(pings * 6 + 16);
  for (std::size_t i = 0; i + 1 < pings; ++i) flood += flooder.encode_frame(ws_opcode::ping, {});
  flood += flooder.encode_frame(ws_opcode::ping, "last");
  REQUIRE(flooder.send_raw(flood, std::chrono::seconds(60)));

  watch.check();

  std::size_t pongs = 0;
  bool saw_last = false;
  const read_status status = flooder.read_frames(
      [&](const detail::ws_frame& f) {
        if (f.opcode != ws_opcode::pong) return false;
        ++pongs;
        saw_last = f.payload == "last";
        return saw_last;
      },
      std::chrono::seconds(30));
  CHECK(status == read_status::message);
  CHECK(saw_last);  // the latest ping is always answered
  INFO("pongs received: " << pongs);
  CHECK(pongs < pings / 10);

  // The flooder itself is still served.
  flooder.send_text(R"({"type":"ping","id":7})");
  flooder.recv_type("pong");
  watch.check();
}

TEST_CASE("only RFC 6455 handshakes are accepted", "[socket][transport-limits]") {
  test_server server;
  bystander watch;
  watch.start(server.port());
  const std::uint16_t port = server.port();

  SECTION("a version 13 handshake with a good key opens") {
    const http_result r =
        raw_http_exchange(port, upgrade_request(port, "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + valid_key() + "\r\n"));
    CHECK(r.status == 101);
  }
  SECTION("a version other than 13, or none, gets 426 with Sec-WebSocket-Version: 13") {
    for (const std::string version : {"", "Sec-WebSocket-Version: 8\r\n", "Sec-WebSocket-Version: 7\r\n",
                                      "Sec-WebSocket-Version: 12\r\n", "Sec-WebSocket-Version: x\r\n",
                                      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n"}) {
      INFO("version header: " << version);
      const http_result r = raw_http_exchange(port, upgrade_request(port, version + "Sec-WebSocket-Key: " + valid_key() + "\r\n"));
      CHECK(r.status == 426);
      CHECK(r.header("Sec-WebSocket-Version") == "13");
    }
  }
  SECTION("a missing, empty, malformed or repeated key gets 400") {
    for (const std::string& key :
         {std::string(), std::string("Sec-WebSocket-Key: \r\n"),
          std::string("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n"),        // no padding
          std::string("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n"),          // 15 bytes
          std::string("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZWE=\r\n"),      // 17 bytes
          std::string("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n"),      // not canonical
          std::string("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2!jZQ==\r\n"),      // not base64
          "Sec-WebSocket-Key: " + valid_key() + "\r\nSec-WebSocket-Key: " + valid_key() + "\r\n"}) {
      INFO("key header: " << key);
      const http_result r = raw_http_exchange(port, upgrade_request(port, "Sec-WebSocket-Version: 13\r\n" + key));
      CHECK(r.status == 400);
    }
  }
  SECTION("hixie-76 is refused, with its 8-byte body in the same read or a later one") {
    const std::string head = "GET /ws HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: 127.0.0.1:" +
                             std::to_string(port) +
                             "\r\nOrigin: http://127.0.0.1\r\nSec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n"
                             "Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\n\r\n";
    const std::string key3 = "^n:ds[4U";
    const http_result together = raw_http_exchange(port, head + key3);
    CHECK(together.status == 426);
    CHECK(together.header("Sec-WebSocket-Version") == "13");
    const http_result split = raw_http_exchange(port, head, key3, std::chrono::milliseconds(500));
    CHECK(split.status == 426);
  }
  watch.check();
}

TEST_CASE("max_connections: the next upgrade gets 503, the others are served", "[socket][transport-limits]") {
  auto cfg = test_config();
  cfg.max_connections = 3;
  test_server server(cfg);
  bystander watch;  // two connections
  watch.start(server.port());
  {
    ws_test_client third;
    third.open(server.port());
    ws_test_client fourth;
    const handshake_result refused = fourth.connect(server.port());
    CHECK(refused.status == 503);
    watch.check();
    third.disconnect();
  }
  REQUIRE(server.wait_until([](auto&, server_under_test& s) { return s.connection_count() == 2; }));
  ws_test_client again;
  again.open(server.port());
  watch.check();
}

TEST_CASE("out of file descriptors the accept loop waits instead of spinning, and resumes", "[socket][transport-limits]") {
  std::atomic<std::size_t> log_lines{0};
  test_server server(test_config(), {}, [&log_lines](auto& hub, auto&) {
    hub.set_log_hook(log_level::warn, [&log_lines](const log_record& r) {
      if (r.event == "accept_failed") ++log_lines;
    });
  });
  bystander watch;
  watch.start(server.port());
  const std::uint16_t port = server.port();

  int waiting = -1;  // a connection the server cannot accept while descriptors are out
  {
    descriptor_exhaustion exhausted(32);
    exhausted.free_one();
    waiting = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(waiting >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(waiting, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);

    // Let the server meet the error, then watch its thread over a window.
    REQUIRE(server.wait_until([&](auto&, server_under_test&) { return log_lines.load() > 0; }));
    const auto cpu = [&] { return server.call([](auto&, server_under_test&) { return thread_cpu_seconds(); }); };
    const std::size_t lines_before = log_lines.load();
    const double cpu_before = cpu();
    const auto wall_before = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a measuring window, not a wait for an event
    const double cpu_used = cpu() - cpu_before;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
    const std::size_t failure_records = log_lines.load() - lines_before;
    INFO("server thread CPU " << cpu_used << " s over " << wall << " s; " << failure_records << " log records");
    CHECK(cpu_used < 0.5 * wall);
    // At most one failure per accept_retry_delay, and the log holds at most a few of them.
    CHECK(failure_records <= detail::log_limit::per_window);

    watch.check();  // connections already open are served meanwhile
  }
  // Descriptors are back: accepting resumes.
  ws_test_client late;
  late.open(port);
  ::close(waiting);
  watch.check();
}

TEST_CASE("a peer that leaves with a ping outstanding is released at once", "[socket][transport-limits]") {
  auto cfg = test_config();
  cfg.ping_interval = std::chrono::milliseconds(50);
  cfg.ping_timeout = std::chrono::seconds(30);  // longer than every deadline below
  test_server server(cfg);
  bystander watch;
  watch.start(server.port());
  const std::size_t descriptors = open_descriptors();
  {
    ws_test_client peer;
    peer.auto_pong = false;
    peer.open(server.port());
    const read_status pinged = peer.read_frames([](const detail::ws_frame& f) { return f.opcode == ws_opcode::ping; });
    REQUIRE(pinged == read_status::message);
    peer.disconnect();
  }
  CHECK(server.wait_until([](auto&, server_under_test& s) { return s.connection_count() == 2; }, std::chrono::seconds(3)));
  // The server's socket for the peer is closed, not held until the pong deadline.
  CHECK(server.wait_until([&](auto&, server_under_test&) { return open_descriptors() <= descriptors; },
                          std::chrono::seconds(3)));
  watch.check();
  // Nothing of the peer keeps the io_context busy: shutdown completes promptly.
  server.shutdown();
  CHECK(server.wait_stopped(std::chrono::seconds(3)));
}

TEST_CASE("a length not minimally encoded closes with 1002", "[socket][transport-limits]") {
  test_server server;
  bystander watch;
  watch.start(server.port());
  for (const unsigned form : {126u, 127u}) {
    INFO("length form " << form);
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_raw(frame_with_length_form(ws_opcode::text, R"({"type":"ping"})", form)));
    CHECK(c.expect_close() == 1002);
  }
  watch.check();
}

TEST_CASE("a fragmented text message ending inside a UTF-8 sequence closes with 1007", "[socket][transport-limits]") {
  test_server server;
  bystander watch;
  watch.start(server.port());
  for (const std::string& unfinished : {std::string("\xC3"), std::string("\xE2\x82"), std::string("\xF0\x9F\x98")}) {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_frame(ws_opcode::text, R"({"type":"ping","id":")", false));
    REQUIRE(c.send_frame(ws_opcode::continuation, "x\"}" + unfinished, true));
    CHECK(c.expect_close() == 1007);
  }
  SECTION("a character split across fragments is fine") {
    ws_test_client c;
    c.open(server.port());
    REQUIRE(c.send_frame(ws_opcode::text, "{\"type\":\"ping\",\"id\":\"\xC3", false));
    REQUIRE(c.send_frame(ws_opcode::continuation, "\xA9\"}", true));
    const rapidjson::Document pong = c.recv_type("pong");
    CHECK(str(pong, "id") == "\xC3\xA9");
  }
  watch.check();
}

namespace {
struct seen_handshake {
  std::mutex mutex;
  std::map<std::string, std::string> fields;
};

// Records what it is shown and accepts everyone.
struct recording_auth {
  std::shared_ptr<seen_handshake> seen = std::make_shared<seen_handshake>();
  auth_result authenticate(const handshake_info& h) const {
    std::lock_guard<std::mutex> lock(seen->mutex);
    auto& f = seen->fields;
    f["token"] = std::string(h.token);
    f["origin"] = std::string(h.origin);
    f["remote"] = std::string(h.remote);
    f["path"] = std::string(h.path);
    f["query"] = std::string(h.query);
    f["callable"] = h.header ? "yes" : "no";
    if (h.header) {
      f["x-custom"] = std::string(h.header("x-custom"));
      f["X-Other"] = std::string(h.header("X-Other"));
      f["user-agent"] = std::string(h.header("User-Agent"));
      f["absent"] = std::string(h.header("X-Absent"));
    }
    return auth_result::accept(std::nullopt);
  }
  bool authorize(const identity&, action, std::string_view) const { return true; }
};
}  // namespace

TEST_CASE("the auth policy sees the whole handshake, headers included", "[socket][transport-limits]") {
  recording_auth auth;
  const auto seen = auth.seen;
  basic_test_server<policies<recording_auth>> server(test_config(), {}, {}, auth);
  ws_test_client c;
  c.open(server.port(), {"/ws?token=t1&room=5", {"Origin: https://a.example", "X-Custom: alpha beta", "x-other: gamma",
                                                  "User-Agent: test/1"}, {}, 0});
  std::lock_guard<std::mutex> lock(seen->mutex);
  auto& f = seen->fields;
  CHECK(f["token"] == "t1");
  CHECK(f["origin"] == "https://a.example");
  CHECK(f["remote"].find("127.0.0.1") != std::string::npos);
  CHECK(f["path"] == "/ws");
  CHECK(f["query"] == "token=t1&room=5");
  REQUIRE(f["callable"] == "yes");
  CHECK(f["x-custom"] == "alpha beta");
  CHECK(f["X-Other"] == "gamma");
  CHECK(f["user-agent"] == "test/1");
  CHECK(f["absent"].empty());
}
