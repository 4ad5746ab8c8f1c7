// Shared, immutable outgoing frames and their WebSocket headers.
#include <switchboard/frame.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

using switchboard::frame_kind;
using switchboard::frame_writer;
using switchboard::make_frame;
using switchboard::shared_frame;

namespace {
// The reference count behind `f`, read through the block header that sits in front of
// the payload's headroom (white-box: a handle's own methods cannot tell a shared buffer
// from a leaked or a prematurely freed one).
std::uint32_t refs(const shared_frame& f) {
  using block = switchboard::detail::frame_block;
  const char* headroom = f.payload().data() - block::headroom;
  return (reinterpret_cast<const block*>(headroom) - 1)->refs.load(std::memory_order_acquire);
}
}  // namespace

TEST_CASE("shared_frame copies share one buffer that lives while any handle does", "[frame]") {
  const std::string text = R"({"type":"message","data":1})";
  std::vector<shared_frame> copies;
  const char* bytes = nullptr;
  {
    shared_frame original = make_frame(frame_kind::text, text);
    REQUIRE(original);
    CHECK(refs(original) == 1);
    bytes = original.payload().data();
    for (int i = 0; i < 1000; ++i) copies.push_back(original);
    CHECK(refs(original) == 1001);
  }  // the original handle is gone; the copies keep the bytes alive
  CHECK(refs(copies.front()) == 1000);
  std::mt19937 rng(7);
  std::shuffle(copies.begin(), copies.end(), rng);
  while (copies.size() > 1) {
    copies.pop_back();
    REQUIRE(copies.front().payload().data() == bytes);
    REQUIRE(refs(copies.front()) == copies.size());  // each dropped handle released exactly one reference
  }
  CHECK(copies.front().payload() == text);
  CHECK(copies.front().kind() == frame_kind::text);
}

TEST_CASE("shared_frame move, assignment and empty handles", "[frame]") {
  shared_frame empty;
  CHECK_FALSE(empty);

  shared_frame a = make_frame(frame_kind::binary, std::string_view("\x02\x01x", 3));
  const char* bytes = a.payload().data();
  shared_frame b = std::move(a);
  CHECK_FALSE(a);  // a moved-from handle is empty
  REQUIRE(b);
  CHECK(b.payload().data() == bytes);
  CHECK(b.kind() == frame_kind::binary);
  CHECK(refs(b) == 1);  // a move takes the reference over, it adds none

  shared_frame c = make_frame(frame_kind::text, "other");
  c = b;  // the old buffer of c is released, b's is shared
  CHECK(c.payload().data() == bytes);
  CHECK(refs(b) == 2);
  const shared_frame& same = c;  // through a reference: a plain `c = c` is a Clang warning
  c = same;                       // self-assignment keeps the frame
  CHECK(c.payload().data() == bytes);
  CHECK(refs(b) == 2);
  c = shared_frame();
  CHECK_FALSE(c);
  CHECK(refs(b) == 1);
  CHECK(b.payload() == std::string_view("\x02\x01x", 3));
}

TEST_CASE("shared_frame handles may be copied and dropped on several threads", "[frame]") {
  const shared_frame frame = make_frame(frame_kind::text, std::string(300, 'z'));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&frame, &go] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();  // start together
      std::vector<shared_frame> held;
      for (int i = 0; i < 20000; ++i) {
        shared_frame copy = frame;
        shared_frame moved = std::move(copy);
        if (i % 8 == 0) held.push_back(moved);  // some copies outlive the iteration
      }
    });
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  // Every copy made on the threads was released: a lost update would leave this off by some.
  CHECK(refs(frame) == 1);
  CHECK(frame.payload() == std::string(300, 'z'));
}

namespace {
struct header_case {
  std::size_t size;
  std::vector<unsigned char> header;  // for a text frame
};
}  // namespace

TEST_CASE("shared_frame wire() is a final unmasked WebSocket frame", "[frame]") {
  const header_case cases[] = {
      {0, {0x81, 0x00}},
      {1, {0x81, 0x01}},
      {125, {0x81, 0x7D}},
      {126, {0x81, 0x7E, 0x00, 0x7E}},
      {65535, {0x81, 0x7E, 0xFF, 0xFF}},
      {65536, {0x81, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}},
      {70000, {0x81, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.size);
    std::string payload(c.size, 'p');
    if (!payload.empty()) payload.back() = 'q';
    for (const frame_kind kind : {frame_kind::text, frame_kind::binary}) {
      const shared_frame f = make_frame(kind, payload);
      const std::string_view wire = f.wire();
      REQUIRE(wire.size() == c.header.size() + c.size);
      std::vector<unsigned char> header(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(c.header.size()));
      std::vector<unsigned char> expected = c.header;
      if (kind == frame_kind::binary) expected[0] = 0x82;
      CHECK(header == expected);
      CHECK(wire.substr(c.header.size()) == payload);
      CHECK(f.payload() == payload);
      CHECK(f.payload().data() == wire.data() + c.header.size());  // one buffer, header in front
    }
  }
}

TEST_CASE("frame_writer builds a frame piece by piece, growing as needed", "[frame]") {
  frame_writer w(frame_kind::text, 1);  // a tiny hint forces several reallocations
  std::string expected;
  for (int i = 0; i < 500; ++i) {
    const std::string piece = "<" + std::to_string(i) + ">";
    w.append(piece);
    w.push_back(',');
    expected += piece + ",";
  }
  char* at = w.extend(3);
  at[0] = 'e';
  at[1] = 'n';
  at[2] = 'd';
  w.append("!!", 1);
  expected += "end!";
  CHECK(w.size() == expected.size());
  CHECK(w.view() == expected);
  const shared_frame f = std::move(w).finish();
  CHECK(f.payload() == expected);
  CHECK(f.kind() == frame_kind::text);
  CHECK(f.wire().size() == expected.size() + 4);  // 126..65535 bytes: 4-byte header

  frame_writer empty(frame_kind::binary, 0);
  const shared_frame e = std::move(empty).finish();
  CHECK(e.payload().empty());
  CHECK(e.wire() == std::string_view("\x82\x00", 2));
}
