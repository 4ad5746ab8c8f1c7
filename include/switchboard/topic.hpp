// Topic names and subscription patterns (PROTOCOL.md section 4).
#ifndef SWITCHBOARD_TOPIC_HPP
#define SWITCHBOARD_TOPIC_HPP

#include <cstddef>
#include <string_view>

namespace switchboard {

/// What a string is when used as a topic.
enum class topic_kind {
  invalid,  ///< empty, too long, an empty token, a bad character, or a misplaced wildcard
  exact,    ///< a topic one can publish to, e.g. `room.1.messages`
  pattern,  ///< a subscription pattern with `*` or `>` tokens, e.g. `room.*.messages`
};

/// Longest topic or pattern, in bytes.
constexpr std::size_t max_topic_bytes = 255;

/// True for the bytes a topic token may contain: `A-Z a-z 0-9 _ - : @`.
constexpr bool is_topic_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == ':' || c == '@';
}

/// Classifies `s`: a valid exact topic, a valid pattern, or invalid. `*` must be a whole
/// token; `>` must be a whole token and the last one. Safe from any thread.
constexpr topic_kind classify_topic(std::string_view s) noexcept {
  if (s.empty() || s.size() > max_topic_bytes) return topic_kind::invalid;
  bool wildcard = false;
  std::size_t token_start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && s[i] != '.') continue;
    const std::string_view token = s.substr(token_start, i - token_start);
    if (token.empty()) return topic_kind::invalid;
    if (token == "*") {
      wildcard = true;
    } else if (token == ">") {
      if (i != s.size()) return topic_kind::invalid;
      wildcard = true;
    } else {
      for (char c : token)
        if (!is_topic_char(c)) return topic_kind::invalid;
    }
    token_start = i + 1;
  }
  return wildcard ? topic_kind::pattern : topic_kind::exact;
}

/// True when `pattern` (exact or wildcard, assumed valid) matches the exact `topic`.
/// The broker does not call this per subscription (it walks a token trie); it is the
/// reference semantics, used for presence and in tests.
constexpr bool topic_matches(std::string_view pattern, std::string_view topic) noexcept {
  std::size_t p = 0, t = 0;
  while (true) {
    const std::size_t p_end = pattern.find('.', p);
    const std::size_t t_end = topic.find('.', t);
    const std::string_view p_token = pattern.substr(p, p_end == std::string_view::npos ? pattern.npos : p_end - p);
    const std::string_view t_token = topic.substr(t, t_end == std::string_view::npos ? topic.npos : t_end - t);
    if (p_token == ">") return true;  // at least this one token remains in the topic
    if (p_token != "*" && p_token != t_token) return false;
    if (p_end == std::string_view::npos || t_end == std::string_view::npos)
      return p_end == std::string_view::npos && t_end == std::string_view::npos;
    p = p_end + 1;
    t = t_end + 1;
  }
}

}  // namespace switchboard

#endif
