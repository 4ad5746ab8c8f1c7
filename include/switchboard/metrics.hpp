// A hub's counters in the Prometheus text exposition format (version 0.0.4), as served
// at `GET /metrics`.
#ifndef SWITCHBOARD_METRICS_HPP
#define SWITCHBOARD_METRICS_HPP

#include <switchboard/http.hpp>
#include <switchboard/stats.hpp>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace switchboard {
namespace detail {

inline void append_metric_number(std::string& out, double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);  // never locale-dependent
  out.append(buffer, result.ec == std::errc() ? result.ptr : buffer);
}

inline void append_metric_number(std::string& out, std::uint64_t value) { out += std::to_string(value); }

// `# HELP` and `# TYPE` lines of one metric family.
inline void append_metric_header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// One sample: `name{label="value"} number`; no label when `label` is empty.
template <class Number>
void append_sample(std::string& out, std::string_view name, std::string_view label, std::string_view label_value,
                   Number value) {
  out += name;
  if (!label.empty()) {
    out += '{';
    out += label;
    out += "=\"";
    out += label_value;  // label values here are fixed names, never user input
    out += "\"}";
  }
  out += ' ';
  append_metric_number(out, value);
  out += '\n';
}

template <class Number>
void append_single_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                          Number value) {
  append_metric_header(out, name, type, help);
  append_sample(out, name, {}, {}, value);
}

inline void append_histogram(std::string& out, std::string_view name, std::string_view help,
                             const latency_histogram& h) {
  append_metric_header(out, name, "histogram", help);
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_histogram::bounds_s.size(); ++i) {
    cumulative += h.bucket(i);
    std::string le;
    append_metric_number(le, latency_histogram::bounds_s[i]);
    append_sample(out, bucket, "le", le, cumulative);
  }
  cumulative += h.bucket(latency_histogram::bounds_s.size());
  append_sample(out, bucket, "le", "+Inf", cumulative);
  append_sample(out, std::string(name) + "_sum", {}, {}, h.sum_seconds());
  append_sample(out, std::string(name) + "_count", {}, {}, cumulative);
}

// One counter family with a `type` label over `classes`.
template <std::size_t N>
void append_by_class(std::string& out, std::string_view name, std::string_view help,
                     const std::array<std::uint64_t, message_class_count>& values,
                     const message_class (&classes)[N]) {
  append_metric_header(out, name, "counter", help);
  for (const message_class c : classes)
    append_sample(out, name, "type", message_class_name(c), values[static_cast<std::size_t>(c)]);
}

}  // namespace detail

/// Appends the Prometheus text exposition of `s`. Every label set is fixed and small:
/// never a label per topic, user or connection, so a scrape costs the same at any scale.
inline void append_prometheus_metrics(std::string& out, const hub_stats& s) {
  using detail::append_single_metric;
  append_single_metric(out, "switchboard_connections", "gauge", "Open WebSocket connections.",
                       std::uint64_t{s.connections});
  append_single_metric(out, "switchboard_users", "gauge", "Users with at least one open connection.",
                       std::uint64_t{s.users});
  append_single_metric(out, "switchboard_topics", "gauge", "Exact topics with at least one subscriber.",
                       std::uint64_t{s.topics});
  append_single_metric(out, "switchboard_subscriptions", "gauge",
                       "Subscriptions to topics and patterns, over all connections.", std::uint64_t{s.subscriptions});
  append_single_metric(out, "switchboard_uptime_seconds", "gauge", "Seconds since the hub was created.",
                       s.uptime_s);
  append_single_metric(out, "switchboard_backlog_bytes", "gauge",
                       "Bytes queued to all connections and not yet written.", std::uint64_t{s.backlog_bytes});

  static constexpr message_class in_classes[] = {
      message_class::publish, message_class::binary, message_class::subscribe,   message_class::direct,
      message_class::command, message_class::query,  message_class::auth,        message_class::application,
      message_class::invalid};
  static constexpr message_class out_classes[] = {message_class::message, message_class::binary, message_class::direct,
                                                  message_class::reply,   message_class::error,  message_class::other};
  detail::append_by_class(out, "switchboard_messages_in_total", "Messages received, by type (rate-limited ones excluded).",
                          s.in.messages, in_classes);
  detail::append_by_class(out, "switchboard_received_bytes_total", "Payload bytes of messages received, by type.",
                          s.in.bytes, in_classes);
  detail::append_by_class(out, "switchboard_messages_out_total", "Frames queued to connections, by type.",
                          s.out.messages, out_classes);
  detail::append_by_class(out, "switchboard_queued_bytes_total", "Bytes of frames queued to connections, by type.",
                          s.out.bytes, out_classes);
  append_single_metric(out, "switchboard_sent_bytes_total", "counter", "Bytes handed to the transports.",
                       s.bytes_out);

  append_single_metric(out, "switchboard_publishes_total", "counter",
                       "Publishes accepted, from clients, the HTTP API and the server.", s.publishes);
  append_single_metric(out, "switchboard_deliveries_total", "counter", "Publish frames queued to subscribers.",
                       s.deliveries);

  detail::append_metric_header(out, "switchboard_slow_consumer_closes_total", "counter",
                               "Connections cut as slow consumers (close 1013), by reason.");
  detail::append_sample(out, "switchboard_slow_consumer_closes_total", "reason", "send_queue", s.send_queue_cuts);
  detail::append_sample(out, "switchboard_slow_consumer_closes_total", "reason", "publish_backlog", s.backlog_cuts);
  append_single_metric(out, "switchboard_rate_limited_total", "counter",
                       "Messages refused by a connection's rate limit.", s.rate_limited);

  detail::append_metric_header(out, "switchboard_auth_failures_total", "counter",
                               "Authentication refused, by where: at the handshake or in-band (auth and refresh).");
  detail::append_sample(out, "switchboard_auth_failures_total", "stage", "handshake", s.handshakes_refused);
  detail::append_sample(out, "switchboard_auth_failures_total", "stage", "in_band", s.auth_failures);
  append_single_metric(out, "switchboard_forbidden_total", "counter", "Requests refused by authorization.",
                       s.forbidden);
  append_single_metric(out, "switchboard_deadline_closes_total", "counter",
                       "Connections closed at token expiry or at the in-band auth timeout (close 1008).",
                       s.deadline_closes);

  append_single_metric(out, "switchboard_store_refusals_total", "counter",
                       "Publishes the store refused because its writer was behind or the frame too large.",
                       s.store_refusals);
  append_single_metric(out, "switchboard_store_commit_failures_total", "counter",
                       "Publishes delivered live that the store could not commit (disk full, read-only).",
                       s.store_commit_failures);
  append_single_metric(out, "switchboard_store_queue_depth", "gauge",
                       "Appends handed to the store's writer and not yet committed.", std::uint64_t{s.store_queue_depth});

  detail::append_histogram(out, "switchboard_fan_out_duration_seconds",
                           "From a publish's arrival at the hub to its frame queued to every recipient.", s.fan_out);
  detail::append_histogram(out, "switchboard_flush_duration_seconds",
                           "One flush: every pending connection's queue handed to the transport.", s.flush);
  detail::append_histogram(out, "switchboard_store_commit_duration_seconds",
                           "From an acknowledged publish's append to its commit by the store.", s.commit);
}

/// `GET /metrics`: `200` with the exposition of `s`.
inline http_response prometheus_metrics_response(const hub_stats& s) {
  http_response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  append_prometheus_metrics(r.body, s);
  return r;
}

}  // namespace switchboard

#endif
