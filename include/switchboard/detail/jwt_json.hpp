// Reading the JSON of a JWT's header and claims: a SAX pass that keeps only the
// top-level members it is asked for, bounded in depth, refusing what a token must not be.
#ifndef SWITCHBOARD_DETAIL_JWT_JSON_HPP
#define SWITCHBOARD_DETAIL_JWT_JSON_HPP

#include <switchboard/detail/utf8.hpp>

#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard {
namespace detail {

/// Deepest nesting a token's JSON may have. The members switchboard reads need two
/// levels (an object holding arrays of strings); the rest is room for issuers' own claims.
constexpr int max_jwt_json_depth = 16;

/// The shape of one top-level member, as far as JWT claims care.
enum class json_member_kind : std::uint8_t {
  absent,        ///< not in the object
  string,        ///< `text`
  integer,       ///< `integer` (fits in int64)
  real,          ///< `real` (a fraction, an exponent, or an integer past int64)
  string_array,  ///< `strings` (an array holding only strings, possibly none)
  other,         ///< null, a boolean, an object, or an array holding anything else
};

/// One top-level member's value.
struct json_member {
  json_member_kind kind = json_member_kind::absent;
  std::string text;
  std::int64_t integer = 0;
  double real = 0;
  std::vector<std::string> strings;
};

/// Reads the top-level members of the JSON object `json` whose names are in `names` into
/// the matching element of `members`. Returns false when `json` is not exactly one
/// object of valid UTF-8 (its strings' escapes included: RapidJSON 1.1 decodes a lone
/// `\udc00` into bytes that are not UTF-8), nests deeper than `max_jwt_json_depth`, or names a wanted
/// member twice (parsers disagree on which of two duplicates counts, so a token that
/// relies on either is refused). Iterative: nesting never grows the call stack.
template <std::size_t N>
bool read_json_members(std::string_view json, const std::array<std::string_view, N>& names,
                       std::array<json_member, N>& members) {
  class handler {
   public:
    handler(const std::array<std::string_view, N>& names, std::array<json_member, N>& members)
        : names_(names), members_(members) {}

    bool Null() { return scalar(json_member_kind::other); }
    bool Bool(bool) { return scalar(json_member_kind::other); }
    bool Int(int v) { return Int64(v); }
    bool Uint(unsigned v) { return Int64(v); }
    bool Int64(std::int64_t v) {
      if (json_member* m = member_at_depth_1()) m->integer = v;
      return scalar(json_member_kind::integer);
    }
    bool Uint64(std::uint64_t v) {
      if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return Int64(static_cast<std::int64_t>(v));
      return Double(static_cast<double>(v));
    }
    bool Double(double v) {
      if (json_member* m = member_at_depth_1()) m->real = v;
      return scalar(json_member_kind::real);
    }
    bool RawNumber(const char*, rapidjson::SizeType, bool) { return false; }  // not requested
    bool String(const char* s, rapidjson::SizeType n, bool) {
      if (!is_valid_utf8(std::string_view(s, n))) return false;  // an escaped lone surrogate
      if (json_member* m = member_at_depth_1())
        m->text.assign(s, n);
      else if (depth_ == 2 && in_array_ && current_ && current_->kind == json_member_kind::string_array)
        current_->strings.emplace_back(s, n);
      return scalar(json_member_kind::string);
    }
    bool Key(const char* s, rapidjson::SizeType n, bool) {
      const std::string_view key(s, n);
      if (!is_valid_utf8(key)) return false;
      if (depth_ != 1) return true;
      current_ = nullptr;
      for (std::size_t i = 0; i < N; ++i) {
        if (names_[i] != key) continue;
        if (members_[i].kind != json_member_kind::absent) return false;  // a duplicate
        current_ = &members_[i];
      }
      return true;
    }
    bool StartObject() { return open(false); }
    bool EndObject(rapidjson::SizeType) { return close(); }
    bool StartArray() { return open(true); }
    bool EndArray(rapidjson::SizeType) { return close(); }

   private:
    // The wanted member whose value is being read directly at the top level, if any.
    json_member* member_at_depth_1() const noexcept { return depth_ == 1 ? current_ : nullptr; }

    bool scalar(json_member_kind kind) {
      if (depth_ == 0) return false;  // a bare scalar is JSON, but not an object
      if (json_member* m = member_at_depth_1()) m->kind = kind;
      else if (depth_ == 2 && in_array_ && current_ && kind != json_member_kind::string) spoil();
      return true;
    }

    bool open(bool array) {
      if (depth_ == 0 && array) return false;
      if (depth_ >= max_jwt_json_depth) return false;
      if (json_member* m = member_at_depth_1()) {
        m->kind = array ? json_member_kind::string_array : json_member_kind::other;
        in_array_ = array;
      } else if (depth_ == 2 && current_) {
        spoil();  // a container inside the array: not an array of strings
      }
      ++depth_;
      return true;
    }

    bool close() {
      --depth_;
      if (depth_ == 1) {
        current_ = nullptr;  // the member's value has ended
        in_array_ = false;
      }
      return true;
    }

    void spoil() {
      current_->kind = json_member_kind::other;
      current_->strings.clear();
    }

    const std::array<std::string_view, N>& names_;
    std::array<json_member, N>& members_;
    json_member* current_ = nullptr;  // the wanted member being read
    int depth_ = 0;
    bool in_array_ = false;  // the current member's value is an array
  };

  handler h(names, members);
  rapidjson::MemoryStream memory(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(memory);
  rapidjson::Reader reader;
  if (!reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(stream, h)) return false;
  // The stream reads a NUL byte as its end: text after one would go unread.
  return stream.Tell() == json.size();
}

}  // namespace detail
}  // namespace switchboard

#endif
