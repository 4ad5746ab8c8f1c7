// The server's RFC 6455 frame reader on its own: client frames in, messages, control
// frames and failures with their close codes out, whatever the split of the stream.
#include <switchboard/detail/websocket_reader.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using switchboard::frame_kind;
using switchboard::detail::is_valid_close_code;
using switchboard::detail::unmask_ws_payload;
using switchboard::detail::websocket_reader;

namespace {

constexpr unsigned char fin = 0x80;
constexpr unsigned char op_continuation = 0x0, op_text = 0x1, op_binary = 0x2;
constexpr unsigned char op_close = 0x8, op_ping = 0x9, op_pong = 0xA;
constexpr std::size_t no_limit = std::size_t(1) << 30;

// How a frame header spells its payload length: RFC 6455 allows only the shortest.
enum class length_form { shortest, bits16, bits64 };

const unsigned char mask_key[4] = {0xA1, 0x5B, 0x3C, 0xF7};

std::string frame_header(unsigned char first_byte, std::uint64_t length, length_form form = length_form::shortest,
                         bool masked = true) {
  if (form == length_form::shortest) form = length < 126 ? form : length <= 0xFFFF ? length_form::bits16 : length_form::bits64;
  const unsigned char mask_bit = masked ? 0x80 : 0x00;
  std::string h(1, static_cast<char>(first_byte));
  if (form == length_form::shortest) {
    h += static_cast<char>(mask_bit | length);
  } else if (form == length_form::bits16) {
    h += static_cast<char>(mask_bit | 126);
    h += static_cast<char>(length >> 8);
    h += static_cast<char>(length);
  } else {
    h += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) h += static_cast<char>(length >> shift);
  }
  if (masked) h.append(reinterpret_cast<const char*>(mask_key), 4);
  return h;
}

// A frame as a client sends it: masked unless told otherwise.
std::string client_frame(unsigned char first_byte, std::string_view payload, length_form form = length_form::shortest,
                         bool masked = true) {
  std::string f = frame_header(first_byte, payload.size(), form, masked);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f += static_cast<char>(payload[i] ^ (masked ? static_cast<char>(mask_key[i & 3]) : 0));
  return f;
}

std::string text(std::string_view p) { return client_frame(fin | op_text, p); }
std::string binary(std::string_view p) { return client_frame(fin | op_binary, p); }
std::string ping(std::string_view p) { return client_frame(fin | op_ping, p); }
std::string pong(std::string_view p) { return client_frame(fin | op_pong, p); }
std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xFF);
  p += reason;
  return p;
}
std::string close_frame(std::uint16_t code, std::string_view reason = {}) {
  return client_frame(fin | op_close, close_payload(code, reason));
}

std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed * 7) & 0xFF);
  return s;
}

struct event {
  std::string kind;  // text, binary, ping, pong, close, failure
  std::string payload;
  std::uint16_t code = 0;
  bool operator==(const event& o) const { return kind == o.kind && payload == o.payload && code == o.code; }
};

std::ostream& operator<<(std::ostream& os, const event& e) {
  os << e.kind << "(" << e.payload.size() << " bytes";
  if (e.payload.size() <= 40) os << " \"" << e.payload << "\"";
  return os << ", code " << e.code << ")";
}

// Records what the reader reports; stops after each message when `stop_after_message`.
struct recorder {
  std::vector<event> events;
  std::vector<std::string_view> messages;  // the views handed over, to see where they point
  bool stop_after_message = false;

  bool on_message(frame_kind kind, std::string_view payload) {
    events.push_back({kind == frame_kind::text ? "text" : "binary", std::string(payload), 0});
    messages.push_back(payload);
    return !stop_after_message;
  }
  void on_ping(std::string_view p) { events.push_back({"ping", std::string(p), 0}); }
  void on_pong(std::string_view p) { events.push_back({"pong", std::string(p), 0}); }
  void on_close(std::uint16_t code, std::string_view reason) { events.push_back({"close", std::string(reason), code}); }
  void on_failure(std::uint16_t code, const char*) { events.push_back({"failure", "", code}); }
};

// Feeds `stream` in pieces of the given sizes (the rest in one last piece) and returns
// what the reader reported. Each piece is consumed whole unless the reader finishes.
std::vector<event> events_in_pieces(std::string stream, const std::vector<std::size_t>& pieces,
                                    std::size_t max_message_bytes = no_limit) {
  websocket_reader reader(max_message_bytes);
  recorder sink;
  std::size_t at = 0;
  for (std::size_t i = 0; at < stream.size() && !reader.finished(); ++i) {
    const std::size_t n = i < pieces.size() ? std::min(pieces[i], stream.size() - at) : stream.size() - at;
    const std::size_t used = reader.consume(&stream[at], n, sink);
    REQUIRE((used == n || reader.finished()));
    at += n;
  }
  return sink.events;
}

std::vector<event> events_all_at_once(std::string stream, std::size_t max_message_bytes = no_limit) {
  return events_in_pieces(std::move(stream), {}, max_message_bytes);
}

std::vector<event> events_byte_by_byte(std::string stream, std::size_t max_message_bytes = no_limit) {
  std::vector<std::size_t> pieces(stream.size(), 1);  // before the move below empties `stream`
  return events_in_pieces(std::move(stream), pieces, max_message_bytes);
}

std::vector<std::size_t> random_pieces(std::size_t total, std::size_t max_piece, std::mt19937& rng) {
  std::uniform_int_distribution<std::size_t> size(1, max_piece);
  std::vector<std::size_t> pieces;
  for (std::size_t sum = 0; sum < total;) {
    pieces.push_back(size(rng));
    sum += pieces.back();
  }
  return pieces;
}

bool points_into(std::string_view view, const std::string& buffer) {
  const auto* begin = buffer.data();
  return view.data() >= begin && view.data() + view.size() <= begin + buffer.size();
}

}  // namespace

TEST_CASE("websocket_reader: every split of a stream gives the same events in order", "[websocket_reader]") {
  // Short, 16-bit and 64-bit lengths, empty payloads, fragmented messages with control
  // frames in between, a UTF-8 character split across fragments, and a close.
  const std::string big = pattern(70000);
  const std::string mid = pattern(300, 2);
  std::string small_stream = text("Hello") + binary(mid) + ping("are you there") +
                             client_frame(op_text, "frag") + ping("") + client_frame(op_continuation, "mented \xE2\x82") +
                             pong("pong data") + client_frame(fin | op_continuation, "\xAC!") + text("") +
                             client_frame(op_binary, "") + client_frame(op_continuation, "") +
                             client_frame(fin | op_continuation, "") + binary(std::string(125, 'x')) +
                             binary(std::string(126, 'y'));
  const std::vector<event> small_expected = {
      {"text", "Hello", 0},
      {"binary", mid, 0},
      {"ping", "are you there", 0},
      {"ping", "", 0},
      {"pong", "pong data", 0},
      {"text", "fragmented \xE2\x82\xAC!", 0},
      {"text", "", 0},
      {"binary", "", 0},
      {"binary", std::string(125, 'x'), 0},
      {"binary", std::string(126, 'y'), 0},
  };

  SECTION("every split into two pieces") {
    REQUIRE(events_all_at_once(small_stream) == small_expected);
    for (std::size_t cut = 0; cut <= small_stream.size(); ++cut) {
      INFO("cut at " << cut);
      REQUIRE(events_in_pieces(small_stream, {cut}) == small_expected);
    }
  }

  const std::string stream = small_stream + binary(big) + client_frame(op_text, "a") +
                             client_frame(fin | op_continuation, "b") + close_frame(1000, "bye");
  std::vector<event> expected = small_expected;
  expected.push_back({"binary", big, 0});
  expected.push_back({"text", "ab", 0});
  expected.push_back({"close", "bye", 1000});

  SECTION("all at once") { CHECK(events_all_at_once(stream) == expected); }
  SECTION("byte by byte") { CHECK(events_byte_by_byte(stream) == expected); }
  SECTION("random piece sizes") {
    std::mt19937 rng(20240611);
    for (std::size_t max_piece : {2, 7, 64, 1000, 20000}) {
      for (int round = 0; round < 10; ++round) {
        INFO("pieces of up to " << max_piece << ", round " << round);
        CHECK(events_in_pieces(stream, random_pieces(stream.size(), max_piece, rng)) == expected);
      }
    }
  }
}

TEST_CASE("websocket_reader: control frames inside a fragmented message come first", "[websocket_reader]") {
  const std::string stream = client_frame(op_text, "Hel") + ping("p1") + client_frame(op_continuation, "lo") + pong("") +
                             ping("p2") + client_frame(fin | op_continuation, " world") + binary("after");
  const std::vector<event> expected = {{"ping", "p1", 0},
                                       {"pong", "", 0},
                                       {"ping", "p2", 0},
                                       {"text", "Hello world", 0},
                                       {"binary", "after", 0}};
  CHECK(events_all_at_once(stream) == expected);
  CHECK(events_byte_by_byte(stream) == expected);
}

TEST_CASE("websocket_reader: a single-frame message in one buffer is a view into it", "[websocket_reader]") {
  std::string stream = text("zero copy") + binary(pattern(1000)) + client_frame(op_text, "two ") +
                       client_frame(fin | op_continuation, "pieces") + binary(pattern(70000));
  websocket_reader reader(no_limit);
  recorder sink;
  REQUIRE(reader.consume(&stream[0], stream.size(), sink) == stream.size());
  REQUIRE(sink.messages.size() == 4);
  CHECK(sink.events[0].payload == "zero copy");
  CHECK(points_into(sink.messages[0], stream));
  CHECK(points_into(sink.messages[1], stream));
  CHECK(sink.events[2].payload == "two pieces");
  CHECK_FALSE(points_into(sink.messages[2], stream));  // fragments are gathered in a copy
  CHECK(points_into(sink.messages[3], stream));

  SECTION("a payload that arrives whole in a later buffer is a view into that buffer") {
    const std::string frame = binary(pattern(500));
    std::string header = frame.substr(0, 4), payload = frame.substr(4);
    websocket_reader r(no_limit);
    recorder s;
    REQUIRE(r.consume(&header[0], header.size(), s) == header.size());
    REQUIRE(r.consume(&payload[0], payload.size(), s) == payload.size());
    REQUIRE(s.messages.size() == 1);
    CHECK(points_into(s.messages[0], payload));
    CHECK(s.events[0].payload == pattern(500));
  }
}

TEST_CASE("websocket_reader: a sink that stops reading resumes with the rest", "[websocket_reader]") {
  const std::string first = text("one");
  const std::string second = client_frame(op_binary, "tw") + ping("mid") + client_frame(fin | op_continuation, "o");
  const std::string third = ping("after") + text("three");
  std::string stream = first + second + third;

  websocket_reader reader(no_limit);
  recorder sink;
  sink.stop_after_message = true;
  std::size_t at = reader.consume(&stream[0], stream.size(), sink);
  CHECK(at == first.size());
  CHECK(sink.events == std::vector<event>{{"text", "one", 0}});
  CHECK(reader.idle());

  at += reader.consume(&stream[at], stream.size() - at, sink);
  CHECK(at == first.size() + second.size());
  CHECK(sink.events.size() == 3);
  CHECK(sink.events[1] == event{"ping", "mid", 0});
  CHECK(sink.events[2] == event{"binary", "two", 0});

  at += reader.consume(&stream[at], stream.size() - at, sink);
  CHECK(at == stream.size());
  CHECK(sink.events.size() == 5);
  CHECK(sink.events[3] == event{"ping", "after", 0});
  CHECK(sink.events[4] == event{"text", "three", 0});

  SECTION("an empty message stops reading too") {
    std::string s = text("") + text("x");
    websocket_reader r(no_limit);
    recorder rec;
    rec.stop_after_message = true;
    CHECK(r.consume(&s[0], s.size(), rec) == text("").size());
    CHECK(rec.events.size() == 1);
  }
}

TEST_CASE("websocket_reader: nothing is read after a close frame", "[websocket_reader]") {
  std::string stream = text("before") + close_frame(1001) + text("after");
  websocket_reader reader(no_limit);
  recorder sink;
  CHECK(reader.consume(&stream[0], stream.size(), sink) == text("before").size() + close_frame(1001).size());
  CHECK(reader.finished());
  CHECK(sink.events == std::vector<event>{{"text", "before", 0}, {"close", "", 1001}});
  CHECK(reader.consume(&stream[0], stream.size(), sink) == 0);
  CHECK(sink.events.size() == 2);

  SECTION("a close frame without a payload has no code") {
    CHECK(events_all_at_once(client_frame(fin | op_close, "")) == std::vector<event>{{"close", "", 0}});
  }
  SECTION("a close reason in UTF-8 is handed over") {
    const std::string reason = "gone \xF0\x9F\x98\x80";
    CHECK(events_byte_by_byte(close_frame(4999, reason)) == std::vector<event>{{"close", reason, 4999}});
  }
}

namespace {
struct failure_case {
  const char* name;
  std::string stream;
  std::uint16_t code;
  std::size_t max_message_bytes = no_limit;
};
}  // namespace

TEST_CASE("websocket_reader: each protocol violation fails with its close code", "[websocket_reader]") {
  const std::uint16_t protocol_error = 1002, invalid_payload = 1007, too_big = 1009;
  std::vector<failure_case> cases = {
      {"RSV1", client_frame(fin | 0x40 | op_text, "x"), protocol_error},
      {"RSV2", client_frame(fin | 0x20 | op_binary, "x"), protocol_error},
      {"RSV3", client_frame(fin | 0x10 | op_ping, ""), protocol_error},
      {"unmasked", client_frame(fin | op_text, "x", length_form::shortest, false), protocol_error},
      {"unmasked empty ping", client_frame(fin | op_ping, "", length_form::shortest, false), protocol_error},
      {"16-bit length under 126", client_frame(fin | op_binary, pattern(125), length_form::bits16), protocol_error},
      {"16-bit length 0", client_frame(fin | op_binary, "", length_form::bits16), protocol_error},
      {"64-bit length under 65536", client_frame(fin | op_binary, pattern(0xFFFF), length_form::bits64), protocol_error},
      {"64-bit length 126", client_frame(fin | op_binary, pattern(126), length_form::bits64), protocol_error},
      {"64-bit length with the top bit", frame_header(fin | op_binary, std::uint64_t(1) << 63, length_form::bits64),
       protocol_error},
      {"64-bit length all ones", frame_header(fin | op_binary, ~std::uint64_t(0), length_form::bits64), protocol_error},
      {"ping of 126 bytes", client_frame(fin | op_ping, pattern(126)), protocol_error},
      {"close of 126 bytes", client_frame(fin | op_close, close_payload(1000, std::string(124, 'r'))), protocol_error},
      {"fragmented ping", client_frame(op_ping, "x"), protocol_error},
      {"fragmented pong", client_frame(op_pong, ""), protocol_error},
      {"fragmented close", client_frame(op_close, close_payload(1000)), protocol_error},
      {"continuation without a message", client_frame(fin | op_continuation, "x"), protocol_error},
      {"continuation after a whole message", text("done") + client_frame(op_continuation, "x"), protocol_error},
      {"text inside a fragmented message", client_frame(op_text, "a") + text("b"), protocol_error},
      {"binary inside a fragmented message", client_frame(op_binary, "a") + ping("") + client_frame(op_binary, "b"),
       protocol_error},
      {"close with a 1-byte payload", client_frame(fin | op_close, "\x03"), protocol_error},
      {"invalid UTF-8 in a text frame", text("ok \xC0\xAF"), invalid_payload},
      {"invalid UTF-8 in a fragment", client_frame(op_text, "ok") + client_frame(fin | op_continuation, "\xED\xA0\x80"),
       invalid_payload},
      {"text ends inside a character", text("euro \xE2\x82"), invalid_payload},
      {"fragmented text ends inside a character",
       client_frame(op_text, "\xF0\x9F") + client_frame(fin | op_continuation, "\x98"), invalid_payload},
      {"close reason not UTF-8", close_frame(1000, "\xFF"), invalid_payload},
      {"close reason ends inside a character", close_frame(1000, "\xC3"), invalid_payload},
      {"message over the limit", binary(pattern(101)), too_big, 100},
      {"text over the limit", text(std::string(70000, 'a')), too_big, 65535},
      {"fragments adding up over the limit",
       client_frame(op_binary, pattern(60)) + ping("") + client_frame(op_continuation, pattern(30)) +
           client_frame(fin | op_continuation, pattern(11)),
       too_big, 100},
      {"anything with a limit of 0", text("a"), too_big, 0},
  };
  for (unsigned op : {3u, 4u, 5u, 6u, 7u, 0xBu, 0xCu, 0xDu, 0xEu, 0xFu})
    cases.push_back({"reserved opcode", client_frame(static_cast<unsigned char>(fin | op), ""), protocol_error});
  for (unsigned code : {0u, 1u, 999u, 1004u, 1005u, 1006u, 1015u, 1016u, 1100u, 2000u, 2999u, 5000u, 65535u})
    cases.push_back({"invalid close code", close_frame(static_cast<std::uint16_t>(code)), protocol_error});

  for (const failure_case& c : cases) {
    INFO(c.name);
    const std::vector<event> whole = events_all_at_once(c.stream, c.max_message_bytes);
    REQUIRE_FALSE(whole.empty());
    CHECK(whole.back() == event{"failure", "", c.code});
    for (std::size_t i = 0; i + 1 < whole.size(); ++i) CHECK(whole[i].kind != "failure");
    CHECK(events_byte_by_byte(c.stream, c.max_message_bytes) == whole);
    // Nothing is read after the failure, not even a valid frame.
    CHECK(events_all_at_once(c.stream + text("more"), c.max_message_bytes) == whole);
  }
}

TEST_CASE("websocket_reader: the limits that are still allowed", "[websocket_reader]") {
  CHECK(events_all_at_once(binary(pattern(100)), 100) == std::vector<event>{{"binary", pattern(100), 0}});
  CHECK(events_all_at_once(client_frame(op_binary, pattern(60)) + client_frame(fin | op_continuation, pattern(40)), 100)
            .size() == 1);
  // Control frames do not count against the message limit.
  CHECK(events_all_at_once(ping(std::string(125, 'p')), 10) == std::vector<event>{{"ping", std::string(125, 'p'), 0}});
  CHECK(events_all_at_once(client_frame(op_text, "12345") + ping(std::string(125, 'p')) +
                               client_frame(fin | op_continuation, "67890"),
                           10)
            .back() == event{"text", "1234567890", 0});
  CHECK(events_all_at_once(text(""), 0) == std::vector<event>{{"text", "", 0}});
  for (unsigned code : {1000u, 1001u, 1002u, 1003u, 1007u, 1008u, 1009u, 1010u, 1011u, 1012u, 1013u, 1014u, 3000u, 4999u})
    CHECK(events_all_at_once(close_frame(static_cast<std::uint16_t>(code))) ==
          std::vector<event>{{"close", "", static_cast<std::uint16_t>(code)}});
}

TEST_CASE("websocket_reader: too big is decided from the header alone", "[websocket_reader]") {
  websocket_reader reader(100);
  recorder sink;
  SECTION("one frame") {
    std::string header = frame_header(fin | op_binary, 101);
    CHECK(reader.consume(&header[0], header.size(), sink) == header.size());
  }
  SECTION("a 64-bit length far past any buffer") {
    std::string header = frame_header(fin | op_text, std::uint64_t(1) << 40);
    CHECK(reader.consume(&header[0], header.size(), sink) == header.size());
  }
  SECTION("the fragment that passes the limit") {
    std::string stream = client_frame(op_binary, pattern(100)) + frame_header(op_continuation, 1);
    CHECK(reader.consume(&stream[0], stream.size(), sink) == stream.size());
  }
  CHECK(reader.finished());
  CHECK(sink.events == std::vector<event>{{"failure", "", 1009}});
}

TEST_CASE("websocket_reader: invalid UTF-8 fails in the piece that holds it", "[websocket_reader]") {
  websocket_reader reader(no_limit);
  recorder sink;
  SECTION("in a fragment before the final one") {
    std::string stream = client_frame(op_text, "fine") + client_frame(op_continuation, "bad \xF8 byte");
    // The final fragment never comes: the failure cannot wait for it.
    reader.consume(&stream[0], stream.size(), sink);
  }
  SECTION("inside a frame whose rest has not arrived") {
    const std::string frame = text(std::string(50, 'a') + "\xC3\x28" + std::string(50, 'b'));
    const std::size_t header = 2 + 4;
    std::string received = frame.substr(0, header + 52);  // up to the byte that cannot follow C3
    CHECK(reader.consume(&received[0], received.size(), sink) == received.size());
  }
  SECTION("a surrogate is known from its second byte") {
    std::string stream = client_frame(op_text, "\xED\xA0");
    reader.consume(&stream[0], stream.size(), sink);
  }
  CHECK(reader.finished());
  CHECK(sink.events == std::vector<event>{{"failure", "", 1007}});
}

TEST_CASE("websocket_reader: UTF-8 split across fragments, and binary, are accepted", "[websocket_reader]") {
  CHECK(events_all_at_once(client_frame(op_text, "\xF0") + client_frame(op_continuation, "\x9F\x98") +
                           client_frame(fin | op_continuation, "\x80")) ==
        std::vector<event>{{"text", "\xF0\x9F\x98\x80", 0}});
  CHECK(events_all_at_once(binary("\xFF\xC0")) == std::vector<event>{{"binary", "\xFF\xC0", 0}});
}

TEST_CASE("websocket_reader: idle between messages only", "[websocket_reader]") {
  websocket_reader reader(no_limit);
  recorder sink;
  CHECK(reader.idle());
  std::string stream = text("abc") + client_frame(op_text, "de") + ping("") + client_frame(fin | op_continuation, "f");
  const std::size_t first = text("abc").size();
  const std::size_t second = first + client_frame(op_text, "de").size();
  const std::size_t third = second + ping("").size();

  reader.consume(&stream[0], 1, sink);  // half a header
  CHECK_FALSE(reader.idle());
  reader.consume(&stream[1], 5, sink);  // the header's end
  CHECK_FALSE(reader.idle());
  reader.consume(&stream[6], 2, sink);  // part of the payload
  CHECK_FALSE(reader.idle());
  reader.consume(&stream[8], first - 8, sink);
  CHECK(sink.events.size() == 1);
  CHECK(reader.idle());
  reader.consume(&stream[first], second - first, sink);  // a first fragment
  CHECK_FALSE(reader.idle());
  reader.consume(&stream[second], third - second, sink);  // a ping inside the message
  CHECK(sink.events.size() == 2);
  CHECK_FALSE(reader.idle());
  reader.consume(&stream[third], stream.size() - third, sink);
  CHECK(sink.events.size() == 3);
  CHECK(reader.idle());
}

TEST_CASE("websocket_reader: nothing stays allocated once a message is delivered", "[websocket_reader]") {
  websocket_reader reader(no_limit);
  recorder sink;
  CHECK(reader.buffered_bytes() == 0);

  // A fragmented message, each fragment in its own read: it has to be gathered.
  const std::string part = pattern(4000);
  std::string fragments[] = {client_frame(op_binary, part), client_frame(op_continuation, part),
                             client_frame(fin | op_continuation, part)};
  reader.consume(&fragments[0][0], fragments[0].size(), sink);
  reader.consume(&fragments[1][0], fragments[1].size(), sink);
  CHECK(reader.buffered_bytes() >= 2 * part.size());
  reader.consume(&fragments[2][0], fragments[2].size(), sink);
  REQUIRE(sink.events.size() == 1);
  CHECK(sink.events[0].payload == part + part + part);
  CHECK(reader.buffered_bytes() == 0);

  // A frame and a control frame that span reads are gathered too, and freed as well.
  for (std::string frame : {binary(pattern(3000)), ping(pattern(125)), close_frame(1000, std::string(100, 'r'))}) {
    const std::size_t half = frame.size() / 2;
    reader.consume(&frame[0], half, sink);
    CHECK(reader.buffered_bytes() > 0);
    reader.consume(&frame[half], frame.size() - half, sink);
    CHECK(reader.buffered_bytes() == 0);
  }
  CHECK(sink.events.size() == 4);
  CHECK(sink.events.back() == event{"close", std::string(100, 'r'), 1000});
}

TEST_CASE("unmask_ws_payload matches a byte-by-byte XOR at every phase and length", "[websocket_reader]") {
  const unsigned char key[4] = {0x01, 0x80, 0xFE, 0x37};
  const std::string original = pattern(64, 3);
  for (unsigned phase = 0; phase < 4; ++phase) {
    for (std::size_t offset = 0; offset < 8; ++offset) {
      for (std::size_t size = 0; size + offset <= original.size(); ++size) {
        std::string data = original;
        const unsigned next = unmask_ws_payload(&data[offset], size, key, phase);
        std::string expected = original;
        for (std::size_t i = 0; i < size; ++i) expected[offset + i] ^= static_cast<char>(key[(phase + i) & 3]);
        REQUIRE(data == expected);  // neither the bytes before `offset` nor after `size` changed
        REQUIRE(next == ((phase + size) & 3));
      }
    }
  }
}

TEST_CASE("is_valid_close_code follows RFC 6455 7.4", "[websocket_reader]") {
  std::vector<unsigned> valid;
  for (unsigned code = 0; code <= 0xFFFF; ++code)
    if (is_valid_close_code(static_cast<std::uint16_t>(code))) valid.push_back(code);
  std::vector<unsigned> expected = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014};
  for (unsigned code = 3000; code <= 4999; ++code) expected.push_back(code);
  CHECK(valid == expected);
}
