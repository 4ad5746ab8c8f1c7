// Consumer check of switchboard::sqlite: a store in a fresh directory takes an append,
// reports its commit, and reads it back after a restart.
#include <switchboard/sqlite_store.hpp>

#include <asio/io_context.hpp>

#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

int main() {
  char dir[] = "/tmp/switchboard_consumer_XXXXXX";
  if (!mkdtemp(dir)) return 1;
  switchboard::sqlite_store::options options;
  options.path = std::string(dir) + "/consumer.db";
  asio::io_context io;
  {
    switchboard::sqlite_store store(io, options);
    auto appended = store.append("room.1", [](std::uint64_t seq) {
      return switchboard::make_frame(switchboard::frame_kind::text, "message " + std::to_string(seq));
    });
    if (!appended) return 1;
    io.run();  // until the commit report has been handled
  }
  std::optional<switchboard::read_result> got;
  {
    switchboard::sqlite_store store(io, options);
    store.read_since("room.1", 0, std::nullopt, 10, 1 << 20, [&](switchboard::read_result r) { got = std::move(r); });
    io.restart();
    io.run();
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  if (!got || !got->complete || got->messages.size() != 1 || got->messages[0].frame.payload() != "message 1") {
    std::fprintf(stderr, "the message did not come back from the database\n");
    return 1;
  }
  std::printf("read back: %s\n", std::string(got->messages[0].frame.payload()).c_str());
  return 0;
}
