// The built-in requests of the protocol, one function each: publish (JSON and binary),
// subscribe, unsubscribe, direct, presence, history and ping. Each checks its fields,
// asks the auth policy, acts, and replies. detail/dispatch.hpp routes frames to them.
#ifndef SWITCHBOARD_REQUESTS_HPP
#define SWITCHBOARD_REQUESTS_HPP

#include <switchboard/auth.hpp>
#include <switchboard/detail/hub_core.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/detail/utf8.hpp>
#include <switchboard/error.hpp>
#include <switchboard/frames.hpp>
#include <switchboard/topic.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard {
namespace requests {

using detail::parsed_request;

namespace detail {

// A required exact topic; sends the error and returns false otherwise.
template <class Core>
bool require_exact_topic(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (!req.topic) {
    core.send_error(e, req.id, error::bad_request, "topic is required");
    return false;
  }
  switch (classify_topic(*req.topic)) {
    case topic_kind::exact: return true;
    case topic_kind::pattern:
      core.send_error(e, req.id, error::bad_request, "topic must not contain wildcards");
      return false;
    case topic_kind::invalid: break;
  }
  core.send_error(e, req.id, error::bad_request, "invalid topic: " + *req.topic);
  return false;
}

// Answers `forbidden` for an action on `target` and reports it to the audit hook. The
// message reads the same whether or not the target exists or has subscribers.
// `why`, when given, is added to both (": <why>").
template <class Core>
void refuse_action(Core& core, typename Core::entry_type& e, std::string_view id, action what, std::string_view target,
                   std::string_view why = {}) {
  std::string message(action_name(what));
  message += " '";
  message.append(target.data(), target.size());
  message += "' is not allowed";
  if (!why.empty()) message.append(": ").append(why.data(), why.size());
  core.send_error(e, id, error::forbidden, message);
  ++core.stats.forbidden;
  if (core.on_audit) {
    std::string what_and_target(action_name(what));
    what_and_target += ' ';
    what_and_target.append(target.data(), target.size());
    if (!why.empty()) what_and_target.append(": ").append(why.data(), why.size());
    core.audit(audit_kind::action_refused, e, what_and_target);
  }
}

// Asks the auth policy; sends `forbidden` naming the target and returns false on refusal.
// The message reads the same whether or not the target exists or has subscribers.
template <class Core>
bool authorized(Core& core, typename Core::entry_type& e, std::string_view id, action what, std::string_view target) {
  if (core.auth.authorize(e.who, what, target)) return true;
  refuse_action(core, e, id, what, target);
  return false;
}

// A client publish: the topic must not be the server's own.
template <class Core>
bool may_publish(Core& core, typename Core::entry_type& e, std::string_view id, std::string_view topic) {
  if (is_server_topic(topic)) {
    refuse_action(core, e, id, action::publish, topic);
    return false;
  }
  return authorized(core, e, id, action::publish, topic);
}

// A publish carrying `sig`: delivered only when it verifies against the publisher's
// registered key; otherwise `forbidden`, before any seq is taken.
template <class Core>
bool signature_verified(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  const std::string_view why = switchboard::detail::signed_publish_refusal(core.store, core.check_signature, e.who.user,
                                                                           *req.topic, req.data, *req.sig);
  if (why.empty()) return true;
  refuse_action(core, e, req.id, action::publish, *req.topic, why);
  return false;
}

// The `topics` list of subscribe/unsubscribe: present, non-empty, within limits.
template <class Core>
bool require_topics(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (!req.topics || req.topics->empty()) {
    core.send_error(e, req.id, error::bad_request, "topics must be a non-empty array of strings");
    return false;
  }
  if (req.topics->size() > core.settings.max_topics_per_request) {
    core.send_error(e, req.id, error::too_large, "too many topics in one request");
    return false;
  }
  for (const auto& t : *req.topics)
    if (classify_topic(t) == topic_kind::invalid) {
      core.send_error(e, req.id, error::bad_request, "invalid topic: " + t);
      return false;
    }
  return true;
}

inline std::size_t token_count(std::string_view topic) noexcept {
  return static_cast<std::size_t>(std::count(topic.begin(), topic.end(), '.')) + 1;
}

// Replays what `e` missed on `topic` after `since`, all or nothing; not at all when it
// would not fit the connection's send queue (the client pages through history instead).
template <class Core>
bool recover(Core& core, typename Core::entry_type& e, const std::string& topic,
             const switchboard::detail::since_position& since) {
  std::vector<shared_frame> missed;
  std::size_t bytes = 0;
  const bool complete = core.store.replay(topic, since.seq, since.epoch, [&](const shared_frame& f) {
    missed.push_back(f);
    bytes += f.wire().size();
  });
  // One more frame for the ack that follows.
  if (!complete || !core.out.fits(e, missed.size() + 1, bytes)) return false;
  for (const auto& f : missed) core.send(e, f, message_class::message);
  return true;
}

}  // namespace detail

/// `publish`: a JSON message on an exact topic.
template <class Core>
void publish(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (!detail::require_exact_topic(core, e, req)) return;
  if (req.data.empty()) return core.send_error(e, req.id, error::bad_request, "data is required");
  if (!detail::may_publish(core, e, req.id, *req.topic)) return;
  if (req.sig && !detail::signature_verified(core, e, req)) return;
  const auto result = core.publish_json(*req.topic, req.data, &e.who.user, Core::registry_type::slot_of(e.id),
                                        req.sig ? std::string_view(*req.sig) : std::string_view());
  if (!req.id.empty()) {
    std::string data = R"({"seq":)";
    switchboard::detail::append_uint(data, result.seq);
    data += R"(,"recipients":)";
    switchboard::detail::append_uint(data, result.recipients);
    data += '}';
    core.send_ack(e, req.id, data);
  }
  if (core.last_fan_out_congested) core.out.after_publish(e);
}

/// A binary frame: `0x01 | topic_len | topic | payload` (PROTOCOL section 7).
template <class Core>
void publish_binary(Core& core, typename Core::entry_type& e, std::string_view bytes) {
  if (bytes.size() < 2 || static_cast<unsigned char>(bytes[0]) != 0x01 ||
      bytes.size() < 2u + static_cast<unsigned char>(bytes[1]))
    return core.send_error(e, {}, error::bad_request,
                           "malformed binary frame: expected 0x01, topic length, topic, payload");
  const std::string_view topic = bytes.substr(2, static_cast<unsigned char>(bytes[1]));
  if (classify_topic(topic) != topic_kind::exact)
    return core.send_error(e, {}, error::bad_request, "invalid topic in binary frame");
  if (!detail::may_publish(core, e, {}, topic)) return;
  core.publish_bytes(topic, bytes.substr(2 + topic.size()), &e.who.user, Core::registry_type::slot_of(e.id));
  if (core.last_fan_out_congested) core.out.after_publish(e);
}

/// `subscribe`, with optional recovery (`since`).
template <class Core>
void subscribe(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (!detail::require_topics(core, e, req)) return;
  const auto& topics = *req.topics;
  for (const auto& s : req.since_topics) {
    if (std::find(topics.begin(), topics.end(), s.topic) == topics.end() ||
        classify_topic(s.topic) != topic_kind::exact)
      return core.send_error(e, req.id, error::bad_request,
                             "since names '" + s.topic + "', which is not an exact topic of this request");
  }
  if (req.since_seq)
    return core.send_error(e, req.id, error::bad_request, "since must be an object of topic positions");
  for (const auto& t : topics)
    if (!detail::authorized(core, e, req.id, action::subscribe, t)) return;
  const subscriber_index slot = Core::registry_type::slot_of(e.id);
  std::size_t new_topics = 0, new_patterns = 0;
  for (auto it = topics.begin(); it != topics.end(); ++it) {
    if (std::find(topics.begin(), it, *it) != it || core.topics.is_subscribed(slot, *it)) continue;
    ++new_topics;
    if (classify_topic(*it) != topic_kind::pattern) continue;
    ++new_patterns;
    if (detail::token_count(*it) > core.settings.max_pattern_tokens)
      return core.send_error(e, req.id, error::too_large, "pattern has too many tokens: " + *it);
  }
  if (core.topics.subscription_count(slot) + new_topics > core.settings.max_subscriptions_per_connection)
    return core.send_error(e, req.id, error::too_large, "subscription limit reached");
  if (new_patterns > 0 && core.topics.pattern_count(slot) + new_patterns > core.settings.max_patterns_per_connection)
    return core.send_error(e, req.id, error::too_large, "pattern limit reached");
  for (const auto& t : topics) core.subscribe(slot, t);

  std::string data = R"({"topics":{)";
  bool first = true;
  for (auto it = topics.begin(); it != topics.end(); ++it) {
    const auto& t = *it;
    if (std::find(topics.begin(), it, t) != it) continue;  // listed twice
    if (!first) data += ',';
    first = false;
    switchboard::detail::append_json_string(data, t);
    if (classify_topic(t) == topic_kind::pattern) {
      data += R"(:{"seq":0,"epoch":""})";
      continue;
    }
    const auto since = std::find_if(req.since_topics.begin(), req.since_topics.end(),
                                    [&](const switchboard::detail::since_position& s) { return s.topic == t; });
    std::optional<bool> recovered;
    if (since != req.since_topics.end()) recovered = detail::recover(core, e, t, *since);
    const stream_position pos = core.store.position(t);
    data += R"(:{"seq":)";
    switchboard::detail::append_uint(data, pos.seq);
    data += R"(,"epoch":)";
    switchboard::detail::append_json_string(data, pos.epoch);
    if (recovered) data += *recovered ? R"(,"recovered":true)" : R"(,"recovered":false)";
    data += '}';
  }
  data += "}}";
  core.send_ack(e, req.id, data);
}

/// `unsubscribe`: topics not subscribed to are ignored.
template <class Core>
void unsubscribe(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (!detail::require_topics(core, e, req)) return;
  for (const auto& t : *req.topics) core.unsubscribe(Core::registry_type::slot_of(e.id), t);
  core.send_ack(e, req.id);
}

/// `direct`: to every connection of one user.
template <class Core>
void direct(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (!req.to || !switchboard::detail::is_valid_user_id(*req.to))
    return core.send_error(e, req.id, error::bad_request, "to must be a user id");
  if (req.data.empty()) return core.send_error(e, req.id, error::bad_request, "data is required");
  if (!detail::authorized(core, e, req.id, action::direct, *req.to)) return;
  const direct_result r = core.direct(*req.to, req.data, &e.who.user);
  if (req.id.empty()) return;
  std::string data = R"({"delivered":)";
  switchboard::detail::append_uint(data, r.delivered);
  data += r.stored ? R"(,"stored":true})" : R"(,"stored":false})";
  core.send_ack(e, req.id, data);
}

/// `presence`: who a publish on the topic would reach now.
template <class Core>
void presence(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (!detail::require_exact_topic(core, e, req)) return;
  if (!detail::authorized(core, e, req.id, action::presence, *req.topic)) return;
  const std::uint64_t stamp = ++core.publish_stamp;
  std::size_t connections = 0;
  std::vector<std::string_view> users;
  core.topics.for_each_subscriber(*req.topic, [&](subscriber_index slot) {
    auto& s = core.registry.at_slot(slot);
    if (s.value.stamp == stamp) return;
    s.value.stamp = stamp;
    ++connections;
    if (s.who.user) users.push_back(*s.who.user);
  });
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  std::string data = R"({"users":[)";
  for (std::size_t i = 0; i < users.size(); ++i) {
    if (i) data += ',';
    switchboard::detail::append_json_string(data, users[i]);
  }
  data += R"(],"connections":)";
  switchboard::detail::append_uint(data, connections);
  data += '}';
  core.send_reply(e, "result", req.id, data);
}

/// `history`: at most `limit` stored messages, and at most `max_history_reply_bytes` of
/// them (at least one); a cut answer carries `"more": true`.
template <class Core>
void history(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (!detail::require_exact_topic(core, e, req)) return;
  if (!detail::authorized(core, e, req.id, action::history, *req.topic)) return;
  const std::size_t limit =
      static_cast<std::size_t>(std::min<std::uint64_t>(req.limit.value_or(100), core.settings.max_history_limit));
  std::vector<shared_frame> found;
  const stream_position pos =
      core.store.history(*req.topic, req.since_seq, limit, [&](const shared_frame& f) { found.push_back(f); });
  // With `since` the client pages forward, so the oldest are kept; without, the newest.
  std::size_t first = 0, last = found.size(), bytes = 0;
  if (req.since_seq) {
    for (last = 0; last < found.size(); ++last) {
      bytes += frames::history_entry_size(found[last]) + 1;
      if (bytes > core.settings.max_history_reply_bytes && last > 0) break;
    }
  } else {
    for (first = found.size(); first > 0; --first) {
      bytes += frames::history_entry_size(found[first - 1]) + 1;
      if (bytes > core.settings.max_history_reply_bytes && first < found.size()) break;
    }
  }
  const bool more = last - first < found.size();
  std::string data = R"({"messages":[)";
  data.reserve(std::min(bytes, core.settings.max_history_reply_bytes) + 128);
  for (std::size_t i = first; i < last; ++i) {
    if (i != first) data += ',';
    frames::append_history_entry(data, found[i]);
  }
  data += R"(],"seq":)";
  switchboard::detail::append_uint(data, pos.seq);
  data += R"(,"epoch":)";
  switchboard::detail::append_json_string(data, pos.epoch);
  if (more) data += R"(,"more":true)";
  data += '}';
  core.send_reply(e, "result", req.id, data);
}

/// `ping`: always answered, with or without id.
template <class Core>
void ping(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (req.id.empty()) {
    core.send(e, frames::bare_pong(), message_class::reply);
    return;
  }
  core.send_reply(e, "pong", req.id);
}

}  // namespace requests
}  // namespace switchboard

#endif
