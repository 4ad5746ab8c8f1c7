// Consumer check: one hub, two in-memory clients, one publish from alice seen by bob;
// a token signed and verified, so libsodium must have come with the package; and the
// dashboard's page, which lives in a generated header that must have come with it too.
#include <switchboard/dashboard.hpp>
#include <switchboard/jwt.hpp>
#include <switchboard/memory_transport.hpp>
#include <switchboard/switchboard.hpp>

#include <asio.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main() {
  const auto key = switchboard::jwt_key::hs256("consumer secret");
  switchboard::jwt_claims claims;
  claims.subject = "alice";
  claims.expires_at =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now() + std::chrono::hours(1));
  if (!switchboard::jwt_verifier(key).verify(switchboard::sign_jwt(key, claims))) {
    std::fprintf(stderr, "a token signed with the key did not verify\n");
    return 1;
  }

  asio::io_context io;
  switchboard::hub hub{io};
  if (switchboard::detail::dashboard_page({}).find("<title>switchboard dashboard</title>") == std::string::npos) {
    std::fprintf(stderr, "the dashboard page is not embedded\n");
    return 1;
  }
  switchboard::memory_transport transport{hub};

  auto alice = transport.connect("alice");
  auto bob = transport.connect("bob");
  if (alice == 0 || bob == 0) {
    std::fprintf(stderr, "connect refused\n");
    return 1;
  }
  transport.receive_text(bob, R"({"type":"subscribe","id":1,"topics":["room.1"]})");
  transport.receive_text(alice, R"({"type":"publish","topic":"room.1","data":{"text":"hi"}})");

  // Frames leave in a flush the loop runs soon after, on a timer when the last flush
  // was long: run it until bob has the message, or a deadline passes.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
    for (const std::string& frame : transport.take_texts(bob)) {
      if (frame.find(R"("type":"message")") != std::string::npos &&
          frame.find(R"("topic":"room.1")") != std::string::npos) {
        std::printf("bob received: %s\n", frame.c_str());
        return 0;
      }
    }
  }
  std::fprintf(stderr, "bob did not receive the message on room.1\n");
  return 1;
}
