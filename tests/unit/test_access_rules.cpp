// Authorization rules: what a rule set permits (patterns, wildcard subscriptions, the
// {user} placeholder, roles, defaults), reading them from JSON with its errors and
// limits, and rules_auth composing them with an auth policy and a callback.
#include "support/hub_harness.hpp"

#include <switchboard/access_rules.hpp>

#include <switchboard/hub.hpp>
#include <switchboard/memory_transport.hpp>
#include <switchboard/rules_auth.hpp>
#include <switchboard/topic.hpp>

#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using switchboard::access_rules;
using switchboard::access_rules_limits;
using switchboard::action;
using switchboard::identity;
using switchboard::load_access_rules_file;
using switchboard::parse_access_rules;

namespace {

identity user(std::string id, std::vector<std::string> roles = {}) { return identity{std::move(id), std::move(roles)}; }
const identity anonymous{};

// The example of the JSON form, which outside tests rely on.
const char* const example_json = R"({
  "subscribe": [{"pattern": "user.{user}.>"}, {"pattern": "public.>"},
                {"pattern": "admin.>", "role": "admin"},
                {"pattern": "public.secret", "allow": false}],
  "publish": [{"pattern": "public.chat"}, {"pattern": "user.{user}.inbox"}],
  "direct": [{"pattern": "*"}, {"pattern": "ceo", "allow": false}],
  "command": [{"pattern": "ping"}, {"pattern": "server_info", "role": "admin"}]
})";

access_rules example_rules() {
  auto loaded = parse_access_rules(example_json);
  INFO(loaded.error);
  REQUIRE(loaded);
  return std::move(*loaded.rules);
}

std::string error_of(std::string_view json, const access_rules_limits& limits = {}) {
  const auto loaded = parse_access_rules(json, limits);
  CHECK_FALSE(loaded.rules.has_value());
  CHECK_FALSE(loaded.error.empty());
  return loaded.error;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

TEST_CASE("the JSON example permits what it says", "[access_rules]") {
  const access_rules rules = example_rules();
  CHECK(rules.size() == 10);
  const identity alice = user("alice");
  const identity root = user("root", {"admin"});

  CHECK(rules.permits(alice, action::subscribe, "public.news"));
  CHECK(rules.permits(alice, action::subscribe, "public.news.today"));
  CHECK(rules.permits(alice, action::subscribe, "user.alice.inbox"));
  CHECK_FALSE(rules.permits(alice, action::subscribe, "user.bob.inbox"));
  CHECK_FALSE(rules.permits(alice, action::subscribe, "public.secret"));
  CHECK_FALSE(rules.permits(root, action::subscribe, "public.secret"));  // a deny holds for admins too
  CHECK_FALSE(rules.permits(alice, action::subscribe, "admin.audit"));
  CHECK(rules.permits(root, action::subscribe, "admin.audit"));
  CHECK_FALSE(rules.permits(alice, action::subscribe, "elsewhere"));
  CHECK_FALSE(rules.permits(alice, action::subscribe, "public"));  // `>` needs one more token

  CHECK(rules.permits(alice, action::publish, "public.chat"));
  CHECK(rules.permits(alice, action::publish, "user.alice.inbox"));
  CHECK_FALSE(rules.permits(alice, action::publish, "user.bob.inbox"));
  CHECK_FALSE(rules.permits(alice, action::publish, "public.news"));

  CHECK(rules.permits(alice, action::direct, "bob"));
  CHECK(rules.permits(alice, action::direct, "bob@example.com"));
  CHECK_FALSE(rules.permits(alice, action::direct, "ceo"));

  CHECK(rules.permits(alice, action::command, "ping"));
  CHECK_FALSE(rules.permits(alice, action::command, "server_info"));
  CHECK(rules.permits(root, action::command, "server_info"));
  CHECK_FALSE(rules.permits(root, action::command, "echo"));
}

TEST_CASE("a wildcard subscription needs an allow that covers every topic it could receive", "[access_rules]") {
  struct row {
    const char* allowed;
    const char* target;
    bool permitted;
  };
  const row rows[] = {
      {"public.>", "public.*", true},    {"public.>", "public.>", true},   {"public.>", "public.*.x", true},
      {"public.>", "public", false},     {"public.>", ">", false},         {"public.>", "*.news", false},
      {"public.*", "public.*", true},    {"public.*", "public.>", false},  {"public.*", "public.*.*", false},
      {"public.*", "public.news", true}, {"*.news", "*.news", true},       {"*.news", "*.*", false},
      {">", ">", true},                  {">", "*", true},                 {">", "a.*.>", true},
      {"*", ">", false},                 {"*.>", ">", false},              {"a.>", ">", false},
      {"*.>", "*.>", true},              {"*.>", "a.>", true},             {"a.*.c", "a.*.c", true},
      {"a.*.c", "a.b.*", false},         {"a.b.c", "a.b.c", true},         {"a.b.c", "a.b.*", false},
  };
  for (const row& r : rows) {
    INFO("allow " << r.allowed << ", subscribe " << r.target);
    access_rules rules;
    rules.allow(action::subscribe, r.allowed);
    CHECK(rules.permits(user("alice"), action::subscribe, r.target) == r.permitted);
  }
}

TEST_CASE("a wildcard subscription is refused when it shares any topic with a deny", "[access_rules]") {
  struct row {
    const char* denied;
    const char* target;
    bool permitted;
  };
  const row rows[] = {
      {"public.secret", "public.*", false},        {"public.secret", "public.>", false},
      {"public.secret", "*.secret", false},        {"public.secret", ">", false},
      {"public.secret", "*.*", false},             {"public.secret", "*", true},
      {"public.secret", "public.secret.*", true},  {"public.secret", "public.news", true},
      {"public.secret", "private.*", true},        {"public.secret", "public.*.x", true},
      {"*.secret", "public.>", false},             {"*.secret", "public.news", true},
      {"secret.>", "*.x", false},                  {"secret.>", "secret", true},
      {"secret.>", "public.>", true},              {"a.*.c", "a.b.>", false},
      {"a.*.c", "*.b.d", true},                    {">", "anything.at.all", false},
  };
  for (const row& r : rows) {
    INFO("deny " << r.denied << ", subscribe " << r.target);
    access_rules rules;
    rules.allow(action::subscribe, ">").deny(action::subscribe, r.denied);
    CHECK(rules.permits(user("alice"), action::subscribe, r.target) == r.permitted);
  }
}

namespace {

// The reference semantics, by brute force: over every topic of up to four tokens drawn
// from the tokens the patterns use plus one they do not, does the rule match all the
// topics the target names, and does it share one with it? Enough for patterns of up to
// three tokens: a counterexample, if one exists, exists among these topics.
std::vector<std::string> all_patterns(const std::vector<std::string>& tokens) {
  std::vector<std::string> out, previous{""};
  for (int length = 1; length <= 3; ++length) {
    std::vector<std::string> next;
    for (const std::string& prefix : previous) {
      if (!prefix.empty() && prefix.back() == '>') continue;
      for (const std::string& t : tokens) next.push_back(prefix.empty() ? t : prefix + "." + t);
    }
    out.insert(out.end(), next.begin(), next.end());
    previous = next;
  }
  return out;
}

std::string with_user(std::string pattern, const std::string& id) {
  for (std::size_t at; (at = pattern.find("{user}")) != std::string::npos;) pattern.replace(at, 6, id);
  return pattern;
}

}  // namespace

TEST_CASE("coverage and overlap agree with brute force over every small pattern", "[access_rules]") {
  const std::vector<std::string> rule_patterns = all_patterns({"a", "*", ">", "{user}"});
  const std::vector<std::string> targets = all_patterns({"a", "alice", "*", ">"});
  const std::vector<std::string> topics = all_patterns({"a", "alice", "c"});
  std::vector<std::string> long_topics;
  for (const std::string& t : topics)
    if (std::count(t.begin(), t.end(), '.') == 2)
      for (const char* last : {"a", "alice", "c"}) long_topics.push_back(t + "." + last);
  std::vector<std::string> universe = topics;
  universe.insert(universe.end(), long_topics.begin(), long_topics.end());

  for (const char* id : {"alice", "a.b", "*"}) {
    const identity who = user(id);
    const bool id_is_token = switchboard::classify_topic(id) == switchboard::topic_kind::exact &&
                             std::string_view(id).find('.') == std::string_view::npos;
    for (const std::string& rule : rule_patterns) {
      const bool has_user = rule.find("{user}") != std::string::npos;
      const std::string concrete = with_user(rule, id);
      const auto rule_matches = [&](const std::string& topic) {
        return (!has_user || id_is_token) && switchboard::topic_matches(concrete, topic);
      };
      access_rules allowing, denying;
      allowing.allow(action::subscribe, rule);
      denying.allow(action::subscribe, ">").deny(action::subscribe, rule);
      for (const std::string& target : targets) {
        bool covered = true, shared = false;
        for (const std::string& topic : universe) {
          if (!switchboard::topic_matches(target, topic)) continue;
          covered = covered && rule_matches(topic);
          shared = shared || rule_matches(topic);
        }
        INFO("user " << id << ", rule " << rule << ", subscribe " << target);
        REQUIRE(allowing.permits(who, action::subscribe, target) == covered);
        REQUIRE(denying.permits(who, action::subscribe, target) == !shared);
      }
    }
  }
}

TEST_CASE("many entries decide as each entry alone does, however they were added", "[access_rules]") {
  // Rule sets of many entries, most sharing first tokens, built in random order in code
  // and from JSON, against the decision composed from one-entry rule sets (whose
  // semantics the brute-force test above pins down).
  struct rule {
    action what;
    std::string pattern, role;
    bool allow;
  };
  std::mt19937 rng(7);
  const std::vector<std::string> topic_patterns = all_patterns({"a", "b", "*", ">", "{user}"});
  const std::vector<std::string> names = {"a", "b", "a.b", "*", ">", "{user}"};
  const std::vector<std::string> topic_targets = all_patterns({"a", "b", "u", "*", ">"});
  const std::vector<identity> people = {user("u"), user("u", {"admin"}), user("a.b", {"admin"}), anonymous};
  for (int round = 0; round < 200; ++round) {
    std::vector<rule> entries;
    const int count = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < count; ++i) {
      const action what = static_cast<action>(rng() % 6);
      const bool name = what == action::direct || what == action::command;
      const std::vector<std::string>& from = name ? names : topic_patterns;
      entries.push_back({what, from[rng() % from.size()], rng() % 4 == 0 ? "admin" : "", rng() % 3 != 0});
    }
    access_rules built;
    std::string json = "{";
    for (int a = 0; a < 6; ++a) {
      std::string section;
      for (const rule& r : entries) {
        if (static_cast<int>(r.what) != a) continue;
        section += section.empty() ? "" : ",";
        section += R"({"pattern":")" + r.pattern + "\"" + (r.role.empty() ? "" : R"(,"role":")" + r.role + "\"") +
                   (r.allow ? "" : R"(,"allow":false)") + "}";
      }
      if (section.empty()) continue;
      json += std::string(json.size() > 1 ? "," : "") + "\"" + std::string(switchboard::action_name(static_cast<action>(a))) +
              "\":[" + section + "]";
    }
    json += "}";
    for (const rule& r : entries) r.allow ? built.allow(r.what, r.pattern, r.role) : built.deny(r.what, r.pattern, r.role);
    auto loaded = parse_access_rules(json);
    INFO(json);
    REQUIRE(loaded);

    // One entry alone: does it permit as an allow, or refuse (under a catch-all) as a deny?
    const auto alone = [](const rule& r, const identity& who, action what, const std::string& target) {
      access_rules one;
      const bool name = what == action::direct || what == action::command;
      if (r.allow) {
        one.allow(what, r.pattern, r.role);
        return one.permits(who, what, target);
      }
      one.allow(what, name ? "*" : ">").deny(what, r.pattern, r.role);
      return !one.permits(who, what, target);
    };
    const auto reference = [&](const identity& who, action what, const std::string& target) {
      bool allowed = false;
      for (const rule& r : entries) {
        if (r.what != what) continue;
        if (!r.allow && alone(r, who, what, target)) return false;
        if (r.allow && alone(r, who, what, target)) allowed = true;
      }
      return allowed;
    };
    for (const identity& who : people)
      for (const action what : {action::subscribe, action::publish, action::direct, action::command}) {
        const bool name = what == action::direct || what == action::command;
        for (const std::string& target : name ? names : topic_targets) {
          INFO("user " << (who.user ? *who.user : "(none)") << ", " << switchboard::action_name(what) << " " << target);
          const bool expected = reference(who, what, target);
          REQUIRE(built.permits(who, what, target) == expected);
          REQUIRE(loaded.rules->permits(who, what, target) == expected);
        }
      }
  }
}

TEST_CASE("{user} stands for the connection's own id as one literal token", "[access_rules]") {
  access_rules rules;
  rules.allow(action::subscribe, "user.{user}.>").allow(action::publish, "user.{user}").allow(action::direct, "{user}");

  SECTION("an ordinary id") {
    const identity alice = user("alice");
    CHECK(rules.permits(alice, action::subscribe, "user.alice.inbox"));
    CHECK(rules.permits(alice, action::subscribe, "user.alice.*"));
    CHECK(rules.permits(alice, action::subscribe, "user.alice.>"));
    CHECK_FALSE(rules.permits(alice, action::subscribe, "user.bob.inbox"));
    CHECK_FALSE(rules.permits(alice, action::subscribe, "user.*.inbox"));
    CHECK_FALSE(rules.permits(alice, action::subscribe, "user.>"));
    CHECK_FALSE(rules.permits(alice, action::subscribe, "user.alice"));
    CHECK(rules.permits(alice, action::publish, "user.alice"));
    CHECK(rules.permits(alice, action::direct, "alice"));
    CHECK_FALSE(rules.permits(alice, action::direct, "bob"));
  }
  SECTION("ids with dots or wildcards never widen the rule") {
    for (const char* hostile : {"a.b", "*", ">", "a.*", "a.>", "*.*", "alice.>", ".", "a b", "{user}"}) {
      INFO("user id " << hostile);
      const identity who = user(hostile);
      for (const char* target : {"user.a.b.x", "user.a.x", "user.*.x", "user.>", "user.*.>", "user.x.y",
                                 "user.alice.x", "user.a.b", "user.a"}) {
        INFO("subscribe " << target);
        CHECK_FALSE(rules.permits(who, action::subscribe, target));
      }
      for (const char* target : {"user.a.b", "user.a", "user.x"}) CHECK_FALSE(rules.permits(who, action::publish, target));
      // As a direct target the id is one name, whatever it holds: only itself.
      CHECK(rules.permits(who, action::direct, hostile));
      CHECK_FALSE(rules.permits(who, action::direct, "bob"));
    }
  }
  SECTION("a connection without a user id matches no rule with {user}") {
    for (const char* target : {"user.x.y", "user.*.y", "user.>"}) CHECK_FALSE(rules.permits(anonymous, action::subscribe, target));
    CHECK_FALSE(rules.permits(anonymous, action::direct, "{user}"));
    CHECK_FALSE(rules.permits(anonymous, action::direct, "bob"));
  }
  SECTION("in a deny entry") {
    access_rules private_inbox;
    private_inbox.allow(action::subscribe, "user.>").deny(action::subscribe, "user.{user}.drafts");
    const identity alice = user("alice");
    CHECK_FALSE(private_inbox.permits(alice, action::subscribe, "user.alice.drafts"));
    CHECK(private_inbox.permits(alice, action::subscribe, "user.bob.drafts"));
    CHECK_FALSE(private_inbox.permits(alice, action::subscribe, "user.*.drafts"));  // could be her own
    CHECK(private_inbox.permits(anonymous, action::subscribe, "user.alice.drafts"));
  }
}

TEST_CASE("roles: an entry applies only to connections holding its role", "[access_rules]") {
  access_rules rules;
  rules.allow(action::subscribe, "admin.>", "admin")
      .allow(action::subscribe, "public.>")
      .deny(action::subscribe, "public.paid.>", "guest")
      .allow(action::publish, "public.>", "member");
  const identity admin = user("root", {"member", "admin"});
  const identity member = user("alice", {"member"});
  const identity guest = user("gus", {"guest"});

  CHECK(rules.permits(admin, action::subscribe, "admin.logs"));
  CHECK_FALSE(rules.permits(member, action::subscribe, "admin.logs"));
  CHECK_FALSE(rules.permits(anonymous, action::subscribe, "admin.logs"));
  CHECK(rules.permits(member, action::subscribe, "public.paid.film"));
  CHECK_FALSE(rules.permits(guest, action::subscribe, "public.paid.film"));
  CHECK_FALSE(rules.permits(guest, action::subscribe, "public.>"));
  CHECK(rules.permits(guest, action::subscribe, "public.free"));
  CHECK(rules.permits(member, action::publish, "public.chat"));
  CHECK_FALSE(rules.permits(guest, action::publish, "public.chat"));
  // Roles are compared whole and exactly.
  CHECK_FALSE(rules.permits(user("eve", {"Admin", "admin2", "admi"}), action::subscribe, "admin.logs"));
}

TEST_CASE("once rules exist, what is not allowed is denied", "[access_rules]") {
  const identity alice = user("alice");
  SECTION("an empty rule set refuses every action") {
    const access_rules none;
    CHECK(none.size() == 0);
    for (const action a : {action::subscribe, action::publish, action::presence, action::history}) {
      CHECK_FALSE(none.permits(alice, a, "public.news"));
      CHECK_FALSE(none.has_section(a));
    }
    CHECK_FALSE(none.permits(alice, action::direct, "bob"));
    CHECK_FALSE(none.permits(alice, action::command, "ping"));
  }
  SECTION("a missing section refuses its action") {
    access_rules rules;
    rules.allow(action::subscribe, ">");
    CHECK(rules.permits(alice, action::subscribe, "public.news"));
    CHECK_FALSE(rules.permits(alice, action::publish, "public.news"));
    CHECK_FALSE(rules.permits(alice, action::direct, "bob"));
    CHECK_FALSE(rules.permits(alice, action::command, "ping"));
  }
  SECTION("an empty section refuses its action") {
    auto loaded = parse_access_rules(R"({"subscribe": [{"pattern": ">"}], "publish": []})");
    REQUIRE(loaded);
    CHECK(loaded.rules->has_section(action::publish));
    CHECK_FALSE(loaded.rules->permits(alice, action::publish, "public.news"));
  }
  SECTION("allow defaults to true") {
    auto loaded = parse_access_rules(R"({"publish": [{"pattern": "a"}, {"pattern": "b", "allow": true},
                                                     {"pattern": "c", "allow": false}]})");
    REQUIRE(loaded);
    CHECK(loaded.rules->permits(alice, action::publish, "a"));
    CHECK(loaded.rules->permits(alice, action::publish, "b"));
    CHECK_FALSE(loaded.rules->permits(alice, action::publish, "c"));
  }
  SECTION("invalid targets are refused") {
    access_rules rules;
    rules.allow(action::subscribe, ">").allow(action::publish, ">").allow(action::direct, "*").allow(action::command, ">");
    for (const std::string& bad : {std::string(), std::string("."), std::string("a..b"), std::string("a."),
                                   std::string(".a"), std::string("a b"), std::string("a.>.b"), std::string("a*"),
                                   std::string(256, 'a')}) {
      INFO("target '" << bad << "'");
      CHECK_FALSE(rules.permits(alice, action::subscribe, bad));
      CHECK_FALSE(rules.permits(alice, action::publish, bad));
    }
    CHECK_FALSE(rules.permits(alice, action::direct, ""));
    CHECK_FALSE(rules.permits(alice, action::command, ""));
    CHECK_FALSE(rules.permits(alice, static_cast<action>(200), "a"));
  }
}

TEST_CASE("history and presence need subscribe permission", "[access_rules]") {
  const identity alice = user("alice");
  SECTION("without sections of their own, the subscribe section decides") {
    access_rules rules;
    rules.allow(action::subscribe, "public.>").deny(action::subscribe, "public.secret");
    for (const action a : {action::history, action::presence}) {
      CHECK(rules.permits(alice, a, "public.news"));
      CHECK_FALSE(rules.permits(alice, a, "public.secret"));
      CHECK_FALSE(rules.permits(alice, a, "private.x"));
    }
  }
  SECTION("with a section of their own, both must permit") {
    access_rules rules;
    rules.allow(action::subscribe, "public.>")
        .allow(action::history, "public.archive.>")
        .allow(action::history, "private.>")
        .allow(action::presence, ">");
    CHECK(rules.permits(alice, action::history, "public.archive.2024"));
    CHECK_FALSE(rules.permits(alice, action::history, "public.news"));  // no history entry
    CHECK_FALSE(rules.permits(alice, action::history, "private.x"));    // no subscribe entry
    CHECK(rules.permits(alice, action::presence, "public.news"));
    CHECK_FALSE(rules.permits(alice, action::presence, "private.x"));
  }
  SECTION("an empty history section turns history off") {
    auto loaded = parse_access_rules(R"({"subscribe": [{"pattern": ">"}], "history": []})");
    REQUIRE(loaded);
    CHECK_FALSE(loaded.rules->permits(alice, action::history, "public.news"));
    CHECK(loaded.rules->permits(alice, action::presence, "public.news"));
  }
}

TEST_CASE("direct and command targets are one name", "[access_rules]") {
  access_rules rules;
  rules.allow(action::direct, "support@example.com")
      .allow(action::direct, "{user}")
      .allow(action::command, "*")
      .deny(action::command, "shutdown")
      .deny(action::command, ">", "guest");
  const identity alice = user("alice");
  CHECK(rules.permits(alice, action::direct, "support@example.com"));
  CHECK_FALSE(rules.permits(alice, action::direct, "support@example"));
  CHECK_FALSE(rules.permits(alice, action::direct, "example.com"));
  CHECK(rules.permits(alice, action::direct, "alice"));
  CHECK_FALSE(rules.permits(alice, action::direct, "*"));
  // Names outside topic syntax are still names: `*` and `{user}` reach them.
  CHECK(rules.permits(user("J. Doe"), action::direct, "J. Doe"));
  CHECK(rules.permits(alice, action::command, "ping"));
  CHECK(rules.permits(alice, action::command, "any name at all"));
  CHECK_FALSE(rules.permits(alice, action::command, "shutdown"));
  CHECK_FALSE(rules.permits(user("gus", {"guest"}), action::command, "ping"));

  CHECK_THROWS_AS(access_rules().allow(action::direct, "a.*"), std::invalid_argument);
  CHECK_THROWS_AS(access_rules().allow(action::command, "{user}.x"), std::invalid_argument);
  CHECK_THROWS_AS(access_rules().allow(action::command, "two words"), std::invalid_argument);
}

TEST_CASE("building rules in code refuses invalid patterns with a clear message", "[access_rules]") {
  const char* const bad[] = {"", "a..b", "a.>.b", "a*", "a.b c", "{user}x", "x.{user}s", "{User}", "{user"};
  for (const char* pattern : bad) {
    INFO("pattern '" << pattern << "'");
    access_rules rules;
    try {
      rules.allow(action::subscribe, pattern);
      FAIL("accepted");
    } catch (const std::invalid_argument& ex) {
      CHECK(starts_with(ex.what(), "switchboard: subscribe rule pattern: "));
    }
    CHECK(rules.size() == 0);
    CHECK_FALSE(rules.has_section(action::subscribe));  // a refused entry leaves nothing behind
  }
  CHECK_THROWS_AS(access_rules().deny(action::publish, std::string(256, 'a')), std::invalid_argument);
  CHECK_NOTHROW(access_rules().allow(action::publish, std::string(255, 'a')));
}

TEST_CASE("JSON errors name their place", "[access_rules][json]") {
  struct row {
    const char* json;
    const char* error;  // the whole message, or its start when it ends with "..."
  };
  const row rows[] = {
      {R"([])", "the rules must be a JSON object"},
      {R"("subscribe")", "the rules must be a JSON object"},
      {R"({"subscribe": [], "bogus": []})", R"(unknown key "bogus" (expected subscribe, publish, presence, history, direct or command))"},
      {R"({"recovery": []})", R"(unknown key "recovery"...)"},
      {R"({"subscribe": [], "subscribe": []})", "subscribe: given twice"},
      {R"({"subscribe": {"pattern": "a"}})", "subscribe: must be an array of rules"},
      {R"({"subscribe": "a.>"})", "subscribe: must be an array of rules, not a string"},
      {R"({"subscribe": null})", "subscribe: must be an array of rules, not null"},
      {R"({"subscribe": [{"pattern": "a"}, "b"]})", "subscribe[1]: must be an object, not a string"},
      {R"({"subscribe": [[]]})", "subscribe[0]: must be an object, not an array"},
      {R"({"publish": [{"pattern": "a"}, {"pattern": "b"}, {"role": "x"}]})", "publish[2]: pattern is required"},
      {R"({"subscribe": [{"pattern": "a", "patern": "b"}]})", R"(subscribe[0]: unknown key "patern" (expected pattern, role or allow))"},
      {R"({"subscribe": [{"pattern": "a", "pattern": "b"}]})", "subscribe[0].pattern: given twice"},
      {R"({"subscribe": [{"pattern": 7}]})", "subscribe[0].pattern: must be a string, not a number"},
      {R"({"subscribe": [{"pattern": ["a"]}]})", "subscribe[0].pattern: must be a string, not an array"},
      {R"({"subscribe": [{"pattern": "a", "role": true}]})", "subscribe[0].role: must be a string, not true"},
      {R"({"subscribe": [{"pattern": "a", "role": ""}]})", "subscribe[0].role: must be a non-empty string..."},
      {R"({"subscribe": [{"pattern": "a", "allow": "false"}]})", "subscribe[0].allow: must be true or false, not a string"},
      {R"({"subscribe": [{"pattern": "a", "allow": 0}]})", "subscribe[0].allow: must be true or false, not a number"},
      {R"({"subscribe": [{"pattern": "a", "allow": {}}]})", "subscribe[0].allow: must be true or false, not an object"},
      {R"({"subscribe": [{"pattern": "ok.>"}, {"pattern": "a..b"}]})", R"(subscribe[1].pattern: "a..b" is not a valid pattern...)"},
      {R"({"subscribe": [{"pattern": ""}]})", "subscribe[0].pattern: must not be empty"},
      {R"({"history": [{"pattern": "a.>.b"}]})", R"(history[0].pattern: "a.>.b" is not a valid pattern...)"},
      {R"({"presence": [{"pattern": "user.x{user}"}]})", R"(presence[0].pattern: "user.x{user}": {user} must be a whole token)"},
      {R"({"direct": [{"pattern": "room.*"}]})", R"(direct[0].pattern: "room.*" is not a valid direct pattern...)"},
      {R"({"command": [{"pattern": "a b"}]})", R"(command[0].pattern: "a b" is not a valid command pattern...)"},
      {R"({"subscribe": [{"pattern": "\udc00"}]})", "subscribe[0].pattern: not valid UTF-8"},
      {R"({"subscribe": [{"pattern": "a", "role": "x\udc00"}]})", "subscribe[0].role: not valid UTF-8"},
      {R"({"subscribe": [{"pattern": "\ud800"}]})", "not valid JSON: The surrogate pair in string is invalid. (at byte 28)"},
      {R"({"subscribe": [)", "not valid JSON: ..."},
      {R"({"subscribe": []} {})", "not valid JSON: The document root must not be followed by other values. (at byte 18)"},
      {"", "not valid JSON: The document is empty. (at byte 0)"},
      {"{\"subscribe\": [{\"pattern\": \"\xff\"}]}", "not valid JSON: Invalid encoding in string. (at byte 28)"},
  };
  for (const row& r : rows) {
    INFO("json: " << r.json);
    const std::string error = error_of(r.json);
    const std::string_view expected = r.error;
    if (expected.size() >= 3 && expected.substr(expected.size() - 3) == "...")
      CHECK(starts_with(error, expected.substr(0, expected.size() - 3)));
    else
      CHECK(error == expected);
  }
  // A NUL byte ends RapidJSON's input; what follows must not be ignored.
  CHECK(error_of(std::string("{}\0{\"publish\": 1}", 17)) == "not valid JSON: a NUL byte (at byte 2)");
  // Long or hostile input is quoted short and printable.
  const std::string long_key = R"({")" + std::string(5000, 'k') + R"(": []})";
  CHECK(error_of(long_key).size() < 200);
  CHECK(error_of(R"({"a\u0001\"b": []})") == R"(unknown key "a\u0001\"b" (expected subscribe, publish, presence, history, direct or command))");
}

TEST_CASE("rule sets are bounded in rules and bytes", "[access_rules][json]") {
  const auto rules_json = [](std::size_t n) {
    std::string json = R"({"subscribe": [)";
    for (std::size_t i = 0; i < n; ++i) json += (i ? "," : "") + std::string(R"({"pattern": "t)") + std::to_string(i) + "\"}";
    return json + R"(], "publish": [{"pattern": "p"}]})";
  };
  const access_rules_limits defaults;
  CHECK(defaults.max_rules == 10000);
  CHECK(defaults.max_json_bytes == 1024 * 1024);

  access_rules_limits small;
  small.max_rules = 3;
  CHECK(parse_access_rules(rules_json(2), small));
  CHECK(error_of(rules_json(3), small) == "publish[0]: more than 3 rules in all (access_rules_limits::max_rules)");
  CHECK(error_of(rules_json(50), small) == "subscribe[3]: more than 3 rules in all (access_rules_limits::max_rules)");

  // At the default: 9,999 + 1 rules are fine, one more is not.
  CHECK(parse_access_rules(rules_json(9999)));
  CHECK(starts_with(error_of(rules_json(10000)), "publish[0]: more than 10000 rules"));

  small.max_json_bytes = 100;
  CHECK(parse_access_rules(rules_json(1), small));
  CHECK(error_of(rules_json(1) + std::string(100, ' '), small) ==
        "the rules are larger than 100 bytes (access_rules_limits::max_json_bytes)");
}

TEST_CASE("rules load from a file; a file that cannot be read is an error naming it", "[access_rules][json]") {
  const std::string path = "test_access_rules_" + std::to_string(std::random_device{}()) + ".json";
  struct remove_at_end {
    const std::string& path;
    ~remove_at_end() { std::remove(path.c_str()); }
  } cleanup{path};
  const auto write = [&](const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  };

  write(example_json);
  auto loaded = load_access_rules_file(path);
  INFO(loaded.error);
  REQUIRE(loaded);
  CHECK(loaded.rules->permits(user("alice"), action::subscribe, "user.alice.x"));

  write(R"({"subscribe": [{"pattern": "a"}, {"pattern": "b", "role": 1}]})");
  CHECK(load_access_rules_file(path).error == path + ": subscribe[1].role: must be a string, not a number");

  access_rules_limits small;
  small.max_json_bytes = 100;
  write("{" + std::string(20000, ' ') + "}");
  CHECK(load_access_rules_file(path, small).error ==
        path + ": larger than 100 bytes (access_rules_limits::max_json_bytes)");
  CHECK(load_access_rules_file(path));

  const auto missing = load_access_rules_file(path + ".missing");
  CHECK_FALSE(missing);
  CHECK(starts_with(missing.error, path + ".missing: cannot be opened: "));
  CHECK_FALSE(load_access_rules_file(".").error.empty());  // a directory
}

TEST_CASE("random, truncated and deeply nested JSON is refused without a crash", "[access_rules][json]") {
  const std::string good = example_json;
  SECTION("every truncation of a valid rule set is refused") {
    for (std::size_t n = 0; n < good.size(); ++n) {
      const std::string prefix = good.substr(0, n);  // the document ends with its closing brace
      INFO("prefix of " << n << " bytes");
      const auto loaded = parse_access_rules(prefix);
      CHECK_FALSE(loaded);
      CHECK_FALSE(loaded.error.empty());
    }
  }
  SECTION("random bytes and random mutations never crash; what parses still decides") {
    std::mt19937 rng(20241202);
    const std::string alphabet = "{}[]\":,. *>_ab{user}\\0123456789-tfnrlpatternroleallowsubscribepublish\x80\xff";
    const identity who = user("alice", {"admin"});
    std::size_t parsed = 0;
    for (int round = 0; round < 20000; ++round) {
      std::string text;
      if (round % 2 == 0) {
        text.resize(rng() % 64);
        for (char& c : text) c = alphabet[rng() % alphabet.size()];
      } else {
        text = good;
        for (int edits = 1 + static_cast<int>(rng() % 4); edits > 0; --edits) {
          const std::size_t at = rng() % text.size();
          switch (rng() % 3) {
            case 0: text[at] = alphabet[rng() % alphabet.size()]; break;
            case 1: text.erase(at, 1 + rng() % 8); break;
            default: text.insert(at, 1, alphabet[rng() % alphabet.size()]);
          }
          if (text.empty()) text = "{";
        }
      }
      const auto loaded = parse_access_rules(text);
      REQUIRE(loaded.rules.has_value() == loaded.error.empty());
      if (!loaded) continue;
      ++parsed;
      for (const char* target : {"public.x", "public.*", ">", "user.alice.x", "a..b", "", "ping"})
        for (int a = 0; a < 6; ++a) (void)loaded.rules->permits(who, static_cast<action>(a), target);
    }
    CHECK(parsed > 0);  // the mutations leave some documents valid
  }
  SECTION("deep nesting is refused at once, not recursed into") {
    const std::size_t depth = 200000;
    CHECK(error_of(std::string(depth, '[') + std::string(depth, ']')) == "the rules must be a JSON object");
    const std::string deep_pattern = R"({"subscribe": [{"pattern": )" + std::string(depth, '[') + std::string(depth, ']') + "}]}";
    CHECK(error_of(deep_pattern) == "subscribe[0].pattern: must be a string, not an array");
    const std::string deep_object = R"({"subscribe": [{"pattern": "a", "allow": )" + std::string(depth, '{') + "}]}";
    CHECK(error_of(deep_object) == "subscribe[0].allow: must be true or false, not an object");
  }
}

TEST_CASE("rules_auth: the inner policy, the rules and the callback must all permit", "[access_rules][rules_auth]") {
  // An inner policy that authenticates by token and refuses one topic itself.
  struct inner_auth {
    switchboard::auth_result authenticate(const switchboard::handshake_info& h) const {
      return switchboard::auth_result::accept(std::string(h.token));
    }
    bool authorize(const identity&, action, std::string_view target) const { return target != "inner.refuses"; }
  };
  using policy = switchboard::rules_auth<inner_auth>;
  static_assert(switchboard::is_auth_policy<policy>::value, "rules_auth models the auth policy");
  const identity alice = user("alice");

  SECTION("authenticate is the inner policy's") {
    policy auth{inner_auth{}};
    switchboard::handshake_info h;
    h.token = "bob";
    const auto result = auth.authenticate(h);
    CHECK(result.accepted);
    CHECK(result.who.user == std::string("bob"));
  }
  SECTION("without rules or callback, the inner policy decides") {
    policy auth{inner_auth{}};
    CHECK(auth.rules() == nullptr);
    CHECK(auth.authorize(alice, action::subscribe, ">"));
    CHECK_FALSE(auth.authorize(alice, action::publish, "inner.refuses"));
  }
  SECTION("with rules") {
    access_rules rules;
    rules.allow(action::publish, ">");
    policy auth{inner_auth{}, rules};
    REQUIRE(auth.rules() != nullptr);
    CHECK(auth.authorize(alice, action::publish, "room.1"));
    CHECK_FALSE(auth.authorize(alice, action::publish, "inner.refuses"));
    CHECK_FALSE(auth.authorize(alice, action::subscribe, "room.1"));
    auth.set_rules(std::nullopt);
    CHECK(auth.authorize(alice, action::subscribe, "room.1"));
  }
  SECTION("with a callback: room membership") {
    access_rules rules;
    rules.allow(action::publish, "room.*");
    std::vector<std::string> seen;
    policy auth{inner_auth{}, rules, [&](const identity& who, action what, std::string_view target) {
                  seen.push_back(std::string(switchboard::action_name(what)) + " " + std::string(target));
                  return *who.user == "alice" && target == "room.1";
                }};
    CHECK(auth.authorize(alice, action::publish, "room.1"));
    CHECK_FALSE(auth.authorize(alice, action::publish, "room.2"));
    CHECK_FALSE(auth.authorize(user("bob"), action::publish, "room.1"));
    // Refused by the rules first: the callback is not asked.
    CHECK_FALSE(auth.authorize(alice, action::publish, "lobby"));
    CHECK(seen == std::vector<std::string>{"publish room.1", "publish room.2", "publish room.1"});
  }
  SECTION("a callback that throws refuses") {
    policy auth{inner_auth{}, std::nullopt,
                [](const identity&, action, std::string_view) -> bool { throw std::runtime_error("database down"); }};
    CHECK_FALSE(auth.authorize(alice, action::publish, "room.1"));
  }
}

TEST_CASE("a hub with rules_auth: rules set at run time apply to the requests that follow", "[access_rules][rules_auth]") {
  using rules_hub = switchboard::basic_hub<switchboard::policies<switchboard::rules_auth<switchboard::insecure_token_auth>>>;
  // The harness's pump runs every flush, also one a loaded machine defers to a timer.
  harness<rules_hub> h;
  rules_hub& hub = h.hub;
  switchboard::memory_transport& net = h.net;
  const auto pump = [&] { h.pump(); };
  // Sends `frame` from `id` and returns every text frame `to` has received since.
  const auto exchange = [&](switchboard::connection_id id, std::string_view frame, switchboard::connection_id to) {
    net.receive_text(id, frame);
    pump();
    return net.take_texts(to);
  };
  const auto reply = [&](switchboard::connection_id id, std::string_view frame) {
    const std::vector<std::string> frames = exchange(id, frame, id);
    REQUIRE(frames.size() == 1);
    return frames.front();
  };
  const auto forbidden = [](const std::string& frame) { return frame.find(R"("code":"forbidden")") != std::string::npos; };
  const switchboard::connection_id alice = net.connect("alice"), bob = net.connect("bob");
  REQUIRE(alice != 0);
  REQUIRE(bob != 0);
  pump();
  net.take_texts(alice);
  net.take_texts(bob);

  // Without rules the inner policy (here: everything) decides.
  CHECK(starts_with(reply(bob, R"({"type":"subscribe","id":1,"topics":["room.>"]})"), R"({"type":"ack")"));
  CHECK(exchange(alice, R"({"type":"publish","topic":"room.1","data":1})", bob).size() == 1);

  access_rules rules;
  rules.allow(action::subscribe, "room.>").allow(action::publish, "room.{user}");
  hub.auth().set_rules(rules);
  CHECK(forbidden(reply(alice, R"({"type":"publish","id":2,"topic":"room.1","data":1})")));
  CHECK(forbidden(reply(alice, R"({"type":"subscribe","id":3,"topics":["lobby"]})")));
  net.receive_binary(alice, std::string("\x01\x06room.1x", 9));
  pump();
  const std::vector<std::string> binary_refusal = net.take_texts(alice);
  REQUIRE(binary_refusal.size() == 1);
  CHECK(forbidden(binary_refusal.front()));
  CHECK(net.take_texts(bob).empty());  // nothing refused was delivered

  // The subscription bob made before the rules stays.
  CHECK(exchange(alice, R"({"type":"publish","topic":"room.alice","data":1})", bob).size() == 1);
  // The refused publishes took no seq on room.1.
  CHECK(reply(alice, R"({"type":"history","id":5,"topic":"room.1"})").find(R"("seq":1,)") != std::string::npos);
}
