// Application message types and named commands.
#include <switchboard/handlers.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace {
struct fake_context {
  std::vector<std::string> log;
};
using registry = switchboard::handler_registry<fake_context>;
}  // namespace

TEST_CASE("handler_registry refuses every built-in message type", "[handlers]") {
  registry r;
  for (const char* type : {"auth", "subscribe", "unsubscribe", "publish", "direct", "command", "presence", "history",
                           "ping"}) {
    CAPTURE(type);
    CHECK(switchboard::is_builtin_type(type));
    CHECK_THROWS_AS(r.on(type, [](fake_context&) {}), std::invalid_argument);
    CHECK(r.find_type(type) == nullptr);
  }
  CHECK_FALSE(switchboard::is_builtin_type("chat"));
  CHECK_FALSE(switchboard::is_builtin_type("Publish"));  // types are case-sensitive
  CHECK_NOTHROW(r.on("Publish", [](fake_context&) {}));
}

TEST_CASE("handler_registry routes types and a later registration replaces the earlier", "[handlers]") {
  registry r;
  CHECK(r.find_type("chat") == nullptr);
  r.on("chat", [](fake_context& c) { c.log.push_back("first"); });
  r.on("typing", [](fake_context& c) { c.log.push_back("typing"); });
  fake_context ctx;
  REQUIRE(r.find_type("chat") != nullptr);
  (*r.find_type("chat"))(ctx);
  r.on("chat", [](fake_context& c) { c.log.push_back("second"); });
  (*r.find_type("chat"))(ctx);
  (*r.find_type("typing"))(ctx);
  CHECK(ctx.log == std::vector<std::string>{"first", "second", "typing"});
}

TEST_CASE("handler_registry commands: sorted names, replace, remove", "[handlers]") {
  registry r;
  CHECK(r.command_names().empty());
  for (const char* name : {"zeta", "alpha", "mid", "Alpha", "alpha2"})
    r.add_command(name, [name](fake_context&) { return switchboard::command_result::ok(std::string("\"") + name + "\""); });
  CHECK(r.command_names() == std::vector<std::string>{"Alpha", "alpha", "alpha2", "mid", "zeta"});

  fake_context ctx;
  REQUIRE(r.find_command("mid") != nullptr);
  CHECK((*r.find_command("mid"))(ctx).data == "\"mid\"");
  r.add_command("mid", [](fake_context&) { return switchboard::command_result::fail(switchboard::error::not_found, "gone"); });
  const auto replaced = (*r.find_command("mid"))(ctx);
  REQUIRE(replaced.failure.has_value());
  CHECK(*replaced.failure == switchboard::error::not_found);
  CHECK(replaced.message == "gone");
  CHECK(r.command_names().size() == 5);

  CHECK(r.remove_command("alpha"));
  CHECK_FALSE(r.remove_command("alpha"));
  CHECK(r.find_command("alpha") == nullptr);
  CHECK(r.command_names() == std::vector<std::string>{"Alpha", "alpha2", "mid", "zeta"});
  // Commands and types are separate namespaces.
  CHECK(r.find_type("zeta") == nullptr);
}

TEST_CASE("command_result defaults", "[handlers]") {
  const auto ok = switchboard::command_result::ok(R"({"n":1})");
  CHECK(ok.data == R"({"n":1})");
  CHECK_FALSE(ok.failure.has_value());
  const switchboard::command_result empty;
  CHECK(empty.data == "null");
  CHECK_FALSE(empty.failure.has_value());
}
