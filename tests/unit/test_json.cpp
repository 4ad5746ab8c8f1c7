// The request parser (field shapes, ids, raw `data` spans), the JSON writers and base64.
#include <switchboard/detail/json.hpp>
#include <switchboard/detail/websocket_handshake.hpp>

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using switchboard::detail::parsed_request;
using switchboard::detail::request_parser;

namespace {

std::string problem_of(const parsed_request& r) { return r.problem ? r.problem : ""; }

struct id_case {
  std::string id_json;
  bool valid;
};

}  // namespace

TEST_CASE("request ids: integers up to 2^53-1 and strings up to 64 bytes", "[json]") {
  const id_case cases[] = {
      {"0", true},
      {"1", true},
      {"9007199254740991", true},
      {"\"\"", true},
      {"\"abc\"", true},
      {"\"" + std::string(64, 'x') + "\"", true},
      {"\"\\u00e9\"", true},
      {"9007199254740992", false},
      {"18446744073709551615", false},
      {"18446744073709551616", false},
      {"-1", false},
      {"-9007199254740991", false},
      {"1.0", false},
      {"1.5", false},
      {"1e3", false},
      {"\"" + std::string(65, 'x') + "\"", false},
      {"{}", false},
      {"{\"a\":1}", false},
      {"[]", false},
      {"[1]", false},
      {"true", false},
      {"false", false},
  };
  for (const auto& c : cases) {
    const std::string text = R"({"type":"ping","id":)" + c.id_json + "}";
    CAPTURE(text);
    const parsed_request r = request_parser::parse(text);
    CHECK_FALSE(r.bad_json);
    REQUIRE(r.type == std::optional<std::string>("ping"));
    if (c.valid) {
      CHECK(r.problem == nullptr);
      CHECK(r.id == c.id_json);  // raw span, spliced into the reply as is
    } else {
      CHECK(problem_of(r) == "id");
      CHECK(r.id.empty());
    }
  }
}

TEST_CASE("request id null is the same as no id", "[json]") {
  for (const char* text : {R"({"type":"ping","id":null})", R"({"type":"ping"})", R"({"id" : null , "type":"ping"})"}) {
    CAPTURE(text);
    const parsed_request r = request_parser::parse(text);
    CHECK_FALSE(r.bad_json);
    CHECK(r.problem == nullptr);
    CHECK(r.id.empty());
  }
}

TEST_CASE("request id keeps its raw spelling wherever it appears", "[json]") {
  const parsed_request r = request_parser::parse("{ \"id\" :\t\"a\\\"b\" ,\n\"type\":\"ping\"}");
  CHECK(r.problem == nullptr);
  CHECK(r.id == "\"a\\\"b\"");
  CHECK(request_parser::parse(R"({"id":42,"type":"ping"})").id == "42");
}

TEST_CASE("request string fields: type, topic, to, name, token", "[json]") {
  const parsed_request r =
      request_parser::parse(R"({"type":"direct","topic":"room.1","to":"bob","name":"n","token":"t","extra":[1,{"to":5}]})");
  CHECK_FALSE(r.bad_json);
  CHECK(r.problem == nullptr);
  CHECK(r.type == std::optional<std::string>("direct"));
  CHECK(r.topic == std::optional<std::string>("room.1"));
  CHECK(r.to == std::optional<std::string>("bob"));
  CHECK(r.name == std::optional<std::string>("n"));
  CHECK(r.token == std::optional<std::string>("t"));

  // Escapes are decoded in copied strings.
  CHECK(request_parser::parse(R"({"type":"p\u0069ng"})").type == std::optional<std::string>("ping"));

  SECTION("a type that is not a string counts as missing") {
    for (const char* text : {R"({"type":1})", R"({"type":null})", R"({"type":{}})", R"({"topic":"a"})", "{}"}) {
      CAPTURE(text);
      const parsed_request bad = request_parser::parse(text);
      CHECK_FALSE(bad.bad_json);
      CHECK_FALSE(bad.type.has_value());
    }
  }
  SECTION("other string fields of the wrong shape are named as the problem") {
    for (const char* field : {"topic", "to", "name", "token"}) {
      for (const char* value : {"1", "true", "[]", "{}", "1.5"}) {
        const std::string text = std::string(R"({"type":"x",")") + field + "\":" + value + "}";
        CAPTURE(text);
        CHECK(problem_of(request_parser::parse(text)) == field);
      }
      const std::string null_text = std::string(R"({"type":"x",")") + field + "\":null}";
      CHECK(request_parser::parse(null_text).problem == nullptr);
    }
  }
}

TEST_CASE("request topics: an array of strings", "[json]") {
  SECTION("valid") {
    const parsed_request r = request_parser::parse(R"({"topics":["a", "b.*" ,"c"]})");
    CHECK(r.problem == nullptr);
    REQUIRE(r.topics.has_value());
    CHECK(*r.topics == std::vector<std::string>{"a", "b.*", "c"});
  }
  SECTION("empty array is present and empty") {
    const parsed_request r = request_parser::parse(R"({"topics":[]})");
    CHECK(r.problem == nullptr);
    REQUIRE(r.topics.has_value());
    CHECK(r.topics->empty());
  }
  SECTION("absent") { CHECK_FALSE(request_parser::parse(R"({"type":"x"})").topics.has_value()); }
  SECTION("wrong shapes") {
    // What was collected before the problem was seen; never a string from inside a nested
    // or wrong container. An absent list counts as empty.
    const std::vector<std::pair<const char*, std::vector<std::string>>> cases = {
        {R"({"topics":"a"})", {}},           {R"({"topics":1})", {}},
        {R"({"topics":["a",1]})", {"a"}},    {R"({"topics":[null]})", {}},
        {R"({"topics":[["a"]]})", {}},       {R"({"topics":[{"a":"b"}]})", {}},
        {R"({"topics":{"k":"a"}})", {}},     {R"({"topics":["x",["a"],"y"]})", {"x", "y"}},
    };
    for (const auto& [text, collected] : cases) {
      CAPTURE(text);
      const parsed_request r = request_parser::parse(text);
      CHECK_FALSE(r.bad_json);
      CHECK(problem_of(r) == "topics");
      CHECK(r.topics.value_or(std::vector<std::string>{}) == collected);
    }
  }
}

TEST_CASE("request since: a number, or an object of topic positions", "[json]") {
  SECTION("a bare number (history)") {
    const parsed_request r = request_parser::parse(R"({"since":40})");
    CHECK(r.problem == nullptr);
    CHECK(r.since_seq == std::optional<std::uint64_t>(40));
    CHECK(r.since_topics.empty());
  }
  SECTION("an object of numbers and of {seq, epoch}") {
    const parsed_request r = request_parser::parse(
        R"({"since":{"room.1":41,"room.2":{"seq":7,"epoch":"e-1"},"room.3":{"epoch":"x","seq":0},"room.4":{"seq":9},"room.5":{"seq":1,"other":"ignored"}}})");
    CHECK(r.problem == nullptr);
    CHECK_FALSE(r.since_seq.has_value());
    REQUIRE(r.since_topics.size() == 5);
    CHECK(r.since_topics[0].topic == "room.1");
    CHECK(r.since_topics[0].seq == 41);
    CHECK_FALSE(r.since_topics[0].epoch.has_value());
    CHECK(r.since_topics[1].topic == "room.2");
    CHECK(r.since_topics[1].seq == 7);
    CHECK(r.since_topics[1].epoch == std::optional<std::string>("e-1"));
    CHECK(r.since_topics[2].seq == 0);
    CHECK(r.since_topics[2].epoch == std::optional<std::string>("x"));
    CHECK(r.since_topics[3].seq == 9);
    CHECK_FALSE(r.since_topics[3].epoch.has_value());
    CHECK(r.since_topics[4].seq == 1);
  }
  SECTION("wrong shapes, including arrays (whose elements must not be read as positions)") {
    for (const char* text :
         {R"({"since":"x"})", R"({"since":-1})", R"({"since":1.5})", R"({"since":[1]})", R"({"since":[{"seq":1}]})",
          R"({"since":{"t":"x"}})", R"({"since":{"t":-1}})", R"({"since":{"t":[1]}})", R"({"since":{"t":{"seq":"1"}}})",
          R"({"since":{"t":{"seq":-1}}})", R"({"since":{"t":{"epoch":1}}})", R"({"since":{"t":{"seq":{"a":1}}}})"}) {
      CAPTURE(text);
      const parsed_request r = request_parser::parse(text);
      CHECK_FALSE(r.bad_json);
      CHECK(problem_of(r) == "since");
    }
  }
}

TEST_CASE("request limit", "[json]") {
  CHECK(request_parser::parse(R"({"limit":5})").limit == std::optional<std::uint64_t>(5));
  CHECK_FALSE(request_parser::parse(R"({"limit":null})").limit.has_value());
  CHECK(request_parser::parse(R"({"limit":null})").problem == nullptr);
  for (const char* text : {R"({"limit":"5"})", R"({"limit":-5})", R"({"limit":5.5})", R"({"limit":[]})"}) {
    CAPTURE(text);
    CHECK(problem_of(request_parser::parse(text)) == "limit");
  }
}

TEST_CASE("request data and params are raw spans of the frame, byte for byte", "[json]") {
  const std::vector<std::string> values = {
      R"({"text":"hi"})",
      R"({ "b" : 1 ,"a":[ 1,2 ] })",
      R"({"s":"}{][\"","n":{"m":{"k":"{"}}})",
      R"([1, {"b":[]}, "]"])",
      "[]",
      "{}",
      R"("just a string")",
      R"("esc\"aped\\\u00e9")",
      "12",
      "-1.5e+3",
      "0",
      "true",
      "false",
      "null",
  };
  const std::vector<std::pair<std::string, std::string>> spacing = {
      {"", ""}, {" ", " "}, {"\t\n\r ", "\n\t"}, {" \n", ""}};
  for (const auto& v : values) {
    for (const auto& [before, after] : spacing) {
      for (const char* field : {"data", "params"}) {
        const std::string text = std::string(R"({"type":"publish","topic":"a",")") + field + "\"" + before + ":" + before +
                                 v + after + R"(,"id":3})";
        CAPTURE(text);
        const parsed_request r = request_parser::parse(text);
        REQUIRE_FALSE(r.bad_json);
        CHECK(r.problem == nullptr);
        CHECK(r.id == "3");
        CHECK((std::string(field) == "data" ? r.data : r.params) == v);
        CHECK((std::string(field) == "data" ? r.params : r.data).empty());
      }
    }
    // Also as the last member, directly before the closing brace.
    const std::string last = R"({"type":"publish","data":)" + v + "}";
    CAPTURE(last);
    CHECK(request_parser::parse(last).data == v);
  }
  CHECK(request_parser::parse(R"({"type":"publish"})").data.empty());
  // A nested "data" key is not the request's data.
  CHECK(request_parser::parse(R"({"x":{"data":1},"data":2})").data == "2");
  CHECK(request_parser::parse(R"({"data":{"data":{"x":1}}})").data == R"({"data":{"x":1}})");
}

TEST_CASE("bad_json: not JSON, or not an object", "[json]") {
  const std::vector<std::string> cases = {
      "",
      "   ",
      "[]",
      "[1]",
      "1",
      "\"s\"",
      "null",
      "true",
      "{",
      "}",
      R"({"a":)",
      R"({"a":1)",
      R"({"a":1,})",
      R"({"a":1}x)",
      R"({"a":1}{})",
      R"({"a":1} 1)",
      R"({'a':1})",
      R"({a:1})",
      R"({"a":01})",
      R"({"a":[1,2})",
      R"({"a":"unterminated})",
      R"({"a":tru})",
      R"({"topic":1,)",  // a field problem does not hide a later syntax error
      std::string("{\"type\":\"ping\"}\0x", 17),
      std::string("{\"type\":\"pi\0ng\"}", 16),
  };
  for (const auto& text : cases) {
    CAPTURE(text);
    CHECK(request_parser::parse(text).bad_json);
  }
  // Surrounding whitespace is fine.
  const parsed_request ok = request_parser::parse(" \r\n\t{\"type\":\"ping\"} \n");
  CHECK_FALSE(ok.bad_json);
  CHECK(ok.type == std::optional<std::string>("ping"));
}

TEST_CASE("deep nesting neither crashes nor loses the raw span", "[json]") {
  constexpr std::size_t depth = 100000;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');

  const std::string frame = R"({"type":"publish","data":)" + nested + "}";  // r.data views it
  const parsed_request r = request_parser::parse(frame);
  CHECK_FALSE(r.bad_json);
  CHECK(r.data.size() == nested.size());
  CHECK(r.data == nested);

  std::string objects;
  for (std::size_t i = 0; i < depth; ++i) objects += R"({"a":)";
  objects += "1";
  objects += std::string(depth, '}');
  CHECK_FALSE(request_parser::parse(objects).bad_json);

  CHECK(request_parser::parse(std::string(depth, '{')).bad_json);
  CHECK(request_parser::parse(R"({"data":)" + std::string(depth, '[')).bad_json);
  CHECK(request_parser::parse(nested).bad_json);  // root is an array
}

TEST_CASE("append_json_string escapes what JSON requires and round-trips", "[json]") {
  auto quoted = [](std::string_view s) {
    std::string out;
    switchboard::detail::append_json_string(out, s);
    return out;
  };
  CHECK(quoted("") == R"("")");
  CHECK(quoted("plain text") == R"("plain text")");
  CHECK(quoted("a\"b") == R"("a\"b")");
  CHECK(quoted("a\\b") == R"("a\\b")");
  CHECK(quoted("\n\r\t") == R"("\n\r\t")");
  CHECK(quoted(std::string_view("\0", 1)) == R"("\u0000")");
  CHECK(quoted("\x01\x1f") == R"("\u0001\u001f")");
  CHECK(quoted("\b\f") == R"("\u0008\u000c")");
  CHECK(quoted("caf\xc3\xa9 \x7f /") == "\"caf\xc3\xa9 \x7f /\"");

  std::string every_ascii;
  for (int c = 0; c < 128; ++c) every_ascii.push_back(static_cast<char>(c));
  const std::string encoded = quoted(every_ascii);
  rapidjson::Document doc;
  doc.Parse(encoded.data(), encoded.size());
  REQUIRE_FALSE(doc.HasParseError());
  REQUIRE(doc.IsString());
  CHECK(std::string(doc.GetString(), doc.GetStringLength()) == every_ascii);
}

TEST_CASE("append_uint writes decimal digits", "[json]") {
  for (const auto& [value, text] : std::vector<std::pair<std::uint64_t, std::string>>{
           {0, "0"}, {7, "7"}, {10, "10"}, {9007199254740991ull, "9007199254740991"},
           {18446744073709551615ull, "18446744073709551615"}}) {
    std::string out = "x";
    switchboard::detail::append_uint(out, value);
    CHECK(out == "x" + text);
  }
}

TEST_CASE("append_base64 matches the RFC 4648 test vectors", "[json]") {
  auto b64 = [](std::string_view s) {
    std::string out;
    switchboard::detail::append_base64(out, s);
    return out;
  };
  CHECK(b64("") == "");
  CHECK(b64("f") == "Zg==");
  CHECK(b64("fo") == "Zm8=");
  CHECK(b64("foo") == "Zm9v");
  CHECK(b64("foob") == "Zm9vYg==");
  CHECK(b64("fooba") == "Zm9vYmE=");
  CHECK(b64("foobar") == "Zm9vYmFy");
  // The two characters beyond the letters and digits, and bytes with the high bit set.
  CHECK(b64(std::string_view("\xfb\xff", 2)) == "+/8=");
  CHECK(b64(std::string_view("\xff\xfe\x00", 3)) == "//4A");
  CHECK(b64(std::string_view("\x00\x00\x00\x00", 4)) == "AAAAAA==");
}

TEST_CASE("base64url encodes with - and _ and without padding", "[json][base64]") {
  using switchboard::detail::base64_variant;
  auto b64url = [](std::string_view s) {
    std::string out;
    switchboard::detail::append_base64(out, s, base64_variant::url);
    return out;
  };
  CHECK(b64url("") == "");
  CHECK(b64url("f") == "Zg");
  CHECK(b64url("fo") == "Zm8");
  CHECK(b64url("foo") == "Zm9v");
  CHECK(b64url("foob") == "Zm9vYg");
  CHECK(b64url(std::string_view("\xfb\xff", 2)) == "-_8");
}

TEST_CASE("decode_base64 accepts only the canonical encoding", "[json][base64]") {
  using switchboard::detail::base64_variant;
  using switchboard::detail::decode_base64;
  auto decoded = [](std::string_view text, base64_variant variant) -> std::optional<std::string> {
    std::string out;
    if (!decode_base64(text, out, variant)) return std::nullopt;
    return out;
  };
  const auto standard = base64_variant::standard;
  const auto url = base64_variant::url;
  SECTION("the RFC 4648 vectors, both ways") {
    for (const std::string_view plain : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
      for (const auto variant : {standard, url}) {
        std::string text;
        switchboard::detail::append_base64(text, plain, variant);
        CHECK(decoded(text, variant) == std::string(plain));
      }
    }
    CHECK(decoded("+/8=", standard) == std::string("\xfb\xff"));
    CHECK(decoded("-_8", url) == std::string("\xfb\xff"));
  }
  SECTION("standard: padding is required, only at the end, at most two") {
    CHECK_FALSE(decoded("Zg", standard));
    CHECK_FALSE(decoded("Zg=", standard));
    CHECK_FALSE(decoded("Zg===", standard));
    CHECK_FALSE(decoded("Z===", standard));
    CHECK_FALSE(decoded("====", standard));
    CHECK_FALSE(decoded("Zg==Zm9v", standard));
    CHECK_FALSE(decoded("Zm=v", standard));
  }
  SECTION("url: no padding, and no leftover single digit") {
    CHECK_FALSE(decoded("Zg==", url));
    CHECK_FALSE(decoded("Zm8=", url));
    CHECK_FALSE(decoded("Zm9vY", url));
    CHECK_FALSE(decoded("Z", url));
  }
  SECTION("characters of the other alphabet, or of none") {
    CHECK_FALSE(decoded("-_8=", standard));
    CHECK_FALSE(decoded("+/8", url));
    CHECK_FALSE(decoded("Zm9 v", url));
    CHECK_FALSE(decoded("Zm9v\n", url));
    CHECK_FALSE(decoded(std::string_view("Zm\0v", 4), url));
    CHECK_FALSE(decoded("Zm9\xc3\xa9", url));
  }
  SECTION("unused bits must be zero") {
    CHECK(decoded("Zg", url) == std::string("f"));
    CHECK_FALSE(decoded("Zh", url));   // 'h' sets one of the four unused bits
    CHECK_FALSE(decoded("Zh==", standard));
    CHECK(decoded("Zm8", url) == std::string("fo"));
    CHECK_FALSE(decoded("Zm9", url));  // '9' sets one of the two unused bits
  }
  SECTION("a Sec-WebSocket-Key is the base64 of exactly 16 bytes") {
    CHECK(switchboard::detail::is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ=="));
    CHECK_FALSE(switchboard::detail::is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZR=="));  // stray bits
    CHECK_FALSE(switchboard::detail::is_valid_websocket_key("dGhlIHNhbXBsZSBub25j"));
    CHECK_FALSE(switchboard::detail::is_valid_websocket_key("dGhlIHNhbXBsZSBub25jZQ"));
  }
}
