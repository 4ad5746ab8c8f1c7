// What one fan-out costs on this machine with no WebSocket server at all: one message
// written to each of N loopback TCP connections, one write per connection, while a
// thread on another CPU reads them all, as the load generator does.
//
// On loopback the kernel runs the receiver's TCP path inside the sender's write, so
// this is a floor under the fan-out latency of any server that writes each subscriber
// separately from one thread: its last subscriber cannot hear of a message sooner than
// N of these writes after the first. docs/benchmarks.md quotes it beside the servers.
//
// Linux only (epoll, CPU affinity). Prints one JSON line; run with --help for options.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  int connections = 1000;
  int bytes = 70;  // a 64-byte payload's message frame, roughly
  int rounds = 200;
  int pause_us = 2000;  // between rounds: the reader catches up and sleeps, as between publishes
  int writer_cpu = 0;
  int reader_cpu = 1;
};

[[noreturn]] void usage(int status) {
  std::fprintf(status == 0 ? stdout : stderr,
               "usage: loopback_floor [--connections N (1000)] [--bytes B (70)] [--rounds R (200)]\n"
               "                      [--pause-us U (2000)] [--writer-cpu C (0)] [--reader-cpu C (1)]\n");
  std::exit(status);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help") usage(0);
    if (i + 1 >= argc) usage(2);
    const int value = std::atoi(argv[++i]);
    if (arg == "--connections") o.connections = value;
    else if (arg == "--bytes") o.bytes = value;
    else if (arg == "--rounds") o.rounds = value;
    else if (arg == "--pause-us") o.pause_us = value;
    else if (arg == "--writer-cpu") o.writer_cpu = value;
    else if (arg == "--reader-cpu") o.reader_cpu = value;
    else usage(2);
  }
  if (o.connections < 1 || o.bytes < 1 || o.rounds < 1 || o.pause_us < 0) usage(2);
  return o;
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) std::fprintf(stderr, "cannot pin to CPU %d\n", cpu);
}

void fail(const char* what) {
  std::perror(what);
  std::exit(1);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[at];
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);

  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 4096) != 0 || ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    fail("listen");

  std::vector<int> writers, readers;
  for (int i = 0; i < o.connections; ++i) {
    const int reader = ::socket(AF_INET, SOCK_STREAM, 0);
    if (reader < 0 || ::connect(reader, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) fail("connect");
    const int writer = ::accept(listener, nullptr, nullptr);
    if (writer < 0) fail("accept");
    const int one = 1;
    ::setsockopt(writer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as every server measured
    readers.push_back(reader);
    writers.push_back(writer);
  }

  const long long expected = static_cast<long long>(o.connections) * o.bytes * o.rounds;
  std::atomic<long long> received{0};
  std::atomic<bool> stop{false};
  std::thread reader_thread([&] {
    pin_to(o.reader_cpu);
    const int poller = ::epoll_create1(0);
    for (const int fd : readers) {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.fd = fd;
      ::epoll_ctl(poller, EPOLL_CTL_ADD, fd, &event);
    }
    std::vector<char> buffer(64 * 1024);
    std::vector<epoll_event> events(256);
    while (!stop.load(std::memory_order_relaxed)) {
      const int ready = ::epoll_wait(poller, events.data(), static_cast<int>(events.size()), 10);
      for (int i = 0; i < ready; ++i) {
        const ssize_t n = ::recv(events[i].data.fd, buffer.data(), buffer.size(), 0);
        if (n > 0) received.fetch_add(n, std::memory_order_relaxed);
      }
    }
    ::close(poller);
  });

  pin_to(o.writer_cpu);
  const std::vector<char> message(static_cast<std::size_t>(o.bytes), 'x');
  std::vector<double> round_ms;
  for (int round = 0; round < o.rounds; ++round) {
    const auto start = clock_type::now();
    for (const int fd : writers) {
      iovec part{const_cast<char*>(message.data()), message.size()};
      msghdr header{};
      header.msg_iov = &part;
      header.msg_iovlen = 1;
      if (::sendmsg(fd, &header, MSG_NOSIGNAL) != o.bytes) fail("sendmsg");
    }
    round_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
    std::this_thread::sleep_for(std::chrono::microseconds(o.pause_us));
  }
  const auto deadline = clock_type::now() + std::chrono::seconds(10);
  while (received.load() < expected && clock_type::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  stop = true;
  reader_thread.join();

  const double median = percentile(round_ms, 0.5);
  std::printf(
      "{\"connections\":%d,\"bytes\":%d,\"rounds\":%d,\"fanout_ms_p50\":%.3f,\"fanout_ms_p99\":%.3f,"
      "\"write_us_p50\":%.3f,\"all_received\":%s}\n",
      o.connections, o.bytes, o.rounds, median, percentile(round_ms, 0.99), median * 1000.0 / o.connections,
      received.load() == expected ? "true" : "false");
  for (const int fd : writers) ::close(fd);
  for (const int fd : readers) ::close(fd);
  ::close(listener);
  return received.load() == expected ? 0 : 1;
}
