// A WebSocket client on a plain non-blocking POSIX socket, every wait bounded by a
// deadline. Unlike tests/support/ws_test_client.hpp it uses no Catch2 macro, so the
// hostile tests may run one per thread (bystanders, floods). One object is used by one
// thread at a time.
#ifndef SWITCHBOARD_TESTS_HOSTILE_RAW_WS_HPP
#define SWITCHBOARD_TESTS_HOSTILE_RAW_WS_HPP

#include "support/websocket_codec.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace hostile {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using switchboard::detail::ws_opcode;

/// An HTTP response (the handshake's, or a refusal's).
struct http_response {
  int status = 0;  ///< 0 when no complete response header arrived
  std::string headers;
  std::string body;
  std::string header(std::string_view name) const {
    return std::string(switchboard::detail::ws_http_header(headers, name));
  }
};

/// A message (fragments joined) or a close frame.
struct ws_message {
  ws_opcode opcode = ws_opcode::close;
  std::string payload;
  bool is_text() const { return opcode == ws_opcode::text; }
  bool is_close() const { return opcode == ws_opcode::close; }
  std::uint16_t close_code() const {
    if (payload.size() < 2) return 1005;
    return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                      static_cast<unsigned char>(payload[1]));
  }
};

enum class recv_status { message, timeout, closed, malformed };

class raw_ws {
 public:
  bool auto_pong = true;

  raw_ws() : rng_(std::random_device{}()) {}
  raw_ws(const raw_ws&) = delete;
  raw_ws& operator=(const raw_ws&) = delete;
  ~raw_ws() { close(); }

  /// TCP connection to 127.0.0.1:`port`; `receive_buffer` > 0 sets SO_RCVBUF first.
  bool tcp_connect(std::uint16_t port, int receive_buffer = 0, milliseconds timeout = milliseconds(3000)) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (receive_buffer > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (errno != EINPROGRESS || !wait_for(POLLOUT, timeout)) return fail();
      int error = 0;
      socklen_t len = sizeof error;
      getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
      if (error != 0) return fail();
    }
    return true;
  }

  /// Sends `request` as is and reads one HTTP response (header, and a body of
  /// Content-Length bytes for a refusal). Bytes after a 101 are kept as frames.
  http_response http_exchange(std::string_view request, milliseconds timeout = milliseconds(5000)) {
    http_response result;
    const auto deadline = clock::now() + timeout;
    if (!send_raw(request, timeout)) return result;
    std::string buffered;
    std::size_t header_end;
    while ((header_end = buffered.find("\r\n\r\n")) == std::string::npos) {
      if (!read_into(buffered, deadline)) return result;
    }
    result.headers = buffered.substr(0, header_end + 2);
    buffered.erase(0, header_end + 4);
    const std::size_t space = result.headers.find(' ');
    if (space != std::string::npos) result.status = std::atoi(result.headers.c_str() + space + 1);
    if (result.status == 101) {
      if (!buffered.empty()) {
        std::memcpy(reader_.prepare(buffered.size()), buffered.data(), buffered.size());
        reader_.commit(buffered.size());
      }
      return result;
    }
    const std::string length_text = result.header("Content-Length");
    const std::size_t length = length_text.empty() ? 0 : std::strtoull(length_text.c_str(), nullptr, 10);
    while (buffered.size() < length && read_into(buffered, deadline)) {
    }
    result.body = buffered.substr(0, std::min(length, buffered.size()));
    return result;
  }

  /// An RFC 6455 handshake for `target` with `extra_headers` (each line ending in CRLF).
  http_response handshake(std::uint16_t port, std::string_view target = "/ws", std::string_view extra_headers = {},
                          milliseconds timeout = milliseconds(5000)) {
    unsigned char nonce[16];
    for (auto& b : nonce) b = static_cast<unsigned char>(rng_());
    const std::string key = switchboard::detail::ws_client_key(nonce);
    return http_exchange(switchboard::detail::ws_client_handshake("127.0.0.1:" + std::to_string(port), target, key,
                                                                  extra_headers),
                         timeout);
  }

  /// TCP connect, handshake and `welcome`. False when any step fails.
  bool open(std::uint16_t port, int receive_buffer = 0, std::string_view target = "/ws",
            milliseconds timeout = milliseconds(5000)) {
    if (!tcp_connect(port, receive_buffer, timeout)) return false;
    if (handshake(port, target, {}, timeout).status != 101) return fail();
    ws_message m;
    if (recv(m, timeout) != recv_status::message || !m.is_text() ||
        m.payload.find("\"welcome\"") == std::string::npos)
      return fail();
    return true;
  }

  /// One masked frame; `fin` false starts or continues a fragmented message.
  std::string encode(ws_opcode opcode, std::string_view payload, bool fin = true) {
    unsigned char key[4];
    for (auto& b : key) b = static_cast<unsigned char>(rng_());
    unsigned char header[switchboard::detail::max_ws_header_size];
    const std::size_t size = switchboard::detail::write_ws_header(header, opcode, payload.size(), key);
    if (!fin) header[0] &= 0x7Fu;
    std::string wire(reinterpret_cast<const char*>(header), size);
    wire.append(payload.data(), payload.size());
    switchboard::detail::mask_ws_payload(reinterpret_cast<unsigned char*>(&wire[size]), payload.size(), key);
    return wire;
  }

  bool send_frame(ws_opcode opcode, std::string_view payload, bool fin = true,
                  milliseconds timeout = milliseconds(5000)) {
    return send_raw(encode(opcode, payload, fin), timeout);
  }
  bool send_text(std::string_view text, milliseconds timeout = milliseconds(5000)) {
    return send_frame(ws_opcode::text, text, true, timeout);
  }

  /// Writes all of `bytes`, or fails when the peer takes none for `timeout`.
  bool send_raw(std::string_view bytes, milliseconds timeout = milliseconds(5000)) {
    return write_some(bytes, timeout) == bytes.size();
  }

  /// Writes as much of `bytes` as the peer takes before `timeout`; returns the count.
  std::size_t write_some(std::string_view bytes, milliseconds timeout) {
    if (fd_ < 0) return 0;
    const auto deadline = clock::now() + timeout;
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
        if (left.count() <= 0 || !wait_for(POLLOUT, left)) break;
        continue;
      }
      peer_gone_ = true;
      break;
    }
    return done;
  }

  /// The next message or close frame within `timeout`. Pings are answered (when
  /// `auto_pong`) and counted.
  recv_status recv(ws_message& out, milliseconds timeout = milliseconds(5000)) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      switchboard::detail::ws_frame frame;
      const auto status = reader_.next(frame);
      if (status == switchboard::detail::ws_parse_status::ok) {
        if (take(frame, out)) return recv_status::message;
        continue;
      }
      if (status != switchboard::detail::ws_parse_status::incomplete) return recv_status::malformed;
      if (fd_ < 0 || eof_) return recv_status::closed;
      unsigned char* at = reader_.prepare(256 * 1024);
      const ssize_t n = read_socket(at, reader_.writable());
      if (n > 0) {
        reader_.commit(static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        eof_ = true;
        continue;
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
      if (left.count() <= 0) return recv_status::timeout;
      wait_for(POLLIN, left);
    }
  }

  /// Reads until a text message containing `needle` arrives; other messages are
  /// skipped (counted in `skipped`). A close frame or the end of the stream stops it.
  recv_status recv_until(std::string_view needle, ws_message& out, milliseconds timeout,
                         std::size_t* skipped = nullptr) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
      const recv_status s = recv(out, left.count() > 0 ? left : milliseconds(0));
      if (s != recv_status::message) return s;
      if (out.is_close()) return s;
      if (out.is_text() && out.payload.find(needle) != std::string::npos) return s;
      if (skipped) ++*skipped;
    }
  }

  /// Reads (skipping data) until a close frame (its code) or the end of the stream
  /// (1006); 0 when nothing closes within `timeout`.
  std::uint16_t wait_close(milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
      ws_message m;
      const recv_status s = recv(m, left.count() > 0 ? left : milliseconds(0));
      if (s == recv_status::timeout) return 0;
      if (s != recv_status::message) return 1006;
      if (m.is_close()) return m.close_code();
    }
  }

  /// Asks the kernel to stamp what arrives on this socket (SO_TIMESTAMPNS), so that
  /// `last_arrival()` can say when data came however late this thread read it. False
  /// when the kernel refuses.
  bool stamp_arrivals() {
    int one = 1;
    stamping_ = fd_ >= 0 && setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) == 0;
    return stamping_;
  }

  /// When the bytes of the latest read were queued on the socket, on `clock`; nullopt
  /// without `stamp_arrivals()` or a stamp from the kernel. A message `recv` returns
  /// arrived no later than this (its bytes came in that read or an earlier one).
  std::optional<clock::time_point> last_arrival() const { return last_arrival_; }

  /// True once the server's close frame or the end of the stream has been seen.
  bool closed() const { return eof_ || close_received_ || peer_gone_ || fd_ < 0; }
  std::size_t pings_received() const { return pings_; }
  int fd() const { return fd_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    stamping_ = false;
    last_arrival_.reset();
  }

 private:
  bool fail() {
    close();
    return false;
  }

  ssize_t read_socket(unsigned char* at, std::size_t size) {
    if (!stamping_) return ::recv(fd_, at, size, 0);
    iovec iov{at, size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_, &msg, 0);
    if (n <= 0) return n;
    last_arrival_.reset();
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
      timespec stamp;
      std::memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
      // The stamp is on CLOCK_REALTIME: its age now on that clock is taken off `clock`'s now.
      timespec real_now;
      clock_gettime(CLOCK_REALTIME, &real_now);
      const auto now = clock::now();
      const auto age = std::chrono::seconds(real_now.tv_sec - stamp.tv_sec) +
                       std::chrono::nanoseconds(real_now.tv_nsec - stamp.tv_nsec);
      last_arrival_ = now - std::chrono::duration_cast<clock::duration>(std::max(age, decltype(age)::zero()));
    }
    return n;
  }

  bool wait_for(short events, milliseconds timeout) {
    pollfd p{fd_, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    return r > 0;
  }

  // Appends what arrives before `deadline`; false on the end of the stream or the deadline.
  bool read_into(std::string& buffered, clock::time_point deadline) {
    for (;;) {
      char chunk[8192];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffered.append(chunk, static_cast<std::size_t>(n));
        return true;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return false;
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
      if (left.count() <= 0 || !wait_for(POLLIN, left)) return false;
    }
  }

  bool take(const switchboard::detail::ws_frame& frame, ws_message& out) {
    switch (frame.opcode) {
      case ws_opcode::ping:
        ++pings_;
        if (auto_pong && !close_received_) send_raw(encode(ws_opcode::pong, frame.payload), milliseconds(1000));
        return false;
      case ws_opcode::pong: return false;
      case ws_opcode::close:
        out.opcode = ws_opcode::close;
        out.payload.assign(frame.payload.data(), frame.payload.size());
        if (!close_received_) send_raw(encode(ws_opcode::close, frame.payload.substr(0, frame.payload.size() >= 2 ? 2 : 0)),
                                       milliseconds(200));
        close_received_ = true;
        return true;
      case ws_opcode::text:
      case ws_opcode::binary:
        if (!frame.fin) {
          fragment_ = frame.opcode;
          fragments_.assign(frame.payload.data(), frame.payload.size());
          return false;
        }
        out.opcode = frame.opcode;
        out.payload.assign(frame.payload.data(), frame.payload.size());
        return true;
      case ws_opcode::continuation:
        fragments_.append(frame.payload.data(), frame.payload.size());
        if (!frame.fin) return false;
        out.opcode = fragment_.value_or(ws_opcode::text);
        out.payload = std::move(fragments_);
        fragments_.clear();
        fragment_.reset();
        return true;
    }
    return false;
  }

  int fd_ = -1;
  switchboard::detail::ws_frame_reader reader_{64 * 1024, std::uint64_t(1) << 30};
  std::mt19937 rng_;
  std::optional<ws_opcode> fragment_;
  std::string fragments_;
  std::size_t pings_ = 0;
  bool eof_ = false;
  bool close_received_ = false;
  bool peer_gone_ = false;
  bool stamping_ = false;
  std::optional<clock::time_point> last_arrival_;
};

}  // namespace hostile

#endif
