// Appends to one topic of a sqlite_store in acknowledged mode for as long as it lives,
// and prints each seq on its own line once its commit is reported. The crash tests kill
// it with SIGKILL and check that every seq it printed is in the database.
//
//   sqlite_append_loop DATABASE TOPIC
#include <switchboard/sqlite_store.hpp>

#include <asio/io_context.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <string>
#include <utility>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DATABASE TOPIC\n", argv[0]);
    return 2;
  }
  const std::string topic = argv[2];
  try {
    asio::io_context io;
    switchboard::sqlite_store::options options;
    options.path = argv[1];
    options.mode = switchboard::durability::acknowledged;
    options.history_size = std::size_t(1) << 40;  // keep everything: the test checks every row
    options.history_max_bytes = 0;
    switchboard::sqlite_store store(io, options);

    std::deque<std::pair<std::uint64_t, std::uint64_t>> waiting;  // ticket, seq
    // Keeps a few hundred appends in flight, so the writer always has a batch.
    auto top_up = [&] {
      while (waiting.size() < 256) {
        auto result = store.append(topic, [&](std::uint64_t seq) {
          return switchboard::make_frame(switchboard::frame_kind::text,
                                         R"({"type":"message","topic":")" + topic + R"(","seq":)" +
                                             std::to_string(seq) + R"(,"data":{"text":"crash test"}})");
        });
        if (!result) break;
        waiting.emplace_back(result.ticket, result.seq);
      }
    };
    store.on_commit([&](const switchboard::commit_report& report) {
      std::string lines;
      while (!waiting.empty() && waiting.front().first <= report.last_ticket) {
        if (!report.error) lines += std::to_string(waiting.front().second) + "\n";
        waiting.pop_front();
      }
      if (report.error) std::fprintf(stderr, "commit failed: %s\n", store.last_error().c_str());
      // One write per report; the test ignores a line the kill cut short.
      std::size_t written = 0;
      while (written < lines.size()) {
        const ssize_t n = ::write(STDOUT_FILENO, lines.data() + written, lines.size() - written);
        if (n <= 0) std::_Exit(1);
        written += static_cast<std::size_t>(n);
      }
      top_up();
    });
    top_up();
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sqlite_append_loop: %s\n", e.what());
    return 1;
  }
  return 0;
}
