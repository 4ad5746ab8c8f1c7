// Authorization rules: for each action, the topics (or recipients, or commands) a
// connection may reach, by pattern, role and the connection's own user id; built in
// code or read from JSON.
#ifndef SWITCHBOARD_ACCESS_RULES_HPP
#define SWITCHBOARD_ACCESS_RULES_HPP

#include <switchboard/auth.hpp>
#include <switchboard/detail/json.hpp>
#include <switchboard/detail/utf8.hpp>
#include <switchboard/topic.hpp>

#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

namespace switchboard {

/// Bounds on a rule set read from JSON (`parse_access_rules`, `load_access_rules_file`).
/// Rules built in code are not bounded: the program decides how many it adds.
struct access_rules_limits {
  /// Rules in all sections together.
  std::size_t max_rules = 10000;
  /// Size of the JSON text (for a file, of the file) in bytes.
  std::size_t max_json_bytes = std::size_t(1) << 20;
};

namespace detail {
class access_rules_reader;

/// One token of a rule's pattern, as a span of the pattern's text.
enum class rule_token_kind : std::uint8_t {
  literal,  ///< a topic token, or for direct and command the whole name
  one,      ///< `*`
  rest,     ///< `>`
  user,     ///< `{user}`: the connection's user id
};

struct rule_token {
  rule_token_kind kind;
  std::uint16_t offset;  // patterns are at most max_topic_bytes long
  std::uint16_t size;
};

constexpr std::string_view user_placeholder = "{user}";

inline std::size_t action_index(action a) noexcept { return static_cast<std::size_t>(a); }
constexpr std::size_t action_count = 6;
// A new action needs a section here (and a name in the JSON form).
static_assert(action_name(static_cast<action>(action_count - 1)) != "unknown" &&
                  action_name(static_cast<action>(action_count)) == "unknown",
              "access_rules has one section per action");

/// The actions whose target is one name (a user id, a command name) instead of a topic.
constexpr bool is_name_action(action a) noexcept { return a == action::direct || a == action::command; }

/// FNV-1a of `s`: entries are found by the hash of their first token, so that a check
/// compares integers, not strings, until the candidates are few.
inline std::uint64_t token_hash(std::string_view s) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

/// `a == b` for the short strings tokens are, without a call into the C library.
inline bool same_text(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i]) return false;
  return true;
}

/// `s` as a JSON string literal of at most 64 of its bytes, for error messages: whatever
/// a rule file holds, the message stays printable and short.
inline std::string quoted_for_error(std::string_view s) {
  constexpr std::size_t longest = 64;
  std::string out;
  append_json_string(out, s.substr(0, longest));
  if (s.size() > longest) out += "...";
  return out;
}
}  // namespace detail

/// A set of authorization rules: for every action (`switchboard::action`) a list of
/// entries, each a pattern, an optional required role and allow or deny.
///
/// - Patterns have the topic syntax of PROTOCOL section 4 (`*` one token, `>` the rest)
///   plus the whole token `{user}`, which stands for the connection's own user id as one
///   literal token. A user id that is not a single topic token (it holds `.`, `*`, `>` or
///   any other character a token may not) matches no topic through `{user}`, so it can
///   never widen a rule; a connection without a user id never matches an entry that
///   holds `{user}`.
/// - For `direct` (target: the recipient's user id) and `command` (the command's name)
///   the target is one literal name: a pattern is `*` or `>` (any name), `{user}` (the
///   connection's own id) or a name in topic syntax compared whole, dots included.
/// - An entry applies to a connection when its pattern matches and the connection holds
///   its role (when it names one), for deny entries as for allow entries.
/// - Decision: refused when a deny entry applies; otherwise permitted when an allow entry
///   applies; otherwise refused. A missing or empty section refuses everything: once
///   rules exist, what is not allowed is denied.
/// - A wildcard subscription (`public.*`) matches an allow entry only when every topic it
///   could receive is covered by the entry's pattern (`public.>` covers `public.*`; `>` is
///   covered by `>` alone), and meets a deny entry when the two share any topic
///   (`public.*` meets a deny of `public.secret`).
/// - `history` and `presence` need subscribe permission on their topic: without a section
///   of their own the subscribe section decides; with one, both must permit.
///
/// Example:
/// @code
/// switchboard::access_rules rules;
/// rules.allow(action::subscribe, "user.{user}.>")
///      .allow(action::subscribe, "public.>")
///      .allow(action::subscribe, "admin.>", "admin")
///      .deny(action::subscribe, "public.secret")
///      .allow(action::publish, "public.chat");
/// rules.permits(who, action::subscribe, "public.*");  // false: it would receive public.secret
/// @endcode
///
/// Thread safety: `permits` only reads, and is safe from any number of threads at once;
/// adding rules is not safe concurrently with anything else. `permits` allocates nothing.
class access_rules {
 public:
  access_rules() = default;

  /// Adds an allow entry for `what`. An empty `role` means any connection. Throws
  /// std::invalid_argument when `pattern` is not a valid pattern for `what`.
  access_rules& allow(action what, std::string_view pattern, std::string_view role = {}) {
    add_or_throw(what, pattern, role, true);
    return *this;
  }

  /// Adds a deny entry for `what`; with a `role`, it refuses only connections holding
  /// that role. Throws std::invalid_argument when `pattern` is not valid for `what`.
  access_rules& deny(action what, std::string_view pattern, std::string_view role = {}) {
    add_or_throw(what, pattern, role, false);
    return *this;
  }

  /// Whether `who` may do `what` on `target` (a topic or pattern; for `direct` the
  /// recipient's user id; for `command` the command's name). An invalid topic or an empty
  /// name is refused.
  bool permits(const identity& who, action what, std::string_view target) const noexcept {
    if (detail::action_index(what) >= detail::action_count) return false;
    if (detail::is_name_action(what)) return permits_name(section_of(what), who, target);
    target_tokens tokens;
    if (!split_target(target, tokens)) return false;
    const section& subscribe = section_of(action::subscribe);
    if (what == action::history || what == action::presence) {
      const section& own = section_of(what);
      if (!permits_topic(subscribe, who, tokens)) return false;
      return !own.present || permits_topic(own, who, tokens);
    }
    return permits_topic(section_of(what), who, tokens);
  }

  /// True when `what` has a section (possibly empty): for `history` and `presence`, that
  /// they are decided by their own entries as well as by the subscribe section.
  bool has_section(action what) const noexcept {
    return detail::action_index(what) < detail::action_count && section_of(what).present;
  }

  /// Number of entries in all sections.
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (const section& s : sections_) n += s.allows.entries.size() + s.denies.entries.size();
    return n;
  }

 private:
  friend class detail::access_rules_reader;

  struct entry {
    std::string pattern;
    std::string role;  // empty: any connection
    std::uint32_t first_token = 0;
    std::uint32_t token_count = 0;
    bool has_user = false;
    bool literal_first = false;  // the first token is a literal (for a name: the pattern is)
    std::uint64_t key_hash = 0;  // token_hash of that literal
  };

  // Entries whose first token is a literal come first, sorted by its hash, so a check
  // looks only at those that share the target's first token (or its hash); then the
  // rest, which a check always tries.
  struct entry_list {
    std::vector<entry> entries;
    std::size_t literal_count = 0;
  };

  // Deny and allow entries apart: every deny must be tried, allows only until one applies.
  struct section {
    bool present = false;
    bool has_user = false;
    entry_list denies, allows;
    std::vector<detail::rule_token> tokens;
  };

  // Orders entries by the hash of their literal first token, and finds them by a target's.
  struct by_key {
    bool operator()(const entry& a, const entry& b) const noexcept { return a.key_hash < b.key_hash; }
    bool operator()(const entry& a, std::uint64_t key) const noexcept { return a.key_hash < key; }
    bool operator()(std::uint64_t key, const entry& b) const noexcept { return key < b.key_hash; }
  };

  // A valid topic of max_topic_bytes has at most this many tokens. Spans, not views, so
  // that the array needs no initialization on each check.
  static constexpr std::size_t max_target_tokens = (max_topic_bytes + 1) / 2;
  struct target_tokens {
    std::string_view text;
    std::array<detail::rule_token, max_target_tokens> tokens;
    std::size_t count = 0;
  };

  // How a pattern relates to a target: they share no topic, share some, or every topic
  // the target could name is one the pattern matches.
  enum class overlap { none, some, all };

  const section& section_of(action a) const noexcept { return sections_[detail::action_index(a)]; }

  void add_or_throw(action what, std::string_view pattern, std::string_view role, bool allow) {
    const std::string problem = add(what, pattern, role, allow, true);
    if (!problem.empty())
      throw std::invalid_argument("switchboard: " + std::string(action_name(what)) + " rule pattern: " + problem);
  }

  // Adds an entry, or returns what is wrong with it (and adds nothing). Without
  // `keep_order` the entry is only appended, and `restore_order` must follow before use:
  // a reader adding thousands sorts once instead of shifting at each.
  std::string add(action what, std::string_view pattern, std::string_view role, bool allow, bool keep_order) {
    if (detail::action_index(what) >= detail::action_count) return "not an action";
    section& s = sections_[detail::action_index(what)];
    entry e;
    e.first_token = static_cast<std::uint32_t>(s.tokens.size());
    std::string problem = detail::is_name_action(what) ? compile_name(what, pattern, s.tokens)
                                                       : compile_topic_pattern(pattern, s.tokens);
    if (!problem.empty()) {
      s.tokens.resize(e.first_token);
      return problem;
    }
    e.pattern.assign(pattern.data(), pattern.size());
    e.role.assign(role.data(), role.size());
    e.token_count = static_cast<std::uint32_t>(s.tokens.size()) - e.first_token;
    for (std::uint32_t i = 0; i < e.token_count; ++i)
      if (s.tokens[e.first_token + i].kind == detail::rule_token_kind::user) e.has_user = true;
    const detail::rule_token& first = s.tokens[e.first_token];
    e.literal_first = first.kind == detail::rule_token_kind::literal;
    if (e.literal_first) e.key_hash = detail::token_hash(std::string_view(e.pattern.data() + first.offset, first.size));
    s.has_user = s.has_user || e.has_user;
    s.present = true;
    entry_list& list = allow ? s.allows : s.denies;
    if (keep_order && e.literal_first) {
      const auto literal_end = list.entries.begin() + static_cast<std::ptrdiff_t>(list.literal_count);
      const auto at = std::upper_bound(list.entries.begin(), literal_end, e, by_key{});
      list.entries.insert(at, std::move(e));
      ++list.literal_count;
    } else {
      list.entries.push_back(std::move(e));
    }
    return {};
  }

  void restore_order() {
    for (section& s : sections_)
      for (entry_list* list : {&s.denies, &s.allows}) {
        const auto literal_end = std::stable_partition(list->entries.begin(), list->entries.end(),
                                                       [](const entry& e) { return e.literal_first; });
        std::stable_sort(list->entries.begin(), literal_end, by_key{});
        list->literal_count = static_cast<std::size_t>(literal_end - list->entries.begin());
      }
  }

  // Whether `test` holds for an entry of `list` that could match a target whose first
  // token (a name: the whole name) hashes to `first_hash`; without `first_is_literal`
  // (a wildcard) every entry is a candidate.
  template <class Test>
  static bool any_candidate(const entry_list& list, std::uint64_t first_hash, bool first_is_literal,
                            Test&& test) noexcept {
    const auto begin = list.entries.begin();
    const auto literal_end = begin + static_cast<std::ptrdiff_t>(list.literal_count);
    auto from = begin, to = literal_end;
    if (first_is_literal) std::tie(from, to) = std::equal_range(begin, literal_end, first_hash, by_key{});
    for (auto it = from; it != to; ++it)
      if (test(*it)) return true;
    for (auto it = literal_end; it != list.entries.end(); ++it)
      if (test(*it)) return true;
    return false;
  }

  static std::string syntax_problem(std::string_view pattern) {
    return detail::quoted_for_error(pattern) +
           " is not a valid pattern (tokens of A-Z a-z 0-9 _ - : @ separated by dots; \"*\" for one token, "
           "\">\" for the rest as the last token, \"{user}\" for the connection's user id)";
  }

  // Splits a topic pattern into tokens. topic.hpp judges the syntax, with each `{user}`
  // token standing in as a plain token of the same length.
  static std::string compile_topic_pattern(std::string_view pattern, std::vector<detail::rule_token>& out) {
    if (pattern.empty()) return "must not be empty";
    if (pattern.size() > max_topic_bytes) return "longer than 255 bytes";
    std::string stand_in(pattern);
    for (std::size_t start = 0; start <= pattern.size();) {
      std::size_t end = pattern.find('.', start);
      if (end == std::string_view::npos) end = pattern.size();
      const std::string_view token = pattern.substr(start, end - start);
      if (token == detail::user_placeholder)
        stand_in.replace(start, token.size(), token.size(), '_');
      else if (token.find(detail::user_placeholder) != std::string_view::npos)
        return detail::quoted_for_error(pattern) + ": {user} must be a whole token";
      start = end + 1;
    }
    if (classify_topic(stand_in) == topic_kind::invalid) return syntax_problem(pattern);
    for (std::size_t start = 0; start <= pattern.size();) {
      std::size_t end = pattern.find('.', start);
      if (end == std::string_view::npos) end = pattern.size();
      const std::string_view token = pattern.substr(start, end - start);
      detail::rule_token_kind kind = detail::rule_token_kind::literal;
      if (token == "*") kind = detail::rule_token_kind::one;
      else if (token == ">") kind = detail::rule_token_kind::rest;
      else if (token == detail::user_placeholder) kind = detail::rule_token_kind::user;
      out.push_back({kind, static_cast<std::uint16_t>(start), static_cast<std::uint16_t>(token.size())});
      start = end + 1;
    }
    return {};
  }

  // A direct or command pattern: one name, compared whole.
  static std::string compile_name(action what, std::string_view pattern, std::vector<detail::rule_token>& out) {
    detail::rule_token_kind kind = detail::rule_token_kind::literal;
    if (pattern == "*") kind = detail::rule_token_kind::one;
    else if (pattern == ">") kind = detail::rule_token_kind::rest;
    else if (pattern == detail::user_placeholder) kind = detail::rule_token_kind::user;
    else if (classify_topic(pattern) != topic_kind::exact)
      return detail::quoted_for_error(pattern) + " is not a valid " + std::string(action_name(what)) + " pattern (" +
             (what == action::direct ? "a user id" : "a command name") +
             " in topic syntax, compared whole; \"*\" or \">\" for any; \"{user}\" for the connection's own id)";
    out.push_back({kind, 0, static_cast<std::uint16_t>(pattern.size())});
    return {};
  }

  // Tokens of a valid topic or pattern; false for anything else.
  static bool split_target(std::string_view target, target_tokens& out) noexcept {
    if (classify_topic(target) == topic_kind::invalid) return false;
    out.text = target;
    for (std::size_t start = 0; start <= target.size();) {
      std::size_t end = target.find('.', start);
      if (end == std::string_view::npos) end = target.size();
      const std::size_t size = end - start;
      detail::rule_token_kind kind = detail::rule_token_kind::literal;
      if (size == 1 && target[start] == '*') kind = detail::rule_token_kind::one;
      else if (size == 1 && target[start] == '>') kind = detail::rule_token_kind::rest;
      out.tokens[out.count++] = {kind, static_cast<std::uint16_t>(start), static_cast<std::uint16_t>(size)};
      start = end + 1;
    }
    return true;
  }

  // A user id can stand for a topic token only when it is one.
  static bool is_single_token(std::string_view user) noexcept {
    if (user.empty() || user.size() > max_topic_bytes) return false;
    for (char c : user)
      if (!is_topic_char(c)) return false;
    return true;
  }

  static bool applies_to(const entry& e, const identity& who) noexcept { return e.role.empty() || who.has_role(e.role); }

  static overlap relate(const section& s, const entry& e, const target_tokens& target, std::string_view user) noexcept {
    const detail::rule_token* pattern = s.tokens.data() + e.first_token;
    bool covered = true;
    for (std::size_t i = 0;; ++i) {
      const bool pattern_ended = i == e.token_count, target_ended = i == target.count;
      if (pattern_ended || target_ended)
        return pattern_ended && target_ended ? (covered ? overlap::all : overlap::some) : overlap::none;
      const detail::rule_token& p = pattern[i];
      const detail::rule_token& t = target.tokens[i];
      if (p.kind == detail::rule_token_kind::rest) return covered ? overlap::all : overlap::some;
      // The target's `>` takes any continuation, so it shares a topic with whatever
      // tokens the pattern has left, but the pattern's end cannot take all of them.
      if (t.kind == detail::rule_token_kind::rest) return overlap::some;
      if (t.kind == detail::rule_token_kind::one) {
        if (p.kind != detail::rule_token_kind::one) covered = false;
        continue;
      }
      const std::string_view token(target.text.data() + t.offset, t.size);
      switch (p.kind) {
        case detail::rule_token_kind::one: break;
        case detail::rule_token_kind::literal:
          if (!detail::same_text(token, std::string_view(e.pattern.data() + p.offset, p.size))) return overlap::none;
          break;
        case detail::rule_token_kind::user:
          if (!detail::same_text(token, user)) return overlap::none;
          break;
        case detail::rule_token_kind::rest: break;  // returned above
      }
    }
  }

  static bool permits_topic(const section& s, const identity& who, const target_tokens& target) noexcept {
    // An entry with `{user}` matches nothing for a connection whose id is not one token.
    const bool user_usable = s.has_user && who.user && is_single_token(*who.user);
    const std::string_view user = user_usable ? std::string_view(*who.user) : std::string_view();
    const detail::rule_token& first = target.tokens[0];
    const bool first_is_literal = first.kind == detail::rule_token_kind::literal;
    const std::uint64_t first_hash =
        first_is_literal ? detail::token_hash(std::string_view(target.text.data() + first.offset, first.size)) : 0;
    const bool denied = any_candidate(s.denies, first_hash, first_is_literal, [&](const entry& e) {
      return (!e.has_user || user_usable) && relate(s, e, target, user) != overlap::none && applies_to(e, who);
    });
    if (denied) return false;
    return any_candidate(s.allows, first_hash, first_is_literal, [&](const entry& e) {
      return (!e.has_user || user_usable) && relate(s, e, target, user) == overlap::all && applies_to(e, who);
    });
  }

  static bool name_matches(const section& s, const entry& e, std::string_view name, const identity& who) noexcept {
    const detail::rule_token& p = s.tokens[e.first_token];
    switch (p.kind) {
      case detail::rule_token_kind::one:
      case detail::rule_token_kind::rest: return true;
      case detail::rule_token_kind::user: return who.user && name == *who.user;
      case detail::rule_token_kind::literal: break;
    }
    return name == e.pattern;
  }

  static bool permits_name(const section& s, const identity& who, std::string_view name) noexcept {
    if (name.empty()) return false;
    const auto applies = [&](const entry& e) { return name_matches(s, e, name, who) && applies_to(e, who); };
    const std::uint64_t name_hash = detail::token_hash(name);
    if (any_candidate(s.denies, name_hash, true, applies)) return false;
    return any_candidate(s.allows, name_hash, true, applies);
  }

  std::array<section, detail::action_count> sections_{};
};

/// The outcome of reading a rule set from JSON.
struct access_rules_result {
  std::optional<access_rules> rules;  ///< the rule set; empty when it could not be read
  std::string error;                  ///< otherwise why, naming the place: `subscribe[2].pattern: ...`
  explicit operator bool() const noexcept { return rules.has_value(); }
};

namespace detail {

/// The SAX handler behind `parse_access_rules`: it accepts exactly the documented shape
/// and stops at the first thing out of place, so nesting never goes deeper than an
/// entry's fields.
class access_rules_reader {
 public:
  access_rules_reader(access_rules& rules, const access_rules_limits& limits) : rules_(rules), limits_(limits) {}

  const std::string& error() const noexcept { return error_; }

  bool Null() { return scalar("null"); }
  bool Bool(bool b) {
    if (depth_ == 3 && field_ == field::allow) {
      allow_ = b;
      return true;
    }
    return scalar(b ? "true" : "false");
  }
  bool Int(int) { return scalar("a number"); }
  bool Uint(unsigned) { return scalar("a number"); }
  bool Int64(std::int64_t) { return scalar("a number"); }
  bool Uint64(std::uint64_t) { return scalar("a number"); }
  bool Double(double) { return scalar("a number"); }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return scalar("a number"); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view text(s, n);
    if (depth_ != 3 || (field_ != field::pattern && field_ != field::role)) return scalar("a string");
    // RapidJSON decodes an escaped lone surrogate into bytes that are not UTF-8.
    if (!is_valid_utf8(text)) return fail(field_place() + ": not valid UTF-8");
    if (field_ == field::pattern) {
      pattern_.emplace(text);
    } else {
      if (text.empty()) return fail(field_place() + ": must be a non-empty string (leave it out for any role)");
      role_.emplace(text);
    }
    return true;
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view key(s, n);
    if (depth_ == 1) {
      std::size_t found = action_count;
      for (std::size_t i = 0; i < action_count; ++i)
        if (key == action_name(static_cast<action>(i))) found = i;
      if (found == action_count)
        return fail("unknown key " + quoted_for_error(key) +
                    " (expected subscribe, publish, presence, history, direct or command)");
      if (seen_[found]) return fail(std::string(key) + ": given twice");
      seen_[found] = true;
      section_ = static_cast<action>(found);
      return true;
    }
    // depth 3: an entry's field.
    if (key == "pattern") field_ = field::pattern;
    else if (key == "role") field_ = field::role;
    else if (key == "allow") field_ = field::allow;
    else return fail(entry_place() + ": unknown key " + quoted_for_error(key) + " (expected pattern, role or allow)");
    const bool again = field_ == field::pattern ? pattern_.has_value()
                       : field_ == field::role  ? role_.has_value()
                                                : allow_.has_value();
    if (again) return fail(field_place() + ": given twice");
    return true;
  }
  bool StartObject() {
    switch (depth_) {
      case 0: break;
      case 1: return fail(section_place() + ": must be an array of rules");
      case 2:
        if (count_ >= limits_.max_rules)
          return fail(entry_place() + ": more than " + std::to_string(limits_.max_rules) +
                      " rules in all (access_rules_limits::max_rules)");
        pattern_.reset();
        role_.reset();
        allow_.reset();
        break;
      default: return scalar("an object");
    }
    ++depth_;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    if (depth_ == 3) {
      if (!pattern_) return fail(entry_place() + ": pattern is required");
      const std::string problem =
          rules_.add(section_, *pattern_, role_ ? *role_ : std::string(), allow_.value_or(true), false);
      if (!problem.empty()) return fail(entry_place() + ".pattern: " + problem);
      ++count_;
      ++index_;
    } else if (depth_ == 1) {
      rules_.restore_order();
    }
    --depth_;
    return true;
  }
  bool StartArray() {
    switch (depth_) {
      case 0: return fail("the rules must be a JSON object");
      case 1:
        // A section that is present, even empty, counts (history and presence).
        rules_.sections_[action_index(section_)].present = true;
        index_ = 0;
        break;
      default: return scalar("an array");
    }
    ++depth_;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    --depth_;
    return true;
  }

 private:
  enum class field { pattern, role, allow };

  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }

  // A value where none of its kind belongs.
  bool scalar(const char* what) {
    switch (depth_) {
      case 0: return fail("the rules must be a JSON object");
      case 1: return fail(section_place() + ": must be an array of rules, not " + what);
      case 2: return fail(entry_place() + ": must be an object, not " + what);
      default: break;
    }
    return fail(field_place() + (field_ == field::allow ? ": must be true or false, not " : ": must be a string, not ") +
                what);
  }

  std::string section_place() const { return std::string(action_name(section_)); }
  std::string entry_place() const { return section_place() + "[" + std::to_string(index_) + "]"; }
  std::string field_place() const {
    return entry_place() + (field_ == field::pattern ? ".pattern" : field_ == field::role ? ".role" : ".allow");
  }

  access_rules& rules_;
  const access_rules_limits& limits_;
  std::string error_;
  int depth_ = 0;  // 1: the top object, 2: a section's array, 3: an entry
  std::array<bool, action_count> seen_{};
  action section_ = action::subscribe;
  std::size_t index_ = 0;  // the entry's place in its section
  std::size_t count_ = 0;  // entries in all sections
  field field_ = field::pattern;
  std::optional<std::string> pattern_, role_;
  std::optional<bool> allow_;
};

}  // namespace detail

/// Reads a rule set from JSON of this form (every section optional; an entry's `role`
/// and `allow` too, `allow` defaulting to true):
/// @code
/// {"subscribe": [{"pattern": "user.{user}.>"}, {"pattern": "public.>"},
///                {"pattern": "admin.>", "role": "admin"},
///                {"pattern": "public.secret", "allow": false}],
///  "publish": [...], "presence": [...], "history": [...], "direct": [...], "command": [...]}
/// @endcode
/// Anything else (unknown keys, wrong types, invalid patterns, duplicate keys, text past
/// the limits) is an error naming its place, such as `subscribe[2].pattern: ...`. Never
/// throws on bad input; parsing is iterative and stops at the first error. Safe from any
/// thread.
inline access_rules_result parse_access_rules(std::string_view json, const access_rules_limits& limits = {}) {
  access_rules_result result;
  if (json.size() > limits.max_json_bytes) {
    result.error = "the rules are larger than " + std::to_string(limits.max_json_bytes) +
                   " bytes (access_rules_limits::max_json_bytes)";
    return result;
  }
  access_rules rules;
  detail::access_rules_reader reader(rules, limits);
  rapidjson::MemoryStream memory(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(memory);
  rapidjson::Reader parser;
  const rapidjson::ParseResult parsed =
      parser.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(stream, reader);
  if (!parsed) {
    result.error = !reader.error().empty()
                       ? reader.error()
                       : std::string("not valid JSON: ") + rapidjson::GetParseError_En(parsed.Code()) + " (at byte " +
                             std::to_string(parsed.Offset()) + ")";
    return result;
  }
  // The stream takes a NUL byte for the end: text after one would go unread.
  if (stream.Tell() != json.size()) {
    result.error = "not valid JSON: a NUL byte (at byte " + std::to_string(stream.Tell()) + ")";
    return result;
  }
  result.rules = std::move(rules);
  return result;
}

/// `parse_access_rules` of the file at `path`; errors start with the path. A file larger
/// than `limits.max_json_bytes` is refused without being read whole.
inline access_rules_result load_access_rules_file(const std::string& path, const access_rules_limits& limits = {}) {
  access_rules_result result;
  const auto failed = [&](const std::string& why) {
    result.error = path + ": " + why;
    return std::move(result);
  };
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return failed("cannot be opened: " + std::generic_category().message(errno));
  std::string text;
  char chunk[8192];
  for (;;) {
    const std::size_t n = std::fread(chunk, 1, sizeof chunk, file.get());
    if (n == 0) break;
    if (n > limits.max_json_bytes - text.size())
      return failed("larger than " + std::to_string(limits.max_json_bytes) +
                    " bytes (access_rules_limits::max_json_bytes)");
    text.append(chunk, n);
  }
  if (std::ferror(file.get())) return failed("cannot be read: " + std::generic_category().message(errno));
  result = parse_access_rules(text, limits);
  if (!result) result.error = path + ": " + result.error;
  return result;
}

}  // namespace switchboard

#endif
