// Live counters over WebSocket: a publisher that puts a hub's counters on
// `system.stats` once a second, and a bounded estimate of the busiest topics for it.
// The dashboard (dashboard.hpp) reads them; any client allowed to subscribe may too.
#ifndef SWITCHBOARD_STATS_PUBLISHER_HPP
#define SWITCHBOARD_STATS_PUBLISHER_HPP

#include <switchboard/detail/json.hpp>
#include <switchboard/hub.hpp>
#include <switchboard/stats.hpp>

#include <asio/error.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace switchboard {

/// Hooks policy (hooks.hpp) that counts publishes per topic in a fixed number of slots,
/// to name the busiest topics of an interval. When more topics are published than there
/// are slots, the least counted slot is handed to the new topic and keeps its count
/// ("space-saving"): a topic's count may then be overestimated by at most the count it
/// inherited, and any topic that got more than 1/`capacity` of the interval's publishes
/// is sure to hold a slot. Memory is bounded by `capacity` topics whatever the traffic.
///
/// Use it as the hub's hooks policy, `policies<Auth, Store, UserData,
/// topic_rate_sampler>`, or derive your hooks from it and call
/// `topic_rate_sampler::on_publish` from yours. `stats_publisher` finds it through
/// `hub.hooks()`, takes the top topics every interval and starts the next one afresh.
///
/// Thread safety: the hub's thread only.
class topic_rate_sampler {
 public:
  /// Topics counted at once.
  static constexpr std::size_t capacity = 64;

  /// One topic's publishes in the interval.
  struct topic_count {
    std::string topic;
    std::uint64_t publishes = 0;
  };

  topic_rate_sampler() { slots_.reserve(capacity); }
  // The index holds views of the slots' strings: a copy would point into the original.
  topic_rate_sampler(const topic_rate_sampler&) = delete;
  topic_rate_sampler& operator=(const topic_rate_sampler&) = delete;
  topic_rate_sampler(topic_rate_sampler&&) = default;
  topic_rate_sampler& operator=(topic_rate_sampler&&) = default;
  ~topic_rate_sampler() = default;

  /// The hooks policy's publish event: counts one publish on `topic`.
  void on_publish(std::string_view topic, std::uint64_t, const std::optional<std::string>&, std::size_t) {
    count(topic);
  }

  /// Counts one publish on `topic`, unless it is the ignored topic.
  void count(std::string_view topic) {
    if (topic == ignored_) return;
    const auto found = index_.find(topic);
    if (found != index_.end()) {
      ++slots_[found->second].publishes;
      return;
    }
    if (slots_.size() < capacity) {
      // reserve() in the constructor: no reallocation moves the strings the index views.
      slots_.push_back({std::string(topic), 1});
      index_.emplace(slots_.back().topic, slots_.size() - 1);
      return;
    }
    const auto least = std::min_element(slots_.begin(), slots_.end(), [](const topic_count& a, const topic_count& b) {
      return a.publishes < b.publishes;
    });
    index_.erase(least->topic);
    least->topic.assign(topic.data(), topic.size());
    ++least->publishes;
    index_.emplace(least->topic, static_cast<std::size_t>(least - slots_.begin()));
  }

  /// The `n` most published topics since the last call, busiest first, and starts a new
  /// interval.
  std::vector<topic_count> take_top(std::size_t n) {
    std::vector<topic_count> top;
    top.reserve(std::min(n, slots_.size()));
    std::sort(slots_.begin(), slots_.end(), [](const topic_count& a, const topic_count& b) {
      return a.publishes != b.publishes ? a.publishes > b.publishes : a.topic < b.topic;
    });
    index_.clear();  // before the strings it views move
    for (std::size_t i = 0; i < slots_.size() && i < n; ++i) top.push_back(std::move(slots_[i]));
    slots_.clear();
    return top;
  }

  /// A topic never counted (the stats topic itself, so that it does not rank).
  void ignore_topic(std::string topic) { ignored_ = std::move(topic); }

 private:
  std::vector<topic_count> slots_;
  std::unordered_map<std::string_view, std::size_t> index_;
  std::string ignored_;
};

/// What `stats_publisher` publishes, and how often.
struct stats_publisher_options {
  /// A `system.` topic, so that no client can forge it. Who may read it is the auth
  /// policy's decision (with access rules: an entry such as
  /// `{"pattern": "system.stats", "role": "operator"}` in `subscribe`).
  std::string topic = "system.stats";
  /// Time between two publishes.
  std::chrono::milliseconds interval{1000};
  /// Entries of `top_topics`, at most `topic_rate_sampler::capacity`.
  std::size_t top_topics = 10;
};

/// Publishes the hub's counters on a topic (`system.stats`) every interval, as one JSON
/// object:
///
/// ```json
/// {"ts":1767225600000,"interval_ms":1000,"uptime_s":42,"connections":3,"users":2,
///  "topics":4,"subscriptions":6,"publishes":1200,"deliveries":3600,"messages_in":1300,
///  "messages_out":3700,"bytes_in":91000,"bytes_out":260000,"backlog_bytes":0,
///  "send_queue_cuts":0,"backlog_cuts":0,"rate_limited":0,"forbidden":0,
///  "top_topics":[{"topic":"room.1","publishes":20,"rate":20}]}
/// ```
///
/// Counters are totals since the hub started (a reader computes rates from two
/// messages and their `ts`); `publishes` and `deliveries` leave out the stats messages
/// themselves. `top_topics` is present when the hub's hooks policy is (or derives from)
/// `topic_rate_sampler`: the busiest topics of the last interval, with publishes per
/// second.
///
/// The timer keeps the io_context busy: `stop()` it when the server shuts down, or
/// `run()` never runs out of work. Destroying the publisher stops it too.
///
/// Thread safety: construct, start, stop and destroy on the hub's thread (or before the
/// io_context runs). The hub must outlive the publisher.
class stats_publisher {
 public:
  /// A stopped publisher for `hub`; `start()` it.
  template <class Policies>
  explicit stats_publisher(basic_hub<Policies>& hub, stats_publisher_options options = {})
      : state_(std::make_shared<state>(hub.context(), std::move(options))) {
    state_->read = [&hub] { return hub.stats(); };
    state_->publish = [&hub](std::string_view topic, std::string_view data) { return hub.publish(topic, data); };
    if constexpr (std::is_base_of<topic_rate_sampler, typename basic_hub<Policies>::hooks_type>::value) {
      topic_rate_sampler& sampler = hub.hooks();
      sampler.ignore_topic(state_->options.topic);
      state_->sampler = &sampler;
    }
  }
  stats_publisher(stats_publisher&&) noexcept = default;
  stats_publisher& operator=(stats_publisher&& other) noexcept {
    if (this != &other) {
      stop();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  stats_publisher(const stats_publisher&) = delete;
  stats_publisher& operator=(const stats_publisher&) = delete;
  ~stats_publisher() { stop(); }

  /// Publishes every interval, the first one interval from now, until `stop()`.
  void start() {
    if (!state_ || state_->running) return;
    state_->running = true;
    state_->last_tick = std::chrono::steady_clock::now();
    if (state_->sampler) state_->sampler->take_top(0);  // rates count from now
    state_->timer.expires_at(state_->last_tick + state_->options.interval);
    schedule(state_);
  }

  /// Stops publishing; the io_context no longer has work from this publisher.
  void stop() {
    if (!state_ || !state_->running) return;
    state_->running = false;
    state_->timer.cancel();
  }

  bool running() const noexcept { return state_ && state_->running; }
  const std::string& topic() const noexcept { return state_->options.topic; }

  /// The message `stats` makes for one interval of `elapsed` (what `start` publishes).
  static std::string render(const hub_stats& stats, std::uint64_t own_publishes, std::uint64_t own_deliveries,
                            const std::vector<topic_rate_sampler::topic_count>* top,
                            std::chrono::steady_clock::duration elapsed, std::chrono::milliseconds interval) {
    std::string out = R"({"ts":)";
    detail::append_uint(out, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                            std::chrono::system_clock::now().time_since_epoch())
                                                            .count()));
    const std::pair<const char*, std::uint64_t> fields[] = {
        {"interval_ms", static_cast<std::uint64_t>(interval.count())},
        {"uptime_s", stats.uptime_s},
        {"connections", stats.connections},
        {"users", stats.users},
        {"topics", stats.topics},
        {"subscriptions", stats.subscriptions},
        {"publishes", stats.publishes - std::min(stats.publishes, own_publishes)},
        {"deliveries", stats.deliveries - std::min(stats.deliveries, own_deliveries)},
        {"messages_in", stats.messages_in},
        {"messages_out", stats.messages_out},
        {"bytes_in", stats.bytes_in},
        {"bytes_out", stats.bytes_out},
        {"backlog_bytes", stats.backlog_bytes},
        {"send_queue_cuts", stats.send_queue_cuts},
        {"backlog_cuts", stats.backlog_cuts},
        {"rate_limited", stats.rate_limited},
        {"forbidden", stats.forbidden},
    };
    for (const auto& [name, value] : fields) {
      out += ",\"";
      out += name;
      out += "\":";
      detail::append_uint(out, value);
    }
    if (top) {
      const double seconds = std::max(std::chrono::duration<double>(elapsed).count(), 0.001);
      out += R"(,"top_topics":[)";
      bool first = true;
      for (const auto& entry : *top) {
        if (!first) out += ',';
        first = false;
        out += R"({"topic":)";
        detail::append_json_string(out, entry.topic);
        out += R"(,"publishes":)";
        detail::append_uint(out, entry.publishes);
        out += R"(,"rate":)";
        // One decimal is all a chart shows; it keeps the message short.
        const double rate = std::round(static_cast<double>(entry.publishes) / seconds * 10.0) / 10.0;
        char buffer[32];
        const auto written = std::to_chars(buffer, buffer + sizeof buffer, rate);
        out.append(buffer, written.ec == std::errc() ? written.ptr : buffer);
        out += '}';
      }
      out += ']';
    }
    out += '}';
    return out;
  }

 private:
  struct state {
    state(asio::io_context& io, stats_publisher_options o) : timer(io), options(std::move(o)) {
      if (options.interval.count() <= 0) options.interval = std::chrono::milliseconds(1000);
      options.top_topics = std::min(options.top_topics, topic_rate_sampler::capacity);
    }
    asio::steady_timer timer;
    stats_publisher_options options;
    std::function<hub_stats()> read;
    std::function<publish_result(std::string_view, std::string_view)> publish;
    topic_rate_sampler* sampler = nullptr;
    std::chrono::steady_clock::time_point last_tick{};
    std::uint64_t own_publishes = 0;
    std::uint64_t own_deliveries = 0;
    bool running = false;
  };

  static void schedule(const std::shared_ptr<state>& s) {
    // Weak: a publisher destroyed with a wait pending leaves a handler that does nothing.
    s->timer.async_wait([weak = std::weak_ptr<state>(s)](const std::error_code& ec) {
      const std::shared_ptr<state> s = weak.lock();
      if (ec == asio::error::operation_aborted || !s || !s->running) return;
      tick(*s);
      // From the previous deadline, so the period does not drift; after a stall, from now.
      const auto now = std::chrono::steady_clock::now();
      const auto next = s->timer.expiry() + s->options.interval;
      s->timer.expires_at(next > now ? next : now + s->options.interval);
      schedule(s);
    });
  }

  static void tick(state& s) {
    const auto now = std::chrono::steady_clock::now();
    std::optional<std::vector<topic_rate_sampler::topic_count>> top;
    if (s.sampler) top = s.sampler->take_top(s.options.top_topics);
    const std::string data = render(s.read(), s.own_publishes, s.own_deliveries, top ? &*top : nullptr,
                                    now - s.last_tick, s.options.interval);
    s.last_tick = now;
    const publish_result published = s.publish(s.options.topic, data);
    if (!published.failure) {
      ++s.own_publishes;
      s.own_deliveries += published.recipients;
    }
  }

  std::shared_ptr<state> state_;
};

}  // namespace switchboard

#endif
