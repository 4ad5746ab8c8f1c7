// A blocking WebSocket and HTTP client for socket tests. Every wait has a deadline, so
// a test fails instead of hanging when the server does not answer.
#ifndef SWITCHBOARD_TESTS_SUPPORT_WS_TEST_CLIENT_HPP
#define SWITCHBOARD_TESTS_SUPPORT_WS_TEST_CLIENT_HPP

#include "support/websocket_codec.hpp"

#include <asio.hpp>
#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace switchboard {
namespace test {

/// How long a receive waits unless told otherwise.
constexpr std::chrono::milliseconds default_timeout{5000};

/// The close code reported when the connection ended without a close frame (RFC 6455 7.1.5).
constexpr std::uint16_t closed_without_frame = 1006;

/// One socket with deadline-bound connect, read and write on a private io_context.
/// Not thread-safe; used from the test thread only.
class timed_socket {
 public:
  timed_socket() : socket_(io_) {}

  /// Connects to 127.0.0.1:`port`. `receive_buffer` > 0 sets SO_RCVBUF first (it must be
  /// set before the connection is made to limit the TCP window).
  std::error_code connect(std::uint16_t port, int receive_buffer = 0,
                          std::chrono::milliseconds timeout = default_timeout) {
    std::error_code ec;
    socket_.open(asio::ip::tcp::v4(), ec);
    if (ec) return ec;
    if (receive_buffer > 0) socket_.set_option(asio::socket_base::receive_buffer_size(receive_buffer), ec);
    if (ec) return ec;
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    ec = run([&](auto handler) { socket_.async_connect(endpoint, [handler](const std::error_code& e) mutable {
               handler(e, 0);
             }); },
             timeout, nullptr);
    if (ec) return ec;
    // Like a real client: small frames leave at once instead of waiting for an ACK.
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    return ec;
  }

  /// Reads what is available (at least one byte) into `data`; `timed_out` error on deadline.
  std::error_code read_some(void* data, std::size_t size, std::size_t& received, std::chrono::milliseconds timeout) {
    received = 0;
    return run([&](auto handler) { socket_.async_read_some(asio::buffer(data, size), handler); }, timeout, &received);
  }

  /// Writes all of `bytes`; `timed_out` error when the peer stops reading for `timeout`.
  std::error_code write(std::string_view bytes, std::chrono::milliseconds timeout = default_timeout) {
    std::size_t written = 0;
    return run([&](auto handler) { asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()), handler); },
               timeout, &written);
  }

  /// Closes the socket at once (no WebSocket close handshake).
  void close() {
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  bool is_open() const { return socket_.is_open(); }

 private:
  // Starts one asynchronous operation and runs the private io_context until it completes
  // or the deadline passes; on the deadline the operation is cancelled and awaited.
  template <class Start>
  std::error_code run(Start&& start, std::chrono::milliseconds timeout, std::size_t* transferred) {
    bool done = false;
    std::error_code result;
    std::size_t bytes = 0;
    start([&](const std::error_code& ec, std::size_t n) {
      done = true;
      result = ec;
      bytes = n;
    });
    io_.restart();
    io_.run_for(timeout);
    if (!done) {
      std::error_code ignored;
      socket_.cancel(ignored);
      io_.restart();
      io_.run();
      if (transferred) *transferred = bytes;
      return asio::error::timed_out;
    }
    if (transferred) *transferred = bytes;
    return result;
  }

  asio::io_context io_;
  asio::ip::tcp::socket socket_;
};

/// A WebSocket message (fragments already joined) or control frame as received.
struct ws_message {
  detail::ws_opcode opcode = detail::ws_opcode::close;
  std::string payload;

  bool is_text() const { return opcode == detail::ws_opcode::text; }
  bool is_binary() const { return opcode == detail::ws_opcode::binary; }
  bool is_close() const { return opcode == detail::ws_opcode::close; }
  /// The status code of a close frame; 1005 when it carried none.
  std::uint16_t close_code() const {
    if (payload.size() < 2) return 1005;
    return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                      static_cast<unsigned char>(payload[1]));
  }
};

/// What to send in the opening handshake.
struct handshake_options {
  std::string target = "/ws";              ///< path and query, e.g. "/ws?token=alice"
  std::vector<std::string> headers;        ///< extra header lines without CRLF, e.g. "Origin: https://a.example"
  std::vector<std::string> subprotocols;   ///< offered in one Sec-WebSocket-Protocol header
  int receive_buffer = 0;                  ///< SO_RCVBUF before connecting; 0 keeps the default
};

/// The server's answer to the opening handshake.
struct handshake_result {
  int status = 0;            ///< HTTP status; 101 when the WebSocket opened, 0 when no answer came
  std::string subprotocol;   ///< Sec-WebSocket-Protocol of the answer; empty when none
  std::string headers;       ///< the response header block
  std::string body;          ///< the body of a refusal
  bool upgraded() const { return status == 101; }
};

/// An HTTP response.
struct http_result {
  int status = 0;  ///< 0 when no answer came
  std::string headers;
  std::string body;
  std::string header(std::string_view name) const { return std::string(detail::ws_http_header(headers, name)); }
};

namespace detail_client {
inline std::size_t content_length(std::string_view headers) {
  const std::string_view value = detail::ws_http_header(headers, "Content-Length");
  std::size_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') break;
    n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  return n;
}

inline int status_of(std::string_view headers) {
  // "HTTP/1.1 200 OK"
  const std::size_t space = headers.find(' ');
  if (space == std::string_view::npos || space + 4 > headers.size()) return 0;
  int code = 0;
  for (std::size_t i = space + 1; i < space + 4; ++i) {
    if (headers[i] < '0' || headers[i] > '9') return 0;
    code = code * 10 + (headers[i] - '0');
  }
  return code;
}

// Reads an HTTP response (header, then Content-Length bytes or until the peer closes)
// from `socket` (a `timed_socket`, or anything with its `read_some`); `buffered` holds
// bytes already read. Leaves bytes after the body in it.
template <class Socket>
http_result read_http_response(Socket& socket, std::string& buffered, std::chrono::milliseconds timeout) {
  http_result result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto remaining = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  };
  char chunk[4096];
  bool eof = false;
  std::size_t header_end;
  while ((header_end = buffered.find("\r\n\r\n")) == std::string::npos) {
    if (eof || remaining().count() <= 0) return result;
    std::size_t n = 0;
    if (socket.read_some(chunk, sizeof chunk, n, remaining())) eof = true;
    buffered.append(chunk, n);
  }
  result.headers = buffered.substr(0, header_end + 2);
  result.status = status_of(result.headers);
  buffered.erase(0, header_end + 4);
  if (result.status == 101) return result;  // WebSocket frames follow, not a body
  const std::size_t length = content_length(result.headers);
  const bool has_length = !detail::ws_http_header(result.headers, "Content-Length").empty();
  while ((has_length ? buffered.size() < length : !eof) && !eof && remaining().count() > 0) {
    std::size_t n = 0;
    if (socket.read_some(chunk, sizeof chunk, n, remaining())) eof = true;
    buffered.append(chunk, n);
  }
  const std::size_t take = has_length ? std::min(length, buffered.size()) : buffered.size();
  result.body = buffered.substr(0, take);
  buffered.erase(0, take);
  return result;
}
}  // namespace detail_client

/// One plain HTTP/1.1 request to 127.0.0.1:`port` (with `Connection: close`).
inline http_result http_request(std::uint16_t port, std::string_view method, std::string_view target,
                                std::string_view body = {}, const std::vector<std::string>& headers = {},
                                std::chrono::milliseconds timeout = default_timeout) {
  timed_socket socket;
  if (socket.connect(port, 0, timeout)) return {};
  std::string request;
  request += method;
  request += ' ';
  request += target;
  request += " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  if (!body.empty() || method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n";
  request += body;
  if (socket.write(request, timeout)) return {};
  std::string buffered;
  return detail_client::read_http_response(socket, buffered, timeout);
}

/// Outcome of `ws_test_client::try_recv`.
enum class read_status {
  message,  ///< a data message or close frame was received
  timeout,  ///< nothing arrived in time
  closed,   ///< the connection ended without (another) close frame
};

/// A blocking WebSocket client for tests.
///
/// - Pings are answered automatically while `auto_pong` is true (the default); set it to
///   false to play a peer that never answers. Either way pings are counted, not returned.
/// - A close frame from the server is returned by `recv` and echoed (when `echo_close`).
/// - A client that is never read from (after `receive_buffer` made its window small)
///   is the slow consumer of the backpressure tests.
class ws_test_client {
 public:
  bool auto_pong = true;
  bool echo_close = true;

  ws_test_client() : rng_(std::random_device{}()) {}
  ws_test_client(const ws_test_client&) = delete;
  ws_test_client& operator=(const ws_test_client&) = delete;

  /// Performs the opening handshake on 127.0.0.1:`port`.
  handshake_result connect(std::uint16_t port, const handshake_options& options = {},
                           std::chrono::milliseconds timeout = default_timeout) {
    handshake_result result;
    if (const auto ec = socket_.connect(port, options.receive_buffer, timeout)) {
      FAIL("TCP connect to 127.0.0.1:" << port << " failed: " << ec.message());
      return result;
    }
    unsigned char nonce[16];
    for (auto& b : nonce) b = static_cast<unsigned char>(rng_());
    const std::string key = detail::ws_client_key(nonce);
    std::string extra;
    for (const auto& h : options.headers) extra += h + "\r\n";
    if (!options.subprotocols.empty()) {
      extra += "Sec-WebSocket-Protocol: ";
      for (std::size_t i = 0; i < options.subprotocols.size(); ++i) extra += (i ? ", " : "") + options.subprotocols[i];
      extra += "\r\n";
    }
    const std::string host = "127.0.0.1:" + std::to_string(port);
    if (const auto ec = socket_.write(detail::ws_client_handshake(host, options.target, key, extra), timeout)) {
      FAIL("sending the handshake failed: " << ec.message());
      return result;
    }

    std::string buffered;
    const http_result answer = detail_client::read_http_response(socket_, buffered, timeout);
    result.status = answer.status;
    result.headers = answer.headers;
    result.body = answer.body;
    result.subprotocol = answer.header("Sec-WebSocket-Protocol");
    if (result.status == 101) {
      const auto check = detail::check_ws_handshake_response(answer.headers + "\r\n", key);
      CHECK(check.status == detail::ws_handshake_status::accepted);
      // Frames that arrived with the response header.
      if (!buffered.empty()) {
        std::memcpy(reader_.prepare(buffered.size()), buffered.data(), buffered.size());
        reader_.commit(buffered.size());
      }
    } else {
      socket_.close();
    }
    return result;
  }

  /// Connects (REQUIRE 101) and returns the first frame, which must be `welcome`.
  rapidjson::Document open(std::uint16_t port, const handshake_options& options = {}) {
    const handshake_result hs = connect(port, options);
    INFO("handshake answer: " << hs.headers << hs.body);
    REQUIRE(hs.status == 101);
    rapidjson::Document welcome = recv_json();
    REQUIRE(welcome.HasMember("type"));
    REQUIRE(std::string_view(welcome["type"].GetString()) == "welcome");
    return welcome;
  }

  // --- sending ----------------------------------------------------------------------

  /// Sends one masked frame; `fin` false starts or continues a fragmented message.
  bool send_frame(detail::ws_opcode opcode, std::string_view payload, bool fin = true) {
    return send_raw_frame(opcode, payload, fin, std::nullopt);
  }
  bool send_text(std::string_view text) { return send_frame(detail::ws_opcode::text, text); }
  bool send_binary(std::string_view bytes) { return send_frame(detail::ws_opcode::binary, bytes); }

  /// Sends a masked frame whose header may lie: `declared_length` replaces the payload's
  /// real length in the header (the payload bytes sent are still `payload`).
  bool send_raw_frame(detail::ws_opcode opcode, std::string_view payload, bool fin,
                      std::optional<std::uint64_t> declared_length) {
    return send_raw(encode_frame(opcode, payload, fin, declared_length));
  }

  /// The bytes of one masked client frame, to send several at once with `send_raw`.
  std::string encode_frame(detail::ws_opcode opcode, std::string_view payload, bool fin = true,
                           std::optional<std::uint64_t> declared_length = std::nullopt) {
    unsigned char key[4];
    for (auto& b : key) b = static_cast<unsigned char>(rng_());
    unsigned char header[detail::max_ws_header_size];
    const std::size_t header_size =
        detail::write_ws_header(header, opcode, declared_length.value_or(payload.size()), key);
    if (!fin) header[0] &= 0x7Fu;
    std::string wire(reinterpret_cast<const char*>(header), header_size);
    wire.append(payload.data(), payload.size());
    detail::mask_ws_payload(reinterpret_cast<unsigned char*>(&wire[header_size]), payload.size(), key);
    return wire;
  }

  /// Writes bytes to the socket as they are.
  bool send_raw(std::string_view bytes, std::chrono::milliseconds timeout = default_timeout) {
    if (!socket_.is_open()) return false;
    return !socket_.write(bytes, timeout);
  }

  /// Sends a close frame with `code` (the server's answer is then read by `expect_close`).
  bool send_close(std::uint16_t code = 1000) {
    close_sent_ = true;
    const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    return send_frame(detail::ws_opcode::close, std::string_view(payload, 2));
  }

  /// Drops the TCP connection without a close handshake.
  void disconnect() {
    socket_.close();
  }

  // --- receiving --------------------------------------------------------------------

  /// Waits up to `timeout` for the next data message or close frame.
  read_status try_recv(ws_message& out, std::chrono::milliseconds timeout = default_timeout) {
    return read_frames([&](const detail::ws_frame& frame) { return take_frame(frame, out); }, timeout);
  }

  /// The next data message or close frame; FAILs when none arrives within `timeout` or the
  /// connection ends without one.
  ws_message recv(std::chrono::milliseconds timeout = default_timeout) {
    ws_message m;
    const read_status status = try_recv(m, timeout);
    if (status == read_status::timeout) FAIL("no frame within " << timeout.count() << " ms");
    if (status == read_status::closed) FAIL("the connection ended while a frame was expected");
    return m;
  }

  /// The next message, which must be a text frame holding a JSON object.
  rapidjson::Document recv_json(std::chrono::milliseconds timeout = default_timeout) {
    const ws_message m = recv(timeout);
    INFO("frame payload: " << printable(m));
    REQUIRE(m.is_text());
    rapidjson::Document doc;
    doc.Parse(m.payload.data(), m.payload.size());
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsObject());
    last_text_ = m.payload;
    return doc;
  }

  /// The next message as JSON, which must have `type` == `type`.
  rapidjson::Document recv_type(std::string_view type, std::chrono::milliseconds timeout = default_timeout) {
    rapidjson::Document doc = recv_json(timeout);
    INFO("frame: " << last_text_);
    REQUIRE(doc.HasMember("type"));
    REQUIRE(doc["type"].IsString());
    REQUIRE(std::string_view(doc["type"].GetString()) == type);
    return doc;
  }

  /// The raw text of the last frame `recv_json` returned.
  const std::string& last_text() const { return last_text_; }

  /// Reads until the connection closes, skipping data messages, and returns the close
  /// code (`closed_without_frame` when the socket ended without a close frame). FAILs
  /// when nothing closes within `timeout`. `skipped` counts the data messages passed over.
  std::uint16_t expect_close(std::chrono::milliseconds timeout = default_timeout, std::size_t* skipped = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t passed = 0;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      ws_message m;
      const read_status status = try_recv(m, left.count() > 0 ? left : std::chrono::milliseconds(0));
      if (status == read_status::timeout) {
        FAIL("the connection did not close within " << timeout.count() << " ms");
        return 0;
      }
      if (skipped) *skipped = passed;
      if (status == read_status::closed) return closed_without_frame;
      if (m.is_close()) return m.close_code();
      ++passed;
    }
  }

  /// Asserts that nothing (data or close) arrives within `quiet`.
  void expect_silence(std::chrono::milliseconds quiet) {
    ws_message m;
    const read_status status = try_recv(m, quiet);
    INFO("unexpected frame: " << printable(m));
    CHECK(status == read_status::timeout);
  }

  /// WebSocket pings received so far (answered or not).
  std::size_t pings_received() const { return pings_; }
  /// True when the server's close frame or the end of the stream has been seen.
  bool closed() const { return eof_ || close_received_; }

  static std::string printable(const ws_message& m) {
    if (m.is_text()) return m.payload;
    std::string out = "opcode " + std::to_string(static_cast<int>(m.opcode)) + ", " + std::to_string(m.payload.size()) +
                      " bytes";
    if (m.is_close()) out += ", code " + std::to_string(m.close_code());
    return out;
  }

 private:
  // Consumes one frame; true when it completed a message for the caller.
  bool take_frame(const detail::ws_frame& frame, ws_message& out) {
    using detail::ws_opcode;
    switch (frame.opcode) {
      case ws_opcode::ping:
        ++pings_;
        if (auto_pong && !close_sent_) send_frame(ws_opcode::pong, frame.payload);
        return false;
      case ws_opcode::pong: return false;
      case ws_opcode::close:
        out.opcode = ws_opcode::close;
        out.payload.assign(frame.payload.data(), frame.payload.size());
        close_received_ = true;
        if (echo_close && !close_sent_) {
          close_sent_ = true;
          const std::string_view code = frame.payload.substr(0, frame.payload.size() >= 2 ? 2 : 0);
          send_frame(ws_opcode::close, code);
        }
        return true;
      case ws_opcode::text:
      case ws_opcode::binary:
        if (fragment_) FAIL("a new message started inside a fragmented one");
        if (!frame.fin) {
          fragment_ = frame.opcode;
          fragments_.assign(frame.payload.data(), frame.payload.size());
          return false;
        }
        out.opcode = frame.opcode;
        out.payload.assign(frame.payload.data(), frame.payload.size());
        return true;
      case ws_opcode::continuation:
        if (!fragment_) FAIL("a continuation frame without a message to continue");
        fragments_.append(frame.payload.data(), frame.payload.size());
        if (!frame.fin) return false;
        out.opcode = *fragment_;
        out.payload = std::move(fragments_);
        fragments_.clear();
        fragment_.reset();
        return true;
    }
    return false;
  }

  timed_socket socket_;
  detail::ws_frame_reader reader_{64 * 1024, std::uint64_t(1) << 30};
  std::mt19937 rng_;
  std::optional<detail::ws_opcode> fragment_;
  std::string fragments_;
  std::string last_text_;
  std::size_t pings_ = 0;
  bool eof_ = false;
  bool close_sent_ = false;
  bool close_received_ = false;

 public:
  /// Hands every frame as it arrives (control frames too, fragments unjoined, pings not
  /// answered) to `on_frame(const detail::ws_frame&)` until it returns true; returns
  /// `timeout` when that did not happen within `timeout`, `closed` when the stream ended.
  template <class OnFrame>
  read_status read_frames(OnFrame&& on_frame, std::chrono::milliseconds timeout = default_timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      detail::ws_frame frame;
      const detail::ws_parse_status status = reader_.next(frame);
      if (status == detail::ws_parse_status::ok) {
        if (on_frame(static_cast<const detail::ws_frame&>(frame))) return read_status::message;
        continue;
      }
      if (status != detail::ws_parse_status::incomplete) {
        FAIL("the server sent a malformed frame");
        return read_status::closed;
      }
      if (eof_ || !socket_.is_open()) return read_status::closed;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return read_status::timeout;
      unsigned char* at = reader_.prepare(64 * 1024);
      std::size_t n = 0;
      const std::error_code ec = socket_.read_some(at, reader_.writable(), n, left);
      reader_.commit(n);
      if (ec && ec != asio::error::timed_out) eof_ = true;
    }
  }
};

/// The value of string member `name` of `v`; FAILs when absent or not a string.
inline std::string str(const rapidjson::Value& v, const char* name) {
  INFO("member " << name);
  REQUIRE(v.IsObject());
  REQUIRE(v.HasMember(name));
  REQUIRE(v[name].IsString());
  return std::string(v[name].GetString(), v[name].GetStringLength());
}

/// The value of unsigned integer member `name` of `v`.
inline std::uint64_t num(const rapidjson::Value& v, const char* name) {
  INFO("member " << name);
  REQUIRE(v.IsObject());
  REQUIRE(v.HasMember(name));
  REQUIRE(v[name].IsUint64());
  return v[name].GetUint64();
}

/// `v` serialized compactly, for comparisons and messages.
inline std::string to_json(const rapidjson::Value& v) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

/// Sends `request` exactly as given (an HTTP request, possibly malformed or followed by
/// more bytes) to 127.0.0.1:`port` and reads the answer. `later`, when not empty, is sent
/// after the first answer was awaited for `pause` (to split a request across reads).
inline http_result raw_http_exchange(std::uint16_t port, std::string_view request, std::string_view later = {},
                                     std::chrono::milliseconds pause = std::chrono::milliseconds(0),
                                     std::chrono::milliseconds timeout = default_timeout) {
  timed_socket socket;
  if (socket.connect(port, 0, timeout)) return {};
  if (socket.write(request, timeout)) return {};
  std::string buffered;
  if (!later.empty()) {
    // Whatever arrives meanwhile is kept: an early answer is the answer.
    char chunk[4096];
    std::size_t n = 0;
    if (!socket.read_some(chunk, sizeof chunk, n, pause) || n > 0) buffered.append(chunk, n);
    if (buffered.empty()) socket.write(later, timeout);
  }
  return detail_client::read_http_response(socket, buffered, timeout);
}

}  // namespace test
}  // namespace switchboard

#endif
