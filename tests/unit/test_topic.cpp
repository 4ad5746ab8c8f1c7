// Topic validation and matching (PROTOCOL.md section 4).
#include <switchboard/topic.hpp>

#include <catch2/catch.hpp>

#include <string>

using switchboard::classify_topic;
using switchboard::topic_kind;
using switchboard::topic_matches;

// Usable in constant expressions, e.g. for topics fixed at compile time.
static_assert(classify_topic("room.*.messages") == topic_kind::pattern, "constexpr classification");
static_assert(topic_matches("room.>", "room.1"), "constexpr matching");

namespace {

struct kind_case {
  std::string topic;
  topic_kind expected;
};

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

}  // namespace

TEST_CASE("classify_topic sorts strings into exact topics, patterns and invalid ones", "[topic]") {
  const kind_case cases[] = {
      // exact
      {"a", topic_kind::exact},
      {"room.1.messages", topic_kind::exact},
      {"AZ.az.09._.-.:.@", topic_kind::exact},
      {"user@example.com:7", topic_kind::exact},
      {repeat('a', 255), topic_kind::exact},
      {repeat('a', 127) + "." + repeat('b', 127), topic_kind::exact},
      // patterns
      {"*", topic_kind::pattern},
      {">", topic_kind::pattern},
      {"*.x", topic_kind::pattern},
      {"x.*", topic_kind::pattern},
      {"*.*", topic_kind::pattern},
      {"*.>", topic_kind::pattern},
      {"room.>", topic_kind::pattern},
      {"room.*.messages", topic_kind::pattern},
      {"a.*.>", topic_kind::pattern},
      {repeat('a', 253) + ".>", topic_kind::pattern},
      // length
      {"", topic_kind::invalid},
      {repeat('a', 256), topic_kind::invalid},
      {repeat('a', 254) + ".>", topic_kind::invalid},
      // empty tokens
      {".", topic_kind::invalid},
      {"..", topic_kind::invalid},
      {"a..b", topic_kind::invalid},
      {".a", topic_kind::invalid},
      {"a.", topic_kind::invalid},
      {"room.>.", topic_kind::invalid},
      {".*", topic_kind::invalid},
      // bad characters
      {"a b", topic_kind::invalid},
      {"a/b", topic_kind::invalid},
      {"a\tb", topic_kind::invalid},
      {"room.$", topic_kind::invalid},
      {"caf\xc3\xa9", topic_kind::invalid},
      {std::string("a\0b", 3), topic_kind::invalid},
      {"a\"b", topic_kind::invalid},
      // wildcards that are not whole tokens
      {"a*", topic_kind::invalid},
      {"*a", topic_kind::invalid},
      {"a.b*", topic_kind::invalid},
      {"**", topic_kind::invalid},
      {"a>", topic_kind::invalid},
      {">a", topic_kind::invalid},
      {">>", topic_kind::invalid},
      // `>` not last
      {">.a", topic_kind::invalid},
      {"a.>.b", topic_kind::invalid},
      {">.>", topic_kind::invalid},
      {">.*", topic_kind::invalid},
  };
  for (const auto& c : cases) {
    CAPTURE(c.topic, c.topic.size());
    CHECK(classify_topic(c.topic) == c.expected);
  }
}

TEST_CASE("every byte outside A-Z a-z 0-9 _ - : @ is refused in a token", "[topic]") {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const std::string one(1, c);
    const std::string inside = std::string("ab") + c + "cd";
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                         c == '-' || c == ':' || c == '@';
    CAPTURE(b);
    CHECK(switchboard::is_topic_char(c) == allowed);
    if (c == '*' || c == '>')
      CHECK(classify_topic(one) == topic_kind::pattern);
    else if (c == '.')
      CHECK(classify_topic(one) == topic_kind::invalid);
    else
      CHECK(classify_topic(one) == (allowed ? topic_kind::exact : topic_kind::invalid));
    // Inside a token a '.' separates two tokens; any other byte must be a topic character.
    CHECK(classify_topic(inside) == (allowed || c == '.' ? topic_kind::exact : topic_kind::invalid));
  }
}

namespace {
struct match_case {
  const char* pattern;
  const char* topic;
  bool matches;
};
}  // namespace

TEST_CASE("topic_matches follows NATS wildcard semantics", "[topic]") {
  const match_case cases[] = {
      // exact subscriptions match only themselves
      {"room", "room", true},
      {"room", "room.1", false},
      {"room.1", "room", false},
      {"room.1", "room.10", false},
      {"ab", "a", false},
      {"a", "ab", false},
      {"a.b", "a.bc", false},
      {"a.b.c", "a.b.c", true},
      // `*` is exactly one token
      {"*", "a", true},
      {"*", "a.b", false},
      {"*.x", "a.x", true},
      {"*.x", "x", false},
      {"*.x", "a.x.y", false},
      {"*.x", "a.y", false},
      {"x.*", "x", false},
      {"x.*", "x.y", true},
      {"*.*", "a.b", true},
      {"*.*", "a", false},
      {"*.*", "a.b.c", false},
      {"room.*.messages", "room.1.messages", true},
      {"room.*.messages", "room.1.2.messages", false},
      {"room.*.messages", "room.messages", false},
      {"room.*.messages", "hall.1.messages", false},
      // `>` is one or more tokens at the end
      {">", "a", true},
      {">", "a.b.c", true},
      {"room.>", "room.1", true},
      {"room.>", "room.1.messages", true},
      {"room.>", "room", false},
      {"room.>", "rooms.1", false},
      {"room.>", "hall.1", false},
      {"*.>", "a", false},
      {"*.>", "a.b", true},
      {"a.*.>", "a.b", false},
      {"a.*.>", "a.b.c", true},
      {"a.*.>", "a.b.c.d", true},
      {"a.*.>", "b.b.c", false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.pattern, c.topic);
    REQUIRE(classify_topic(c.pattern) != topic_kind::invalid);
    REQUIRE(classify_topic(c.topic) == topic_kind::exact);
    CHECK(topic_matches(c.pattern, c.topic) == c.matches);
  }
}
