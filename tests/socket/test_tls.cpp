// TLS on the native transport: wss:// and https:// on one listener, plain and TLS
// listeners side by side, TLS 1.1 refused, plain text on the TLS port not served, and
// certificate files that cannot be loaded. The certificate is made at test time with the
// `openssl` command; the clients trust it alone and check that it names 127.0.0.1.
//
// The websocketpp adapter serves plain ws:// only, so these tests exist for the native
// transport only: tagged [native_only] and not compiled into socket_tests_websocketpp.
#ifndef SWITCHBOARD_TEST_WEBSOCKETPP

#include "support/test_server.hpp"
#include "support/tls_client.hpp"
#include "support/ws_test_client.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>
#include <catch2/catch.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <rapidjson/document.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

using namespace switchboard;
using namespace switchboard::test;

namespace {

tls_options server_tls() { return {test_certificate().certificate, test_certificate().private_key}; }

websocket_options tls_listener_options() {
  websocket_options options;
  options.tls = server_tls();
  return options;
}

// Adds POST /echo, which answers with the request's body.
void add_echo_route(test_server::hub_type&, server_under_test& server) {
  server.add_route("POST", "/echo", [](const switchboard::http_request& request) {
    http_response r;
    r.content_type = "application/octet-stream";
    r.body = std::string(request.body);
    return r;
  });
}

// A wss:// client: TLS connect (verifying the test certificate), the WebSocket
// handshake and the welcome frame.
struct wss_client {
  explicit wss_client(std::uint16_t port)
      : context(tls_client_context(test_certificate().certificate)), socket(context), ws(socket) {
    const std::error_code ec = socket.connect(port);
    INFO("TLS connect: " << ec.message());
    REQUIRE_FALSE(ec);
    const handshake_result hs = ws.handshake(port);
    INFO(hs.headers << hs.body);
    REQUIRE(hs.status == 101);
    welcome = ws.recv_type("welcome");
  }

  asio::ssl::context context;
  timed_tls_socket socket;
  ws_session<timed_tls_socket> ws;
  rapidjson::Document welcome;
};

std::string get(std::string_view target, std::string_view extra_headers = {}) {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + std::string(extra_headers) + "\r\n";
}

std::uint16_t listener_port(test_server& server, std::size_t listener) {
  return server.call([listener](auto&, server_under_test& s) { return s.port(listener); });
}

// The ClientHello a client context would send first: its bytes, or empty when the
// context cannot start a handshake at all.
std::string client_hello_of(asio::ssl::context& context) {
  SSL* ssl = SSL_new(context.native_handle());
  REQUIRE(ssl != nullptr);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);  // the SSL owns both now
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);  // writes the hello, then wants to read
  std::string hello(static_cast<std::size_t>(BIO_ctrl_pending(out)), '\0');
  if (!hello.empty()) BIO_read(out, &hello[0], static_cast<int>(hello.size()));
  SSL_free(ssl);
  ERR_clear_error();
  return hello;
}

}  // namespace

TEST_CASE("wss://: a TLS client opens a WebSocket, subscribes, publishes and receives", "[socket][tls][native_only]") {
  test_server server(test_config(), tls_listener_options());
  wss_client subscriber(server.port());
  wss_client publisher(server.port());
  CHECK(str(subscriber.welcome, "server").rfind("switchboard/", 0) == 0);

  REQUIRE(subscriber.ws.send_text(R"({"type":"subscribe","id":1,"topics":["tls.room"]})"));
  subscriber.ws.recv_type("ack");

  REQUIRE(publisher.ws.send_text(R"({"type":"publish","id":2,"topic":"tls.room","data":{"n":1}})"));
  const rapidjson::Document ack = publisher.ws.recv_type("ack");
  CHECK(num(ack["data"], "recipients") == 1);
  const rapidjson::Document m = subscriber.ws.recv_type("message");
  CHECK(str(m, "topic") == "tls.room");
  CHECK(num(m["data"], "n") == 1);

  // A message larger than a TLS record (16 KiB) each way.
  const std::string big(100 * 1000, 'z');
  REQUIRE(publisher.ws.send_text(R"({"type":"publish","id":3,"topic":"tls.room","data":")" + big + "\"}"));
  publisher.ws.recv_type("ack");
  const rapidjson::Document large = subscriber.ws.recv_type("message");
  CHECK(str(large, "data") == big);
  CHECK(server.connection_count() == 2);
}

TEST_CASE("https://: GET /health and other routes work over the TLS listener, with keep-alive",
          "[socket][tls][native_only]") {
  test_server server(test_config(), tls_listener_options(), add_echo_route);
  asio::ssl::context context = tls_client_context(test_certificate().certificate);
  timed_tls_socket socket(context);
  const std::error_code ec = socket.connect(server.port());
  INFO("TLS connect: " << ec.message());
  REQUIRE_FALSE(ec);
  std::string buffered;

  REQUIRE_FALSE(socket.write(get("/health")));
  const http_result health = detail_client::read_http_response(socket, buffered, default_timeout);
  INFO(health.headers << health.body);
  REQUIRE(health.status == 200);
  rapidjson::Document doc;
  doc.Parse(health.body.c_str());
  REQUIRE(doc.IsObject());
  CHECK(str(doc, "status") == "ok");

  // The same connection again, with a body spanning several TLS records.
  const std::string body(40 * 1000, 'b');
  REQUIRE_FALSE(socket.write("POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\n\r\n" + body));
  const http_result echo = detail_client::read_http_response(socket, buffered, default_timeout);
  CHECK(echo.status == 200);
  CHECK(echo.body == body);

  REQUIRE_FALSE(socket.write(get("/health", "Connection: close\r\n")));
  const http_result last = detail_client::read_http_response(socket, buffered, default_timeout);
  CHECK(last.status == 200);
  CHECK(last.header("Connection") == "close");
  CHECK(wait_for_end_of_stream(socket, buffered, std::chrono::seconds(10)));
}

TEST_CASE("plain and TLS listeners side by side: both clients receive one publish", "[socket][tls][native_only]") {
  // The options' listener is plain; the added one speaks TLS.
  test_server server(test_config(), {}, [](test_server::hub_type&, server_under_test& s) {
    s.add_listener(listener_options{"127.0.0.1", 0, server_tls()});
  });
  const std::uint16_t plain_port = server.port();
  const std::uint16_t tls_port = listener_port(server, 1);
  REQUIRE(tls_port != 0);
  REQUIRE(tls_port != plain_port);

  ws_test_client plain;
  plain.open(plain_port);
  REQUIRE(plain.send_text(R"({"type":"subscribe","id":1,"topics":["both"]})"));
  plain.recv_type("ack");
  wss_client secure(tls_port);
  REQUIRE(secure.ws.send_text(R"({"type":"subscribe","id":1,"topics":["both"]})"));
  secure.ws.recv_type("ack");

  ws_test_client publisher;
  publisher.open(plain_port);
  REQUIRE(publisher.send_text(R"({"type":"publish","id":2,"topic":"both","data":{"n":42}})"));
  const rapidjson::Document ack = publisher.recv_type("ack");
  CHECK(num(ack["data"], "recipients") == 2);

  const rapidjson::Document at_plain = plain.recv_type("message");
  const rapidjson::Document at_secure = secure.ws.recv_type("message");
  CHECK(num(at_plain["data"], "n") == 42);
  CHECK(num(at_secure["data"], "n") == 42);
  CHECK(num(at_plain, "seq") == num(at_secure, "seq"));
  // Once each: the next frame either gets is the answer to its ping.
  REQUIRE(plain.send_text(R"({"type":"ping","id":3})"));
  CHECK(num(plain.recv_type("pong"), "id") == 3);
  REQUIRE(secure.ws.send_text(R"({"type":"ping","id":3})"));
  CHECK(num(secure.ws.recv_type("pong"), "id") == 3);

  // Each port speaks only its own: TLS to the plain port fails.
  asio::ssl::context context = tls_client_context(test_certificate().certificate);
  timed_tls_socket wrong(context);
  CHECK(wrong.connect(plain_port));
}

TEST_CASE("a client that offers only TLS 1.1 is refused", "[socket][tls][native_only]") {
  test_server server(test_config(), tls_listener_options());

  asio::ssl::context old(asio::ssl::context::tls_client);
  // Security level 0: OpenSSL 3 would otherwise not even offer TLS 1.1.
  SSL_CTX_set_security_level(old.native_handle(), 0);
  REQUIRE(SSL_CTX_set_cipher_list(old.native_handle(), "DEFAULT:@SECLEVEL=0") == 1);
  REQUIRE(SSL_CTX_set_min_proto_version(old.native_handle(), TLS1_1_VERSION) == 1);
  REQUIRE(SSL_CTX_set_max_proto_version(old.native_handle(), TLS1_1_VERSION) == 1);
  old.set_verify_mode(asio::ssl::verify_none);  // a refusal must come from the server, not the certificate

  // The refusal means something only if this client does send a TLS 1.1 ClientHello:
  // record type 22, handshake type 1, client_version 3.2.
  const std::string hello = client_hello_of(old);
  REQUIRE(hello.size() > 10);
  CHECK(static_cast<unsigned char>(hello[0]) == 0x16);
  CHECK(static_cast<unsigned char>(hello[5]) == 0x01);
  CHECK(static_cast<unsigned char>(hello[9]) == 0x03);
  CHECK(static_cast<unsigned char>(hello[10]) == 0x02);

  timed_tls_socket socket(old);
  REQUIRE_FALSE(socket.tcp_connect(server.port()));
  const std::error_code ec = socket.handshake();
  INFO("handshake: " << ec.message() << " (" << ec.category().name() << " " << ec.value() << ")");
  REQUIRE(ec);
  CHECK(ec != asio::error::timed_out);
  // The server's protocol_version alert, or the connection closed: never a local failure.
  const bool alert = ec.category() == asio::error::get_ssl_category() &&
                     ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION;
  const bool closed = ec == asio::ssl::error::stream_truncated || ec == asio::error::eof ||
                      ec == asio::error::connection_reset;
  CHECK((alert || closed));

  // A current client is served afterwards.
  wss_client current(server.port());
}

TEST_CASE("plain text on the TLS port is not served, and the server goes on", "[socket][tls][native_only]") {
  test_server server(test_config(), tls_listener_options());

  SECTION("an HTTP request") {
    timed_socket raw;
    REQUIRE_FALSE(raw.connect(server.port()));
    REQUIRE_FALSE(raw.write(get("/health")));
    std::string received;
    CHECK(wait_for_end_of_stream(raw, received, std::chrono::seconds(10)));
    CHECK(received.find("HTTP/1.1") == std::string::npos);
    CHECK(received.find("status") == std::string::npos);
  }
  SECTION("a WebSocket handshake") {
    ws_test_client c;
    const handshake_result hs = c.connect(server.port());
    CHECK(hs.status != 101);
    CHECK(hs.status == 0);  // no HTTP answer at all
  }
  wss_client after(server.port());
  REQUIRE(after.ws.send_text(R"({"type":"ping","id":1})"));
  after.ws.recv_type("pong");
}

TEST_CASE("a client that never starts the TLS handshake is closed after handshake_timeout", "[socket][tls][native_only]") {
  websocket_options options = tls_listener_options();
  options.handshake_timeout = std::chrono::milliseconds(200);
  test_server server(test_config(), options);
  timed_socket raw;
  REQUIRE_FALSE(raw.connect(server.port()));
  std::string received;
  CHECK(wait_for_end_of_stream(raw, received, std::chrono::seconds(10)));
  CHECK(received.empty());
}

TEST_CASE("a TLS certificate or key that cannot be loaded makes start() throw std::runtime_error",
          "[socket][tls][native_only]") {
  const certificate_files good = test_certificate();
  certificate_directory& directory = test_certificate_directory();
  std::string bad_file;  // the path the error must name
  tls_options tls;
  bool on_added_listener = false;

  SECTION("a certificate path that does not exist") {
    tls = {directory.path() + "/no-such-cert.pem", good.private_key};
    bad_file = tls.certificate_chain_file;
  }
  SECTION("a key path that does not exist") {
    tls = {good.certificate, directory.path() + "/no-such-key.pem"};
    bad_file = tls.private_key_file;
  }
  SECTION("a certificate file that is not PEM") {
    const std::string junk = directory.file("junk.pem");
    std::ofstream(junk) << "not a certificate\n";
    tls = {junk, good.private_key};
    bad_file = junk;
  }
  SECTION("a key that does not match the certificate") {
    const certificate_files other = make_self_signed_certificate("other");
    tls = {good.certificate, other.private_key};
    bad_file = other.private_key;
  }
  SECTION("on a listener added with add_listener") {
    tls = {directory.path() + "/no-such-cert.pem", good.private_key};
    bad_file = tls.certificate_chain_file;
    on_added_listener = true;
  }

  asio::io_context io;
  hub h(io, test_config());
  websocket_options options;
  options.port = 0;
  if (!on_added_listener) options.tls = tls;
  websocket_server server(h, options);
  if (on_added_listener) server.add_listener(listener_options{"127.0.0.1", 0, tls});
  try {
    server.start();
    FAIL("start() did not throw");
  } catch (const std::system_error& e) {
    FAIL("start() threw std::system_error, not the TLS error: " << e.what());
  } catch (const std::runtime_error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(bad_file) != std::string::npos);
  }
}

#endif  // SWITCHBOARD_TEST_WEBSOCKETPP
