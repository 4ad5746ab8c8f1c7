// Every frame the server sends, encoded in one place: welcome, message (JSON and
// binary), direct, the replies (ack, result, pong) and error, plus the message objects
// of a history result.
#ifndef SWITCHBOARD_FRAMES_HPP
#define SWITCHBOARD_FRAMES_HPP

#include <switchboard/detail/json.hpp>
#include <switchboard/error.hpp>
#include <switchboard/frame.hpp>
#include <switchboard/registry.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace switchboard {
namespace frames {

/// Milliseconds since the Unix epoch, for `ts`.
inline std::uint64_t now_ms() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

namespace detail {
// `,"from":<user|null>` and, when `ts` is set, `,"ts":<ts>`.
template <class Out>
void append_from_and_timestamp(Out& w, const std::optional<std::string>* from, std::optional<std::uint64_t> ts) {
  w.append(std::string_view(R"(,"from":)"));
  if (from && *from)
    switchboard::detail::append_json_string(w, **from);
  else
    w.append(std::string_view("null"));
  if (!ts) return;
  w.append(std::string_view(R"(,"ts":)"));
  switchboard::detail::append_uint(w, *ts);
}
}  // namespace detail

/// `{"type":"welcome","connection":"<id>","user":<user|null>,"server":<server>,"heartbeat_ms":N}`
inline shared_frame welcome(connection_id id, const std::optional<std::string>& user, std::string_view server,
                            std::uint64_t heartbeat_ms) {
  frame_writer w(frame_kind::text, 160);
  w.append(std::string_view(R"({"type":"welcome","connection":")"));
  switchboard::detail::append_uint(w, id);
  w.append(std::string_view(R"(","user":)"));
  switchboard::detail::append_json_string_or_null(w, user);
  w.append(std::string_view(R"(,"server":)"));
  switchboard::detail::append_json_string(w, server);
  w.append(std::string_view(R"(,"heartbeat_ms":)"));
  switchboard::detail::append_uint(w, heartbeat_ms);
  w.push_back('}');
  return std::move(w).finish();
}

/// A JSON publish as subscribers receive it; `data` (valid JSON) is spliced byte for
/// byte. `topic` must be a valid topic (its bytes need no escaping). A verified `sig`
/// (signed_publish.hpp) rides along before `data`; empty: none.
inline shared_frame message(std::string_view topic, std::uint64_t seq, const std::optional<std::string>* from,
                            std::optional<std::uint64_t> ts, std::string_view data, std::string_view sig = {}) {
  frame_writer w(frame_kind::text, 96 + topic.size() + data.size() + sig.size());
  w.append(std::string_view(R"({"type":"message","topic":")"));
  w.append(topic);
  w.append(std::string_view(R"(","seq":)"));
  switchboard::detail::append_uint(w, seq);
  detail::append_from_and_timestamp(w, from, ts);
  if (!sig.empty()) {
    w.append(std::string_view(R"(,"sig":)"));
    switchboard::detail::append_json_string(w, sig);
  }
  w.append(std::string_view(R"(,"data":)"));
  w.append(data);
  w.push_back('}');
  return std::move(w).finish();
}

/// A binary publish as subscribers receive it (PROTOCOL section 7):
/// `0x02 | topic_len | topic | seq (u64 little-endian) | payload`. The publisher's user
/// id rides along as the frame's note (never sent), for history.
inline shared_frame binary_message(std::string_view topic, std::uint64_t seq, const std::optional<std::string>* from,
                                   std::string_view payload) {
  frame_writer w(frame_kind::binary, 10 + topic.size() + payload.size());
  w.push_back(static_cast<char>(0x02));
  w.push_back(static_cast<char>(topic.size()));
  w.append(topic);
  char* le = w.extend(8);
  for (int i = 0; i < 8; ++i) le[i] = static_cast<char>((seq >> (8 * i)) & 0xFF);
  w.append(payload);
  return std::move(w).finish(from && *from ? std::string_view(**from) : std::string_view());
}

/// `{"type":"direct","from":..,"ts":..,"data":<data>}`
inline shared_frame direct(const std::optional<std::string>* from, std::optional<std::uint64_t> ts,
                           std::string_view data) {
  frame_writer w(frame_kind::text, 64 + data.size());
  w.append(std::string_view(R"({"type":"direct")"));
  detail::append_from_and_timestamp(w, from, ts);
  w.append(std::string_view(R"(,"data":)"));
  w.append(data);
  w.push_back('}');
  return std::move(w).finish();
}

/// `{"type":"<type>","id":<id>[,"data":<data>]}` — an ack, result or pong. `id` is the
/// request's raw JSON id and must not be empty.
inline shared_frame reply(std::string_view type, std::string_view id, std::string_view data = {}) {
  frame_writer w(frame_kind::text, 32 + id.size() + data.size());
  w.append(std::string_view(R"({"type":")"));
  w.append(type);
  w.append(std::string_view(R"(","id":)"));
  w.append(id);
  if (!data.empty()) {
    w.append(std::string_view(R"(,"data":)"));
    w.append(data);
  }
  w.push_back('}');
  return std::move(w).finish();
}

/// `{"type":"pong"}`, for a ping without id.
inline const shared_frame& bare_pong() {
  static const shared_frame pong = make_frame(frame_kind::text, R"({"type":"pong"})");
  return pong;
}

/// `{"type":"error","id":<id|null>,"code":"<code>","message":"<message>"}`; the message
/// may quote client input (it is escaped, and made valid UTF-8).
inline shared_frame error(std::string_view id, switchboard::error code, std::string_view message) {
  frame_writer w(frame_kind::text, 64 + id.size() + message.size());
  w.append(std::string_view(R"({"type":"error","id":)"));
  w.append(id.empty() ? std::string_view("null") : id);
  w.append(std::string_view(R"(,"code":")"));
  w.append(wire_name(code));
  w.append(std::string_view(R"(","message":)"));
  switchboard::detail::append_json_string(w, message);
  w.push_back('}');
  return std::move(w).finish();
}

/// Appends the message object of a stored frame to a history result: a JSON `message`
/// is spliced as is; a binary one becomes a message object with base64 `data`, its
/// publisher taken from the frame's note.
template <class Out>
void append_history_entry(Out& out, const shared_frame& f) {
  const std::string_view p = f.payload();
  if (f.kind() == frame_kind::text) {
    out.append(p);
    return;
  }
  const std::size_t topic_len = static_cast<unsigned char>(p[1]);
  std::uint64_t seq = 0;
  for (int i = 7; i >= 0; --i) seq = (seq << 8) | static_cast<unsigned char>(p[2 + topic_len + static_cast<std::size_t>(i)]);
  out.append(std::string_view(R"({"type":"message","topic":")"));
  out.append(p.substr(2, topic_len));
  out.append(std::string_view(R"(","seq":)"));
  switchboard::detail::append_uint(out, seq);
  out.append(std::string_view(R"(,"from":)"));
  if (f.note().empty())
    out.append(std::string_view("null"));
  else
    switchboard::detail::append_json_string(out, f.note());
  out.append(std::string_view(R"(,"encoding":"base64","data":")"));
  switchboard::detail::append_base64(out, p.substr(2 + topic_len + 8));
  out.push_back('"');
  out.push_back('}');
}

/// The bytes `append_history_entry` adds for `f`.
inline std::size_t history_entry_size(const shared_frame& f) {
  const std::string_view p = f.payload();
  if (f.kind() == frame_kind::text) return p.size();
  const std::size_t topic_len = static_cast<unsigned char>(p[1]);
  const std::size_t payload = p.size() - 2 - topic_len - 8;
  // Fixed members, topic, seq digits, quoted note (escaping may grow it) and base64.
  return 96 + topic_len + 20 + 6 * f.note().size() + (payload + 2) / 3 * 4;
}

}  // namespace frames
}  // namespace switchboard

#endif
