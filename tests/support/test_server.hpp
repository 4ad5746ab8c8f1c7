// A hub and its server_under_test on 127.0.0.1, on a free port, run by a background
// thread, for socket tests.
#ifndef SWITCHBOARD_TESTS_SUPPORT_TEST_SERVER_HPP
#define SWITCHBOARD_TESTS_SUPPORT_TEST_SERVER_HPP

#include <switchboard/hub.hpp>
#ifdef SWITCHBOARD_TEST_WEBSOCKETPP
#include <switchboard/websocketpp_server.hpp>
#else
#include <switchboard/websocket_server.hpp>
#endif

#include <asio.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#if defined(__unix__) || defined(__APPLE__)
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#define SWITCHBOARD_TEST_HAVE_LISTENERS_ON 1
#endif

namespace switchboard {
namespace test {

/// The transport the socket tests run against (the suite is built once for each).
#ifdef SWITCHBOARD_TEST_WEBSOCKETPP
using server_under_test = websocketpp_server;
#else
using server_under_test = websocket_server;
#endif

#ifdef SWITCHBOARD_TEST_HAVE_LISTENERS_ON
/// How many sockets of this process listen on TCP `port`. Tests ask this instead of
/// trying to connect: under `ctest -j` another test may bind the same port as soon as
/// it is free, and a connect would then reach that server.
inline int listeners_on(std::uint16_t port) {
  int found = 0;
  const long max_fd = std::min(::sysconf(_SC_OPEN_MAX), 65536L);
  for (int fd = 0; fd < max_fd; ++fd) {
    int listening = 0;
    socklen_t length = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || !listening) continue;
    sockaddr_storage address{};
    socklen_t address_length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &address_length) != 0) continue;
    std::uint16_t bound = 0;
    if (address.ss_family == AF_INET) {
      sockaddr_in v4;
      std::memcpy(&v4, &address, sizeof v4);
      bound = ntohs(v4.sin_port);
    } else if (address.ss_family == AF_INET6) {
      sockaddr_in6 v6;
      std::memcpy(&v6, &address, sizeof v6);
      bound = ntohs(v6.sin6_port);
    }
    if (bound == port) ++found;
  }
  return found;
}
#endif

/// A config with the protocol defaults except a short close timeout, so that tests
/// which cut connections (or end with clients connected) do not wait a whole second.
inline config test_config() {
  config cfg;
  cfg.close_timeout = std::chrono::milliseconds(100);
  return cfg;
}

/// An auth policy for tests that need refusals: the token is the user id, but an empty
/// token or `bad` is refused (HTTP 401), topics under `secret.` may not be subscribed to
/// (nor watched through presence or history), and topics under `readonly.` may not be
/// published to.
struct strict_auth {
  auth_result authenticate(const handshake_info& handshake) const {
    if (handshake.token.empty()) return auth_result::refuse("a token is required");
    if (handshake.token == "bad") return auth_result::refuse("token refused");
    return auth_result::accept(std::string(handshake.token));
  }
  bool authorize(const identity&, action what, std::string_view topic) const {
    switch (what) {
      case action::subscribe:
      case action::presence:
      case action::history: return topic.substr(0, 7) != "secret.";
      case action::publish: return topic.substr(0, 9) != "readonly.";
      case action::direct:
      case action::command: return true;
    }
    return false;
  }
};

/// Runs `basic_hub<Policies>` and a `server_under_test` on their own io_context and thread.
///
/// The hub and server are built, configured (`setup`) and started on the constructing
/// thread before the io_context runs, so `port()` is known at once. Afterwards the hub
/// belongs to the server thread: reach it only through `call`. The destructor shuts the
/// server down (close 1001 to every client) and joins the thread.
template <class Policies = default_policies>
class basic_test_server {
 public:
  using hub_type = basic_hub<Policies>;
  using auth_type = typename hub_type::auth_type;
  using setup_fn = std::function<void(hub_type&, server_under_test&)>;

  explicit basic_test_server(config cfg = test_config(), websocket_options options = {}, setup_fn setup = {},
                             auth_type auth = auth_type{})
      : hub_(io_, std::move(cfg), std::move(auth)), server_(hub_, with_free_port(std::move(options))) {
    if (setup) setup(hub_, server_);
    server_.start();
    port_ = server_.port();
    thread_ = std::thread([this] {
      std::string failure;
      try {
        io_.run();
      } catch (const std::exception& ex) {
        failure = ex.what();
      } catch (...) {
        failure = "unknown exception";
      }
      std::lock_guard<std::mutex> lock(mutex_);
      failure_ = std::move(failure);
      stopped_ = true;
      stopped_cv_.notify_all();
    });
  }

  basic_test_server(const basic_test_server&) = delete;
  basic_test_server& operator=(const basic_test_server&) = delete;

  ~basic_test_server() {
    shutdown();
    if (!wait_stopped(std::chrono::seconds(5))) io_.stop();  // never hang the test run
    thread_.join();
    if (!failure_.empty()) FAIL_CHECK("exception on the server thread: " << failure_);
  }

  /// The port the server listens on.
  std::uint16_t port() const { return port_; }

  /// Runs `f(hub, server)` on the server thread and returns its result. FAILs when the
  /// server thread does not run it within `timeout` (or has stopped).
  template <class F>
  auto call(F f, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000))
      -> std::invoke_result_t<F&, hub_type&, server_under_test&> {
    using result_type = std::invoke_result_t<F&, hub_type&, server_under_test&>;
    // Shared: if the wait times out, the task may still run later.
    auto task = std::make_shared<std::packaged_task<result_type()>>(
        [this, f = std::move(f)]() mutable { return f(hub_, server_); });
    std::future<result_type> result = task->get_future();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) FAIL("the server thread has stopped");
    }
    asio::post(io_, [task] { (*task)(); });
    if (result.wait_for(timeout) != std::future_status::ready) FAIL("the server thread did not answer in time");
    return result.get();
  }

  /// Polls `predicate(hub, server)` on the server thread until it holds or `timeout`
  /// passes; returns whether it held.
  template <class Predicate>
  bool wait_until(Predicate predicate, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (call([&predicate](hub_type& h, server_under_test& s) { return static_cast<bool>(predicate(h, s)); }))
        return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  /// Open WebSocket connections, as the transport counts them.
  std::size_t connection_count() {
    return call([](hub_type&, server_under_test& s) { return s.connection_count(); });
  }

  /// The hub's counters.
  hub_stats stats() {
    return call([](hub_type& h, server_under_test&) { return h.stats(); });
  }

  /// Asks the server thread to shut the server down (close 1001 to everyone); returns
  /// at once. Safe to call more than once.
  void shutdown() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_ || shutdown_posted_) return;
    shutdown_posted_ = true;
    asio::post(io_, [this] { server_.shutdown(); });
  }

  /// Waits until the io_context's run() has returned; false on timeout.
  bool wait_stopped(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return stopped_cv_.wait_for(lock, timeout, [this] { return stopped_; });
  }

  /// What escaped io_context::run() on the server thread; empty when nothing did.
  std::string failure() {
    std::lock_guard<std::mutex> lock(mutex_);
    return failure_;
  }

 private:
  static websocket_options with_free_port(websocket_options options) {
    options.bind = "127.0.0.1";
    options.port = 0;
    return options;
  }

  // Declaration order is destruction order in reverse: the thread is joined in the
  // destructor's body, then the server goes before the hub it is attached to.
  asio::io_context io_;
  hub_type hub_;
  server_under_test server_;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::condition_variable stopped_cv_;
  bool stopped_ = false;
  bool shutdown_posted_ = false;
  std::string failure_;
  std::thread thread_;
};

/// A test server with the default policies.
using test_server = basic_test_server<>;
/// A test server whose auth policy is `strict_auth`.
using strict_test_server = basic_test_server<policies<strict_auth>>;

}  // namespace test
}  // namespace switchboard

#endif
