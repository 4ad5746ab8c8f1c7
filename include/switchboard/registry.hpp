// Connections and the users they belong to.
#ifndef SWITCHBOARD_REGISTRY_HPP
#define SWITCHBOARD_REGISTRY_HPP

#include <switchboard/auth.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace switchboard {

/// Identifies a connection for its whole life; never reused within a hub (the slot is,
/// the generation is not). 0 is never a valid id.
using connection_id = std::uint64_t;

/// The connection table of a hub: a slab of per-connection values of type `T`, addressed
/// by `connection_id` in O(1) without hashing, plus an index of users to their
/// connections. Anonymous connections (no user) are counted as connections only.
///
/// Thread safety: none; a registry belongs to one hub's thread.
template <class T>
class connection_registry {
 public:
  /// One live connection.
  struct entry {
    connection_id id;
    T value;  // before `who`: the hub's hot per-connection fields share a cache line with `id`
    identity who;
    const std::optional<std::string>& user() const noexcept { return who.user; }
  };

  /// Adds a connection. When `counted_as_user` is false the connection keeps its
  /// identity but does not join the user index (a connection refused for a per-user limit).
  connection_id insert(identity who, T value, bool counted_as_user = true) {
    std::uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
      generations_.push_back(0);
    }
    const connection_id id = (static_cast<connection_id>(++generations_[slot]) << 32) | (slot + 1u);
    const bool who_has_user = who.user.has_value();
    if (who.user && counted_as_user) users_[*who.user].push_back(id);
    slots_[slot].emplace(entry{id, std::move(value), std::move(who)});
    if (who_has_user && !counted_as_user) uncounted_.push_back(id);
    ++size_;
    return id;
  }

  /// Gives an anonymous connection its identity once it has authenticated (in-band
  /// auth); `counted_as_user` as for `insert`. Returns false when `id` is not live or
  /// already has a user.
  bool identify(connection_id id, identity who, bool counted_as_user = true) {
    entry* e = find(id);
    if (!e || e->who.user) return false;
    if (who.user) (counted_as_user ? users_[*who.user] : uncounted_).push_back(id);
    e->who = std::move(who);
    return true;
  }

  /// Removes a connection; returns false when `id` is not live.
  bool erase(connection_id id) {
    entry* e = find(id);
    if (!e) return false;
    if (e->who.user && !remove_uncounted(id)) {
      auto it = users_.find(*e->who.user);
      if (it != users_.end()) {
        auto& ids = it->second;
        for (std::size_t i = 0; i < ids.size(); ++i)
          if (ids[i] == id) {
            ids[i] = ids.back();
            ids.pop_back();
            break;
          }
        if (ids.empty()) users_.erase(it);
      }
    }
    const std::uint32_t slot = slot_of(id);
    slots_[slot].reset();
    free_.push_back(slot);
    --size_;
    return true;
  }

  /// The live connection `id`, or null.
  entry* find(connection_id id) noexcept {
    const std::uint64_t slot = (id & 0xFFFFFFFFu);
    if (slot == 0 || slot > slots_.size()) return nullptr;
    auto& e = slots_[slot - 1];
    return e && e->id == id ? &*e : nullptr;
  }

  /// The connection in `slot` (from `slot_of`); must be live.
  entry& at_slot(std::uint32_t slot) noexcept { return *slots_[slot]; }
  bool live_slot(std::uint32_t slot) const noexcept { return slot < slots_.size() && slots_[slot].has_value(); }

  /// The dense slot index of `id`, for side tables such as the broker's subscriber index.
  static std::uint32_t slot_of(connection_id id) noexcept { return static_cast<std::uint32_t>((id & 0xFFFFFFFFu) - 1); }

  /// The connections of `user` (empty when none).
  const std::vector<connection_id>& connections_of(std::string_view user) const {
    static const std::vector<connection_id> none;
    auto it = users_.find(std::string(user));
    return it == users_.end() ? none : it->second;
  }

  std::size_t connection_count() const noexcept { return size_; }
  std::size_t user_count() const noexcept { return users_.size(); }

  /// Calls `f(entry&)` for every live connection.
  template <class F>
  void for_each(F&& f) {
    for (auto& e : slots_)
      if (e) f(*e);
  }

 private:
  bool remove_uncounted(connection_id id) {
    for (std::size_t i = 0; i < uncounted_.size(); ++i)
      if (uncounted_[i] == id) {
        uncounted_[i] = uncounted_.back();
        uncounted_.pop_back();
        return true;
      }
    return false;
  }

  std::vector<std::optional<entry>> slots_;
  std::vector<std::uint32_t> generations_;
  std::vector<std::uint32_t> free_;
  std::vector<connection_id> uncounted_;  // short-lived: refused connections awaiting close
  std::unordered_map<std::string, std::vector<connection_id>> users_;
  std::size_t size_ = 0;
};

}  // namespace switchboard

#endif
