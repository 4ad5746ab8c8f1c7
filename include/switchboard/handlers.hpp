// Application message types and named commands.
#ifndef SWITCHBOARD_HANDLERS_HPP
#define SWITCHBOARD_HANDLERS_HPP

#include <switchboard/error.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

/// What a command returns: JSON `data` for the `result` frame, or an error.
struct command_result {
  std::string data = "null";       ///< raw JSON value
  std::optional<error> failure;    ///< set: the reply is an `error` frame
  std::string message;             ///< the error's human-readable message

  static command_result ok(std::string json_data) { return {std::move(json_data), std::nullopt, {}}; }
  static command_result fail(error code, std::string message) { return {"null", code, std::move(message)}; }
};

/// The message types a hub handles itself; `handler_registry::on` refuses them.
inline bool is_builtin_type(std::string_view type) noexcept {
  return type == "auth" || type == "subscribe" || type == "unsubscribe" || type == "publish" || type == "direct" ||
         type == "command" || type == "presence" || type == "history" || type == "ping";
}

/// Maps application message types to handlers and command names to commands.
/// `Context` is the hub's request context (`basic_hub<P>::request_context`).
///
/// Thread safety: register before the hub runs, or from the hub's thread.
template <class Context>
class handler_registry {
 public:
  using type_handler = std::function<void(Context&)>;
  using command_handler = std::function<command_result(Context&)>;

  /// Routes frames whose `type` is `type` to `handler`. Throws std::invalid_argument
  /// for a built-in type. A later registration for the same type replaces the earlier.
  void on(std::string type, type_handler handler) {
    if (is_builtin_type(type)) throw std::invalid_argument("switchboard: '" + type + "' is a built-in message type");
    types_[std::move(type)] = std::move(handler);
  }

  /// Adds (or replaces) the command `name`, run by `{"type":"command","name":...}`.
  void add_command(std::string name, command_handler handler) { commands_[std::move(name)] = std::move(handler); }

  /// Removes a command; returns false when there was none.
  bool remove_command(std::string_view name) {
    auto it = commands_.find(name);
    if (it == commands_.end()) return false;
    commands_.erase(it);
    return true;
  }

  const type_handler* find_type(std::string_view type) const {
    auto it = types_.find(type);
    return it == types_.end() ? nullptr : &it->second;
  }
  const command_handler* find_command(std::string_view name) const {
    auto it = commands_.find(name);
    return it == commands_.end() ? nullptr : &it->second;
  }

  /// Command names in sorted order.
  std::vector<std::string> command_names() const {
    std::vector<std::string> names;
    names.reserve(commands_.size());
    for (const auto& c : commands_) names.push_back(c.first);
    return names;
  }

 private:
  std::map<std::string, type_handler, std::less<>> types_;
  std::map<std::string, command_handler, std::less<>> commands_;
};

}  // namespace switchboard

#endif
