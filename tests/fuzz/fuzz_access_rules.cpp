// libFuzzer target for parse_access_rules and access_rules::permits: whatever the bytes,
// the parse either yields rules or an error, never both, within the limits; a rule set
// that parses holds exactly the entries of the JSON, and decides every exact target as
// a plain reading of the documented semantics does; a wildcard subscription it permits
// names only topics it permits one by one; a user id that is not one topic token gets
// nothing more than an anonymous connection through `{user}`.
//
// Input: byte 0 picks the limits (bit 0: small ones). Then the rules' JSON up to the
// first NUL byte. After it, checks separated by NUL bytes, each: a flags byte (bits 0-2
// the action, bit 3 anonymous, bit 4 role `admin`, bit 5 role `member`), the user id, a
// 0x01 byte, the target.
#include <switchboard/access_rules.hpp>
#include <switchboard/topic.hpp>

#include <rapidjson/document.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using switchboard::access_rules;
using switchboard::access_rules_limits;
using switchboard::action;
using switchboard::identity;

namespace {

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

struct reference_entry {
  std::string pattern;
  std::optional<std::string> role;
  bool allow = true;
};

struct reference_section {
  bool present = false;
  std::vector<reference_entry> entries;
};

using reference_rules = std::array<reference_section, 6>;

// The rule set read back with RapidJSON's DOM: the parser accepted it, so it has the
// documented shape.
reference_rules read_reference(std::string_view json) {
  reference_rules out;
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
  require(!doc.HasParseError() && doc.IsObject(), "accepted JSON that the DOM cannot read as an object");
  // By index: RapidJSON 1.1's member iterators compare ambiguously under C++20.
  for (rapidjson::SizeType m = 0; m < doc.MemberCount(); ++m) {
    const auto& section = *(doc.MemberBegin() + m);
    const std::string_view name(section.name.GetString(), section.name.GetStringLength());
    std::size_t index = 6;
    for (std::size_t i = 0; i < 6; ++i)
      if (name == switchboard::action_name(static_cast<action>(i))) index = i;
    require(index < 6, "accepted an unknown section");
    require(section.value.IsArray(), "accepted a section that is not an array");
    out[index].present = true;
    for (const auto& e : section.value.GetArray()) {
      require(e.IsObject() && e.HasMember("pattern") && e["pattern"].IsString(), "accepted an entry without a pattern");
      reference_entry entry;
      entry.pattern.assign(e["pattern"].GetString(), e["pattern"].GetStringLength());
      if (e.HasMember("role")) entry.role.emplace(e["role"].GetString(), e["role"].GetStringLength());
      if (e.HasMember("allow")) entry.allow = e["allow"].GetBool();
      out[index].entries.push_back(std::move(entry));
    }
  }
  return out;
}

bool is_single_token(std::string_view s) {
  return switchboard::classify_topic(s) == switchboard::topic_kind::exact && s.find('.') == std::string_view::npos;
}

// Does the entry's pattern match the exact topic or name `target`, for `who`?
bool reference_matches(bool name_action, const std::string& pattern, const identity& who, std::string_view target) {
  if (name_action) {
    if (pattern == "*" || pattern == ">") return true;
    if (pattern == "{user}") return who.user && target == *who.user;
    return target == pattern;
  }
  std::string concrete;
  std::size_t start = 0;
  while (start <= pattern.size()) {
    std::size_t end = pattern.find('.', start);
    if (end == std::string::npos) end = pattern.size();
    const std::string token = pattern.substr(start, end - start);
    if (!concrete.empty()) concrete += '.';
    if (token == "{user}") {
      if (!who.user || !is_single_token(*who.user)) return false;
      concrete += *who.user;
    } else {
      concrete += token;
    }
    start = end + 1;
  }
  return switchboard::topic_matches(concrete, target);
}

bool reference_section_permits(const reference_section& s, bool name_action, const identity& who,
                               std::string_view target) {
  const auto applies = [&](const reference_entry& e) {
    return (!e.role || who.has_role(*e.role)) && reference_matches(name_action, e.pattern, who, target);
  };
  for (const auto& e : s.entries)
    if (!e.allow && applies(e)) return false;
  for (const auto& e : s.entries)
    if (e.allow && applies(e)) return true;
  return false;
}

bool reference_permits(const reference_rules& rules, const identity& who, action what, std::string_view target) {
  const bool name_action = what == action::direct || what == action::command;
  if (name_action) return !target.empty() && reference_section_permits(rules[std::size_t(what)], true, who, target);
  if (switchboard::classify_topic(target) != switchboard::topic_kind::exact) return false;
  if (what == action::history || what == action::presence) {
    if (!reference_section_permits(rules[std::size_t(action::subscribe)], false, who, target)) return false;
    const reference_section& own = rules[std::size_t(what)];
    return !own.present || reference_section_permits(own, false, who, target);
  }
  return reference_section_permits(rules[std::size_t(what)], false, who, target);
}

// Some exact topics a wildcard target names: each `*` as one of `fill`, `>` as one or two.
void instances(std::string_view pattern, const std::vector<std::string>& fill, std::string prefix,
               std::vector<std::string>& out) {
  if (out.size() > 64) return;
  const std::size_t dot = pattern.find('.');
  const std::string_view token = pattern.substr(0, dot);
  const std::string_view rest = dot == std::string_view::npos ? std::string_view() : pattern.substr(dot + 1);
  const auto next = [&](const std::string& piece) {
    std::string grown = prefix.empty() ? piece : prefix + "." + piece;
    if (dot == std::string_view::npos) {
      if (grown.size() <= switchboard::max_topic_bytes) out.push_back(std::move(grown));
    } else {
      instances(rest, fill, std::move(grown), out);
    }
  };
  if (token == "*") {
    for (const auto& f : fill) next(f);
  } else if (token == ">") {
    for (const auto& f : fill) next(f);
    next(fill.front() + "." + fill.back());
  } else {
    next(std::string(token));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  access_rules_limits limits;
  if (data[0] & 1) {
    limits.max_rules = 4;
    limits.max_json_bytes = 256;
  }
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::size_t json_end = input.find('\0');
  const std::string_view json = input.substr(0, json_end);

  const switchboard::access_rules_result parsed = switchboard::parse_access_rules(json, limits);
  require(parsed.rules.has_value() != !parsed.error.empty(), "rules and an error, or neither");
  if (!parsed) return 0;
  const access_rules& rules = *parsed.rules;
  require(json.size() <= limits.max_json_bytes, "accepted JSON over max_json_bytes");
  require(rules.size() <= limits.max_rules, "accepted more than max_rules");

  const reference_rules reference = read_reference(json);
  std::size_t entries = 0;
  for (std::size_t i = 0; i < 6; ++i) {
    entries += reference[i].entries.size();
    require(rules.has_section(static_cast<action>(i)) == reference[i].present, "a section present in one and not the other");
  }
  require(entries == rules.size(), "the rule set lost or invented entries");
  if (json_end == std::string_view::npos) return 0;

  std::string_view checks = input.substr(json_end + 1);
  while (!checks.empty()) {
    const std::size_t end = checks.find('\0');
    const std::string_view check = checks.substr(0, end);
    checks = end == std::string_view::npos ? std::string_view() : checks.substr(end + 1);
    if (check.empty()) continue;
    const auto flags = static_cast<unsigned char>(check[0]);
    const action what = static_cast<action>((flags & 7) % 6);
    const std::size_t split = check.find('\x01', 1);
    const std::string_view user_id = check.substr(1, split == std::string_view::npos ? 0 : split - 1);
    const std::string_view target = split == std::string_view::npos ? check.substr(1) : check.substr(split + 1);
    identity who;
    if (!(flags & 8)) who.user = std::string(user_id);
    if (flags & 16) who.roles.push_back("admin");
    if (flags & 32) who.roles.push_back("member");

    const bool permitted = rules.permits(who, what, target);
    const auto kind = switchboard::classify_topic(target);
    const bool name_action = what == action::direct || what == action::command;
    if (name_action || kind != switchboard::topic_kind::pattern) {
      require(permitted == reference_permits(reference, who, what, target), "a decision the reference disagrees with");
    } else if (permitted) {
      std::vector<std::string> fill{"x", "public", "secret"};
      if (who.user && is_single_token(*who.user)) fill.push_back(*who.user);
      std::vector<std::string> topics;
      instances(target, fill, std::string(), topics);
      for (const auto& topic : topics)
        require(rules.permits(who, what, topic), "a permitted wildcard names a topic that is refused");
    }
    if (!name_action && who.user && !is_single_token(*who.user)) {
      identity anonymous;
      anonymous.roles = who.roles;
      require(permitted == rules.permits(anonymous, what, target), "a user id that is no token got more than none");
    }
  }
  return 0;
}
