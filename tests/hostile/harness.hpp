// The frame every hostile test runs in: a fresh pubsub_server, its idle memory, a
// bystander publishing and receiving a counter every 10 ms, RSS sampled during the
// attack, then one report line and the common bounds.
#ifndef SWITCHBOARD_TESTS_HOSTILE_HARNESS_HPP
#define SWITCHBOARD_TESTS_HOSTILE_HARNESS_HPP

#include "hostile/raw_ws.hpp"
#include "hostile/server_process.hpp"

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hostile {

constexpr std::uint64_t MiB = 1024 * 1024;
/// Extra memory any attack may cost the server.
constexpr std::uint64_t attack_budget = 64 * MiB;
/// `store_max_bytes`: what store-filling attacks may add on top.
constexpr std::uint64_t store_budget = 64 * MiB;
/// Period of the bystander's publishes.
constexpr milliseconds bystander_period{10};
/// Longest a bystander's message may take from the write that sends it to its delivery,
/// less the time the server waited for a CPU meanwhile (see `delivery_log`).
constexpr milliseconds bystander_max_latency{100};

/// The server under test: $HOSTILE_PUBSUB_SERVER, or the one built with the tests.
inline std::string server_path() {
  if (const char* env = std::getenv("HOSTILE_PUBSUB_SERVER")) return env;
#ifdef SWITCHBOARD_PUBSUB_SERVER_PATH
  return SWITCHBOARD_PUBSUB_SERVER_PATH;
#else
  return "pubsub_server";
#endif
}

/// Lowers the calling thread's scheduling priority, so the attack's own client threads
/// yield the shared cores to the server and the bystander.
inline void lower_thread_priority() {
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 5);
}

/// Puts the calling thread, which only times the server, ahead of every ordinary thread
/// (SCHED_FIFO, the lowest real-time priority), so that on a loaded machine it writes
/// and reads on time: a starved reader would see messages late, with later arrival
/// stamps too, as the kernel merges what queues up. It sends, waits in poll() or
/// sleeps, so it takes next to nothing from others. False when not allowed (neither
/// root nor CAP_SYS_NICE nor RLIMIT_RTPRIO): the measurement then still holds, with
/// less slack.
inline bool raise_timing_priority() {
  sched_param param{};
  param.sched_priority = 1;
  return pthread_setschedparam(pthread_self(), SCHED_FIFO, &param) == 0;
}

/// Runs `fn(i)` for i in [0, n) on n threads (lowered priority) and joins them.
inline void run_parallel(std::size_t n, const std::function<void(std::size_t)>& fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (std::size_t i = 0; i < n; ++i) threads.emplace_back([&fn, i] {
      lower_thread_priority();
      fn(i);
    });
  for (auto& t : threads) t.join();
}

/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
inline bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c == 0xE0) n = 2, lo = 0xA0;
    else if (c == 0xED) n = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) n = 2;
    else if (c == 0xF0) n = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) n = 3;
    else if (c == 0xF4) n = 3, hi = 0x8F;
    else return false;
    if (static_cast<std::size_t>(end - p) <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (std::size_t i = 2; i <= n; ++i)
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    p += n + 1;
  }
  return true;
}

/// `text` parsed; an object with a string `type`, or a Null document.
inline rapidjson::Document parse(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("type") || !doc["type"].IsString()) doc.SetNull();
  return doc;
}

inline std::string type_of(const rapidjson::Value& v) {
  return v.IsObject() && v.HasMember("type") && v["type"].IsString() ? v["type"].GetString() : "";
}
inline std::string code_of(const rapidjson::Value& v) {
  return v.IsObject() && v.HasMember("code") && v["code"].IsString() ? v["code"].GetString() : "";
}

inline std::string mib(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", static_cast<double>(bytes) / MiB);
  return text;
}

/// Samples a process's RSS every ~20 ms from its own thread and keeps the peak.
class rss_sampler {
 public:
  void start(pid_t pid) {
    stop();
    peak_ = rss_bytes(pid);
    running_ = true;
    thread_ = std::thread([this, pid] {
      while (running_) {
        const std::uint64_t now = rss_bytes(pid);
        if (now > peak_) peak_ = now;
        std::this_thread::sleep_for(milliseconds(20));
      }
    });
  }
  void stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t peak() const { return peak_; }
  ~rss_sampler() { stop(); }

 private:
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> peak_{0};
  std::thread thread_;
};

/// Counters 1, 2, 3, ... written by one thread and received by another: when each was
/// sent, when it arrived and when it was read (this process's steady clock), how long
/// the server had waited for a CPU at the send and at the read, and whether they came
/// in order.
///
/// The bound holds each message's latency rather than the gap between deliveries,
/// which also counts the sender being scheduled late, and only the part the server is
/// answerable for. On a machine shared with other work, threads wait hundreds of
/// milliseconds for a CPU, so:
/// - the send is stamped right before the write: a late sender only delays a message;
/// - the arrival is the kernel's stamp of when it was queued on the receiver's socket
///   (`raw_ws::stamp_arrivals`): a receiver woken late does not count;
/// - the time the server spent runnable but not running meanwhile is taken off. Its
///   wait is read at the send and at the read, after the arrival; the server may have
///   waited between arrival and read too, at most that long, so only what exceeds it
///   is taken off and the server is never credited with more than it waited.
/// A server that works or sleeps too long counts in full.
///
/// The sender writes only send records, the receiver the rest; `close` and the results
/// are for after both threads have been joined.
class delivery_log {
 public:
  /// Counters a log holds: 327 s at the 10 ms period, longer than the test may run.
  static constexpr std::uint64_t capacity = std::uint64_t(1) << 15;

  delivery_log() : sent_(capacity + 1), received_(capacity + 1) {}

  /// `at`: right before the write; `server_waited`: read after `at`.
  void record_sent(std::uint64_t counter, clock::time_point at, std::optional<std::uint64_t> server_waited) {
    if (counter >= 1 && counter <= capacity) sent_[counter] = {at, server_waited};
  }

  /// `arrived`: the kernel's stamp (`raw_ws::last_arrival`); `server_waited`: read after
  /// the message was read, and `read_at` after that.
  void record_received(std::uint64_t counter, std::optional<clock::time_point> arrived, clock::time_point read_at,
                       std::optional<std::uint64_t> server_waited) {
    if (counter != next_expected_) in_order_ = false;
    next_expected_ = counter + 1;
    ++received_count_;
    if (counter >= 1 && counter <= capacity && received_[counter].read_at == clock::time_point{})
      received_[counter] = {arrived, read_at, server_waited};
  }

  /// Computes the results over counters 1..`sent_total`; one that never arrived has an
  /// infinite latency.
  void close(std::uint64_t sent_total) {
    max_latency_ms_ = max_wall_latency_ms_ = 0;
    missing_ = 0;
    waits_known_ = true;
    unstamped_ = 0;
    for (std::uint64_t n = 1; n <= sent_total && n <= capacity; ++n) {
      const sent_record& s = sent_[n];
      const received_record& r = received_[n];
      if (r.read_at == clock::time_point{}) {
        ++missing_;
        max_latency_ms_ = max_wall_latency_ms_ = std::numeric_limits<double>::infinity();
        continue;
      }
      // A stamp outside [send, read] would mean the real-time clock was set meanwhile.
      clock::time_point arrived = r.read_at;
      if (r.arrived && *r.arrived >= s.at && *r.arrived <= r.read_at)
        arrived = *r.arrived;
      else
        ++unstamped_;
      const double wall = ms(arrived - s.at);
      double waited = 0;
      if (s.server_waited && r.server_waited && *r.server_waited >= *s.server_waited)
        waited = std::max(0.0, static_cast<double>(*r.server_waited - *s.server_waited) / 1e6 - ms(r.read_at - arrived));
      else
        waits_known_ = false;
      max_wall_latency_ms_ = std::max(max_wall_latency_ms_, wall);
      max_latency_ms_ = std::max(max_latency_ms_, std::max(0.0, wall - waited));
    }
  }

  /// A thread that sends or receives could not get `raise_timing_priority`.
  void timed_at_normal_priority() { normal_priority_ = true; }

  std::uint64_t received() const { return received_count_; }
  bool in_order() const { return in_order_; }
  /// The largest latency less the server's waits for a CPU: what the bound holds.
  double max_latency_ms() const { return max_latency_ms_; }
  /// The largest latency with them.
  double max_wall_latency_ms() const { return max_wall_latency_ms_; }

  /// "12 ms (140 ms with the server's waits for a CPU)", or "inf ms (3 never arrived)",
  /// with a note when waits or arrival stamps could not be read or the timing threads
  /// ran at normal priority.
  std::string max_latency_text() const {
    char text[192];
    if (missing_ > 0) {
      std::snprintf(text, sizeof text, "inf ms (%llu never arrived)", static_cast<unsigned long long>(missing_));
      return text;
    }
    std::snprintf(text, sizeof text, "%.0f ms (%.0f ms with the server's waits for a CPU%s", max_latency_ms_,
                  max_wall_latency_ms_, waits_known_ ? "" : "; some waits unknown, not taken off");
    std::string out = text;
    if (unstamped_ > 0)
      out += "; " + std::to_string(unstamped_) + (unstamped_ == 1 ? " arrival" : " arrivals") + " timed when read";
    if (normal_priority_) out += "; timed at normal priority";
    return out + ")";
  }

 private:
  struct sent_record {
    clock::time_point at{};
    std::optional<std::uint64_t> server_waited;
  };
  struct received_record {
    std::optional<clock::time_point> arrived;
    clock::time_point read_at{};
    std::optional<std::uint64_t> server_waited;
  };

  static double ms(clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

  std::vector<sent_record> sent_;
  std::vector<received_record> received_;
  std::uint64_t received_count_ = 0;
  std::uint64_t next_expected_ = 1;
  bool in_order_ = true;
  double max_latency_ms_ = 0;
  double max_wall_latency_ms_ = 0;
  std::uint64_t missing_ = 0;
  bool waits_known_ = true;
  std::uint64_t unstamped_ = 0;
  std::atomic<bool> normal_priority_{false};
};

/// The number after `"<key>":` in `text`, or -1.
inline long long number_after(std::string_view text, std::string_view key) {
  const std::string pattern = "\"" + std::string(key) + "\":";
  const std::size_t at = text.find(pattern);
  if (at == std::string_view::npos) return -1;
  long long value = 0;
  std::size_t i = at + pattern.size();
  if (i >= text.size() || text[i] < '0' || text[i] > '9') return -1;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) value = value * 10 + (text[i] - '0');
  return value;
}

/// Sends `{"type":"ping","id":"<tag>"}` and waits for its pong: the connection still works.
inline bool still_answers(raw_ws& c, const std::string& tag, milliseconds timeout = milliseconds(3000)) {
  if (c.closed() || !c.send_text(R"({"type":"ping","id":")" + tag + "\"}", timeout)) return false;
  ws_message m;
  return c.recv_until("\"" + tag + "\"", m, timeout) == recv_status::message && !m.is_close();
}

/// Turns arrival stamps on for `c` (`raw_ws::stamp_arrivals`) and pings until a pong
/// comes stamped, at most 2 s: the kernel turns stamping on a moment later, and what
/// arrives before would be timed when read. False when no stamp came.
inline bool stamp_arrivals(raw_ws& c) {
  if (!c.stamp_arrivals()) return false;
  const auto deadline = clock::now() + milliseconds(2000);
  for (int i = 0; clock::now() < deadline; ++i) {
    if (!still_answers(c, "stamp-check-" + std::to_string(i), milliseconds(1000))) return false;
    if (c.last_arrival()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return false;
}

/// One subscriber of `bystander.feed` and one publisher sending it a counter every 10 ms.
class bystander {
 public:
  bystander(std::uint16_t port, pid_t server_pid) : server_pid_(server_pid) {
    if (!sub_.open(port) || !pub_.open(port)) {
      error_ = "bystander connections were not opened";
      return;
    }
    stamp_arrivals(sub_);
    sub_.send_text(R"({"type":"subscribe","id":"bystander","topics":["bystander.feed"]})");
    ws_message m;
    if (sub_.recv_until("\"bystander\"", m, milliseconds(5000)) != recv_status::message || m.payload.find("\"ack\"") == std::string::npos) {
      error_ = "bystander subscribe was not acknowledged: " + m.payload;
      return;
    }
    running_ = true;
    receiver_ = std::thread([this] { receive_loop(); });
    publisher_ = std::thread([this] { publish_loop(); });
  }

  bystander(const bystander&) = delete;
  bystander& operator=(const bystander&) = delete;
  ~bystander() { stop(); }

  const std::string& error() const { return error_; }

  /// Stops publishing, lets the subscriber catch up (at most 3 s) and checks both
  /// connections still answer. Safe to call twice.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    running_ = false;
    if (publisher_.joinable()) publisher_.join();
    if (receiver_.joinable()) receiver_.join();
    log_.close(sent_);
    if (error_.empty()) alive_ = still_answers(sub_, "sub-check") && still_answers(pub_, "pub-check");
  }

  const delivery_log& log() const { return log_; }
  std::uint64_t sent() const { return sent_; }
  bool alive() const { return alive_; }
  const std::string& problem() const { return problem_; }

 private:
  void publish_loop() {
    if (!raise_timing_priority()) log_.timed_at_normal_priority();
    const cpu_wait_reader server_waits(server_pid_);
    auto next = clock::now();
    while (running_) {
      const std::uint64_t n = sent_ + 1;
      if (n > delivery_log::capacity) {
        note("the bystander ran past its log's capacity");
        break;
      }
      const std::string frame =
          pub_.encode(ws_opcode::text, R"({"type":"publish","topic":"bystander.feed","data":)" + std::to_string(n) + "}");
      // Stamped after the frame is built, right before its write: this thread being
      // scheduled late delays the message but adds nothing to its latency, unless it
      // is preempted between the stamp and the send() call.
      const auto at = clock::now();
      const auto waited = server_waits.ns();
      const bool written = pub_.send_raw(frame, milliseconds(2000));
      log_.record_sent(n, at, waited);
      if (!written) {
        note("the bystander's publisher could not write for 2 s");
        break;
      }
      sent_ = n;
      // Anything the server says to the publisher (an error, say) is a problem.
      ws_message m;
      while (pub_.recv(m, milliseconds(0)) == recv_status::message) {
        if (m.is_close()) {
          note("the bystander's publisher was closed (" + std::to_string(m.close_code()) + ")");
          return;
        }
        note("the bystander's publisher got: " + m.payload.substr(0, 200));
      }
      next += bystander_period;
      const auto now = clock::now();
      if (next < now) next = now;  // late: no burst to catch up
      std::this_thread::sleep_until(next);
    }
  }

  void receive_loop() {
    if (!raise_timing_priority()) log_.timed_at_normal_priority();
    const cpu_wait_reader server_waits(server_pid_);
    const std::uint64_t final_wait_ms = 3000;
    clock::time_point stop_seen{};
    for (;;) {
      if (!running_) {
        if (stop_seen == clock::time_point{}) stop_seen = clock::now();
        if (log_.received() >= sent_) return;
        if (clock::now() - stop_seen > milliseconds(final_wait_ms)) return;
      }
      ws_message m;
      const recv_status s = sub_.recv(m, milliseconds(20));
      if (s == recv_status::timeout) continue;
      if (s != recv_status::message || m.is_close()) {
        note("the bystander's subscriber connection ended");
        return;
      }
      const auto waited = server_waits.ns();
      const auto at = clock::now();
      const auto arrived = sub_.last_arrival();
      if (m.payload.find("\"bystander.feed\"") == std::string::npos) {
        note("the bystander's subscriber got: " + m.payload.substr(0, 200));
        continue;
      }
      log_.record_received(static_cast<std::uint64_t>(number_after(m.payload, "data")), arrived, at, waited);
    }
  }

  void note(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (problem_.empty()) problem_ = what;
  }

  pid_t server_pid_;
  raw_ws sub_;
  raw_ws pub_;
  std::atomic<bool> running_{false};
  std::atomic<std::uint64_t> sent_{0};
  bool stopped_ = false;
  bool alive_ = false;
  delivery_log log_;
  std::mutex mutex_;
  std::string problem_;
  std::string error_;
  std::thread receiver_;
  std::thread publisher_;
};

/// One row of the summary printed when the program ends.
struct summary_row {
  std::string line;
  std::vector<std::string> failures;
};

inline std::vector<summary_row>& summary() {
  static struct table {
    std::vector<summary_row> rows;
    ~table() {
      if (rows.empty()) return;
      std::cout << "\n=== hostile summary ===\n";
      for (const auto& r : rows) {
        std::cout << (r.failures.empty() ? "PASS " : "FAIL ") << r.line << "\n";
        for (const auto& f : r.failures) std::cout << "       - " << f << "\n";
      }
      std::cout.flush();
    }
  } t;
  return t.rows;
}

/// One attack against a fresh server: construct (server up, idle measured, bystander
/// running), `begin()`, attack, `finish()` (report line and the common bounds).
/// Destroying it without `finish()` (a REQUIRE failed) still stops every thread and
/// kills the server.
class attack_run {
 public:
  explicit attack_run(std::string name, std::uint64_t rss_bound = attack_budget, server_options options = {})
      : name_(std::move(name)), rss_bound_(rss_bound), server_(server_path(), options) {
    server_.wait_idle();
    idle_rss_ = server_.rss();
    by_ = std::make_unique<bystander>(server_.port(), server_.pid());
    INFO("attack " << name_);
    REQUIRE(by_->error().empty());
  }

  attack_run(const attack_run&) = delete;
  attack_run& operator=(const attack_run&) = delete;

  std::uint16_t port() const { return server_.port(); }
  server_process& server() { return server_; }

  void begin() {
    cpu_start_ = server_.cpu();
    sampler_.start(server_.pid());
  }

  /// True when the server's RSS is already more than twice the bound above idle: a flood
  /// may stop there (the bound is broken; more only loads the shared machine).
  bool runaway() const { return sampler_.peak() > idle_rss_ + 2 * rss_bound_; }

  /// A CHECK whose failure is also listed in the summary.
  bool expect(bool ok, const std::string& what) {
    INFO("attack " << name_ << ": " << what);
    CHECK(ok);
    if (!ok) failures_.push_back(what);
    return ok;
  }

  /// An extra value for the report line (counts, codes seen).
  void note(const std::string& text) { notes_ += (notes_.empty() ? "" : "; ") + text; }

  void finish() {
    sampler_.stop();
    const double cpu = server_.cpu() - cpu_start_;
    std::uint64_t peak = std::max(sampler_.peak(), server_.rss());
    by_->stop();
    std::this_thread::sleep_for(milliseconds(300));
    const std::uint64_t after = server_.rss();
    peak = std::max(peak, after);
    const bool alive = server_.alive();
    const auto& st = by_->log();
    const std::uint64_t growth = peak > idle_rss_ ? peak - idle_rss_ : 0;

    std::ostringstream line;
    line << name_ << " | RSS " << mib(idle_rss_) << " -> " << mib(peak) << " -> " << mib(after) << " MiB (+"
         << mib(growth) << ", bound " << mib(rss_bound_) << ") | server CPU " << std::fixed;
    line.precision(2);
    line << cpu << " s | bystander max latency " << st.max_latency_text() << ", in order "
         << (st.in_order() ? "yes" : "no") << " (" << st.received() << "/"
         << by_->sent() << "), connections " << (by_->alive() ? "alive" : "LOST") << " | server "
         << (alive ? "alive" : server_.exit_description());
    if (!notes_.empty()) line << " | " << notes_;
    std::cout << "hostile: " << line.str() << std::endl;

    expect(alive, "the server process is alive (" + server_.exit_description() + ")");
    expect(growth <= rss_bound_, "RSS grew by " + mib(growth) + " MiB, bound " + mib(rss_bound_) + " MiB");
    expect(st.max_latency_ms() <= static_cast<double>(bystander_max_latency.count()),
           "bystander's largest latency " + st.max_latency_text() + ", bound " +
               std::to_string(bystander_max_latency.count()) + " ms");
    expect(st.in_order() && st.received() == by_->sent(),
           "bystander received " + std::to_string(st.received()) + "/" + std::to_string(by_->sent()) +
               " counters" + (st.in_order() ? "" : ", not all in order"));
    expect(by_->alive(), "bystander connections still answer");
    expect(by_->problem().empty(), "bystander saw nothing unexpected: " + by_->problem());
    summary().push_back({line.str(), failures_});
    finished_ = true;
  }

  ~attack_run() {
    sampler_.stop();
    if (by_) by_->stop();
    if (!finished_) summary().push_back({name_ + " | aborted", {"a required step failed (see the assertion above)"}});
  }

 private:
  std::string name_;
  std::uint64_t rss_bound_;
  server_process server_;
  std::uint64_t idle_rss_ = 0;
  double cpu_start_ = 0;
  rss_sampler sampler_;
  std::unique_ptr<bystander> by_;
  std::vector<std::string> failures_;
  std::string notes_;
  bool finished_ = false;
};

}  // namespace hostile

#endif
