// A transport without sockets: drives a hub from code, for tests and benchmarks.
#ifndef SWITCHBOARD_MEMORY_TRANSPORT_HPP
#define SWITCHBOARD_MEMORY_TRANSPORT_HPP

#include <switchboard/frame.hpp>
#include <switchboard/transport.hpp>

#include <asio/post.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

/// Connects in-process "clients" to a hub. Frames the hub writes are kept per
/// connection until taken; write completions and closes reach the hub on the next turn
/// of its io_context, as they would from a socket. Run the context (`poll()`) between
/// steps to let frames leave the hub.
///
/// Thread safety: none; use it on the hub's thread.
class memory_transport final : public transport {
 public:
  /// A frame as the client received it.
  struct received_frame {
    frame_kind kind;
    std::string payload;
  };

  /// Attaches to `hub`. With `keep_frames` false, written frames are only counted
  /// (for benchmarks of the hub itself).
  template <class Policies>
  explicit memory_transport(basic_hub<Policies>& hub, bool keep_frames = true)
      : memory_transport(hub_access::endpoint(hub), keep_frames) {}
  /// Attaches to any hub endpoint (a hub's, through `hub_access`, or a test double).
  explicit memory_transport(hub_endpoint& hub, bool keep_frames = true) : hub_(hub), keep_frames_(keep_frames) {
    hub_.attach(this);
  }
  memory_transport(const memory_transport&) = delete;
  memory_transport& operator=(const memory_transport&) = delete;
  ~memory_transport() override { hub_.attach(nullptr); }

  /// Performs a handshake with `token` and opens the connection; 0 when the auth policy
  /// refused it (see `last_refusal()`).
  connection_id connect(std::string_view token = {}) { return connect(token, peer_info{"memory", {}}); }
  /// The same, from `peer` (its address and user agent go to the session record).
  connection_id connect(std::string_view token, const peer_info& peer) {
    auth_result auth = hub_.on_handshake(handshake_info{token, {}, peer.remote, "/ws", {}, {}});
    if (!auth.accepted) {
      last_refusal_ = std::move(auth);
      return 0;
    }
    const connection_id id = hub_.on_open(std::move(auth.who), peer);
    const std::size_t slot = slot_of(id);
    if (slot >= clients_.size()) clients_.resize(slot + 1);
    clients_[slot] = client{};
    clients_[slot].id = id;
    return id;
  }

  /// Delivers a text message from the client (UTF-8 is the caller's responsibility).
  void receive_text(connection_id id, std::string_view text) { receive(id, frame_kind::text, text); }
  /// Delivers a binary message from the client.
  void receive_binary(connection_id id, std::string_view bytes) { receive(id, frame_kind::binary, bytes); }

  /// The client goes away.
  void disconnect(connection_id id) {
    client* c = find(id);
    if (!c || c->gone) return;
    c->gone = true;
    hub_.on_close(id);
  }

  /// Frames received by `id` since the last take.
  std::vector<received_frame> take(connection_id id) {
    client* c = find(id);
    return c ? std::exchange(c->inbox, {}) : std::vector<received_frame>{};
  }
  /// Text payloads received by `id` since the last take (binary frames are skipped).
  std::vector<std::string> take_texts(connection_id id) {
    std::vector<std::string> texts;
    for (auto& f : take(id))
      if (f.kind == frame_kind::text) texts.push_back(std::move(f.payload));
    return texts;
  }

  /// The close code the hub sent to `id`, or 0 when it has not closed it.
  std::uint16_t close_code_of(connection_id id) const {
    const client* c = find(id);
    return c ? c->close_code : 0;
  }
  /// Whether the hub asked to stop reading from `id`.
  bool paused(connection_id id) const {
    const client* c = find(id);
    return c && c->paused;
  }
  /// Frames and bytes written so far, over all connections.
  std::uint64_t frames_written() const noexcept { return frames_written_; }
  std::uint64_t bytes_written() const noexcept { return bytes_written_; }
  const auth_result& last_refusal() const noexcept { return last_refusal_; }

  /// While false, write completions are held back, as for a client that stopped reading.
  void set_draining(connection_id id, bool draining) {
    client* c = find(id);
    if (!c) return;
    c->stalled = !draining;
    if (draining && c->completion_held) {
      c->completion_held = false;
      complete_later(id);
    }
  }

  // transport
  bool write(connection_id id, const shared_frame* frames, std::size_t count) override {
    client* c = find(id);
    if (!c) return true;
    for (std::size_t i = 0; i < count; ++i) {
      ++frames_written_;
      bytes_written_ += frames[i].wire().size();
      if (keep_frames_) c->inbox.push_back({frames[i].kind(), std::string(frames[i].payload())});
    }
    if (c->stalled)
      c->completion_held = true;
    else
      complete_later(id);
    return false;  // completes later, like a socket write
  }
  void close(connection_id id, std::uint16_t code, std::string_view) override {
    client* c = find(id);
    if (!c || c->close_code != 0) return;
    c->close_code = code;
    asio::post(hub_.context(), [this, id] { disconnect(id); });
  }
  void pause_reading(connection_id id) override {
    if (client* c = find(id)) c->paused = true;
  }
  void resume_reading(connection_id id) override {
    if (client* c = find(id)) c->paused = false;
  }

 private:
  struct client {
    connection_id id = 0;
    std::vector<received_frame> inbox;
    std::uint16_t close_code = 0;
    bool paused = false;
    bool stalled = false;
    bool completion_held = false;
    bool gone = false;
  };

  static std::size_t slot_of(connection_id id) noexcept { return static_cast<std::size_t>((id & 0xFFFFFFFFu) - 1); }
  client* find(connection_id id) noexcept {
    const std::size_t slot = slot_of(id);
    return slot < clients_.size() && clients_[slot].id == id ? &clients_[slot] : nullptr;
  }
  const client* find(connection_id id) const noexcept {
    const std::size_t slot = slot_of(id);
    return slot < clients_.size() && clients_[slot].id == id ? &clients_[slot] : nullptr;
  }

  void receive(connection_id id, frame_kind kind, std::string_view payload) {
    client* c = find(id);
    if (!c || c->gone) return;
    hub_.on_message(id, kind, payload);
  }

  // Completions reach the hub on the next loop turn, all of them in one handler.
  void complete_later(connection_id id) {
    completed_.push_back(id);
    if (completed_.size() > 1) return;
    asio::post(hub_.context(), [this] {
      std::vector<connection_id> done;
      done.swap(completed_);
      for (const connection_id id : done)
        if (const client* c = find(id); c && !c->gone) hub_.on_write_complete(id);
      if (completed_.empty()) {  // reuse the buffer
        done.clear();
        completed_.swap(done);
      }
    });
  }

  hub_endpoint& hub_;
  bool keep_frames_;
  std::vector<client> clients_;  // by registry slot
  std::vector<connection_id> completed_;
  auth_result last_refusal_;
  std::uint64_t frames_written_ = 0;
  std::uint64_t bytes_written_ = 0;
};

}  // namespace switchboard

#endif
