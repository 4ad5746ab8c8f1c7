// secure_chat: two users register, log in with Ed25519 challenge-response, connect with
// their JWTs and exchange end-to-end encrypted direct messages, while the server (in the
// same process) prints what it routes: ciphertext only.
//
// Usage: secure_chat            (starts its own server on a free loopback port)
//
// The clients below are deliberately small (blocking sockets, one request at a time):
// the point is what they send, built with switchboard/e2e.hpp.
#include <switchboard/challenge_login.hpp>
#include <switchboard/e2e.hpp>
#include <switchboard/hub.hpp>
#include <switchboard/jwt_auth.hpp>
#include <switchboard/websocket_server.hpp>

#include <asio.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sodium.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sb = switchboard;

namespace {

std::mutex print_mutex;  // the server's thread and the clients' share stdout

void say(const std::string& line) {
  std::lock_guard<std::mutex> lock(print_mutex);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// What the two users will write; the server must never see either.
const std::string alice_says = "Hi Bob, the launch code is 0000.";
const std::string bob_says = "Hi Alice, please pick a better one.";

// --- the server's view ------------------------------------------------------------

// A hooks policy (hooks.hpp): the hub calls on_message with every frame a client sends,
// before it routes it. Here it shows what the server could log, keep or leak.
struct server_view {
  static inline std::mutex mutex;
  static inline bool saw_plaintext = false;
  static inline std::size_t directs_routed = 0;

  void on_message(sb::connection_id, const sb::identity& who, sb::frame_kind, std::string_view payload) {
    if (payload.find(R"("type":"direct")") == std::string_view::npos) return;
    const bool leaked =
        payload.find(alice_says) != std::string_view::npos || payload.find(bob_says) != std::string_view::npos;
    {
      std::lock_guard<std::mutex> lock(mutex);
      saw_plaintext = saw_plaintext || leaked;
      ++directs_routed;
    }
    say("[server] routes a direct from " + who.user.value_or("?") + ": " + std::string(payload.substr(0, 150)) + "...");
  }
};

using chat_hub = sb::basic_hub<sb::policies<sb::jwt_auth, sb::memory_store, sb::no_user_data, server_view>>;

// --- a minimal HTTP/1.1 and WebSocket client ---------------------------------------

using asio::ip::tcp;

tcp::socket connect_to(asio::io_context& io, std::uint16_t port) {
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return socket;
}

// The response head (status line and headers) and whatever followed it in `rest`.
std::string read_head(tcp::socket& socket, std::string& rest) {
  asio::read_until(socket, asio::dynamic_buffer(rest), "\r\n\r\n");
  const std::size_t end = rest.find("\r\n\r\n") + 4;
  std::string head = rest.substr(0, end);
  rest.erase(0, end);
  return head;
}

int status_of(const std::string& head) { return std::stoi(head.substr(head.find(' ') + 1, 3)); }

struct http_answer {
  int status = 0;
  rapidjson::Document body;
};

http_answer http(std::uint16_t port, const std::string& method, const std::string& path, const std::string& body = {}) {
  asio::io_context io;
  tcp::socket socket = connect_to(io, port);
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (method == "POST")
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  asio::write(socket, asio::buffer(request));
  std::string rest;
  const std::string head = read_head(socket, rest);
  asio::error_code ec;
  asio::read(socket, asio::dynamic_buffer(rest), ec);  // Connection: close ends the body
  http_answer answer;
  answer.status = status_of(head);
  answer.body.Parse(rest.c_str(), rest.size());
  if (answer.body.HasParseError() || !answer.body.IsObject())
    throw std::runtime_error(method + " " + path + ": the answer is not a JSON object");
  return answer;
}

std::string member(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject() || !object.HasMember(name) || !object[name].IsString())
    throw std::runtime_error(std::string("no string member '") + name + "'");
  return object[name].GetString();
}

std::string json_text(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string quoted(std::string_view text) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return buffer.GetString();
}

// One WebSocket connection (RFC 6455): masked text frames out, text frames in.
class websocket_client {
 public:
  websocket_client(std::uint16_t port, const std::string& token) : socket_(connect_to(io_, port)) {
    unsigned char nonce[16];
    randombytes_buf(nonce, sizeof nonce);
    char key[sodium_base64_ENCODED_LEN(sizeof nonce, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(key, sizeof key, nonce, sizeof nonce, sodium_base64_VARIANT_ORIGINAL);
    const std::string request = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + std::string(key) +
                                "\r\nAuthorization: Bearer " + token + "\r\n\r\n";
    asio::write(socket_, asio::buffer(request));
    if (status_of(read_head(socket_, buffered_)) != 101) throw std::runtime_error("the WebSocket upgrade was refused");
  }

  void send(std::string_view text) {
    std::string frame{static_cast<char>(0x81)};  // FIN, text
    if (text.size() < 126) {
      frame += static_cast<char>(0x80 | text.size());
    } else if (text.size() < 65536) {
      frame += static_cast<char>(0x80 | 126);
      for (int shift = 8; shift >= 0; shift -= 8) frame += static_cast<char>((text.size() >> shift) & 0xFF);
    } else {
      frame += static_cast<char>(0x80 | 127);
      for (int shift = 56; shift >= 0; shift -= 8)
        frame += static_cast<char>((static_cast<std::uint64_t>(text.size()) >> shift) & 0xFF);
    }
    unsigned char mask[4];
    randombytes_buf(mask, sizeof mask);
    frame.append(reinterpret_cast<const char*>(mask), sizeof mask);
    for (std::size_t i = 0; i < text.size(); ++i) frame += static_cast<char>(text[i] ^ mask[i % 4]);
    asio::write(socket_, asio::buffer(frame));
  }

  // The next text frame (the server sends each message in one frame), parsed.
  rapidjson::Document receive() {
    for (;;) {
      fill(2);
      const auto opcode = static_cast<unsigned char>(buffered_[0]) & 0x0F;
      std::uint64_t length = static_cast<unsigned char>(buffered_[1]) & 0x7F;
      std::size_t header = 2;
      if (length >= 126) {
        const std::size_t extra = length == 126 ? 2 : 8;
        fill(2 + extra);
        length = 0;
        for (std::size_t i = 0; i < extra; ++i) length = (length << 8) | static_cast<unsigned char>(buffered_[2 + i]);
        header += extra;
      }
      fill(header + length);
      const std::string payload = buffered_.substr(header, length);
      buffered_.erase(0, header + length);
      if (opcode == 0x8) throw std::runtime_error("the server closed the connection");
      if (opcode != 0x1) continue;  // pings are answered by nobody here: the program is brief
      rapidjson::Document frame;
      frame.Parse(payload.c_str(), payload.size());
      return frame;
    }
  }

  // The next frame of `type`, skipping others (presence events, say).
  rapidjson::Document receive(std::string_view type) {
    for (;;) {
      rapidjson::Document frame = receive();
      if (frame.IsObject() && member(frame, "type") == type) return frame;
      if (frame.IsObject() && member(frame, "type") == "error") throw std::runtime_error("error: " + json_text(frame));
    }
  }

 private:
  void fill(std::size_t bytes) {
    if (buffered_.size() < bytes)
      asio::read(socket_, asio::dynamic_buffer(buffered_), asio::transfer_at_least(bytes - buffered_.size()));
  }

  asio::io_context io_;
  tcp::socket socket_;
  std::string buffered_;
};

// --- a chat user ------------------------------------------------------------------

struct chat_user {
  std::string name;
  // Made once on the device and never sent anywhere; only their public halves are.
  sb::ed25519_key_pair signing = sb::ed25519_key_pair::generate();
  sb::x25519_key_pair encryption = sb::x25519_key_pair::generate();

  // POST /auth/register, then challenge and verify: the JWT for the handshake.
  std::string register_and_log_in(std::uint16_t port) const {
    const http_answer registered =
        http(port, "POST", "/auth/register",
             R"({"user":)" + quoted(name) + R"(,"ed25519_public_key":")" + signing.public_key().to_base64() +
                 R"(","x25519_public_key":")" + encryption.public_key().to_base64() + R"("})");
    if (registered.status != 201) throw std::runtime_error("register " + name + ": " + json_text(registered.body));
    const http_answer challenge = http(port, "POST", "/auth/challenge", R"({"user":)" + quoted(name) + "}");
    const std::string nonce = member(challenge.body, "nonce");
    // Signing the nonce proves this client holds the secret key registered for `name`.
    const http_answer verified = http(port, "POST", "/auth/verify",
                                      R"({"user":)" + quoted(name) + R"(,"nonce":)" + quoted(nonce) +
                                          R"(,"signature":")" + sb::sign_login_challenge(signing, nonce) + R"("})");
    if (verified.status != 200) throw std::runtime_error("verify " + name + ": " + json_text(verified.body));
    say(name + " logged in by challenge-response (no password)");
    return member(verified.body, "token");
  }
};

// Whom to encrypt to, and whom a message must be from: the keys the server publishes.
sb::x25519_public_key encryption_key_of(std::uint16_t port, const std::string& user) {
  const http_answer keys = http(port, "GET", "/auth/keys/" + user);
  if (keys.status != 200) throw std::runtime_error("no keys for " + user);
  return sb::x25519_public_key::from_base64(member(keys.body, "x25519_public_key"));
}

void send_encrypted(std::uint16_t port, websocket_client& ws, const chat_user& from, const std::string& to,
                    const std::string& text) {
  const std::string envelope = sb::encrypt_direct_message(text, encryption_key_of(port, to), from.encryption);
  ws.send(R"({"type":"direct","id":1,"to":)" + quoted(to) + R"(,"data":)" + envelope + "}");
  ws.receive("ack");
}

std::string receive_encrypted(std::uint16_t port, websocket_client& ws, const chat_user& me) {
  const rapidjson::Document direct = ws.receive("direct");
  const std::string sender = member(direct, "from");
  const sb::decryption_result opened =
      sb::decrypt_direct_message(json_text(direct["data"]), encryption_key_of(port, sender), me.encryption);
  if (!opened) throw std::runtime_error(me.name + " could not open a message from " + sender + ": " +
                                        std::string(opened.reason()));
  return sender + ": " + opened.plaintext();
}

}  // namespace

int main() try {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");

  // The server: JWT auth with a key only it holds, login routes, a free loopback port.
  std::string secret(32, '\0');
  randombytes_buf(&secret[0], secret.size());
  asio::io_context io;
  chat_hub hub{io, {}, sb::jwt_auth{sb::jwt_verifier{sb::jwt_key::hs256(secret)}}};
  sb::websocket_options options;
  options.port = 0;
  sb::websocket_server server{hub, options};
  sb::challenge_login{hub, sb::jwt_key::hs256(secret)}.add_routes(server);
  server.start();
  const std::uint16_t port = server.port();
  say("[server] listening on 127.0.0.1:" + std::to_string(port));
  std::thread server_thread([&io] { io.run(); });

  int status = 0;
  try {
    chat_user alice{"alice"}, bob{"bob"};
    websocket_client alice_ws(port, alice.register_and_log_in(port));
    websocket_client bob_ws(port, bob.register_and_log_in(port));
    alice_ws.receive("welcome");
    bob_ws.receive("welcome");

    send_encrypted(port, alice_ws, alice, "bob", alice_says);
    say("bob read from " + receive_encrypted(port, bob_ws, bob));
    send_encrypted(port, bob_ws, bob, "alice", bob_says);
    say("alice read from " + receive_encrypted(port, alice_ws, alice));
  } catch (const std::exception& e) {
    say(std::string("secure_chat: FAILED: ") + e.what());
    status = 1;
  }

  // The hub keeps a timer for the tokens' expiry (an hour away), so run() would not
  // return by itself: close the server, give the closes a moment, then stop the loop.
  asio::post(io, [&server] { server.shutdown(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  io.stop();
  server_thread.join();

  std::lock_guard<std::mutex> lock(server_view::mutex);
  if (status == 0 && (server_view::saw_plaintext || server_view::directs_routed != 2)) {
    say("secure_chat: FAILED: the server saw plaintext");
    status = 1;
  }
  if (status == 0)
    say("the server routed " + std::to_string(server_view::directs_routed) + " directs and saw only ciphertext");
  return status;
} catch (const std::exception& e) {
  std::fprintf(stderr, "secure_chat: FAILED: %s\n", e.what());
  return 1;
}
