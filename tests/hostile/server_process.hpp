// A pubsub_server child process for the hostile-client tests: started with fork/exec
// on a free port, its address read from its first stdout line, its memory and CPU
// read from /proc, and always killed when the owner goes out of scope.
#ifndef SWITCHBOARD_TESTS_HOSTILE_SERVER_PROCESS_HPP
#define SWITCHBOARD_TESTS_HOSTILE_SERVER_PROCESS_HPP

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace hostile {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Resident set size of process `pid` in bytes (VmRSS); 0 when it cannot be read.
inline std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.compare(0, 6, "VmRSS:") == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

/// User plus system CPU time of process `pid` in seconds (all its threads); -1 on error.
inline double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name may hold spaces and parentheses: fields are counted after the last ')'.
  const std::size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(text.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // After ')' come field 3 (state) onwards; utime and stime are fields 14 and 15.
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (index == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// Options for starting the server.
struct server_options {
  std::vector<std::string> args;  ///< extra command-line options (after `--port 0`)
  rlim_t max_open_files = 0;      ///< RLIMIT_NOFILE set in the child before exec; 0 keeps it
};

/// Nanoseconds the main thread of process `pid` has spent runnable but waiting for a
/// CPU (the second field of /proc/<pid>/schedstat). The server runs its event loop on
/// that thread, so this is the time a loaded machine took from it. The file stays open:
/// a read is one pread(). Use one object per thread.
class cpu_wait_reader {
 public:
  explicit cpu_wait_reader(pid_t pid)
      : fd_(::open(("/proc/" + std::to_string(pid) + "/schedstat").c_str(), O_RDONLY | O_CLOEXEC)) {}
  cpu_wait_reader(const cpu_wait_reader&) = delete;
  cpu_wait_reader& operator=(const cpu_wait_reader&) = delete;
  ~cpu_wait_reader() {
    if (fd_ >= 0) ::close(fd_);
  }

  /// nullopt when it cannot be read (a kernel without schedstat, the process gone).
  std::optional<std::uint64_t> ns() const {
    if (fd_ < 0) return std::nullopt;
    char text[128];
    const ssize_t n = ::pread(fd_, text, sizeof text - 1, 0);
    if (n <= 0) return std::nullopt;
    text[n] = '\0';
    unsigned long long running = 0, waiting = 0;
    if (std::sscanf(text, "%llu %llu", &running, &waiting) != 2) return std::nullopt;
    return waiting;
  }

 private:
  int fd_;
};

/// One pubsub_server process. Not copyable; the destructor kills it (SIGKILL) and reaps it.
class server_process {
 public:
  explicit server_process(const std::string& path, const server_options& options = {}) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    // Warnings only: a test opening thousands of connections would log a line for each.
    std::vector<std::string> argv_text{path, "--port", "0", "--bind", "127.0.0.1", "--log-level", "warn"};
    argv_text.insert(argv_text.end(), options.args.begin(), options.args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // The child: dies with the test program, writes its stdout into the pipe.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(out[1], STDOUT_FILENO);
      if (options.max_open_files > 0) {
        rlimit limit{options.max_open_files, options.max_open_files};
        setrlimit(RLIMIT_NOFILE, &limit);
      }
      execv(path.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_fd_ = out[0];

    // The first line announces the address: "switchboard listening on ws://HOST:PORT/ws".
    std::string text;
    const auto deadline = clock::now() + milliseconds(10000);
    while (text.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now()).count();
      pollfd p{stdout_fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char chunk[256];
      const ssize_t n = read(stdout_fd_, chunk, sizeof chunk);
      if (n <= 0) break;
      text.append(chunk, static_cast<std::size_t>(n));
    }
    const std::string marker = "switchboard listening on ws://";
    const std::size_t at = text.find(marker);
    const std::size_t colon = at == std::string::npos ? at : text.find(':', at + marker.size());
    if (colon == std::string::npos) {
      kill_now();
      throw std::runtime_error("pubsub_server did not announce its address; stdout: " + text);
    }
    port_ = static_cast<std::uint16_t>(std::strtoul(text.c_str() + colon + 1, nullptr, 10));
    // Keep reading stdout so the server can never block on a full pipe.
    drain_ = std::thread([fd = stdout_fd_] {
      char chunk[4096];
      while (read(fd, chunk, sizeof chunk) > 0) {
      }
    });
  }

  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  ~server_process() {
    kill_now();
    if (drain_.joinable()) drain_.join();
    if (stdout_fd_ >= 0) close(stdout_fd_);
  }

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  /// True while the process runs; afterwards `exit_description()` says how it ended.
  bool alive() {
    if (reaped_) return false;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    reaped_ = true;
    status_ = status;
    return false;
  }

  std::string exit_description() {
    if (alive()) return "running";
    if (WIFSIGNALED(status_)) return "killed by signal " + std::to_string(WTERMSIG(status_)) + " (" +
                                     strsignal(WTERMSIG(status_)) + ")";
    if (WIFEXITED(status_)) return "exited with status " + std::to_string(WEXITSTATUS(status_));
    return "ended";
  }

  /// Sends SIGTERM and waits up to `timeout` for the process to end; true when it exited
  /// with status 0 (a clean shutdown).
  bool terminate(milliseconds timeout = milliseconds(20000)) {
    if (!reaped_) ::kill(pid_, SIGTERM);
    const auto deadline = clock::now() + timeout;
    while (alive() && clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
    return !alive() && WIFEXITED(status_) && WEXITSTATUS(status_) == 0;
  }
  /// SIGKILL: the process ends at once, as in a crash.
  void kill() { kill_now(); }

  std::uint64_t rss() const { return rss_bytes(pid_); }
  double cpu() const { return cpu_seconds(pid_); }

  /// Waits until the server's CPU time stops growing (at most `timeout`).
  void wait_idle(milliseconds timeout = milliseconds(2000)) {
    const auto deadline = clock::now() + timeout;
    double before = cpu();
    while (clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(100));
      const double now = cpu();
      if (now - before < 0.005) return;
      before = now;
    }
  }

 private:
  void kill_now() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      if (waitpid(pid_, &status, 0) == pid_) {
        reaped_ = true;
        status_ = status;
      }
    }
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  bool reaped_ = false;
  int status_ = 0;
  std::thread drain_;
};

}  // namespace hostile

#endif
