// JSON on the hot path: writing frames piece by piece, and reading requests with a SAX
// pass that keeps `data` and `params` as raw spans of the original bytes.
#ifndef SWITCHBOARD_DETAIL_JSON_HPP
#define SWITCHBOARD_DETAIL_JSON_HPP

#include <switchboard/detail/base64.hpp>
#include <switchboard/detail/utf8.hpp>

#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard {
namespace detail {

/// Appends `s` as a JSON string literal (quotes included) to `out` (std::string or
/// frame_writer). Bytes that are not well-formed UTF-8 become U+FFFD, so a frame that
/// quotes client input (a name decoded from a lone `\udc00`, say) stays valid UTF-8.
template <class Out>
void append_json_string(Out& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t plain_from = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence_length(s, i);
      if (n != 0) {
        i += n;
        continue;
      }
    }
    out.append(s.substr(plain_from, i - plain_from));
    ++i;
    plain_from = i;
    switch (c) {
      case '"': out.append(std::string_view("\\\"")); break;
      case '\\': out.append(std::string_view("\\\\")); break;
      case '\n': out.append(std::string_view("\\n")); break;
      case '\r': out.append(std::string_view("\\r")); break;
      case '\t': out.append(std::string_view("\\t")); break;
      default:
        if (c >= 0x80) {
          out.append(std::string_view("\\ufffd"));  // a byte that starts no valid sequence
        } else {
          const char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
          out.append(std::string_view(escaped, sizeof escaped));
        }
    }
  }
  out.append(s.substr(plain_from));
  out.push_back('"');
}

/// Appends the decimal digits of `value`.
template <class Out>
void append_uint(Out& out, std::uint64_t value) {
  char digits[20];
  std::size_t n = 0;
  do {
    digits[sizeof digits - 1 - n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  out.append(std::string_view(digits + sizeof digits - n, n));
}

/// Appends `"null"` or `value` as a JSON string.
template <class Out>
void append_json_string_or_null(Out& out, const std::optional<std::string>& value) {
  if (value)
    append_json_string(out, *value);
  else
    out.append(std::string_view("null"));
}

/// Largest integer a request `id` may be (2^53 - 1, exact in every JSON implementation).
constexpr std::uint64_t max_request_id = (std::uint64_t(1) << 53) - 1;
/// Longest string a request `id` may be, in bytes.
constexpr std::size_t max_request_id_bytes = 64;

/// One entry of a subscribe request's `since`.
struct since_position {
  std::string topic;
  std::uint64_t seq = 0;
  std::optional<std::string> epoch;  ///< absent: no epoch check
};

/// The fields of a client request that the built-in types use. Strings are copies (the
/// parser's buffer is transient); `data`, `params` and `id` are spans of the frame itself,
/// so they can be spliced into replies byte for byte.
struct parsed_request {
  bool bad_json = false;        ///< not JSON, or not an object
  const char* problem = nullptr;  ///< first invalid field, for `bad_request`
  std::optional<std::string> type;
  std::string_view id;          ///< raw JSON of a valid id; empty when none
  std::optional<std::string> topic, to, name, token;
  std::optional<std::string> sig;           ///< publish: the publisher's signature (signed_publish.hpp)
  std::optional<std::vector<std::string>> topics;
  std::vector<since_position> since_topics;  ///< subscribe: `since` as an object
  std::optional<std::uint64_t> since_seq;    ///< history: `since` as a number
  std::optional<std::uint64_t> limit;
  std::string_view data, params;             ///< raw JSON values; empty when absent
};

/// The raw JSON of a request's top-level `id`, found by a scan that does not parse
/// the rest (for frames refused before parsing, such as rate-limited ones); empty when
/// there is none, it is invalid, or the frame is malformed. Integer ids follow the
/// usual rule; a string id is returned when its raw form is at most 64 bytes.
inline std::string_view scan_request_id(std::string_view text) noexcept {
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  // Past the string starting at text[i] (a quote); false when it does not end.
  const auto skip_string = [&] {
    for (++i; i < text.size(); ++i) {
      if (text[i] == '\\') ++i;
      else if (text[i] == '"') return ++i, true;
    }
    return false;
  };
  skip_space();
  if (i >= text.size() || text[i] != '{') return {};
  ++i;
  int depth = 1;
  bool expect_key = true;
  while (i < text.size()) {
    skip_space();
    if (i >= text.size()) return {};
    const char c = text[i];
    if (depth == 1 && expect_key) {
      if (c == '}') return {};
      if (c == ',') { ++i; continue; }
      if (c != '"') return {};
      const std::size_t key_begin = i;
      if (!skip_string()) return {};
      const std::string_view key = text.substr(key_begin, i - key_begin);
      skip_space();
      if (i >= text.size() || text[i] != ':') return {};
      ++i;
      skip_space();
      expect_key = false;
      if (key != "\"id\"") continue;
      const std::size_t value_begin = i;
      if (i < text.size() && text[i] == '"') {
        if (!skip_string() || i - value_begin > max_request_id_bytes + 2) return {};
        return text.substr(value_begin, i - value_begin);
      }
      std::uint64_t number = 0;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        number = number * 10 + static_cast<std::uint64_t>(text[i] - '0');
        if (number > max_request_id) return {};
        ++i;
      }
      if (i == value_begin || (text[value_begin] == '0' && i - value_begin > 1)) return {};
      skip_space();
      if (i >= text.size() || (text[i] != ',' && text[i] != '}')) return {};
      return text.substr(value_begin, i - value_begin);
    }
    // Skipping a value (at any depth): strings, brackets, and everything else bytewise.
    if (c == '"') {
      if (!skip_string()) return {};
    } else if (c == '{' || c == '[') {
      ++depth;
      ++i;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return {};
      ++i;
    } else if (c == ',' && depth == 1) {
      expect_key = true;
      ++i;
    } else {
      ++i;
    }
  }
  return {};
}

/// Parses `text` as a client request. Never throws on bad input: sets `bad_json`, or
/// `problem` to the name of the first field of the wrong shape.
class request_parser {
 public:
  static parsed_request parse(std::string_view text) {
    request_parser handler(text);
    rapidjson::MemoryStream memory(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(memory);
    handler.stream_ = &stream;
    rapidjson::Reader reader;
    // Iterative: nesting depth cannot exhaust the stack. Encoding validated by the transport.
    const auto ok = reader.Parse<rapidjson::kParseIterativeFlag>(stream, handler);
    if (!ok && !handler.aborted_for_field_) handler.out_.bad_json = true;
    if (ok && stream.Tell() != text.size()) handler.out_.bad_json = true;  // an embedded NUL
    return std::move(handler.out_);
  }

  // SAX callbacks (rapidjson's Handler concept).
  bool Null() { return scalar(kind::null, 0, nullptr, 0); }
  bool Bool(bool) { return scalar(kind::other, 0, nullptr, 0); }
  bool Int(int v) { return v >= 0 ? Uint64(static_cast<std::uint64_t>(v)) : scalar(kind::negative, 0, nullptr, 0); }
  bool Int64(std::int64_t v) { return v >= 0 ? Uint64(static_cast<std::uint64_t>(v)) : scalar(kind::negative, 0, nullptr, 0); }
  bool Uint(unsigned v) { return Uint64(v); }
  bool Uint64(std::uint64_t v) { return scalar(kind::integer, v, nullptr, 0); }
  bool Double(double) { return scalar(kind::other, 0, nullptr, 0); }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return true; }
  bool String(const char* s, rapidjson::SizeType n, bool) { return scalar(kind::string, 0, s, n); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view key(s, n);
    if (depth_ == 1) {
      field_ = field_of(key);
      value_start_ = stream_->Tell();
    } else if (depth_ == 2 && field_ == field::since) {
      out_.since_topics.push_back({std::string(key), 0, std::nullopt});
      since_key_ = {};
    } else if (depth_ == 3 && field_ == field::since) {
      since_key_ = key;
    }
    return true;
  }
  bool StartObject() { return open(true); }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() { return open(false); }
  bool EndArray(rapidjson::SizeType) { return close(); }

 private:
  enum class field { other, type, id, topic, topics, to, name, token, sig, since, limit, data, params };
  enum class kind { null, integer, negative, string, other, container };

  explicit request_parser(std::string_view text) : text_(text) {}

  static field field_of(std::string_view key) noexcept {
    if (key == "type") return field::type;
    if (key == "id") return field::id;
    if (key == "topic") return field::topic;
    if (key == "topics") return field::topics;
    if (key == "to") return field::to;
    if (key == "name") return field::name;
    if (key == "token") return field::token;
    if (key == "sig") return field::sig;
    if (key == "since") return field::since;
    if (key == "limit") return field::limit;
    if (key == "data") return field::data;
    if (key == "params") return field::params;
    return field::other;
  }

  // A value at depth 1 has ended at the stream's position (+1 for a closing bracket,
  // which the iterative reader reports before consuming it).
  std::string_view raw_value(std::size_t end) const noexcept {
    std::size_t begin = value_start_;
    while (begin < end && (text_[begin] == ' ' || text_[begin] == '\t' || text_[begin] == '\n' ||
                           text_[begin] == '\r' || text_[begin] == ':'))
      ++begin;
    return text_.substr(begin, end - begin);
  }

  bool invalid(const char* name) {
    if (!out_.problem) out_.problem = name;
    return true;  // keep parsing: a later syntax error is still bad_json
  }

  bool open(bool object) {
    if (depth_ == 0 && !object) {
      out_.bad_json = true;
      aborted_for_field_ = true;
      return false;
    }
    if (depth_ == 1) top_level_value(kind::container, 0, nullptr, 0);
    // `since` must be an object and `topics` an array; the contents of the wrong kind of
    // container are skipped, so they never reach since_topics or topics.
    if (depth_ == 1 && ((field_ == field::since && !object) || (field_ == field::topics && object))) {
      invalid(field_ == field::since ? "since" : "topics");
      field_ = field::other;
    }
    if (depth_ == 2 && field_ == field::topics) invalid("topics");
    if (depth_ == 2 && field_ == field::since && !object) invalid("since");
    if (depth_ == 3 && field_ == field::since) invalid("since");
    ++depth_;
    return true;
  }

  bool close() {
    --depth_;
    if (depth_ == 1 && (field_ == field::data || field_ == field::params)) capture(stream_->Tell() + 1);
    return true;
  }

  void capture(std::size_t end) {
    (field_ == field::data ? out_.data : out_.params) = raw_value(end);
  }

  bool scalar(kind k, std::uint64_t number, const char* s, std::size_t n) {
    if (depth_ == 0) {  // a bare scalar is valid JSON but not a request object
      out_.bad_json = true;
      aborted_for_field_ = true;
      return false;
    }
    if (depth_ == 1) return top_level_value(k, number, s, n);
    if (depth_ == 2 && field_ == field::topics) {
      if (k == kind::string)
        out_.topics->emplace_back(s, n);
      else
        invalid("topics");
    } else if (depth_ == 2 && field_ == field::since) {
      auto& entry = out_.since_topics.back();
      if (k == kind::integer)
        entry.seq = number;
      else
        invalid("since");
    } else if (depth_ == 3 && field_ == field::since) {
      auto& entry = out_.since_topics.back();
      if (since_key_ == "seq" && k == kind::integer)
        entry.seq = number;
      else if (since_key_ == "epoch" && k == kind::string)
        entry.epoch.emplace(s, n);
      else if (since_key_ == "seq" || since_key_ == "epoch")
        invalid("since");
    }
    return true;
  }

  bool top_level_value(kind k, std::uint64_t number, const char* s, std::size_t n) {
    const bool container = k == kind::container;
    switch (field_) {
      case field::type:
        if (k == kind::string) out_.type.emplace(s, n); else out_.type.reset();  // reported as missing
        break;
      case field::id:
        if (k == kind::null) break;
        if ((k == kind::integer && number <= max_request_id) || (k == kind::string && n <= max_request_id_bytes))
          out_.id = raw_value(stream_->Tell());
        else
          invalid("id");
        break;
      case field::topic: assign_string(out_.topic, k, s, n, "topic"); break;
      case field::to: assign_string(out_.to, k, s, n, "to"); break;
      case field::name: assign_string(out_.name, k, s, n, "name"); break;
      case field::token: assign_string(out_.token, k, s, n, "token"); break;
      case field::sig: assign_string(out_.sig, k, s, n, "sig"); break;
      case field::topics:
        if (container) out_.topics.emplace(); else invalid("topics");
        break;
      case field::since:
        if (k == kind::integer) out_.since_seq = number;
        else if (!container) invalid("since");
        break;
      case field::limit:
        if (k == kind::integer) out_.limit = number; else if (k != kind::null) invalid("limit");
        break;
      case field::data:
      case field::params:
        if (!container) capture(stream_->Tell());
        break;
      case field::other: break;
    }
    return true;
  }

  void assign_string(std::optional<std::string>& target, kind k, const char* s, std::size_t n, const char* name) {
    if (k == kind::string)
      target.emplace(s, n);
    else if (k != kind::null)
      invalid(name);
  }

  std::string_view text_;
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream>* stream_ = nullptr;
  parsed_request out_;
  int depth_ = 0;
  field field_ = field::other;
  std::size_t value_start_ = 0;
  std::string since_key_;
  bool aborted_for_field_ = false;
};

}  // namespace detail
}  // namespace switchboard

#endif
