// Load generator for switchboard's benchmarks: fan-out, idle connections, round trip
// and overload, against any server speaking the subscribe / publish / message subset
// of the protocol.
//
// Everything runs on one thread with one io_context, on raw sockets with its own
// WebSocket framing, so the generator stays cheaper per message than the servers it
// measures. Publish -> receive latency comes from a steady-clock timestamp the
// publisher puts in each payload ("t", nanoseconds); publisher and subscribers live
// in this process, so they share that clock.
//
// It prints a human-readable report, then one JSON line with every figure.
// Run with --help for the options.

#include "support/websocket_codec.hpp"

#include <asio.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace ws = switchboard::detail;
using clock_type = std::chrono::steady_clock;
using asio::ip::tcp;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count();
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

clock_type::duration from_seconds(double s) {
  return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(s));
}

// xorshift64*: mask keys and handshake nonces need to vary, not to be secret.
class fast_random {
 public:
  explicit fast_random(std::uint64_t seed) : state_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }

 private:
  std::uint64_t state_;
};

// ---------------------------------------------------------------------------
// Options

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9002;
  std::string path = "/ws";
  std::string mode = "fanout";
  std::string subprotocol;  // offered when set
  long subscribers = -1;    // -1: the mode's default
  double rate = -1;
  double seconds = -1;
  long payload_bytes = 64;
  long connections = 10000;
  double hold = -1;
  bool shared_topic = false;
  bool sweep = false;
  double sweep_start = 100;
  double sweep_factor = 2;
  int sweep_refine = 3;
  double sweep_max_rate = 100000;
  double sweep_p99_ms = 50;
  double sweep_min_ratio = 0.99;
  long publishers = -1;  // -1: the mode's default
  long window = 100;
  long slow = 10;
  long slow_rcvbuf = 4096;
  double warmup = 1;
  double drain = 3;
  double connect_timeout = 120;
  long connect_batch = 200;
  long server_pid = 0;
  long rss_cap_mb = 4096;
  std::string topic = "bench";
};

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: loadgen --mode fanout|idle|rtt|overload|persist [options]\n"
               "  --host H (127.0.0.1) --port N (9002) --path P (/ws) --subprotocol NAME\n"
               "  --subscribers N    fanout 1000, rtt 1, overload 10 (healthy ones)\n"
               "  --rate R           publishes/s: fanout 1000, rtt 1000\n"
               "  --seconds S        measured time: fanout 5, rtt 10, overload 5 (per step with --sweep)\n"
               "  --payload-bytes B  size of each publish's data (64)\n"
               "  --warmup S         latency of the first S seconds is not recorded (1)\n"
               "  --drain S          longest wait for late deliveries after publishing (3)\n"
               "  --sweep            fanout: raise the rate until a step fails, report the best\n"
               "  --sweep-start R (100) --sweep-factor F (2) --sweep-refine N (3) --sweep-max-rate R (100000)\n"
               "  --connections N    idle: connections to open (10000)\n"
               "  --hold S           idle: seconds to hold them (5); overload: recovery seconds (5)\n"
               "  --shared-topic     idle: all subscribe to one topic instead of one each\n"
               "  --publishers N     overload: publishers pushing as fast as they can (8); persist: (4)\n"
               "  --window N         persist: publishes each publisher keeps unacknowledged (100)\n"
               "  --slow N           overload: subscribers that stop reading (10)\n"
               "  --slow-rcvbuf B    overload: their socket receive buffer (4096)\n"
               "  --server-pid PID   sample the server's VmRSS / VmHWM from /proc\n"
               "  --rss-cap-mb M     overload: stop publishing, and reset the publishers, once the server's\n"
               "                     RSS exceeds M (4096; 0: no cap)\n"
               "  --connect-batch N  connections being set up at once (200)\n"
               "  --topic T          topic prefix (bench)\n");
}

bool parse_options(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    }
    if (arg == "--sweep") {
      o.sweep = true;
      continue;
    }
    if (arg == "--shared-topic") {
      o.shared_topic = true;
      continue;
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    const bool numeric = end && *end == '\0' && !value.empty() && std::isfinite(number) && number >= 0;
    auto as_long = [&](long& out) {
      if (!numeric) return false;
      out = static_cast<long>(number);
      return true;
    };
    auto as_double = [&](double& out) {
      if (!numeric) return false;
      out = number;
      return true;
    };
    bool ok = true;
    if (arg == "--host") {
      o.host = value;
    } else if (arg == "--port") {
      ok = numeric && number <= 65535;
      o.port = static_cast<std::uint16_t>(number);
    } else if (arg == "--path") {
      o.path = value;
    } else if (arg == "--mode") {
      o.mode = value;
      ok = value == "fanout" || value == "idle" || value == "rtt" || value == "overload" || value == "persist";
    } else if (arg == "--subprotocol") {
      o.subprotocol = value;
    } else if (arg == "--topic") {
      o.topic = value;
    } else if (arg == "--subscribers") {
      ok = as_long(o.subscribers);
    } else if (arg == "--rate") {
      ok = as_double(o.rate);
    } else if (arg == "--seconds") {
      ok = as_double(o.seconds);
    } else if (arg == "--payload-bytes") {
      ok = as_long(o.payload_bytes);
    } else if (arg == "--connections") {
      ok = as_long(o.connections);
    } else if (arg == "--hold") {
      ok = as_double(o.hold);
    } else if (arg == "--sweep-start") {
      ok = as_double(o.sweep_start) && o.sweep_start > 0;
    } else if (arg == "--sweep-factor") {
      ok = as_double(o.sweep_factor) && o.sweep_factor > 1;
    } else if (arg == "--sweep-refine") {
      long n = 0;
      ok = as_long(n);
      o.sweep_refine = static_cast<int>(std::min(n, 10L));
    } else if (arg == "--sweep-max-rate") {
      ok = as_double(o.sweep_max_rate);
    } else if (arg == "--window") {
      ok = as_long(o.window) && o.window > 0 && o.window <= 100000;
    } else if (arg == "--publishers") {
      ok = as_long(o.publishers);
    } else if (arg == "--slow") {
      ok = as_long(o.slow);
    } else if (arg == "--slow-rcvbuf") {
      ok = as_long(o.slow_rcvbuf);
    } else if (arg == "--warmup") {
      ok = as_double(o.warmup);
    } else if (arg == "--drain") {
      ok = as_double(o.drain);
    } else if (arg == "--connect-batch") {
      ok = as_long(o.connect_batch) && o.connect_batch > 0;
    } else if (arg == "--server-pid") {
      ok = as_long(o.server_pid);
    } else if (arg == "--rss-cap-mb") {
      ok = as_long(o.rss_cap_mb);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "loadgen: bad option %s %s\n", arg.c_str(), value.c_str());
      return false;
    }
  }
  const bool fanout = o.mode == "fanout";
  const bool rtt = o.mode == "rtt";
  if (o.subscribers < 0) o.subscribers = fanout ? 1000 : rtt ? 1 : 10;
  if (o.rate < 0) o.rate = 1000;
  if (o.seconds < 0) o.seconds = rtt ? 10 : 5;
  if (o.hold < 0) o.hold = 5;
  if (o.publishers < 0) o.publishers = o.mode == "persist" ? 4 : 8;
  // Bounded in time whatever is asked.
  o.seconds = std::min(o.seconds, 600.0);
  o.hold = std::min(o.hold, 600.0);
  o.drain = std::min(o.drain, 60.0);
  o.payload_bytes = std::min(o.payload_bytes, 1L << 20);
  return true;
}

// ---------------------------------------------------------------------------
// Latency histogram: 1 µs buckets below 100 ms, 1 ms buckets up to 120 s.

class latency_histogram {
 public:
  latency_histogram() : fine_(fine_buckets, 0), coarse_(coarse_buckets, 0) {}

  void record(std::int64_t ns) {
    if (ns < 0) ns = 0;
    ++count_;
    max_ns_ = std::max(max_ns_, ns);
    const auto us = static_cast<std::uint64_t>(ns / 1000);
    if (us < fine_buckets) {
      ++fine_[us];
    } else {
      ++coarse_[std::min<std::uint64_t>(static_cast<std::uint64_t>(ns / 1000000), coarse_buckets - 1)];
    }
  }

  void reset() {
    std::fill(fine_.begin(), fine_.end(), 0);
    std::fill(coarse_.begin(), coarse_.end(), 0);
    count_ = 0;
    max_ns_ = 0;
  }

  std::uint64_t count() const { return count_; }
  double max_ms() const { return static_cast<double>(max_ns_) / 1e6; }

  /// The latency below which a fraction `q` of the samples lie, in milliseconds
  /// (upper edge of the bucket); 0 without samples.
  double percentile_ms(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < fine_.size(); ++i) {
      seen += fine_[i];
      if (seen >= rank && seen > 0) return std::min(static_cast<double>(i + 1) / 1000.0, max_ms());
    }
    for (std::size_t i = 0; i < coarse_.size(); ++i) {
      seen += coarse_[i];
      if (seen >= rank && seen > 0) return std::min(static_cast<double>(i + 1), max_ms());
    }
    return max_ms();
  }

 private:
  static constexpr std::size_t fine_buckets = 100000;
  static constexpr std::size_t coarse_buckets = 120000;
  std::vector<std::uint64_t> fine_;
  std::vector<std::uint64_t> coarse_;
  std::uint64_t count_ = 0;
  std::int64_t max_ns_ = 0;
};

// ---------------------------------------------------------------------------
// Reading server frames: cheap scans, enough for the frames the servers build.

// The value of the top-level "type" member ("message", "ack", ...), empty if none. Every
// server measured here writes it first, so that case costs one comparison; anything
// else falls back to a search.
std::string_view frame_type(std::string_view text) {
  constexpr std::string_view leading = R"({"type":")";
  std::size_t p;
  if (text.substr(0, leading.size()) == leading) {
    p = leading.size() - 1;
  } else {
    const std::size_t key = text.find("\"type\"");
    if (key == std::string_view::npos) return {};
    p = key + 6;
    while (p < text.size() && (text[p] == ' ' || text[p] == ':')) ++p;
    if (p >= text.size() || text[p] != '"') return {};
  }
  const std::size_t end = text.find('"', p + 1);
  if (end == std::string_view::npos) return {};
  return text.substr(p + 1, end - p - 1);
}

// The publisher's timestamp: the integer after "t": inside "data"; -1 if absent.
// `hint` remembers where the last frame had it: a server lays out its deliveries alike,
// so the next one is usually there (checked, else searched). Searching every frame was
// half of the client's CPU at millions of deliveries per second.
std::int64_t frame_timestamp(std::string_view text, std::size_t& hint) {
  constexpr std::string_view key = R"("t":)";
  std::size_t p = hint;
  if (text.compare(p < text.size() ? p : text.size(), key.size(), key) != 0) {
    p = text.find("\"data\"");
    if (p == std::string_view::npos) return -1;
    p = text.find(key, p);
    if (p == std::string_view::npos) return -1;
    hint = p;
  }
  p += key.size();
  while (p < text.size() && text[p] == ' ') ++p;
  std::int64_t value = 0;
  const std::size_t start = p;
  while (p < text.size() && text[p] >= '0' && text[p] <= '9') value = value * 10 + (text[p++] - '0');
  return p > start ? value : -1;
}

// ---------------------------------------------------------------------------
// Server memory, from /proc/PID/status.

struct memory_sample {
  long rss_kb = -1;
  long hwm_kb = -1;
};

memory_sample sample_memory(long pid) {
  memory_sample m;
  if (pid <= 0) return m;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, 6, "VmRSS:") == 0) m.rss_kb = std::strtol(line.c_str() + 6, nullptr, 10);
    if (line.compare(0, 6, "VmHWM:") == 0) m.hwm_kb = std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return m;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// ---------------------------------------------------------------------------
// One client WebSocket connection.

enum class role : std::uint8_t { subscriber, slow_subscriber, publisher };

class connection;

class connection_events {
 public:
  virtual void on_open(connection&) = 0;
  virtual void on_text(connection&, std::string_view text, std::int64_t received_ns) = 0;
  virtual void on_drained(connection&) {}
  virtual void on_closed(connection&) = 0;

 protected:
  ~connection_events() = default;
};

class connection {
 public:
  enum class state : std::uint8_t { idle, connecting, handshaking, open, closed };

  connection(asio::io_context& io, connection_events& events, fast_random& random, role kind,
             std::size_t read_chunk)
      : socket_(io), events_(events), random_(random), reader_(read_chunk), read_chunk_(read_chunk), kind_(kind) {}

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Connects, sends the opening handshake and starts reading. `receive_buffer` > 0
  /// shrinks SO_RCVBUF before connecting (a slow consumer's small window).
  void start(const tcp::endpoint& endpoint, std::string_view host_header, std::string_view path,
             std::string_view extra_headers, int receive_buffer) {
    state_ = state::connecting;
    asio::error_code ec;
    socket_.open(endpoint.protocol(), ec);
    if (!ec && receive_buffer > 0) socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer), ec);
    if (ec) {
      // Reported from the loop, not from inside the caller's own pump.
      asio::post(socket_.get_executor(), [this, ec] { fail("socket: " + ec.message()); });
      return;
    }
    unsigned char nonce[16];
    for (int i = 0; i < 2; ++i) {
      const std::uint64_t r = random_.next();
      std::memcpy(nonce + 8 * i, &r, 8);
    }
    key_ = ws::ws_client_key(nonce);
    std::string request = ws::ws_client_handshake(host_header, path, key_, extra_headers);
    socket_.async_connect(endpoint, [this, request = std::move(request)](const asio::error_code& error) mutable {
      if (state_ == state::closed) return;
      if (error) {
        fail("connect: " + error.message());
        return;
      }
      asio::error_code ignored;
      socket_.set_option(tcp::no_delay(true), ignored);
      state_ = state::handshaking;
      pending_ = std::move(request);
      flush();
      read();
    });
  }

  /// Appends a masked text frame to the write buffer; `flush()` sends it.
  void queue_text(std::string_view text) { queue_frame(ws::ws_opcode::text, text); }

  void flush() {
    if (writing_ || pending_.empty() || (state_ != state::open && state_ != state::handshaking)) return;
    std::swap(pending_, inflight_);
    pending_.clear();
    writing_ = true;
    asio::async_write(socket_, asio::buffer(inflight_), [this](const asio::error_code& error, std::size_t) {
      writing_ = false;
      inflight_.clear();
      if (state_ == state::closed) return;
      if (error) {
        fail("write: " + error.message());
        return;
      }
      flush();
      if (!writing_ && state_ == state::open) events_.on_drained(*this);
    });
  }

  /// Bytes queued or being written.
  std::size_t write_backlog() const { return pending_.size() + inflight_.size(); }

  /// Stops reading from the socket (after what is already buffered), so the
  /// server's writes back up.
  void pause_reading() { paused_ = true; }

  void resume_reading() {
    paused_ = false;
    if (!reading_ && state_ != state::closed && state_ != state::idle && state_ != state::connecting) read();
  }

  /// Closes at once with a reset, leaving no TIME_WAIT behind.
  void abort() {
    if (socket_.is_open()) {
      asio::error_code ignored;
      socket_.set_option(asio::socket_base::linger(true, 0), ignored);
      socket_.close(ignored);
    }
    state_ = state::closed;
  }

  state current_state() const { return state_; }
  role kind() const { return kind_; }
  const std::string& close_reason() const { return close_reason_; }

  // Bookkeeping owned by the scenario.
  bool ready = false;  // subscribed (subscribers) or open (publishers)
  bool lost = false;   // closed after being ready
  std::uint64_t delivered = 0;
  std::string topic;
  // persist: publishes sent with ids 0, 1, ..., their send times by id % window.
  std::uint64_t next_id = 0;
  std::size_t unacknowledged = 0;
  std::vector<std::int64_t> sent_ns;

 private:
  void queue_frame(ws::ws_opcode opcode, std::string_view payload) {
    unsigned char key[4];
    const auto r = static_cast<std::uint32_t>(random_.next());
    std::memcpy(key, &r, 4);
    unsigned char header[ws::max_ws_header_size];
    const std::size_t header_size = ws::write_ws_header(header, opcode, payload.size(), key);
    const std::size_t at = pending_.size();
    pending_.append(reinterpret_cast<const char*>(header), header_size);
    pending_.append(payload.data(), payload.size());
    ws::mask_ws_payload(reinterpret_cast<unsigned char*>(&pending_[at + header_size]), payload.size(), key);
  }

  void read() {
    if (state_ == state::closed) return;
    if (paused_) return;
    reading_ = true;
    unsigned char* space = reader_.prepare(read_chunk_);
    socket_.async_read_some(asio::buffer(space, reader_.writable()),
                            [this](const asio::error_code& error, std::size_t size) { on_read(error, size); });
  }

  void on_read(const asio::error_code& error, std::size_t size) {
    reading_ = false;
    if (state_ == state::closed) return;
    if (error) {
      fail(error == asio::error::eof ? std::string(close_code_ ? "close " + std::to_string(close_code_) : "eof")
                                     : "read: " + error.message());
      return;
    }
    reader_.commit(size);
    const std::int64_t received = now_ns();
    if (state_ == state::handshaking) {
      const ws::ws_handshake_result answer = ws::check_ws_handshake_response(reader_.data(), key_);
      if (answer.status == ws::ws_handshake_status::incomplete) {
        read();
        return;
      }
      if (answer.status != ws::ws_handshake_status::accepted) {
        fail(answer.status == ws::ws_handshake_status::bad_accept ? "handshake: bad accept key"
                                                                   : "handshake: HTTP " + std::to_string(answer.http_status));
        return;
      }
      reader_.consume(answer.size);
      state_ = state::open;
      events_.on_open(*this);
      if (state_ == state::closed) return;
    }
    ws::ws_frame frame;
    ws::ws_parse_status status;
    while ((status = reader_.next(frame)) == ws::ws_parse_status::ok) {
      switch (frame.opcode) {
        case ws::ws_opcode::text:
        case ws::ws_opcode::binary:
          if (frame.fin) {
            if (frame.opcode == ws::ws_opcode::text) events_.on_text(*this, frame.payload, received);
          } else {
            fragment_opcode_ = frame.opcode;
            fragment_.assign(frame.payload.data(), frame.payload.size());
          }
          break;
        case ws::ws_opcode::continuation:
          fragment_.append(frame.payload.data(), frame.payload.size());
          if (frame.fin) {
            if (fragment_opcode_ == ws::ws_opcode::text) events_.on_text(*this, fragment_, received);
            fragment_.clear();
          }
          break;
        case ws::ws_opcode::ping:
          queue_frame(ws::ws_opcode::pong, frame.payload);
          flush();
          break;
        case ws::ws_opcode::close:
          close_code_ = frame.payload.size() >= 2
                            ? static_cast<std::uint16_t>((static_cast<unsigned char>(frame.payload[0]) << 8) |
                                                         static_cast<unsigned char>(frame.payload[1]))
                            : 1005;
          if (!close_sent_) {
            close_sent_ = true;
            queue_frame(ws::ws_opcode::close, frame.payload.substr(0, 2));
            flush();
          }
          break;
        case ws::ws_opcode::pong:
          break;
      }
      if (state_ == state::closed) return;
    }
    if (status != ws::ws_parse_status::incomplete) {
      fail("bad frame from server");
      return;
    }
    read();
  }

  void fail(std::string reason) {
    if (state_ == state::closed) return;
    state_ = state::closed;
    close_reason_ = std::move(reason);
    asio::error_code ignored;
    socket_.close(ignored);
    events_.on_closed(*this);
  }

  tcp::socket socket_;
  connection_events& events_;
  fast_random& random_;
  ws::ws_frame_reader reader_;
  std::size_t read_chunk_;
  std::string key_;
  std::string pending_;
  std::string inflight_;
  std::string fragment_;
  std::string close_reason_;
  ws::ws_opcode fragment_opcode_ = ws::ws_opcode::text;
  std::uint16_t close_code_ = 0;
  role kind_;
  state state_ = state::idle;
  bool writing_ = false;
  bool reading_ = false;
  bool paused_ = false;
  bool close_sent_ = false;
};

// ---------------------------------------------------------------------------
// A JSON object written field by field.

class json_object {
 public:
  json_object& add(const std::string& key, double value) {
    char text[64];
    if (std::isfinite(value)) {
      std::snprintf(text, sizeof text, "%.10g", value);
    } else {
      std::snprintf(text, sizeof text, "null");
    }
    return raw(key, text);
  }
  json_object& add(const std::string& key, long value) { return raw(key, std::to_string(value)); }
  json_object& add(const std::string& key, std::uint64_t value) { return raw(key, std::to_string(value)); }
  json_object& add(const std::string& key, bool value) { return raw(key, value ? "true" : "false"); }
  json_object& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  json_object& add(const std::string& key, const std::string& value) { return raw(key, quote(value)); }
  json_object& raw(const std::string& key, const std::string& json) {
    text_ += text_.empty() ? "{" : ",";
    text_ += quote(key) + ":" + json;
    return *this;
  }
  std::string str() const { return text_.empty() ? "{}" : text_ + "}"; }

  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
        out += escaped;
      } else {
        out += c;
      }
    }
    return out + "\"";
  }

 private:
  std::string text_;
};

// ---------------------------------------------------------------------------
// The scenarios.

struct step_result {
  double rate = 0;
  double seconds = 0;
  std::uint64_t target = 0;     // publishes the rate asked for
  std::uint64_t published = 0;  // publishes actually written
  std::uint64_t subscribers = 0;
  std::uint64_t expected = 0;   // published x subscribers
  std::uint64_t delivered = 0;
  std::uint64_t lost_subscribers = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  std::uint64_t latency_samples = 0;
  double client_cpu = 0;  // fraction of one core the generator used
  bool passed = false;

  double ratio() const { return expected ? static_cast<double>(delivered) / static_cast<double>(expected) : 0; }
  double offered_dps() const { return seconds > 0 ? static_cast<double>(expected) / seconds : 0; }
  double delivered_dps() const { return seconds > 0 ? static_cast<double>(delivered) / seconds : 0; }

  json_object json() const {
    // Without a sample the percentiles are unknown, not zero.
    const double none = std::nan("");
    const bool sampled = latency_samples > 0;
    json_object j;
    j.add("rate", rate)
        .add("seconds", seconds)
        .add("target_publishes", target)
        .add("published", published)
        .add("subscribers", subscribers)
        .add("offered_deliveries_per_s", offered_dps())
        .add("delivered_deliveries_per_s", delivered_dps())
        .add("delivered", delivered)
        .add("expected", expected)
        .add("delivery_ratio", ratio())
        .add("lost_subscribers", lost_subscribers)
        .add("latency_samples", latency_samples)
        .add("p50_ms", sampled ? p50 : none)
        .add("p90_ms", sampled ? p90 : none)
        .add("p99_ms", sampled ? p99 : none)
        .add("p999_ms", sampled ? p999 : none)
        .add("max_ms", sampled ? max : none)
        .add("client_cpu", client_cpu)
        .add("passed", passed);
    return j;
  }
};

class bench final : public connection_events {
 public:
  explicit bench(options o)
      : opt_(std::move(o)), work_(asio::make_work_guard(io_)), random_(static_cast<std::uint64_t>(now_ns())),
        tick_(io_), sampler_(io_) {
    endpoint_ = tcp::endpoint(asio::ip::make_address(opt_.host), opt_.port);
    host_header_ = opt_.host + ":" + std::to_string(opt_.port);
    if (!opt_.subprotocol.empty()) extra_headers_ = "Sec-WebSocket-Protocol: " + opt_.subprotocol + "\r\n";
  }

  ~bench() {
    // Sockets close before the io_context goes, and with a reset, so thousands of
    // connections leave no TIME_WAIT entries to the next run.
    for (auto& c : conns_) c->abort();
  }

  int run() {
    json_object out;
    out.add("mode", opt_.mode).add("server", host_header_ + opt_.path);
    bool ok = false;
    if (opt_.mode == "fanout") {
      ok = opt_.sweep ? run_sweep(out) : run_fanout(out, "fanout");
    } else if (opt_.mode == "rtt") {
      ok = run_fanout(out, "rtt");
    } else if (opt_.mode == "idle") {
      ok = run_idle(out);
    } else if (opt_.mode == "persist") {
      ok = run_persist(out);
    } else {
      ok = run_overload(out);
    }
    if (!first_error_.empty()) out.add("first_error_frame", first_error_);
    out.add("error_frames", error_frames_);
    json_object reasons;
    for (const auto& r : close_reasons_) reasons.add(r.first, static_cast<std::uint64_t>(r.second));
    out.raw("close_reasons", reasons.str());
    // Lets a driver script tell this process's CPU time from other work on the machine.
    out.add("client_cpu_seconds", cpu_seconds());
    out.add("ok", ok);
    std::printf("%s\n", out.str().c_str());
    std::fflush(stdout);
    return ok ? 0 : 1;
  }

  // --- connection events ---------------------------------------------------

  void on_open(connection& c) override {
    if (c.kind() == role::publisher) {
      mark_ready(c);
      return;
    }
    c.queue_text(R"({"type":"subscribe","id":1,"topics":[)" + json_object::quote(c.topic) + "]}");
    c.flush();
  }

  void on_text(connection& c, std::string_view text, std::int64_t received_ns) override {
    const std::string_view type = frame_type(text);
    if (type == "message") {
      ++c.delivered;
      if (c.kind() != role::subscriber) return;
      const std::int64_t sent = frame_timestamp(text, timestamp_hint_);
      if (sent >= step_start_ns_ && step_active_) {
        ++step_delivered_;
        if (sent >= warmup_until_ns_) histogram_.record(received_ns - sent);
      } else {
        ++stale_deliveries_;
      }
      return;
    }
    if (persisting_ && c.kind() == role::publisher && (type == "ack" || type == "error")) {
      persist_reply(c, text, type == "ack", received_ns);
      return;
    }
    if (type == "ack") {
      if (!c.ready && c.kind() != role::publisher) {
        mark_ready(c);
        if (c.kind() == role::slow_subscriber) c.pause_reading();
      }
      return;
    }
    if (type == "error") {
      ++error_frames_;
      if (first_error_.empty()) first_error_ = std::string(text.substr(0, 300));
      // A refused subscribe leaves the connection useless for the scenario.
      if (!c.ready && c.kind() != role::publisher) {
        c.ready = true;
        c.lost = true;
        --in_setup_;
        ++setup_failed_;
      }
    }
    // welcome, pong and anything else: nothing to do.
  }

  void on_drained(connection& c) override {
    if (c.kind() == role::publisher && flooding_) flood(c);
  }

  void on_closed(connection& c) override {
    ++close_reasons_[c.close_reason().substr(0, 60)];
    if (!c.ready) {
      c.ready = true;  // settled, as a failure
      c.lost = true;
      --in_setup_;
      ++setup_failed_;
    } else if (!c.lost) {
      c.lost = true;
      ++lost_;
      if (c.kind() == role::subscriber) --live_subscribers_;
    }
  }

 private:
  void mark_ready(connection& c) {
    c.ready = true;
    --in_setup_;
    ++setup_ready_;
    if (c.kind() == role::subscriber) ++live_subscribers_;
  }

  // Runs the loop until `done()` or the deadline. Wakes up every few milliseconds
  // even when nothing happens, since `done()` may depend on time passing.
  template <class Done>
  bool run_until(clock_type::time_point deadline, Done done) {
    constexpr auto granularity = std::chrono::milliseconds(5);
    while (!done()) {
      const auto now = clock_type::now();
      if (now >= deadline) return false;
      io_.run_one_until(std::min(deadline, now + granularity));
    }
    return true;
  }

  void run_for(double seconds) {
    const auto deadline = clock_type::now() + from_seconds(seconds);
    run_until(deadline, [] { return false; });
  }

  // Opens `count` connections of one kind, at most `connect_batch` being set up at
  // once, and waits until each is ready (subscribed / open) or failed.
  struct open_result {
    std::size_t ready = 0;
    std::size_t failed = 0;
    double seconds = 0;
  };
  open_result open_connections(std::size_t count, role kind, const std::function<std::string(std::size_t)>& topic_of,
                               std::size_t read_chunk, int receive_buffer) {
    const auto start = clock_type::now();
    const auto deadline = start + from_seconds(opt_.connect_timeout);
    setup_ready_ = setup_failed_ = 0;
    in_setup_ = 0;
    std::size_t started = 0;
    const auto batch = static_cast<std::size_t>(opt_.connect_batch);
    while (setup_ready_ + setup_failed_ < count && clock_type::now() < deadline) {
      while (started < count && in_setup_ < batch) {
        conns_.push_back(std::make_unique<connection>(io_, *this, random_, kind, read_chunk));
        connection& c = *conns_.back();
        if (kind != role::publisher) c.topic = topic_of(started);
        ++in_setup_;
        ++started;
        c.start(endpoint_, host_header_, opt_.path, extra_headers_, receive_buffer);
      }
      io_.run_one_until(deadline);
    }
    open_result r;
    r.ready = setup_ready_;
    r.failed = count - setup_ready_;
    r.seconds = seconds_since(start);
    // Whatever is still being set up after the deadline is of no use.
    for (std::size_t i = conns_.size() - started; i < conns_.size(); ++i) {
      if (!conns_[i]->ready) conns_[i]->abort();
    }
    return r;
  }

  std::vector<connection*> of_kind(role kind, bool live_only = true) {
    std::vector<connection*> out;
    for (auto& c : conns_) {
      if (c->kind() == kind && (!live_only || (c->ready && !c->lost))) out.push_back(c.get());
    }
    return out;
  }

  // The JSON publish frame for one message, with a fresh timestamp, padded so
  // that `data` is `payload_bytes` long (or as short as the fields allow).
  void build_publish(std::string& out, const std::string& topic_json) {
    const std::string t = std::to_string(now_ns());
    out.assign(R"({"type":"publish","topic":)");
    out += topic_json;
    out += R"(,"data":{"t":)";
    out += t;
    out += R"(,"p":")";
    const std::size_t fixed = 13 + t.size();  // {"t":<t>,"p":""}
    const auto wanted = static_cast<std::size_t>(opt_.payload_bytes);
    if (wanted > fixed) out.append(wanted - fixed, 'x');
    out += "\"}}";
  }

  // --- fanout and rtt -------------------------------------------------------

  // Connects the subscribers that are missing (all of them at first) and the publisher.
  bool ensure_fanout_clients(std::size_t subscribers) {
    const std::size_t live = of_kind(role::subscriber).size();
    if (live < subscribers) {
      const std::string topic = opt_.topic + "." + opt_.mode;
      const open_result r =
          open_connections(subscribers - live, role::subscriber, [&](std::size_t) { return topic; }, 16384, 0);
      std::printf("subscribers: %zu connected and subscribed in %.2f s (%zu failed)\n", r.ready, r.seconds, r.failed);
    }
    if (of_kind(role::publisher).empty()) {
      const open_result r = open_connections(1, role::publisher, nullptr, 4096, 0);
      if (r.ready != 1) std::printf("publisher: failed to connect\n");
    }
    std::fflush(stdout);
    return of_kind(role::subscriber).size() == subscribers && of_kind(role::publisher).size() == 1;
  }

  // Publishes at `rate` for `seconds`, then waits for the last deliveries.
  step_result run_step(double rate, double seconds) {
    step_result r;
    r.rate = rate;
    r.seconds = seconds;
    connection* publisher = of_kind(role::publisher).front();
    const std::uint64_t subscribers = of_kind(role::subscriber).size();
    r.subscribers = subscribers;
    const std::size_t lost_before = lost_;
    histogram_.reset();
    step_delivered_ = 0;
    std::uint64_t published = 0;
    const std::string topic_json = json_object::quote(opt_.topic + "." + opt_.mode);
    std::string frame;

    const auto start = clock_type::now();
    const auto end = start + from_seconds(seconds);
    step_start_ns_ = now_ns();
    warmup_until_ns_ = step_start_ns_ + static_cast<std::int64_t>(std::min(opt_.warmup, seconds / 2) * 1e9);
    step_active_ = true;
    const double cpu_start = cpu_seconds();
    const auto target = static_cast<std::uint64_t>(rate * seconds);
    r.target = target;
    // Every millisecond, publish what the rate owes so far, in one write. A backlog
    // the server does not take counts against the step: those publishes are skipped.
    constexpr auto tick = std::chrono::milliseconds(1);
    std::uint64_t due_total = 0;
    std::function<void(clock_type::time_point)> on_tick = [&](clock_type::time_point when) {
      const double elapsed = std::min(seconds, std::chrono::duration<double>(clock_type::now() - start).count());
      const auto due = std::min(target, static_cast<std::uint64_t>(rate * elapsed));
      if (publisher->current_state() == connection::state::open) {
        while (due_total < due) {
          ++due_total;
          if (publisher->write_backlog() > (4u << 20)) continue;
          build_publish(frame, topic_json);
          publisher->queue_text(frame);
          ++published;
        }
        publisher->flush();
      }
      if (when + tick < end) {
        tick_.expires_at(when + tick);
        // A completion already queued survives cancel(): the generation tells it
        // that its step (and `on_tick`) is gone.
        tick_.async_wait([this, &on_tick, when, tick, generation = tick_generation_](const asio::error_code& error) {
          if (!error && generation == tick_generation_) on_tick(when + tick);
        });
      }
    };
    on_tick(start);
    run_until(end, [] { return false; });
    ++tick_generation_;
    tick_.cancel();
    // Last publishes of the step: the tick may stop a hair early.
    if (publisher->current_state() == connection::state::open) {
      while (due_total < target) {
        ++due_total;
        if (publisher->write_backlog() > (4u << 20)) continue;
        build_publish(frame, topic_json);
        publisher->queue_text(frame);
        ++published;
      }
      publisher->flush();
    }
    r.published = published;
    r.expected = published * subscribers;
    // Late deliveries: wait until all arrived, nothing arrived for a while, or the drain limit.
    const auto drain_end = clock_type::now() + from_seconds(opt_.drain);
    std::uint64_t last_seen = step_delivered_;
    auto last_progress = clock_type::now();
    run_until(drain_end, [&] {
      if (step_delivered_ >= r.expected) return true;
      if (step_delivered_ != last_seen) {
        last_seen = step_delivered_;
        last_progress = clock_type::now();
      }
      return clock_type::now() - last_progress > std::chrono::milliseconds(500);
    });
    step_active_ = false;
    const double wall = seconds_since(start);
    r.client_cpu = wall > 0 ? (cpu_seconds() - cpu_start) / wall : 0;
    r.delivered = step_delivered_;
    r.lost_subscribers = lost_ - lost_before;
    r.latency_samples = histogram_.count();
    r.p50 = histogram_.percentile_ms(0.50);
    r.p90 = histogram_.percentile_ms(0.90);
    r.p99 = histogram_.percentile_ms(0.99);
    r.p999 = histogram_.percentile_ms(0.999);
    r.max = histogram_.max_ms();
    r.passed = r.lost_subscribers == 0 && r.published >= static_cast<std::uint64_t>(0.99 * static_cast<double>(target)) &&
               r.ratio() >= opt_.sweep_min_ratio && r.p99 < opt_.sweep_p99_ms && r.latency_samples > 0;
    return r;
  }

  void print_step(const char* label, const step_result& r) {
    char latency[128] = "latency n/a (nothing published after the warm-up arrived)";
    if (r.latency_samples > 0) {
      std::snprintf(latency, sizeof latency, "latency p50 %.3f ms p99 %.3f ms max %.3f ms", r.p50, r.p99, r.max);
    }
    std::printf(
        "%s: rate %.0f msg/s x %" PRIu64 " subscribers for %.1f s: offered %.0f deliveries/s, delivered %.0f/s "
        "(ratio %.4f), %s, client cpu %.0f%%%s%s\n",
        label, r.rate, r.subscribers, r.seconds, r.offered_dps(), r.delivered_dps(), r.ratio(), latency,
        100 * r.client_cpu, r.passed ? "" : "  [FAIL]", r.client_cpu > 0.95 ? "  [generator saturated]" : "");
    std::fflush(stdout);
  }

  bool run_fanout(json_object& out, const char* label) {
    const auto subscribers = static_cast<std::size_t>(opt_.subscribers);
    if (!ensure_fanout_clients(subscribers) || subscribers == 0) {
      std::printf("%s: could not set up %zu subscribers and a publisher\n", label, subscribers);
      out.add("subscribers_ready", static_cast<std::uint64_t>(of_kind(role::subscriber).size()));
      return false;
    }
    const step_result r = run_step(opt_.rate, opt_.seconds);
    print_step(label, r);
    out.raw("result", r.json().str());
    out.add("payload_bytes", opt_.payload_bytes);
    return r.published > 0 && r.lost_subscribers == 0;
  }

  // Waits until no delivery arrived for a moment, so the next step starts clean.
  bool settle(double max_seconds) {
    const auto deadline = clock_type::now() + from_seconds(max_seconds);
    std::uint64_t last = stale_deliveries_ + step_delivered_;
    auto last_change = clock_type::now();
    return run_until(deadline, [&] {
      const std::uint64_t seen = stale_deliveries_ + step_delivered_;
      if (seen != last) {
        last = seen;
        last_change = clock_type::now();
      }
      return clock_type::now() - last_change > std::chrono::milliseconds(300);
    });
  }

  bool run_sweep(json_object& out) {
    const auto subscribers = static_cast<std::size_t>(opt_.subscribers);
    std::string steps_json;
    step_result best;
    bool have_best = false;
    double pass_rate = 0;
    double fail_rate = 0;
    double fail_client_cpu = 0;
    double rate = opt_.sweep_start;
    int refines = 0;
    for (int step = 0; step < 24; ++step) {
      if (!settle(10)) {
        std::printf("sweep: the server was still delivering 10 s after the last step; stopping\n");
        break;
      }
      if (!ensure_fanout_clients(subscribers)) {
        std::printf("sweep: could not restore %zu subscribers; stopping\n", subscribers);
        break;
      }
      const step_result r = run_step(rate, opt_.seconds);
      print_step("sweep", r);
      if (!steps_json.empty()) steps_json += ",";
      steps_json += r.json().str();
      if (r.passed) {
        pass_rate = std::max(pass_rate, rate);
        if (!have_best || r.delivered_dps() > best.delivered_dps()) best = r;
        have_best = true;
      } else if (fail_rate == 0 || rate < fail_rate) {
        fail_rate = rate;
        fail_client_cpu = r.client_cpu;
      }
      if (fail_rate == 0) {
        // Still climbing.
        if (rate >= opt_.sweep_max_rate) break;
        rate = std::min(rate * opt_.sweep_factor, opt_.sweep_max_rate);
        continue;
      }
      if (pass_rate == 0) {
        // The first rate already failed: come down until one passes.
        rate /= opt_.sweep_factor;
        if (rate < 1) break;
        continue;
      }
      if (refines >= opt_.sweep_refine) break;
      // Geometric bisection between the best passing and the lowest failing rate.
      ++refines;
      rate = std::sqrt(pass_rate * fail_rate);
      if (rate <= pass_rate * 1.01 || rate >= fail_rate * 0.99) break;
    }
    out.raw("steps", "[" + steps_json + "]");
    out.add("subscribers", opt_.subscribers).add("payload_bytes", opt_.payload_bytes);
    if (have_best) {
      out.add("best_rate", best.rate)
          .add("best_delivered_deliveries_per_s", best.delivered_dps())
          .add("best_p99_ms", best.p99)
          .add("lowest_failing_rate", fail_rate)
          .add("lowest_failing_client_cpu", fail_client_cpu);
      std::printf("sweep: highest passing rate %.0f msg/s = %.0f deliveries/s (p99 %.3f ms, ratio %.4f)\n", best.rate,
                  best.delivered_dps(), best.p99, best.ratio());
      if (fail_client_cpu > 0.95) {
        std::printf("sweep: the load generator was saturated at the failing rate: the server may do better\n");
      }
    } else {
      out.add("best_rate", 0.0).add("best_delivered_deliveries_per_s", 0.0);
      std::printf("sweep: no rate passed\n");
    }
    return have_best;
  }

  // --- idle -----------------------------------------------------------------

  void start_sampler(double period, std::function<void(const memory_sample&)> on_sample) {
    if (opt_.server_pid <= 0) return;
    sampler_fn_ = std::move(on_sample);
    sampler_period_ = from_seconds(period);
    sampler_.expires_after(sampler_period_);
    sampler_.async_wait([this](const asio::error_code& error) { on_sampler(error); });
  }
  void on_sampler(const asio::error_code& error) {
    if (error || !sampler_fn_) return;
    sampler_fn_(sample_memory(opt_.server_pid));
    sampler_.expires_after(sampler_period_);
    sampler_.async_wait([this](const asio::error_code& e) { on_sampler(e); });
  }
  void stop_sampler() {
    sampler_fn_ = nullptr;
    sampler_.cancel();
  }

  bool run_idle(json_object& out) {
    const auto count = static_cast<std::size_t>(opt_.connections);
    // The server's memory before, with nothing connected.
    const memory_sample before = sample_memory(opt_.server_pid);
    const std::string shared = opt_.topic + ".idle";
    const std::string prefix = opt_.topic + ".idle.";
    const open_result r = open_connections(
        count, role::subscriber, [&](std::size_t i) { return opt_.shared_topic ? shared : prefix + std::to_string(i); },
        1024, 0);
    std::printf("idle: %zu of %zu connections subscribed in %.2f s (%zu failed)\n", r.ready, count, r.seconds,
                r.failed);
    std::fflush(stdout);
    // Let the server settle, then measure while holding.
    run_for(std::min(1.0, opt_.hold));
    const memory_sample settled = sample_memory(opt_.server_pid);
    run_for(std::max(0.0, opt_.hold - 1.0));
    const memory_sample after = sample_memory(opt_.server_pid);
    const std::size_t alive = of_kind(role::subscriber).size();
    out.add("connections", opt_.connections)
        .add("established", static_cast<std::uint64_t>(r.ready))
        .add("failed", static_cast<std::uint64_t>(r.failed))
        .add("alive_after_hold", static_cast<std::uint64_t>(alive))
        .add("connect_seconds", r.seconds)
        .add("hold_seconds", opt_.hold)
        .add("shared_topic", opt_.shared_topic);
    if (opt_.server_pid > 0) {
      const double per_connection =
          r.ready ? static_cast<double>(after.rss_kb - before.rss_kb) * 1024.0 / static_cast<double>(r.ready) : 0;
      out.add("server_rss_before_kb", before.rss_kb)
          .add("server_rss_settled_kb", settled.rss_kb)
          .add("server_rss_after_kb", after.rss_kb)
          .add("server_hwm_kb", after.hwm_kb)
          .add("server_bytes_per_connection", per_connection);
      std::printf("idle: server RSS %ld kB before, %ld kB holding %zu connections: %.0f bytes per connection\n",
                  before.rss_kb, after.rss_kb, r.ready, per_connection);
    }
    std::printf("idle: %zu connections still open after %.1f s\n", alive, opt_.hold);
    std::fflush(stdout);
    return r.ready == count && alive == count;
  }

  // --- persist --------------------------------------------------------------
  // Publishers that each keep `window` publishes with ids unacknowledged, on topics of
  // their own: acknowledged publishes per second, and the time from a publish's send to
  // its ack. Against a store that acks after its commit, that is the persisted rate.

  void persist_send(connection& c) {
    while (c.unacknowledged < static_cast<std::size_t>(opt_.window) &&
           c.current_state() == connection::state::open) {
      const std::uint64_t id = c.next_id++;
      c.sent_ns[id % c.sent_ns.size()] = now_ns();
      persist_frame_.assign(R"({"type":"publish","id":)");
      persist_frame_ += std::to_string(id);
      persist_frame_ += R"(,"topic":)";
      persist_frame_ += json_object::quote(c.topic);
      persist_frame_ += R"(,"data":{"p":")";
      persist_frame_.append(static_cast<std::size_t>(std::max(0L, opt_.payload_bytes - 8)), 'x');
      persist_frame_ += "\"}}";
      c.queue_text(persist_frame_);
      ++c.unacknowledged;
    }
    c.flush();
  }

  void persist_reply(connection& c, std::string_view text, bool acked, std::int64_t received_ns) {
    // `{"type":"ack","id":<id>,...}` and `{"type":"error","id":<id>,...}`
    const std::size_t at = text.find("\"id\":");
    const std::uint64_t id = at == std::string_view::npos ? 0 : std::strtoull(text.data() + at + 5, nullptr, 10);
    if (c.unacknowledged > 0) --c.unacknowledged;
    if (!persist_measuring_) {
    } else if (acked) {
      ++persist_acked_;
      histogram_.record(received_ns - c.sent_ns[id % c.sent_ns.size()]);
    } else {
      ++persist_refused_;
      if (first_error_.empty()) first_error_ = std::string(text.substr(0, 300));
    }
    if (persisting_) persist_send(c);
  }

  bool run_persist(json_object& out) {
    const auto count = static_cast<std::size_t>(opt_.publishers);
    const open_result pubs = open_connections(count, role::publisher, nullptr, 65536, 0);
    std::printf("persist: %zu publishers connected\n", pubs.ready);
    std::fflush(stdout);
    if (pubs.ready != count) {
      out.add("setup_failed", true);
      return false;
    }
    std::size_t index = 0;
    for (auto* c : of_kind(role::publisher)) {
      c->topic = opt_.topic + ".persist." + std::to_string(index++);
      c->sent_ns.assign(static_cast<std::size_t>(opt_.window), 0);
    }
    histogram_.reset();
    persisting_ = true;
    for (auto* c : of_kind(role::publisher)) persist_send(*c);
    run_for(opt_.warmup);
    persist_measuring_ = true;
    const double cpu_start = cpu_seconds();
    const auto start = clock_type::now();
    run_for(opt_.seconds);
    const double seconds = seconds_since(start);
    persist_measuring_ = false;
    persisting_ = false;
    const double client_cpu = (cpu_seconds() - cpu_start) / seconds;
    // Let the acks still owed arrive before the connections go.
    run_until(clock_type::now() + from_seconds(opt_.drain), [&] {
      for (auto* c : of_kind(role::publisher))
        if (c->unacknowledged > 0) return false;
      return true;
    });
    const double rate = static_cast<double>(persist_acked_) / seconds;
    std::printf("persist: %.0f acknowledged publishes/s, ack p50 %.2f ms, p99 %.2f ms, %" PRIu64 " refused\n", rate,
                histogram_.percentile_ms(0.5), histogram_.percentile_ms(0.99), persist_refused_);
    std::fflush(stdout);
    out.add("publishers", static_cast<std::uint64_t>(count))
        .add("window", static_cast<std::uint64_t>(opt_.window))
        .add("payload_bytes", static_cast<std::uint64_t>(opt_.payload_bytes))
        .add("seconds", seconds)
        .add("acknowledged", persist_acked_)
        .add("acknowledged_per_s", rate)
        .add("refused", persist_refused_)
        .add("ack_p50_ms", histogram_.percentile_ms(0.5))
        .add("ack_p99_ms", histogram_.percentile_ms(0.99))
        .add("ack_max_ms", histogram_.max_ms())
        .add("client_cpu", client_cpu);
    return persist_acked_ > 0 && lost_ == 0;
  }

  // --- overload -------------------------------------------------------------

  // Keeps one write of about 64 KiB of publishes in flight on a publisher.
  void flood(connection& c) {
    if (c.current_state() != connection::state::open) return;
    while (c.write_backlog() < (64u << 10)) {
      build_publish(flood_frame_, flood_topic_json_);
      c.queue_text(flood_frame_);
      ++flood_published_;
    }
    c.flush();
  }

  bool run_overload(json_object& out) {
    const std::string topic = opt_.topic + ".overload";
    flood_topic_json_ = json_object::quote(topic);
    const auto healthy_count = static_cast<std::size_t>(opt_.subscribers);
    const auto slow_count = static_cast<std::size_t>(opt_.slow);
    const auto publisher_count = static_cast<std::size_t>(opt_.publishers);
    const memory_sample before = sample_memory(opt_.server_pid);
    const open_result healthy = open_connections(healthy_count, role::subscriber, [&](std::size_t) { return topic; },
                                                 65536, 0);
    const open_result slow = open_connections(slow_count, role::slow_subscriber, [&](std::size_t) { return topic; },
                                              4096, static_cast<int>(opt_.slow_rcvbuf));
    const open_result pubs = open_connections(publisher_count, role::publisher, nullptr, 4096, 0);
    std::printf("overload: %zu healthy, %zu slow subscribers, %zu publishers connected\n", healthy.ready, slow.ready,
                pubs.ready);
    std::fflush(stdout);
    if (healthy.ready != healthy_count || slow.ready != slow_count || pubs.ready != publisher_count) {
      out.add("setup_failed", true);
      return false;
    }

    long peak_rss = before.rss_kb;
    bool cap_hit = false;
    const long cap_kb = opt_.rss_cap_mb * 1024;
    std::vector<std::pair<double, long>> timeline;  // (s since start, rss kB), every 0.5 s
    const auto start = clock_type::now();
    auto next_timeline = 0.0;
    start_sampler(0.05, [&](const memory_sample& m) {
      peak_rss = std::max(peak_rss, m.rss_kb);
      const double t = seconds_since(start);
      if (t >= next_timeline) {
        timeline.emplace_back(t, m.rss_kb);
        next_timeline += 0.5;
      }
      if (!cap_hit && cap_kb > 0 && m.rss_kb > cap_kb) {
        // Checked after the load too: a server may still be working through publishes
        // that wait in its socket buffers. Stopping is not enough; a reset makes the
        // kernel discard them.
        cap_hit = true;
        flooding_ = false;
        for (auto* c : of_kind(role::publisher, false)) c->abort();
      }
    });

    for (auto* c : of_kind(role::subscriber)) c->delivered = 0;
    histogram_.reset();
    step_start_ns_ = now_ns();
    warmup_until_ns_ = step_start_ns_;
    step_active_ = true;
    step_delivered_ = 0;
    flood_published_ = 0;
    flooding_ = true;
    const double cpu_start = cpu_seconds();
    for (auto* c : of_kind(role::publisher)) flood(*c);
    const auto load_end = start + from_seconds(opt_.seconds);
    run_until(load_end, [&] { return !flooding_; });
    flooding_ = false;
    const double load_seconds = seconds_since(start);
    const double client_cpu = (cpu_seconds() - cpu_start) / load_seconds;
    const memory_sample end_of_load = sample_memory(opt_.server_pid);
    const std::uint64_t delivered_during_load = step_delivered_;
    std::printf("overload: %" PRIu64 " publishes in %.1f s (%.0f/s)%s; server RSS peak %ld kB\n", flood_published_,
                load_seconds, static_cast<double>(flood_published_) / load_seconds,
                cap_hit ? " [stopped: server RSS over the cap]" : "", peak_rss);
    std::fflush(stdout);

    // Recovery: publishers quiet, healthy subscribers still reading.
    run_for(opt_.hold);
    const memory_sample after_hold = sample_memory(opt_.server_pid);
    stop_sampler();
    step_active_ = false;

    // Did the server cut the subscribers that stopped reading? Read them for a short
    // while: a cut one reaches its close frame or EOF quickly.
    for (auto* c : of_kind(role::slow_subscriber, false)) c->resume_reading();
    const auto check_end = clock_type::now() + std::chrono::seconds(2);
    run_until(check_end, [&] {
      for (auto* c : of_kind(role::slow_subscriber, false)) {
        if (c->current_state() != connection::state::closed) return false;
      }
      return true;
    });
    std::size_t slow_disconnected = 0;
    for (auto* c : of_kind(role::slow_subscriber, false)) {
      if (c->current_state() == connection::state::closed) ++slow_disconnected;
    }

    std::uint64_t min_delivered = UINT64_MAX, max_delivered = 0, total_delivered = 0;
    std::size_t healthy_alive = 0;
    for (auto* c : of_kind(role::subscriber, false)) {
      min_delivered = std::min(min_delivered, c->delivered);
      max_delivered = std::max(max_delivered, c->delivered);
      total_delivered += c->delivered;
      if (!c->lost) ++healthy_alive;
    }
    if (min_delivered == UINT64_MAX) min_delivered = 0;
    std::printf("overload: healthy subscribers got %" PRIu64 " .. %" PRIu64
                " messages each (%zu of %zu still connected), p99 %.1f ms; slow subscribers disconnected by the "
                "server: %zu of %zu\n",
                min_delivered, max_delivered, healthy_alive, healthy_count, histogram_.percentile_ms(0.99),
                slow_disconnected, slow_count);
    if (opt_.server_pid > 0) {
      std::printf("overload: server RSS %ld kB before, %ld kB at the end of the load, %ld kB after %.1f s quiet\n",
                  before.rss_kb, end_of_load.rss_kb, after_hold.rss_kb, opt_.hold);
    }
    std::fflush(stdout);

    std::string timeline_json;
    for (const auto& point : timeline) {
      char text[64];
      std::snprintf(text, sizeof text, "%s[%.2f,%ld]", timeline_json.empty() ? "" : ",", point.first, point.second);
      timeline_json += text;
    }
    out.add("publishers", opt_.publishers)
        .add("healthy_subscribers", opt_.subscribers)
        .add("slow_subscribers", opt_.slow)
        .add("load_seconds", load_seconds)
        .add("published", flood_published_)
        .add("publish_rate", static_cast<double>(flood_published_) / load_seconds)
        .add("healthy_delivered_total", total_delivered)
        .add("healthy_delivered_during_load", delivered_during_load)
        .add("healthy_delivered_min", min_delivered)
        .add("healthy_delivered_max", max_delivered)
        .add("healthy_alive", static_cast<std::uint64_t>(healthy_alive))
        .add("healthy_p50_ms", histogram_.count() ? histogram_.percentile_ms(0.5) : std::nan(""))
        .add("healthy_p99_ms", histogram_.count() ? histogram_.percentile_ms(0.99) : std::nan(""))
        .add("slow_disconnected", static_cast<std::uint64_t>(slow_disconnected))
        .add("rss_cap_hit", cap_hit)
        .add("client_cpu", client_cpu)
        .add("hold_seconds", opt_.hold);
    if (opt_.server_pid > 0) {
      out.add("server_rss_before_kb", before.rss_kb)
          .add("server_rss_peak_kb", peak_rss)
          .add("server_rss_end_of_load_kb", end_of_load.rss_kb)
          .add("server_rss_after_hold_kb", after_hold.rss_kb)
          .add("server_hwm_kb", after_hold.hwm_kb)
          .raw("server_rss_timeline", "[" + timeline_json + "]");
    }
    return flood_published_ > 0;
  }

  options opt_;
  asio::io_context io_{1};  // one thread runs it
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  fast_random random_;
  tcp::endpoint endpoint_;
  std::string host_header_;
  std::string extra_headers_;
  std::vector<std::unique_ptr<connection>> conns_;
  asio::steady_timer tick_;
  std::uint64_t tick_generation_ = 0;
  asio::steady_timer sampler_;
  clock_type::duration sampler_period_{};
  std::function<void(const memory_sample&)> sampler_fn_;

  // Connection setup.
  std::size_t in_setup_ = 0;
  std::size_t setup_ready_ = 0;
  std::size_t setup_failed_ = 0;
  std::size_t live_subscribers_ = 0;
  std::size_t lost_ = 0;
  std::map<std::string, std::size_t> close_reasons_;

  // Measurement.
  latency_histogram histogram_;
  bool step_active_ = false;
  std::int64_t step_start_ns_ = 0;
  std::int64_t warmup_until_ns_ = 0;
  std::uint64_t step_delivered_ = 0;
  std::uint64_t stale_deliveries_ = 0;
  std::size_t timestamp_hint_ = 0;  // where the last delivery had its timestamp (frame_timestamp)
  std::uint64_t error_frames_ = 0;
  std::string first_error_;

  // Persist publishers.
  bool persisting_ = false;
  bool persist_measuring_ = false;
  std::uint64_t persist_acked_ = 0;
  std::uint64_t persist_refused_ = 0;
  std::string persist_frame_;

  // Overload publishers.
  bool flooding_ = false;
  std::uint64_t flood_published_ = 0;
  std::string flood_frame_;
  std::string flood_topic_json_;
};

}  // namespace

int main(int argc, char** argv) {
  options opt;
  if (!parse_options(argc, argv, opt)) {
    usage(stderr);
    return 2;
  }
  // Ten thousand connections need ten thousand descriptors.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && opt.mode == "idle" &&
      static_cast<rlim_t>(opt.connections) + 64 > limit.rlim_cur) {
    std::fprintf(stderr, "loadgen: warning: %ld connections but only %llu file descriptors\n", opt.connections,
                 static_cast<unsigned long long>(limit.rlim_cur));
  }
  std::signal(SIGPIPE, SIG_IGN);
  try {
    bench b(opt);
    return b.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}
