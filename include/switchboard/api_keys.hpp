// API keys: the credential of backends calling the HTTP API (`/api/*`).
//
// Link switchboard::security (or switchboard::switchboard) to get libsodium.
#ifndef SWITCHBOARD_API_KEYS_HPP
#define SWITCHBOARD_API_KEYS_HPP

#include <switchboard/auth.hpp>
#include <switchboard/detail/http_parser.hpp>
#include <switchboard/http.hpp>
#include <switchboard/jwt.hpp>

#include <sodium.h>

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace switchboard {

/// The API keys a server accepts, each with the identity its requests act as (for the
/// auth policy's `authorize`: give a key roles and let authorization rules scope it).
///
/// Only a keyed hash of each key is kept. A presented key is hashed and compared with
/// every stored hash in constant time, all of them every time, so neither the time of
/// a refusal nor which key was closest tells anything about a key.
///
/// Whoever serves an API decides what an empty set means; `add_http_api` serves it
/// unprotected then (and `pubsub_server` says so on start).
///
/// Thread safety: const members may be called from any thread.
class api_keys {
 public:
  /// Bytes a key must have at least: shorter ones are guessable.
  static constexpr std::size_t min_key_bytes = 16;
  /// Longest key accepted, in a request or in `add`.
  static constexpr std::size_t max_key_bytes = 512;

  api_keys() {
    detail::require_sodium();
    randombytes_buf(hash_key_.data(), hash_key_.size());
  }

  /// Accepts `key` (16 to 512 bytes), for requests acting as `who`. Throws
  /// std::invalid_argument for a key of another length.
  void add(std::string_view key, identity who = identity{}) {
    if (key.size() < min_key_bytes || key.size() > max_key_bytes)
      throw std::invalid_argument("an API key must have 16 to 512 bytes");
    entries_.push_back({hash(key), std::move(who)});
  }

  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }

  /// The identity of the key `presented`, or null when no key matches.
  const identity* find(std::string_view presented) const noexcept {
    if (presented.empty() || presented.size() > max_key_bytes) return nullptr;
    const digest h = hash(presented);
    const identity* found = nullptr;
    for (const entry& e : entries_)  // no early exit: every key costs the same
      if (sodium_memcmp(e.hash.data(), h.data(), h.size()) == 0) found = &e.who;
    return found;
  }

  /// The identity of the request's `Authorization: Bearer <key>`, or null.
  const identity* find(const http_request& request) const {
    return request.header ? find(detail::bearer_credential(request.header("Authorization"))) : nullptr;
  }

 private:
  using digest = std::array<unsigned char, crypto_generichash_BYTES>;
  struct entry {
    digest hash;
    identity who;
  };

  digest hash(std::string_view key) const noexcept {
    digest out;
    crypto_generichash(out.data(), out.size(), detail::bytes_of(key), key.size(), hash_key_.data(), hash_key_.size());
    return out;
  }

  std::array<unsigned char, crypto_generichash_KEYBYTES> hash_key_;
  std::vector<entry> entries_;
};

}  // namespace switchboard

#endif
