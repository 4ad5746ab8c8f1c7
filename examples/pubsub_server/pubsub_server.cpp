// The smallest complete switchboard server: pub/sub, direct messages, history and
// /health over WebSocket, and the HTTP API for backends, on one port, driven by the host's own io_context, with JWT
// authentication when a key is given (and challenge-response login when it can sign).
#include <switchboard/challenge_login.hpp>
#include <switchboard/dashboard.hpp>
#include <switchboard/e2e.hpp>
#include <switchboard/http_api.hpp>
#include <switchboard/jwt_auth.hpp>
#include <switchboard/rules_auth.hpp>
#ifdef SWITCHBOARD_EXAMPLE_WITH_SQLITE
#include <switchboard/sqlite_store.hpp>
#endif
#include <switchboard/switchboard.hpp>
#include <switchboard/websocket_server.hpp>
#ifdef SWITCHBOARD_EXAMPLE_WITH_WEBSOCKETPP
#include <switchboard/websocketpp_server.hpp>
#endif

#include <asio/signal_set.hpp>

#include <charconv>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace {

const char* const usage = R"(usage: pubsub_server [options]
  --bind ADDR                  address to listen on (default 127.0.0.1)
  --port N                     port (default 9002; 0 picks a free port)
  --path P                     WebSocket path (default /ws)
  --max-message-bytes N        largest client message (default 1048576)
  --max-connections-per-user N (default 5)
  --rate-limit MSGS_PER_S      per connection, 0 = off (default 1000)
  --rate-burst N               (default 2000)
  --send-queue-frames N        slow consumer limit (default 1024)
  --send-queue-bytes N         slow consumer limit (default 8388608)
  --ping-interval-ms N         heartbeat interval (default 30000)
  --ping-timeout-ms N          heartbeat timeout (default 10000)
  --store NAME                 memory (default) or sqlite: where history, seqs and directs
                               kept for offline users live
  --db PATH                    the SQLite database file (with --store sqlite; created if missing)
  --durability MODE            acknowledged (default: a publish is acked once committed) or
                               buffered (acked at once; a crash may lose the last 20 ms)
  --history N                  messages kept per topic, in either store (default 100)
  --history-max-bytes N        bytes kept per topic, oldest dropped first, in either store
                               (default 4194304; 0 = no bound)
  --history-max-age-s N        messages older than this are dropped, in either store
                               (default 0 = no age limit)
  --store-max-bytes N          bytes of history kept in all, memory store (default 67108864)
  --max-history-reply-bytes N  largest history result (default 1048576)
  --max-connections N          open WebSocket connections (default 100000)
  --max-patterns-per-connection N   wildcard patterns (default 100)
  --max-pattern-tokens N       tokens in one pattern (default 16)
  --max-write-delay-us N       longest wait to batch writes under load (default 1000; 0 = off)
  --max-flush-slice-us N       longest run of writes before reading again (default 250)
  --echo-to-publisher          deliver publishes back to their publisher
  --allow-origin ORIGIN        allowed browser origin (repeatable; default any)
  --tls-cert FILE              serve wss:// and https:// with this PEM certificate chain
  --tls-key FILE               ... and this PEM private key (both or neither)
  --handshake-timeout-ms N     time to send a complete HTTP request (default 5000)
  --transport NAME             native (default) or websocketpp, when built with it
  --jwt-hs256-secret SECRET    require HS256 JWTs keyed with SECRET's UTF-8 bytes
  --jwt-ed25519-public-key B64 require EdDSA JWTs; the key is the standard base64 of its
                               raw 32 bytes (one of the three key options; without any,
                               the insecure demo auth takes the token as the user id)
  --jwt-ed25519-secret-key B64 require EdDSA JWTs verified with this key's public half; the
                               standard base64 of the 32-byte seed or the 64-byte libsodium
                               secret key. With it or --jwt-hs256-secret the server can sign
                               tokens and serves challenge-response login on /auth/*
  --login-token-ttl-s N        lifetime of tokens from /auth/verify (default 3600, at most ten years)
  --max-registered-users N     users /auth/register may store (default 100000)
  --jwt-leeway-s N             clock skew allowed on exp and nbf (default 0)
  --jwt-issuer ISS             require this iss claim
  --jwt-audience AUD           require this aud claim (without it, tokens with aud are refused)
  --in-band-auth               a handshake without a token authenticates with an auth request
  --api-key KEY                require this key (Authorization: Bearer) on /api/*; repeatable;
                               its requests have the role "api" (without any, /api/* is open)
  --auth-timeout-ms N          time for in-band auth to succeed (default 10000)
  --rules FILE                 authorization rules (JSON, docs/security.md); without them any
                               connection may subscribe to anything and publish anywhere
  --no-dashboard               serve no dashboard at / and publish no system.stats
  --log-level LEVEL            debug, info, warn, error or off (default info): one logfmt
                               line per record on stderr, never a token, secret or payload
  --help                       this text
)";

[[noreturn]] void fail(const std::string& message) {
  std::cerr << "pubsub_server: " << message << "\n" << usage;
  std::exit(2);
}

template <class Int>
Int parse_number(std::string_view option, std::string_view text) {
  Int value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size())
    fail("option " + std::string(option) + " needs a non-negative integer, got '" + std::string(text) + "'");
  return value;
}

// The hub takes its auth policy as a template parameter, but this server picks one at
// run time from the command line: this policy holds a jwt_auth when a key was given and
// otherwise behaves as the demo auth.
class server_auth {
 public:
  server_auth() = default;
  explicit server_auth(switchboard::jwt_auth jwt) : jwt_(std::move(jwt)) {}

  switchboard::auth_result authenticate(const switchboard::handshake_info& handshake) const {
    return jwt_ ? jwt_->authenticate(handshake) : demo_.authenticate(handshake);
  }
  bool authorize(const switchboard::identity& who, switchboard::action what, std::string_view target) const {
    return jwt_ ? jwt_->authorize(who, what, target) : demo_.authorize(who, what, target);
  }

 private:
  std::optional<switchboard::jwt_auth> jwt_;
  switchboard::insecure_token_auth demo_;
};

// --rules, when given, restrict whichever of the two authenticates. The hooks count
// publishes per topic (bounded) for the dashboard's busiest topics.
using server_policy = switchboard::rules_auth<server_auth>;
using memory_hub = switchboard::basic_hub<switchboard::policies<server_policy, switchboard::memory_store,
                                                                switchboard::no_user_data, switchboard::topic_rate_sampler>>;
#ifdef SWITCHBOARD_EXAMPLE_WITH_SQLITE
using sqlite_hub = switchboard::basic_hub<switchboard::policies<server_policy, switchboard::sqlite_store,
                                                                switchboard::no_user_data, switchboard::topic_rate_sampler>>;
#endif

// What the command line decided, beyond the hub's config.
struct server_setup {
  switchboard::websocket_options options;
  std::string transport = "native";
  switchboard::http_api_options api;
  std::optional<switchboard::jwt_key> login_key;  // the key that signs login tokens
  std::optional<std::uint32_t> login_token_ttl_s;
  switchboard::jwt_verify_options jwt_options;
  bool dashboard = true;
  switchboard::log_level log_level = switchboard::log_level::info;
};

const char* const demo_auth_warning = R"(pubsub_server: WARNING: INSECURE DEMO AUTH. No JWT key was given (--jwt-hs256-secret or
pubsub_server: WARNING: --jwt-ed25519-public-key), so the handshake token is taken as the
pubsub_server: WARNING: user id: anyone can connect as anyone and read their direct messages.
pubsub_server: WARNING: Never expose this server beyond a development machine.
)";

// Serves `hub` on the transports the command line asked for until SIGINT or SIGTERM.
template <class Hub>
int serve(asio::io_context& io, Hub& hub, server_setup& setup) {
  // Before the transports start, so that their first records (listening) are written. One
  // write per line: lines from this process never interleave.
  hub.set_log_hook(setup.log_level, [line = std::string()](const switchboard::log_record& record) mutable {
    line.clear();
    switchboard::append_log_line(line, record, std::chrono::system_clock::now());
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
  });
  // Either transport behind the same three calls: start, port, shutdown.
  std::unique_ptr<switchboard::websocket_server> native;
#ifdef SWITCHBOARD_EXAMPLE_WITH_WEBSOCKETPP
  std::unique_ptr<switchboard::websocketpp_server> adapter;
#endif
  std::uint16_t port = 0;
  switchboard::dashboard_options dashboard_options;
  dashboard_options.websocket_path = setup.options.path;
  std::optional<switchboard::stats_publisher> stats;
  try {
#ifdef SWITCHBOARD_EXAMPLE_WITH_WEBSOCKETPP
    if (setup.transport == "websocketpp") {
      adapter = std::make_unique<switchboard::websocketpp_server>(hub, setup.options);
      switchboard::add_http_api(hub, *adapter, std::move(setup.api));
      if (setup.dashboard) stats = switchboard::add_dashboard(hub, *adapter, dashboard_options);
      adapter->start();
      port = adapter->port();
    }
#endif
    if (setup.transport == "native") {
      native = std::make_unique<switchboard::websocket_server>(hub, setup.options);
      switchboard::add_http_api(hub, *native, std::move(setup.api));
      if (setup.dashboard) stats = switchboard::add_dashboard(hub, *native, dashboard_options);
      native->start();
      port = native->port();
    }
  } catch (const std::exception& ex) {
    std::cerr << "pubsub_server: " << ex.what() << "\n";
    return 1;
  }

  // Challenge-response login issues tokens this server accepts, so it needs the key
  // that signs them; the tokens carry the issuer and audience the verifier requires.
  if (setup.login_key) {
    switchboard::challenge_login_options login_options;
    if (setup.login_token_ttl_s) login_options.token_ttl = std::chrono::seconds(*setup.login_token_ttl_s);
    login_options.issuer = setup.jwt_options.issuer;
    login_options.audience = setup.jwt_options.audience;
    const switchboard::challenge_login login{hub, *setup.login_key, login_options};
    if (native) login.add_routes(*native);
#ifdef SWITCHBOARD_EXAMPLE_WITH_WEBSOCKETPP
    if (adapter) login.add_routes(*adapter);
#endif
    // Publishes carrying `sig` are checked against the keys users register here.
    switchboard::verify_signed_publishes(hub);
    std::cerr << "pubsub_server: login: Ed25519 challenge-response on POST /auth/register, /auth/challenge, "
                 "/auth/verify and GET /auth/keys/{user}; tokens last "
              << login_options.token_ttl.count() << " s; signed publishes verified\n";
  } else {
    std::cerr << "pubsub_server: login: off (/auth/* needs a key that signs: --jwt-hs256-secret or "
                 "--jwt-ed25519-secret-key)\n";
  }

  // SIGINT/SIGTERM: close every client with 1001, then run() returns when they are gone.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const std::error_code& ec, int) {
    if (ec) return;
    if (stats) stats->stop();
    if (native) native->shutdown();
#ifdef SWITCHBOARD_EXAMPLE_WITH_WEBSOCKETPP
    if (adapter) adapter->shutdown();
#endif
  });

  const char* scheme = setup.options.tls.enabled() ? "wss" : "ws";
  std::cout << "switchboard listening on " << scheme << "://" << setup.options.bind << ":" << port << setup.options.path << std::endl;
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  switchboard::config cfg;
  switchboard::websocket_options options;
  std::string transport = "native";
  std::optional<std::string> jwt_secret, jwt_public_key, jwt_secret_key;
  std::optional<std::uint32_t> login_token_ttl_s;
  std::optional<std::uint32_t> jwt_leeway_s;
  switchboard::jwt_verify_options jwt_options;
  switchboard::http_api_options api;
  std::optional<std::string> rules_file;
  std::string store = "memory";
  std::string db_path;
  std::optional<std::string> durability_name;
  std::size_t history_max_bytes = 4u << 20;
  std::chrono::seconds history_max_age{0};
  server_setup setup;

  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    }
    if (arg == "--echo-to-publisher") {
      cfg.echo_to_publisher = true;
      continue;
    }
    if (arg == "--in-band-auth") {
      cfg.in_band_auth = true;
      continue;
    }
    if (arg == "--no-dashboard") {
      setup.dashboard = false;
      continue;
    }
    if (i + 1 >= argc) fail("option " + std::string(arg) + " needs a value");
    const std::string_view value = argv[++i];
    if (arg == "--bind") options.bind = std::string(value);
    else if (arg == "--port") options.port = parse_number<std::uint16_t>(arg, value);
    else if (arg == "--path") options.path = std::string(value);
    else if (arg == "--max-message-bytes") cfg.max_message_bytes = parse_number<std::size_t>(arg, value);
    else if (arg == "--max-connections-per-user") cfg.max_connections_per_user = parse_number<std::size_t>(arg, value);
    else if (arg == "--rate-limit") cfg.rate_limit = static_cast<double>(parse_number<std::uint64_t>(arg, value));
    else if (arg == "--rate-burst") cfg.rate_burst = static_cast<double>(parse_number<std::uint64_t>(arg, value));
    else if (arg == "--send-queue-frames") cfg.send_queue_frames = parse_number<std::size_t>(arg, value);
    else if (arg == "--send-queue-bytes") cfg.send_queue_bytes = parse_number<std::size_t>(arg, value);
    else if (arg == "--ping-interval-ms") cfg.ping_interval = std::chrono::milliseconds(parse_number<std::uint32_t>(arg, value));
    else if (arg == "--ping-timeout-ms") cfg.ping_timeout = std::chrono::milliseconds(parse_number<std::uint32_t>(arg, value));
    else if (arg == "--history") cfg.history_size = parse_number<std::size_t>(arg, value);
    else if (arg == "--history-max-bytes") history_max_bytes = parse_number<std::size_t>(arg, value);
    else if (arg == "--history-max-age-s") history_max_age = std::chrono::seconds(parse_number<std::uint32_t>(arg, value));
    else if (arg == "--store-max-bytes") cfg.store_max_bytes = parse_number<std::size_t>(arg, value);
    else if (arg == "--max-history-reply-bytes") cfg.max_history_reply_bytes = parse_number<std::size_t>(arg, value);
    else if (arg == "--max-connections") cfg.max_connections = parse_number<std::size_t>(arg, value);
    else if (arg == "--max-patterns-per-connection") cfg.max_patterns_per_connection = parse_number<std::size_t>(arg, value);
    else if (arg == "--max-pattern-tokens") cfg.max_pattern_tokens = parse_number<std::size_t>(arg, value);
    else if (arg == "--max-write-delay-us") cfg.max_write_delay = std::chrono::microseconds(parse_number<std::uint32_t>(arg, value));
    else if (arg == "--max-flush-slice-us") cfg.max_flush_slice = std::chrono::microseconds(parse_number<std::uint32_t>(arg, value));
    else if (arg == "--allow-origin") options.allowed_origins.emplace_back(value);
    else if (arg == "--tls-cert") options.tls.certificate_chain_file = std::string(value);
    else if (arg == "--tls-key") options.tls.private_key_file = std::string(value);
    else if (arg == "--handshake-timeout-ms") options.handshake_timeout = std::chrono::milliseconds(parse_number<std::uint32_t>(arg, value));
    else if (arg == "--transport") transport = std::string(value);
    else if (arg == "--jwt-hs256-secret") jwt_secret = std::string(value);
    else if (arg == "--jwt-ed25519-public-key") jwt_public_key = std::string(value);
    else if (arg == "--jwt-ed25519-secret-key") jwt_secret_key = std::string(value);
    else if (arg == "--login-token-ttl-s") login_token_ttl_s = parse_number<std::uint32_t>(arg, value);
    else if (arg == "--max-registered-users") cfg.max_registered_users = parse_number<std::size_t>(arg, value);
    else if (arg == "--jwt-leeway-s") jwt_leeway_s = parse_number<std::uint32_t>(arg, value);
    else if (arg == "--jwt-issuer") jwt_options.issuer = std::string(value);
    else if (arg == "--jwt-audience") jwt_options.audience = std::string(value);
    else if (arg == "--api-key") {
      try {
        api.keys.add(value, switchboard::identity{std::nullopt, {"api"}});
      } catch (const std::invalid_argument& ex) {
        fail("--api-key: " + std::string(ex.what()));
      }
    }
    else if (arg == "--auth-timeout-ms") cfg.auth_timeout = std::chrono::milliseconds(parse_number<std::uint32_t>(arg, value));
    else if (arg == "--rules") rules_file = std::string(value);
    else if (arg == "--store") store = std::string(value);
    else if (arg == "--db") db_path = std::string(value);
    else if (arg == "--durability") durability_name = std::string(value);
    else if (arg == "--log-level") {
      const auto level = switchboard::parse_log_level(value);
      if (!level) fail("--log-level is debug, info, warn, error or off");
      setup.log_level = *level;
    }
    else fail("unknown option " + std::string(arg));
  }
  if (options.path.empty() || options.path.front() != '/') fail("--path must start with '/'");
  if (store != "memory" && store != "sqlite") fail("--store is memory or sqlite");
  if (store == "sqlite" && db_path.empty()) fail("--store sqlite needs --db PATH");
  if (store != "sqlite" && (!db_path.empty() || durability_name)) fail("--db and --durability go with --store sqlite");
  if (durability_name && *durability_name != "acknowledged" && *durability_name != "buffered")
    fail("--durability is acknowledged or buffered");
#ifdef SWITCHBOARD_EXAMPLE_WITH_SQLITE
  const switchboard::durability durability = durability_name && *durability_name == "buffered"
                                                 ? switchboard::durability::buffered
                                                 : switchboard::durability::acknowledged;
#endif
  if (options.tls.certificate_chain_file.empty() != options.tls.private_key_file.empty())
    fail("--tls-cert and --tls-key go together");
#ifdef SWITCHBOARD_EXAMPLE_WITH_WEBSOCKETPP
  if (transport != "native" && transport != "websocketpp") fail("--transport is native or websocketpp");
#else
  if (transport != "native") fail("--transport websocketpp needs a build with SWITCHBOARD_WITH_WEBSOCKETPP=ON");
#endif

  const bool jwt_configured = jwt_secret || jwt_public_key || jwt_secret_key;
  if (static_cast<int>(jwt_secret.has_value()) + static_cast<int>(jwt_public_key.has_value()) +
          static_cast<int>(jwt_secret_key.has_value()) > 1)
    fail("give one of --jwt-hs256-secret, --jwt-ed25519-public-key and --jwt-ed25519-secret-key");
  if (!jwt_configured && (jwt_leeway_s || jwt_options.issuer || jwt_options.audience))
    fail("--jwt-leeway-s, --jwt-issuer and --jwt-audience need a JWT key option");
  if (login_token_ttl_s && !jwt_secret && !jwt_secret_key)
    fail("--login-token-ttl-s needs a key that signs: --jwt-hs256-secret or --jwt-ed25519-secret-key");
  if (login_token_ttl_s && (*login_token_ttl_s == 0 || *login_token_ttl_s > 10 * 365 * 24 * 3600u))
    fail("--login-token-ttl-s must be positive and at most ten years");
  std::optional<switchboard::access_rules> rules;
  if (rules_file) {
    switchboard::access_rules_result loaded = switchboard::load_access_rules_file(*rules_file);
    if (!loaded) {
      std::cerr << "pubsub_server: --rules " << loaded.error << "\n";
      return 2;
    }
    rules = std::move(loaded.rules);
    std::cerr << "pubsub_server: authorization: " << rules->size() << " rules from " << *rules_file << "\n";
  }

  server_auth auth;
  // The key that signs login tokens: the verification key itself, when it can sign.
  std::optional<switchboard::jwt_key> login_key;
  if (jwt_configured) {
    if (jwt_leeway_s) jwt_options.leeway = std::chrono::seconds(*jwt_leeway_s);
    const char* const key_option = jwt_secret       ? "--jwt-hs256-secret"
                                   : jwt_secret_key ? "--jwt-ed25519-secret-key"
                                                    : "--jwt-ed25519-public-key";
    try {
      switchboard::jwt_key key = jwt_secret       ? switchboard::jwt_key::hs256(*jwt_secret)
                                 : jwt_secret_key ? switchboard::jwt_key::ed25519_secret_key_base64(*jwt_secret_key)
                                                  : switchboard::jwt_key::ed25519_public_key_base64(*jwt_public_key);
      if (key.can_sign()) login_key = key;
      auth = server_auth(switchboard::jwt_auth(switchboard::jwt_verifier(std::move(key), jwt_options)));
    } catch (const std::invalid_argument& ex) {
      fail(std::string(key_option) + ": " + ex.what());
    }
    // A short secret can be guessed offline from any one token.
    if (jwt_secret && jwt_secret->size() < 32)
      std::cerr << "pubsub_server: warning: the HS256 secret is shorter than 32 bytes; use at least 32 random bytes\n";
    std::cerr << "pubsub_server: auth: JWT (" << (jwt_secret ? "HS256" : "EdDSA") << "), a token is required\n";
  } else {
    std::cerr << demo_auth_warning << std::flush;
  }

  if (setup.dashboard && !rules)
    std::cerr << "pubsub_server: warning: the dashboard at / and its system.stats are readable by anyone who can "
                 "connect; with --rules, only by the roles the rules allow (docs/dashboard.md), or --no-dashboard\n";

  if (api.keys.empty())
    std::cerr << "pubsub_server: warning: no --api-key: anyone who reaches the port may use /api/* (publish, direct)\n";

  // The host owns the event loop; the hub and the server only schedule work on it.
  asio::io_context io;
  server_policy policy(std::move(auth), std::move(rules));
  setup.options = options;
  setup.transport = transport;
  setup.api = std::move(api);
  setup.login_key = login_key;
  setup.login_token_ttl_s = login_token_ttl_s;
  setup.jwt_options = jwt_options;
  if (store == "memory") {
    switchboard::memory_store::options kept = switchboard::memory_store::options_from(cfg);
    kept.history_max_bytes = history_max_bytes;
    kept.history_max_age = history_max_age;
    memory_hub hub{io, cfg, std::move(policy), switchboard::memory_store(kept)};
    return serve(io, hub, setup);
  }
#ifdef SWITCHBOARD_EXAMPLE_WITH_SQLITE
  switchboard::sqlite_store::options db;
  db.path = db_path;
  db.mode = durability;
  db.history_size = cfg.history_size;
  db.history_max_bytes = history_max_bytes;
  db.history_max_age = history_max_age;
  std::optional<sqlite_hub> hub;
  try {
    hub.emplace(io, cfg, std::move(policy), switchboard::sqlite_store(io, db));
  } catch (const std::exception& ex) {
    std::cerr << "pubsub_server: " << ex.what() << "\n";
    return 1;
  }
  std::cerr << "pubsub_server: store: SQLite " << db_path << " ("
            << (durability == switchboard::durability::acknowledged ? "acknowledged" : "buffered") << ")\n";
  return serve(io, *hub, setup);
#else
  fail("--store sqlite needs a build with SQLite (libsqlite3-dev)");
#endif
}
