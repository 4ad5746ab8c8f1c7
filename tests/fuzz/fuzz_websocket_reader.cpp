// libFuzzer target for websocket_reader: the same client bytes fed all at once and in
// pieces (with the sink stopping and resuming) must give the same events as a plain,
// non-incremental decoder written from RFC 6455, and every event must obey the rules a
// server relies on (text is UTF-8, nothing over the limit, nothing after the end).
//
// Input: byte 0 picks the message limit, whether the sink stops after each message and
// the largest piece; byte 1 seeds the piece sizes; the rest is what the client sent.
#include <switchboard/detail/utf8.hpp>
#include <switchboard/detail/websocket_reader.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using switchboard::frame_kind;
using switchboard::detail::is_valid_close_code;
using switchboard::detail::utf8_sequence_length;
using switchboard::detail::websocket_reader;

namespace {

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

struct event {
  char kind;  // t(ext), b(inary), p(ing), o (pong), c(lose), f(ailure)
  std::string payload;
  std::uint16_t code = 0;
  bool operator==(const event& o) const { return kind == o.kind && payload == o.payload && code == o.code; }
};

// UTF-8 as the rest of the library defines it, independently of utf8_validator.
bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// True when some bytes appended to `s` make it valid: it is valid but for a character
// cut short at its end. Only a character's second byte has a range narrower than
// 80..BF, so these completions cover every case.
bool valid_utf8_prefix(const std::string& s) {
  if (valid_utf8(s)) return true;
  for (const char* second : {"\x80", "\x90", "\xA0"}) {
    std::string completed = s + second;
    for (int extra = 0; extra < 3; ++extra, completed += '\x80')
      if (valid_utf8(completed)) return true;
  }
  return false;
}

struct expected_result {
  std::vector<event> events;
  std::vector<bool> single_frame;  // per message event: it came in one frame
  bool ended = false;              // close or failure
  bool idle_at_end = false;        // the stream ended between messages
  std::size_t close_end = 0;       // bytes up to the end of a close frame
};

// A whole-buffer decoder of client frames: RFC 6455 sections 5 and 7 read plainly, a
// frame at a time. A frame cut short by the end of the input produces what has
// already been decided from its header and the bytes that did arrive.
expected_result decode(std::string_view in, std::uint64_t max_message) {
  expected_result r;
  const auto fail = [&](std::uint16_t code) {
    r.events.push_back({'f', "", code});
    r.ended = true;
    return r;
  };
  int message_opcode = 0;  // 0: no message in progress
  std::string message;
  std::size_t message_frames = 0;
  std::size_t at = 0;
  for (;;) {
    if (at == in.size()) {
      r.idle_at_end = message_opcode == 0;
      return r;
    }
    if (in.size() - at < 2) return r;
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(in[at + i]); };
    const bool final_frame = byte(0) & 0x80;
    const bool reserved_bits = byte(0) & 0x70;
    const int opcode = byte(0) & 0x0F;
    const bool masked = byte(1) & 0x80;
    const unsigned length7 = byte(1) & 0x7F;
    const std::size_t length_bytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
    const std::size_t header = 2 + length_bytes + (masked ? 4 : 0);
    if (in.size() - at < header) return r;  // nothing is decided before the whole header
    std::uint64_t length = length7;
    if (length_bytes) {
      length = 0;
      for (std::size_t i = 0; i < length_bytes; ++i) length = length << 8 | byte(2 + i);
    }
    const bool shortest = length_bytes == 0 || (length_bytes == 2 && length >= 126) ||
                          (length_bytes == 8 && length > 0xFFFF && length < (std::uint64_t(1) << 63));
    const bool control = opcode >= 8;
    const bool known_opcode = opcode <= 2 || (opcode >= 8 && opcode <= 10);
    if (reserved_bits || !masked || !shortest || !known_opcode) return fail(1002);
    if (control && (!final_frame || length > 125)) return fail(1002);
    if (opcode == 0 && message_opcode == 0) return fail(1002);
    if ((opcode == 1 || opcode == 2) && message_opcode != 0) return fail(1002);
    if (!control && length > max_message - (opcode == 0 ? message.size() : 0)) return fail(1009);

    at += header;
    const unsigned char* key = reinterpret_cast<const unsigned char*>(in.data() + at - 4);
    const std::size_t available = static_cast<std::size_t>(std::min<std::uint64_t>(length, in.size() - at));
    std::string payload(in.substr(at, available));
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ key[i & 3]);
    at += available;
    const bool complete = available == length;

    if (control) {
      if (!complete) return r;
      if (opcode == 9) r.events.push_back({'p', payload, 0});
      if (opcode == 10) r.events.push_back({'o', payload, 0});
      if (opcode == 8) {
        if (payload.size() == 1) return fail(1002);
        std::uint16_t code = 0;
        if (payload.size() >= 2) {
          code = static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                            static_cast<unsigned char>(payload[1]));
          if (!is_valid_close_code(code)) return fail(1002);
          if (!valid_utf8(std::string_view(payload).substr(2))) return fail(1007);
        }
        r.events.push_back({'c', payload.size() >= 2 ? payload.substr(2) : std::string(), code});
        r.ended = true;
        r.close_end = at;
        return r;
      }
      continue;
    }
    if (opcode != 0) {
      message_opcode = opcode;
      message.clear();
      message_frames = 0;
    }
    message += payload;
    ++message_frames;
    if (message_opcode == 1 && !valid_utf8_prefix(message)) return fail(1007);
    if (!complete) return r;
    if (!final_frame) continue;
    if (message_opcode == 1 && !valid_utf8(message)) return fail(1007);
    r.events.push_back({message_opcode == 1 ? 't' : 'b', message, 0});
    r.single_frame.push_back(message_frames == 1);
    message_opcode = 0;
  }
}

// Records events and checks each as it comes.
struct checking_sink {
  checking_sink(std::uint64_t max_message, bool stop_after_message, const std::string& buffer)
      : max_message(max_message), stop_after_message(stop_after_message), buffer(buffer) {}

  std::uint64_t max_message;
  bool stop_after_message;
  std::string_view buffer;  // where the input lies, to tell views from copies
  std::vector<event> events;
  std::vector<bool> message_in_buffer;
  bool ended = false;
  bool asked_to_stop = false;  // until the next consume() call

  void add(event e) {
    require(!ended, "an event after close or failure");
    require(!asked_to_stop, "an event after the sink stopped reading");
    events.push_back(std::move(e));
  }
  bool on_message(frame_kind kind, std::string_view p) {
    require(p.size() <= max_message, "a message over max_message_bytes");
    if (kind == frame_kind::text) require(valid_utf8(p), "a text message that is not UTF-8");
    message_in_buffer.push_back(p.data() >= buffer.data() && p.data() + p.size() <= buffer.data() + buffer.size());
    add({kind == frame_kind::text ? 't' : 'b', std::string(p), 0});
    asked_to_stop = stop_after_message;
    return !stop_after_message;
  }
  void on_ping(std::string_view p) {
    require(p.size() <= 125, "a ping over 125 bytes");
    add({'p', std::string(p), 0});
  }
  void on_pong(std::string_view p) {
    require(p.size() <= 125, "a pong over 125 bytes");
    add({'o', std::string(p), 0});
  }
  void on_close(std::uint16_t code, std::string_view reason) {
    require(code == 0 ? reason.empty() : is_valid_close_code(code), "a close code that may not be sent");
    require(valid_utf8(reason), "a close reason that is not UTF-8");
    add({'c', std::string(reason), code});
    ended = true;
  }
  void on_failure(std::uint16_t code, const char* reason) {
    require(code == 1002 || code == 1007 || code == 1009, "an unexpected failure code");
    require(reason != nullptr && *reason != '\0', "a failure without a reason");
    add({'f', "", code});
    ended = true;
  }
};

void check_reader_state(const websocket_reader& reader, std::uint64_t max_message) {
  if (reader.idle()) require(reader.buffered_bytes() == 0, "memory held while idle");
  require(reader.buffered_bytes() <= 2 * max_message + 512, "memory held past twice the message limit");
}

constexpr std::uint64_t limits[8] = {0, 1, 5, 125, 126, 1000, 65536, std::uint64_t(1) << 20};
constexpr std::size_t largest_pieces[8] = {1, 2, 3, 7, 16, 100, 1000, 100000};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint64_t max_message = limits[data[0] & 7];
  const bool stop_after_message = data[0] & 8;
  const std::size_t largest_piece = largest_pieces[(data[0] >> 4) & 7];
  std::uint32_t rng = 0x9E3779B9u ^ (data[1] * 0x01000193u) ^ data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);

  const expected_result expected = decode(stream, max_message);

  // All at once, with a sink that never stops.
  std::string whole(stream);
  websocket_reader reader_whole(max_message);
  checking_sink sink_whole(max_message, false, whole);
  const std::size_t used = reader_whole.consume(whole.data(), whole.size(), sink_whole);
  require(used <= whole.size(), "consumed more than given");
  require(used == whole.size() || reader_whole.finished(), "stopped early without a reason");
  require(reader_whole.finished() == expected.ended, "finished() disagrees with the decoder");
  if (expected.ended && expected.events.back().kind == 'c') require(used == expected.close_end, "read past the close frame");
  if (!expected.ended) require(reader_whole.idle() == expected.idle_at_end, "idle() disagrees with the decoder");
  check_reader_state(reader_whole, max_message);
  if (reader_whole.finished())
    require(reader_whole.consume(whole.data(), whole.size(), sink_whole) == 0, "consumed after the end");
  require(sink_whole.events == expected.events, "all at once: events differ from the decoder's");
  // Zero copy: a message that came in one frame, inside one buffer, is a view into it.
  for (std::size_t i = 0; i < expected.single_frame.size(); ++i)
    if (expected.single_frame[i] && !sink_whole.events[i].payload.empty())
      require(sink_whole.message_in_buffer[i], "a single-frame message was copied");

  // In pieces, resuming wherever the sink stopped.
  std::string pieces(stream);
  websocket_reader reader_pieces(max_message);
  checking_sink sink_pieces(max_message, stop_after_message, pieces);
  std::size_t at = 0;
  while (at < pieces.size() && !reader_pieces.finished()) {
    rng = rng * 1664525u + 1013904223u;
    const std::size_t piece = std::min<std::size_t>(1 + (rng >> 8) % largest_piece, pieces.size() - at);
    std::size_t done = 0;
    while (done < piece && !reader_pieces.finished()) {
      sink_pieces.asked_to_stop = false;
      const std::size_t n = reader_pieces.consume(&pieces[at + done], piece - done, sink_pieces);
      require(n <= piece - done, "consumed more than given");
      if (done + n < piece && !reader_pieces.finished())
        require(sink_pieces.asked_to_stop, "stopped early without a reason");
      done += n;
      check_reader_state(reader_pieces, max_message);
    }
    at += piece;
  }
  if (!expected.ended) require(reader_pieces.idle() == expected.idle_at_end, "idle() disagrees with the decoder");
  require(sink_pieces.events == expected.events, "in pieces: events differ from the decoder's");
  return 0;
}
