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

// A publish the store refused: nothing was delivered.
template <class Core>
void refuse_publish(Core& core, typename Core::entry_type& e, std::string_view id, std::error_code failure) {
  const error code = protocol_error_of(failure);
  core.send_error(e, id, code,
                  code == error::overloaded ? "the store is behind; publish again later"
                  : code == error::too_large ? "the message is too large to store"
                                             : "the message could not be published");
}

// A publish that passed every check: delivered, then acknowledged (after its commit when
// the store says so).
template <class Core>
void deliver_publish(Core& core, typename Core::entry_type& e, std::string_view id, std::string_view topic,
                     std::string_view data, std::string_view sig) {
  const auto result = core.publish_json(topic, data, &e.who.user, Core::registry_type::slot_of(e.id), sig);
  if (result.failure) return refuse_publish(core, e, id, result.failure);
  if (!id.empty()) {
    std::string reply = R"({"seq":)";
    switchboard::detail::append_uint(reply, result.seq);
    reply += R"(,"recipients":)";
    switchboard::detail::append_uint(reply, result.recipients);
    reply += '}';
    core.ack_when_committed(e, id, result.commit_ticket, std::move(reply));
  }
  if (core.last_fan_out_congested) core.out.after_publish(e);
}

// A signed publish when the publisher's key is on a disk (an asynchronous store that
// keeps user keys): the connection is held while the key is read, so its later requests
// wait and its publishes keep their order; then checked and delivered as any other.
template <class Core>
void publish_signed_after_key_read(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if constexpr (async_store_keeps_user_keys<typename Core::store_type>::value) {
    if (!e.who.user)
      return refuse_action(core, e, req.id, action::publish, *req.topic, "a signed message needs a publishing user");
    if (!core.check_signature)
      return refuse_action(core, e, req.id, action::publish, *req.topic,
                           "this server does not verify message signatures");
    const auto held = core.hold(e);
    core.store.find_user(*e.who.user, [&core, held, id = std::string(req.id), topic = std::string(*req.topic),
                                       data = std::string(req.data), sig = std::string(*req.sig)](
                                          std::error_code failed, std::optional<user_keys> keys) {
      core.release(held, {}, message_class::reply);
      typename Core::entry_type* e = core.registry.find(held.connection);
      if (!e || e->value.out.closing) return;  // gone meanwhile: nobody to publish for
      if (failed)
        return core.send_error(*e, id, protocol_error_of(failed), "the publisher's key could not be read; publish again");
      const std::string_view why = !keys                                        ? "the publisher has no registered key"
                                   : !core.check_signature(*keys, topic, data, sig) ? "the signature does not verify"
                                                                                  : std::string_view();
      if (!why.empty()) return refuse_action(core, *e, id, action::publish, topic, why);
      deliver_publish(core, *e, id, topic, data, sig);
    });
  } else {
    refuse_action(core, e, req.id, action::publish, *req.topic, "this server does not verify message signatures");
  }
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

// One topic of a subscribe ack: where its stream stood when the subscribe was handled.
struct subscribed_topic {
  std::string topic;
  std::uint64_t seq = 0;
  std::string epoch;
  bool pattern = false;
  std::optional<bool> recovered;
};

inline std::string subscribe_ack_data(const std::vector<subscribed_topic>& topics) {
  std::string data = R"({"topics":{)";
  for (std::size_t i = 0; i < topics.size(); ++i) {
    const subscribed_topic& t = topics[i];
    if (i) data += ',';
    switchboard::detail::append_json_string(data, t.topic);
    if (t.pattern) {
      data += R"(:{"seq":0,"epoch":""})";
      continue;
    }
    data += R"(:{"seq":)";
    switchboard::detail::append_uint(data, t.seq);
    data += R"(,"epoch":)";
    switchboard::detail::append_json_string(data, t.epoch);
    if (t.recovered) data += *t.recovered ? R"(,"recovered":true)" : R"(,"recovered":false)";
    data += '}';
  }
  data += "}}";
  return data;
}

// Recovery from an asynchronous store: the reads go out now, with `e` held, and the
// replayed messages and the ack go out, in that order, when the last read is back.
template <class Core>
void recover_then_ack(Core& core, typename Core::entry_type& e, const parsed_request& req,
                      std::vector<subscribed_topic> topics) {
  struct recovery {
    typename Core::held_answer held;
    std::string request_id;
    std::vector<subscribed_topic> topics;
    std::vector<std::vector<shared_frame>> replays;  // per topic
    std::size_t reads_left = 0;
  };
  auto state = std::make_shared<recovery>();
  state->request_id = req.id;
  state->replays.resize(topics.size());
  state->topics = std::move(topics);
  std::vector<std::pair<std::size_t, const switchboard::detail::since_position*>> reads;
  for (std::size_t i = 0; i < state->topics.size(); ++i) {
    // The first position given for a topic counts, as in the synchronous path.
    const auto since = std::find_if(req.since_topics.begin(), req.since_topics.end(),
                                    [&](const switchboard::detail::since_position& s) {
                                      return s.topic == state->topics[i].topic;
                                    });
    if (since != req.since_topics.end()) reads.emplace_back(i, &*since);
  }
  state->reads_left = reads.size();
  state->held = core.hold(e);
  auto finish = [&core](recovery& r) {
    typename Core::entry_type* live = core.registry.find(r.held.connection);
    std::vector<shared_frame> out;
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < r.topics.size(); ++i) {
      if (!r.topics[i].recovered || !*r.topics[i].recovered) continue;
      std::size_t topic_bytes = 0;
      for (const auto& f : r.replays[i]) topic_bytes += f.wire().size();
      // One more frame for the ack; a replay that does not fit is not attempted.
      if (!live || !core.out.fits(*live, out.size() + r.replays[i].size() + 1, bytes + topic_bytes)) {
        r.topics[i].recovered = false;
        continue;
      }
      out.insert(out.end(), r.replays[i].begin(), r.replays[i].end());
      bytes += topic_bytes;
    }
    core.release(r.held, std::move(out), message_class::message,
                 r.request_id.empty() ? shared_frame() : frames::reply("ack", r.request_id, subscribe_ack_data(r.topics)));
  };
  for (const auto& read : reads) {
    const std::size_t i = read.first;
    const auto& since = *read.second;
    core.store.read_since(
        state->topics[i].topic, since.seq, since.epoch, core.settings.send_queue_frames, core.settings.send_queue_bytes,
        [state, i, finish](auto result) {
          subscribed_topic& t = state->topics[i];
          // Exactly every seq after `since` up to where the stream stood when asked.
          const bool whole = !result.error && result.epoch_matches && result.complete && result.seq == t.seq;
          t.recovered = whole;
          if (whole)
            for (auto& m : result.messages) state->replays[i].push_back(std::move(m.frame));
          if (--state->reads_left == 0) finish(*state);
        });
  }
}

// The `result` of `history` from the messages found, cut at `max_history_reply_bytes`:
// with `since` the client pages forward, so the oldest are kept; without, the newest.
template <class Core>
std::string history_data(Core& core, const std::vector<shared_frame>& found, bool paging_forward, std::uint64_t seq,
                         std::string_view epoch, bool store_had_more) {
  std::size_t first = 0, last = found.size(), bytes = 0;
  if (paging_forward) {
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
  const bool more = store_had_more || last - first < found.size();
  std::string data = R"({"messages":[)";
  data.reserve(std::min(bytes, core.settings.max_history_reply_bytes) + 128);
  for (std::size_t i = first; i < last; ++i) {
    if (i != first) data += ',';
    frames::append_history_entry(data, found[i]);
  }
  data += R"(],"seq":)";
  switchboard::detail::append_uint(data, seq);
  data += R"(,"epoch":)";
  switchboard::detail::append_json_string(data, epoch);
  if (more) data += R"(,"more":true)";
  data += '}';
  return data;
}

}  // namespace detail

/// `publish`: a JSON message on an exact topic.
template <class Core>
void publish(Core& core, typename Core::entry_type& e, const parsed_request& req) {
  if (!detail::require_exact_topic(core, e, req)) return;
  if (req.data.empty()) return core.send_error(e, req.id, error::bad_request, "data is required");
  if (!detail::may_publish(core, e, req.id, *req.topic)) return;
  if (req.sig) {
    if constexpr (Core::async_store)
      return detail::publish_signed_after_key_read(core, e, req);
    else if (!detail::signature_verified(core, e, req))
      return;
  }
  detail::deliver_publish(core, e, req.id, *req.topic, req.data,
                          req.sig ? std::string_view(*req.sig) : std::string_view());
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
  const auto result =
      core.publish_bytes(topic, bytes.substr(2 + topic.size()), &e.who.user, Core::registry_type::slot_of(e.id));
  if (result.failure) return detail::refuse_publish(core, e, {}, result.failure);
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

  std::vector<detail::subscribed_topic> answer;
  for (auto it = topics.begin(); it != topics.end(); ++it) {
    if (std::find(topics.begin(), it, *it) != it) continue;  // listed twice
    detail::subscribed_topic t;
    t.topic = *it;
    t.pattern = classify_topic(*it) == topic_kind::pattern;
    if (!t.pattern) {
      const stream_position pos = core.store.position(t.topic);
      t.seq = pos.seq;
      t.epoch = std::string(pos.epoch);
    }
    answer.push_back(std::move(t));
  }
  if constexpr (Core::async_store) {
    if (!req.since_topics.empty()) return detail::recover_then_ack(core, e, req, std::move(answer));
  } else {
    for (auto& t : answer) {
      const auto since = std::find_if(req.since_topics.begin(), req.since_topics.end(),
                                      [&](const switchboard::detail::since_position& s) { return s.topic == t.topic; });
      if (since == req.since_topics.end()) continue;
      t.recovered = detail::recover(core, e, t.topic, *since);
      // The replay may have made the store drop old messages; the position is unchanged.
    }
  }
  core.send_ack(e, req.id, detail::subscribe_ack_data(answer));
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
  if (req.id.empty()) {
    core.direct(*req.to, req.data, &e.who.user);
    return;
  }
  // The ack waits for the store when it keeps the message for an offline user.
  core.direct(*req.to, req.data, &e.who.user,
              [&core, conn = e.id, id = req.id](std::error_code failed, const direct_result& r) {
                typename Core::entry_type* live = core.registry.find(conn);
                if (!live) return;
                if (failed) {
                  const error code = protocol_error_of(failed);
                  return core.send_error(*live, id, code,
                                         code == error::too_large ? "the user has too many kept messages"
                                                                  : "the message could not be kept");
                }
                std::string data = R"({"delivered":)";
                switchboard::detail::append_uint(data, r.delivered);
                data += r.stored ? R"(,"stored":true})" : R"(,"stored":false})";
                core.send_ack(*live, id, data);
              });
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
  if constexpr (Core::async_store) {
    if (req.id.empty()) return;  // nothing to answer
    const auto held = core.hold(e);
    auto answer = [&core, held, id = req.id, forward = req.since_seq.has_value()](auto result) {
      if (result.error) {
        const error code = protocol_error_of(result.error);
        return core.release(held, {}, message_class::reply,
                            frames::error(id, code, code == error::overloaded ? "the store is busy; ask again later"
                                                                              : "history could not be read"));
      }
      std::vector<shared_frame> found;
      found.reserve(result.messages.size());
      for (auto& m : result.messages) found.push_back(std::move(m.frame));
      core.release(held, {}, message_class::reply,
                   frames::reply("result", id,
                                 detail::history_data(core, found, forward, result.seq, result.epoch, result.more)));
    };
    if (req.since_seq)
      core.store.read_since(*req.topic, *req.since_seq, std::nullopt, limit, core.settings.max_history_reply_bytes,
                            std::move(answer));
    else
      core.store.latest(*req.topic, limit, core.settings.max_history_reply_bytes, std::move(answer));
  } else {
    std::vector<shared_frame> found;
    const stream_position pos =
        core.store.history(*req.topic, req.since_seq, limit, [&](const shared_frame& f) { found.push_back(f); });
    core.send_reply(e, "result", req.id,
                    detail::history_data(core, found, req.since_seq.has_value(), pos.seq, pos.epoch, false));
  }
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
