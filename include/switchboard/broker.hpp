// The topic index: who receives a publish on a topic.
#ifndef SWITCHBOARD_BROKER_HPP
#define SWITCHBOARD_BROKER_HPP

#include <switchboard/topic.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace switchboard {

/// A subscriber as the broker knows it: a small dense integer chosen by the caller
/// (the hub uses the connection's registry slot).
using subscriber_index = std::uint32_t;

/// Maps topics to subscribers. Exact topics live in a hash index; wildcard patterns in a
/// token trie, so finding the recipients of a publish costs one hash lookup plus a walk
/// over the trie nodes that match its tokens — independent of how many other topics and
/// patterns exist. Subscribe and unsubscribe are O(1) (plus the trie depth for patterns).
///
/// A subscriber may be reported more than once for one publish when several of its
/// patterns match; callers deduplicate (the hub stamps each connection per publish).
///
/// Thread safety: none; a broker belongs to one hub's thread.
class broker {
 public:
  enum class subscribe_result { added, already_subscribed, limit_reached, invalid };

  broker() = default;
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;

  /// Subscribes `who` to an exact topic or pattern. `max_per_subscriber` bounds the
  /// number of subscriptions one subscriber may hold.
  subscribe_result subscribe(subscriber_index who, std::string_view topic,
                             std::size_t max_per_subscriber = static_cast<std::size_t>(-1)) {
    const topic_kind kind = classify_topic(topic);
    if (kind == topic_kind::invalid) return subscribe_result::invalid;
    if (is_subscribed(who, topic)) return subscribe_result::already_subscribed;
    auto& mine = subscriptions_of(who);
    if (mine.size() >= max_per_subscriber) return subscribe_result::limit_reached;
    entry* e = kind == topic_kind::exact ? exact_entry(topic) : pattern_entry(topic);
    e->members.push_back({who, static_cast<std::uint32_t>(mine.size())});
    mine.push_back({e, static_cast<std::uint32_t>(e->members.size() - 1)});
    ++subscriptions_;
    return subscribe_result::added;
  }

  /// Removes one subscription; returns false when `who` was not subscribed to `topic`.
  bool unsubscribe(subscriber_index who, std::string_view topic) {
    if (who >= by_subscriber_.size()) return false;
    auto& mine = by_subscriber_[who];
    for (std::size_t i = 0; i < mine.size(); ++i) {
      if (mine[i].e->name != topic) continue;
      remove(who, i);
      return true;
    }
    return false;
  }

  /// Removes every subscription of `who` (on disconnect), calling
  /// `on_topic_left(std::string_view topic)` for each exact topic left without subscribers.
  template <class F>
  void unsubscribe_all(subscriber_index who, F&& on_topic_left) {
    if (who >= by_subscriber_.size()) return;
    auto& mine = by_subscriber_[who];
    std::string left;
    while (!mine.empty()) {
      const entry* e = mine.back().e;
      const bool last_of_topic = !e->owner && e->members.size() == 1;
      if (last_of_topic) left = e->name;  // the entry goes with its last member
      remove(who, mine.size() - 1);
      if (last_of_topic) on_topic_left(std::string_view(left));
    }
    std::vector<subscription>().swap(mine);
  }
  void unsubscribe_all(subscriber_index who) {
    unsubscribe_all(who, [](std::string_view) {});
  }

  /// True when some subscriber holds the exact topic `topic` (patterns aside).
  bool has_subscribers(std::string_view topic) const { return exact_.find(topic) != exact_.end(); }

  /// Number of wildcard patterns `who` subscribes to.
  std::size_t pattern_count(subscriber_index who) const noexcept {
    if (who >= by_subscriber_.size()) return 0;
    std::size_t n = 0;
    for (const auto& s : by_subscriber_[who]) n += s.e->owner != nullptr;
    return n;
  }

  /// Calls `f(subscriber_index)` for every subscription matching the exact `topic`.
  template <class F>
  void for_each_subscriber(std::string_view topic, F&& f) const {
    if (auto it = exact_.find(topic); it != exact_.end())
      for (const auto& m : it->second->members) f(m.who);
    if (patterns_.empty()) return;
    visit(root_, topic, 0, f);
  }

  /// True when `who` holds a subscription to exactly `topic` (a topic or pattern).
  bool is_subscribed(subscriber_index who, std::string_view topic) const noexcept {
    if (who >= by_subscriber_.size()) return false;
    for (const auto& s : by_subscriber_[who])
      if (s.e->name == topic) return true;
    return false;
  }

  /// Number of subscriptions `who` holds.
  std::size_t subscription_count(subscriber_index who) const noexcept {
    return who < by_subscriber_.size() ? by_subscriber_[who].size() : 0;
  }
  /// Subscriptions (exact topics and patterns) over all subscribers.
  std::size_t subscription_count() const noexcept { return subscriptions_; }
  /// Exact topics with at least one subscriber.
  std::size_t topic_count() const noexcept { return exact_.size(); }
  /// Patterns with at least one subscriber.
  std::size_t pattern_count() const noexcept { return patterns_.size(); }
  /// Nodes of the pattern trie (its memory and a publish's worst-case walk grow with it).
  std::size_t pattern_node_count() const noexcept { return nodes_; }

 private:
  struct member {
    subscriber_index who;
    std::uint32_t back;  // index of this subscription in the subscriber's list
  };
  struct node;
  struct entry {
    std::string name;
    std::vector<member> members;
    node* owner = nullptr;  // patterns: the trie node holding this entry
    bool tail = false;      // patterns: ends in `>`
  };
  struct subscription {
    entry* e;
    std::uint32_t index;  // index of the member in e->members
  };
  struct node {
    node* parent = nullptr;
    std::string token;
    std::unordered_map<std::string_view, std::unique_ptr<node>> children;  // keys view child->token
    std::unique_ptr<node> star;
    entry* here = nullptr;  // pattern ending at this node
    entry* rest = nullptr;  // pattern `<this node>.>`
    bool empty() const noexcept { return children.empty() && !star && !here && !rest; }
  };
  using entry_map = std::unordered_map<std::string_view, std::unique_ptr<entry>>;  // keys view entry->name

  std::vector<subscription>& subscriptions_of(subscriber_index who) {
    if (who >= by_subscriber_.size()) by_subscriber_.resize(static_cast<std::size_t>(who) + 1);
    return by_subscriber_[who];
  }

  static entry* find_or_add(entry_map& map, std::string_view name) {
    if (auto it = map.find(name); it != map.end()) return it->second.get();
    auto e = std::make_unique<entry>();
    e->name.assign(name.data(), name.size());
    entry* raw = e.get();
    map.emplace(std::string_view(raw->name), std::move(e));
    return raw;
  }

  entry* exact_entry(std::string_view topic) { return find_or_add(exact_, topic); }

  entry* pattern_entry(std::string_view pattern) {
    entry* e = find_or_add(patterns_, pattern);
    if (e->owner) return e;
    node* n = &root_;
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = pattern.find('.', start);
      const std::string_view token = pattern.substr(start, dot == std::string_view::npos ? pattern.npos : dot - start);
      if (token == ">") {
        n->rest = e;
        e->tail = true;
        break;
      }
      n = child(n, token);
      if (dot == std::string_view::npos) {
        n->here = e;
        break;
      }
      start = dot + 1;
    }
    e->owner = n;
    return e;
  }

  node* child(node* n, std::string_view token) {
    if (token == "*") {
      if (!n->star) n->star = make_node(n, token);
      return n->star.get();
    }
    if (auto it = n->children.find(token); it != n->children.end()) return it->second.get();
    auto c = make_node(n, token);
    node* raw = c.get();
    n->children.emplace(std::string_view(raw->token), std::move(c));
    return raw;
  }

  std::unique_ptr<node> make_node(node* parent, std::string_view token) {
    ++nodes_;
    auto n = std::make_unique<node>();
    n->parent = parent;
    n->token.assign(token.data(), token.size());
    return n;
  }

  // Swap-and-pop in both directions keeps removal O(1).
  void remove(subscriber_index who, std::size_t i) {
    --subscriptions_;
    auto& mine = by_subscriber_[who];
    const subscription s = mine[i];
    entry* e = s.e;
    if (s.index + 1 != e->members.size()) {
      e->members[s.index] = e->members.back();
      const member& moved = e->members[s.index];
      by_subscriber_[moved.who][moved.back].index = s.index;
    }
    e->members.pop_back();
    if (i + 1 != mine.size()) {
      mine[i] = mine.back();
      mine[i].e->members[mine[i].index].back = static_cast<std::uint32_t>(i);
    }
    mine.pop_back();
    if (e->members.empty()) drop(e);
  }

  void drop(entry* e) {
    if (node* n = e->owner) {
      (e->tail ? n->rest : n->here) = nullptr;
      while (n != &root_ && n->empty()) {
        node* parent = n->parent;
        --nodes_;
        if (n->token == "*")
          parent->star.reset();
        else
          parent->children.erase(parent->children.find(std::string_view(n->token)));
        n = parent;
      }
      patterns_.erase(patterns_.find(std::string_view(e->name)));
    } else {
      exact_.erase(exact_.find(std::string_view(e->name)));
    }
  }

  template <class F>
  static void visit(const node& n, std::string_view topic, std::size_t start, F& f) {
    if (start > topic.size()) {  // every token consumed
      if (n.here)
        for (const auto& m : n.here->members) f(m.who);
      return;
    }
    if (n.rest)  // `>` needs at least one more token, and one remains
      for (const auto& m : n.rest->members) f(m.who);
    const std::size_t dot = topic.find('.', start);
    const std::size_t end = dot == std::string_view::npos ? topic.size() : dot;
    const std::size_t next = end + 1;  // past the end when this was the last token
    if (!n.children.empty())
      if (auto it = n.children.find(topic.substr(start, end - start)); it != n.children.end())
        visit(*it->second, topic, next, f);
    if (n.star) visit(*n.star, topic, next, f);
  }

  entry_map exact_;
  entry_map patterns_;
  node root_;
  std::size_t nodes_ = 0;
  std::size_t subscriptions_ = 0;
  std::vector<std::vector<subscription>> by_subscriber_;
};

}  // namespace switchboard

#endif
