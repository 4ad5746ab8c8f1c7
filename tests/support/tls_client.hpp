// TLS and raw-stream helpers for socket tests: a self-signed certificate for 127.0.0.1
// made with the `openssl` command, a TLS client socket with deadlines (the interface of
// `timed_socket`), and a minimal WebSocket session over any such socket.
#ifndef SWITCHBOARD_TESTS_SUPPORT_TLS_CLIENT_HPP
#define SWITCHBOARD_TESTS_SUPPORT_TLS_CLIENT_HPP

#include "support/websocket_codec.hpp"
#include "support/ws_test_client.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <chrono>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <stdlib.h>
#include <unistd.h>

namespace switchboard {
namespace test {

/// PEM files of a certificate and its private key.
struct certificate_files {
  std::string certificate;
  std::string private_key;
};

/// A directory under /tmp for this process's certificates, removed at exit.
class certificate_directory {
 public:
  certificate_directory() {
    char name[] = "/tmp/switchboard-tls-XXXXXX";
    if (::mkdtemp(name)) path_ = name;
  }
  certificate_directory(const certificate_directory&) = delete;
  certificate_directory& operator=(const certificate_directory&) = delete;
  ~certificate_directory() {
    for (const auto& f : files_) std::remove(f.c_str());
    if (!path_.empty()) ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

inline certificate_directory& test_certificate_directory() {
  static certificate_directory directory;
  return directory;
}

/// Makes a fresh self-signed certificate for `IP:127.0.0.1` (and `DNS:localhost`) with
/// the `openssl` command; FAILs, saying why, when that is not possible.
inline certificate_files make_self_signed_certificate(const std::string& name) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0)
    FAIL("the TLS tests need the `openssl` command to make a test certificate; install OpenSSL's command-line tool");
  certificate_directory& directory = test_certificate_directory();
  REQUIRE_FALSE(directory.path().empty());
  certificate_files files{directory.file(name + "-cert.pem"), directory.file(name + "-key.pem")};
  const std::string log = directory.file(name + "-openssl.log");
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost"
      " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout '" +
      files.private_key + "' -out '" + files.certificate + "' >'" + log + "' 2>&1";
  if (std::system(command.c_str()) != 0) {
    std::ifstream in(log);
    const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    FAIL("openssl could not make a test certificate: " << command << "\n" << output);
  }
  return files;
}

/// The certificate the TLS tests' servers use, made once per process.
inline const certificate_files& test_certificate() {
  static const certificate_files files = make_self_signed_certificate("server");
  return files;
}

/// A client context that trusts `ca_file` alone and speaks TLS 1.2 or later.
inline asio::ssl::context tls_client_context(const std::string& ca_file) {
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  context.set_verify_mode(asio::ssl::verify_peer);
  context.load_verify_file(ca_file);
  return context;
}

/// A TLS client socket with deadline-bound connect, handshake, read and write on a
/// private io_context: the interface of `timed_socket`, so `read_http_response` and
/// `ws_session` work over it. The server's certificate must name 127.0.0.1.
class timed_tls_socket {
 public:
  explicit timed_tls_socket(asio::ssl::context& context) : stream_(io_, context) {
    stream_.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
  }

  /// TCP connect to 127.0.0.1:`port`, then the TLS handshake.
  std::error_code connect(std::uint16_t port, std::chrono::milliseconds timeout = default_timeout) {
    if (const auto ec = tcp_connect(port, timeout)) return ec;
    return handshake(timeout);
  }

  std::error_code tcp_connect(std::uint16_t port, std::chrono::milliseconds timeout = default_timeout) {
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    std::error_code ec = run([&](auto handler) {
      stream_.next_layer().async_connect(endpoint, [handler](const std::error_code& e) mutable { handler(e, 0); });
    }, timeout, nullptr);
    if (ec) return ec;
    stream_.next_layer().set_option(asio::ip::tcp::no_delay(true), ec);
    return ec;
  }

  std::error_code handshake(std::chrono::milliseconds timeout = default_timeout) {
    return run([&](auto handler) {
      stream_.async_handshake(asio::ssl::stream_base::client, [handler](const std::error_code& e) mutable { handler(e, 0); });
    }, timeout, nullptr);
  }

  /// Reads what is available (at least one byte); `timed_out` error on deadline.
  std::error_code read_some(void* data, std::size_t size, std::size_t& received, std::chrono::milliseconds timeout) {
    received = 0;
    return run([&](auto handler) { stream_.async_read_some(asio::buffer(data, size), handler); }, timeout, &received);
  }

  /// Writes all of `bytes`; `timed_out` error when the peer stops reading for `timeout`.
  std::error_code write(std::string_view bytes, std::chrono::milliseconds timeout = default_timeout) {
    std::size_t written = 0;
    return run([&](auto handler) { asio::async_write(stream_, asio::buffer(bytes.data(), bytes.size()), handler); },
               timeout, &written);
  }

  void close() {
    std::error_code ignored;
    stream_.next_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.next_layer().close(ignored);
  }

  bool is_open() const { return stream_.next_layer().is_open(); }

 private:
  // As timed_socket::run: one operation, run until done or the deadline (then cancelled).
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
      stream_.next_layer().cancel(ignored);
      io_.restart();
      io_.run();
      if (transferred) *transferred = bytes;
      return asio::error::timed_out;
    }
    if (transferred) *transferred = bytes;
    return result;
  }

  asio::io_context io_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
};

/// Reads from `socket` until the peer ends the stream (or resets it); false when that
/// does not happen within `timeout`. What arrives meanwhile is appended to `received`.
template <class Socket>
bool wait_for_end_of_stream(Socket& socket, std::string& received, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char chunk[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    std::size_t n = 0;
    const std::error_code ec = socket.read_some(chunk, sizeof chunk, n, left);
    received.append(chunk, n);
    if (ec == asio::error::timed_out) return false;
    if (ec) return true;  // eof, reset, or a TLS stream cut short
  }
}

/// A WebSocket client session over a connected socket it does not own (a
/// `timed_socket` or `timed_tls_socket`): the opening handshake, masked text frames
/// out, frames in (pings answered). For tests that need a WebSocket over a stream
/// `ws_test_client` cannot make: TLS, or a connection that served HTTP first.
template <class Socket>
class ws_session {
 public:
  explicit ws_session(Socket& socket) : socket_(socket), rng_(std::random_device{}()) {}

  /// Sends the opening handshake for `target` and reads the answer; `buffered` holds
  /// bytes already read from the socket.
  handshake_result handshake(std::uint16_t port, std::string_view target = "/ws", std::string buffered = {},
                             std::chrono::milliseconds timeout = default_timeout) {
    handshake_result result;
    unsigned char nonce[16];
    for (auto& b : nonce) b = static_cast<unsigned char>(rng_());
    const std::string key = detail::ws_client_key(nonce);
    const std::string host = "127.0.0.1:" + std::to_string(port);
    if (socket_.write(detail::ws_client_handshake(host, target, key), timeout)) return result;
    const http_result answer = detail_client::read_http_response(socket_, buffered, timeout);
    result.status = answer.status;
    result.headers = answer.headers;
    result.body = answer.body;
    if (result.status == 101) {
      const auto check = detail::check_ws_handshake_response(answer.headers + "\r\n", key);
      CHECK(check.status == detail::ws_handshake_status::accepted);
      if (!buffered.empty()) {
        std::memcpy(reader_.prepare(buffered.size()), buffered.data(), buffered.size());
        reader_.commit(buffered.size());
      }
    }
    return result;
  }

  /// Sends one masked text frame.
  bool send_text(std::string_view text) { return send_frame(detail::ws_opcode::text, text); }

  /// The next data message or close frame; FAILs when none comes within `timeout`.
  ws_message recv(std::chrono::milliseconds timeout = default_timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      detail::ws_frame frame;
      const detail::ws_parse_status status = reader_.next(frame);
      if (status == detail::ws_parse_status::ok) {
        if (frame.opcode == detail::ws_opcode::ping) {
          send_frame(detail::ws_opcode::pong, frame.payload);
          continue;
        }
        if (frame.opcode == detail::ws_opcode::pong) continue;
        // The server sends no fragmented message in these tests.
        REQUIRE(frame.fin);
        ws_message m;
        m.opcode = frame.opcode;
        m.payload.assign(frame.payload.data(), frame.payload.size());
        return m;
      }
      REQUIRE(status == detail::ws_parse_status::incomplete);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) FAIL("no frame within " << timeout.count() << " ms");
      unsigned char* at = reader_.prepare(16 * 1024);
      std::size_t n = 0;
      const std::error_code ec = socket_.read_some(at, reader_.writable(), n, left);
      reader_.commit(n);
      if (ec && ec != asio::error::timed_out && n == 0) FAIL("the connection ended while a frame was expected: " << ec.message());
    }
  }

  /// The next message, a JSON text frame whose `type` is `type`.
  rapidjson::Document recv_type(std::string_view type, std::chrono::milliseconds timeout = default_timeout) {
    const ws_message m = recv(timeout);
    INFO("frame: " << ws_test_client::printable(m));
    REQUIRE(m.is_text());
    rapidjson::Document doc;
    doc.Parse(m.payload.data(), m.payload.size());
    REQUIRE_FALSE(doc.HasParseError());
    REQUIRE(doc.IsObject());
    REQUIRE(doc.HasMember("type"));
    REQUIRE(doc["type"].IsString());
    REQUIRE(std::string_view(doc["type"].GetString()) == type);
    return doc;
  }

 private:
  bool send_frame(detail::ws_opcode opcode, std::string_view payload) {
    unsigned char key[4];
    for (auto& b : key) b = static_cast<unsigned char>(rng_());
    unsigned char header[detail::max_ws_header_size];
    const std::size_t header_size = detail::write_ws_header(header, opcode, payload.size(), key);
    std::string wire(reinterpret_cast<const char*>(header), header_size);
    wire.append(payload.data(), payload.size());
    detail::mask_ws_payload(reinterpret_cast<unsigned char*>(&wire[header_size]), payload.size(), key);
    return !socket_.write(wire);
  }

  Socket& socket_;
  detail::ws_frame_reader reader_{16 * 1024, std::uint64_t(1) << 26};
  std::mt19937 rng_;
};

}  // namespace test
}  // namespace switchboard

#endif
