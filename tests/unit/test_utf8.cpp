// The incremental UTF-8 validator behind text messages: RFC 3629 exactly, whatever the
// split, and an invalid byte reported in the piece that holds it.
#include <switchboard/detail/utf8.hpp>

#include "support/hex.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using switchboard::detail::is_valid_utf8;
using switchboard::detail::utf8_sequence_length;
using switchboard::detail::utf8_validator;

namespace {

using switchboard::test::hex;

// The definition the rest of the library uses: a string is UTF-8 when it splits into
// sequences that utf8_sequence_length accepts.
bool reference_valid(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// True when some bytes appended to `partial` (1 to 3 bytes, a character cut short)
// make it one whole character. Only the second byte has a range narrower than
// 80..BF, so trying a few second bytes is enough.
bool completes_to_character(std::string_view partial) {
  for (std::size_t length = partial.size() + 1; length <= 4; ++length) {
    for (char second : {'\x80', '\x90', '\xA0', '\xBF'}) {
      std::string candidate(partial);
      if (candidate.size() == 1) candidate += second;
      while (candidate.size() < length) candidate += '\x80';
      if (utf8_sequence_length(candidate, 0) == length) return true;
    }
  }
  return false;
}

// The index of the first byte after which `s` can no longer be the start of valid
// UTF-8, or s.size() when there is none (valid, or only cut short at its end).
std::size_t reference_first_bad_byte(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n != 0) {
      i += n;
      continue;
    }
    for (std::size_t k = i + 1; k <= s.size() && k <= i + 3; ++k)
      if (!completes_to_character(s.substr(i, k - i))) return k - 1;
    if (s.size() - i <= 3) return s.size();  // a character cut short by the end
    return i + 3;                            // four bytes that no character starts with
  }
  return s.size();
}

bool validator_accepts(std::string_view first, std::string_view second) {
  utf8_validator v;
  const bool a = v.feed(first.data(), first.size());
  const bool b = v.feed(second.data(), second.size());
  return a && b && v.complete();
}

const std::vector<std::string> valid_sequences = {
    "",
    "plain ASCII, longer than one eight-byte word",
    std::string("\x00", 1),
    "\x7F",
    "\xC2\x80",          // U+0080, smallest two-byte
    "\xDF\xBF",          // U+07FF
    "\xE0\xA0\x80",      // U+0800, smallest three-byte
    "\xED\x9F\xBF",      // U+D7FF, just under the surrogates
    "\xEE\x80\x80",      // U+E000, just over them
    "\xEF\xBF\xBD",      // U+FFFD
    "\xEF\xBF\xBF",      // U+FFFF
    "\xF0\x90\x80\x80",  // U+10000, smallest four-byte
    "\xF4\x8F\xBF\xBF",  // U+10FFFF, the last code point
    "\xF3\xBF\xBF\xBF",
    "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5",  // κόσμε
    "12345678\xF0\x9F\x98\x80" "abcdefgh\xE2\x82\xAC",
};

const std::vector<std::string> invalid_sequences = {
    "\x80",                      // a stray continuation byte
    "\xBF",
    "abc\x80xyz",
    "\xC2\x80\x80",              // one continuation too many
    "\xC0\x80",                  // overlong NUL
    "\xC1\xBF",                  // overlong two-byte
    "\xE0\x80\x80",              // overlong three-byte
    "\xE0\x9F\xBF",
    "\xF0\x80\x80\x80",          // overlong four-byte
    "\xF0\x8F\xBF\xBF",
    "\xED\xA0\x80",              // U+D800, a surrogate
    "\xED\xBF\xBF",              // U+DFFF
    "\xED\xA0\x80\xED\xB0\x80",  // a surrogate pair, CESU-8 style
    "\xF4\x90\x80\x80",          // U+110000
    "\xF5\x80\x80\x80",          // leads that no character starts with
    "\xF7\xBF\xBF\xBF",
    "\xF8\x88\x80\x80\x80",
    "\xFC\x84\x80\x80\x80\x80",
    "\xFE",
    "\xFF",
    "\xC2",                      // cut short at the end
    "\xE2\x82",
    "\xF0\x9F\x98",
    "abcdefgh\xF0\x9F\x98",
    "\xC2\x41",                  // a lead followed by something else
    "\xE2\x28\xA1",
    "\xF0\x9F\x28\x80",
    "\xE2\x82\xC2\xAC",
    "0123456789abcdef\xFF" "0123456789abcdef",
};

}  // namespace

TEST_CASE("utf8: valid sequences, whole and split at every position", "[utf8]") {
  for (const std::string& s : valid_sequences) {
    INFO(hex(s));
    CHECK(is_valid_utf8(s));
    CHECK(reference_valid(s));
    for (std::size_t cut = 0; cut <= s.size(); ++cut) {
      INFO("split at " << cut);
      CHECK(validator_accepts(std::string_view(s).substr(0, cut), std::string_view(s).substr(cut)));
    }
  }
}

TEST_CASE("utf8: invalid sequences, whole and split at every position", "[utf8]") {
  for (const std::string& s : invalid_sequences) {
    INFO(hex(s));
    CHECK_FALSE(is_valid_utf8(s));
    CHECK_FALSE(reference_valid(s));
    for (std::size_t cut = 0; cut <= s.size(); ++cut) {
      INFO("split at " << cut);
      CHECK_FALSE(validator_accepts(std::string_view(s).substr(0, cut), std::string_view(s).substr(cut)));
    }
  }
}

TEST_CASE("utf8: the piece holding the first bad byte is the one that fails", "[utf8]") {
  // "\xE2\x82" cut short is not a failure until the message ends: feed() accepts it,
  // complete() does not.
  utf8_validator cut_short;
  CHECK(cut_short.feed("\xE2\x82", 2));
  CHECK_FALSE(cut_short.complete());
  CHECK(cut_short.feed("\xAC", 1));
  CHECK(cut_short.complete());

  utf8_validator bad;
  CHECK(bad.feed("ok \xE0", 4));
  CHECK_FALSE(bad.feed("\x80", 1));  // E0 80 is overlong: known at its second byte
  CHECK_FALSE(bad.feed("fine", 4));  // and the validator stays failed
  CHECK_FALSE(bad.complete());

  bad.reset();
  CHECK(bad.feed("fine again", 10));
  CHECK(bad.complete());
}

TEST_CASE("utf8: random bytes against the utf8_sequence_length definition", "[utf8]") {
  // Bytes picked from the classes that matter, so that valid text, near misses and
  // cut-short characters are all frequent.
  const std::vector<std::pair<int, int>> classes = {
      {0x00, 0x7F}, {0x80, 0x8F}, {0x90, 0x9F}, {0xA0, 0xBF}, {0xC0, 0xC1}, {0xC2, 0xDF}, {0xE0, 0xE0},
      {0xE1, 0xEC}, {0xED, 0xED}, {0xEE, 0xEF}, {0xF0, 0xF0}, {0xF1, 0xF3}, {0xF4, 0xF4}, {0xF5, 0xFF}};
  std::mt19937 rng(6455);
  std::uniform_int_distribution<std::size_t> pick_class(0, classes.size() - 1);
  std::uniform_int_distribution<std::size_t> pick_length(0, 24);
  std::size_t valid_seen = 0;
  for (int round = 0; round < 200000; ++round) {
    std::string s(pick_length(rng), '\0');
    for (char& c : s) {
      const auto range = classes[pick_class(rng)];
      c = static_cast<char>(std::uniform_int_distribution<int>(range.first, range.second)(rng));
    }
    // Half of the strings are mostly ASCII, to go through the eight-byte path.
    if (round % 2) {
      for (char& c : s)
        if (rng() % 8 != 0) c = static_cast<char>('a' + rng() % 26);
    }
    const bool expected = reference_valid(s);
    valid_seen += expected;
    INFO(hex(s));
    REQUIRE(is_valid_utf8(s) == expected);

    // Fed in random pieces: the first piece that fails is the one with the first bad byte.
    const std::size_t bad = reference_first_bad_byte(s);
    utf8_validator v;
    std::size_t at = 0;
    bool failed = false;
    while (at < s.size()) {
      const std::size_t n = std::min<std::size_t>(1 + rng() % 10, s.size() - at);
      const bool ok = v.feed(s.data() + at, n);
      const bool holds_bad_byte = bad >= at && bad < at + n;
      if (!failed) REQUIRE(ok == !holds_bad_byte);
      if (!ok) failed = true;
      at += n;
    }
    REQUIRE(v.complete() == expected);
  }
  CHECK(valid_seen > 20000);  // the generator does produce valid text
}
