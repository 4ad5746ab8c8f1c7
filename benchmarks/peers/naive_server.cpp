// A straightforward websocketpp pub/sub server: the baseline switchboard is compared with.
//
// It speaks the subscribe / publish / message subset of the protocol the way a first
// implementation would: parse each frame into values, and for every recipient call
// websocketpp's send(), which copies and frames the message once per recipient and
// queues it without bound. Logging is off and TCP_NODELAY is set, so what remains is
// the cost of that design, not of its configuration.
//
// Usage: naive_server [--bind 127.0.0.1] [--port 9003] [--path /ws]   (port 0: any free port)

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#ifndef _WEBSOCKETPP_CPP11_STL_
#define _WEBSOCKETPP_CPP11_STL_
#endif

#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

namespace {

using server = websocketpp::server<websocketpp::config::asio>;
using hdl_set = std::set<websocketpp::connection_hdl, std::owner_less<websocketpp::connection_hdl>>;

// The fields of a client frame this server understands, read in one SAX pass.
// `data` is found afterwards by `find_data`, as the exact bytes the publisher sent.
struct request {
  std::string type;
  std::string id_json;  // the id re-encoded as JSON (number or string); empty when absent
  std::string topic;
  std::vector<std::string> topics;
  std::string_view data;
};

class request_handler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, request_handler> {
 public:
  explicit request_handler(request& out) : out_(out) {}

  bool Null() { return scalar(); }
  bool Bool(bool) { return scalar(); }
  bool Int(int i) { return number(std::to_string(i)); }
  bool Uint(unsigned u) { return number(std::to_string(u)); }
  bool Int64(std::int64_t i) { return number(std::to_string(i)); }
  bool Uint64(std::uint64_t u) { return number(std::to_string(u)); }
  bool Double(double) { return scalar(); }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return scalar(); }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 1) {
      if (key_ == "type") out_.type.assign(s, n);
      if (key_ == "topic") out_.topic.assign(s, n);
      if (key_ == "id") {
        rapidjson::StringBuffer buffer;
        rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
        writer.String(s, n);
        out_.id_json = buffer.GetString();
      }
    } else if (depth_ == 2 && in_topics_) {
      out_.topics.emplace_back(s, n);
    }
    return scalar();
  }
  bool StartObject() { return open(); }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 1) key_.assign(s, n);
    return true;
  }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() {
    if (depth_ == 1 && key_ == "topics") in_topics_ = true;
    return open();
  }
  bool EndArray(rapidjson::SizeType) {
    in_topics_ = false;
    return close();
  }

 private:
  bool open() {
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }
  bool scalar() { return true; }
  bool number(std::string text) {
    if (depth_ == 1 && key_ == "id") out_.id_json = std::move(text);
    return true;
  }

  request& out_;
  int depth_ = 0;
  std::string key_;
  bool in_topics_ = false;
};

// Skips the JSON value at `p` (known to be valid) and returns the position after it.
const char* skip_value(const char* p) {
  int depth = 0;
  bool in_string = false;
  for (;; ++p) {
    const char c = *p;
    if (in_string) {
      if (c == '\\') {
        ++p;
      } else if (c == '"') {
        in_string = false;
        if (depth == 0) return p + 1;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth <= 0) return depth == 0 ? p + 1 : p;
    } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0')) {
      return p;
    }
  }
}

const char* skip_space(const char* p) {
  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') ++p;
  return p;
}

// The exact bytes of the top-level member `data` of a valid JSON object, so the
// publisher's value is forwarded without re-encoding it.
std::string_view find_data(const char* p) {
  p = skip_space(p);
  if (*p != '{') return {};
  p = skip_space(p + 1);
  while (*p == '"') {
    const char* key_end = skip_value(p);
    const bool is_data = std::string_view(p, static_cast<std::size_t>(key_end - p)) == "\"data\"";
    p = skip_space(skip_space(key_end) + 1);  // past the colon
    const char* value_end = skip_value(p);
    if (is_data) return {p, static_cast<std::size_t>(value_end - p)};
    p = skip_space(value_end);
    if (*p != ',') break;
    p = skip_space(p + 1);
  }
  return {};
}

bool parse_request(const std::string& text, request& out) {
  rapidjson::StringStream stream(text.c_str());
  request_handler handler(out);
  rapidjson::Reader reader;
  if (reader.Parse(stream, handler).IsError()) return false;
  if (out.type == "publish") out.data = find_data(text.c_str());
  return true;
}

std::string json_string(const std::string& s) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return buffer.GetString();
}

// A flooded server may have millions of handlers queued; a signal delivered through
// the loop would wait behind them. A benchmark peer has nothing to save: leave now.
extern "C" void exit_now(int) { std::_Exit(0); }

class naive_server {
 public:
  naive_server(const std::string& bind, std::uint16_t port, std::string path) : path_(std::move(path)) {
    endpoint_.clear_access_channels(websocketpp::log::alevel::all);
    endpoint_.clear_error_channels(websocketpp::log::elevel::all);
    endpoint_.init_asio();
    endpoint_.set_reuse_addr(true);
    endpoint_.set_listen_backlog(4096);
    endpoint_.set_socket_init_handler([](websocketpp::connection_hdl, asio::ip::tcp::socket& s) {
      asio::error_code ec;
      s.set_option(asio::ip::tcp::no_delay(true), ec);
    });
    endpoint_.set_validate_handler([this](websocketpp::connection_hdl h) {
      const std::string resource = endpoint_.get_con_from_hdl(h)->get_resource();
      return resource == path_ || resource.compare(0, path_.size() + 1, path_ + "?") == 0;
    });
    endpoint_.set_message_handler([this](websocketpp::connection_hdl h, server::message_ptr m) { on_message(h, m); });
    endpoint_.set_close_handler([this](websocketpp::connection_hdl h) { on_close(h); });
    endpoint_.set_fail_handler([this](websocketpp::connection_hdl h) { on_close(h); });
    endpoint_.listen(asio::ip::tcp::endpoint(asio::ip::make_address(bind), port));
    endpoint_.start_accept();
  }

  std::uint16_t port() {
    asio::error_code ec;
    return endpoint_.get_local_endpoint(ec).port();
  }

  void run() { endpoint_.run(); }

 private:
  void on_message(websocketpp::connection_hdl h, server::message_ptr m) {
    if (m->get_opcode() != websocketpp::frame::opcode::text) return;
    request req;
    if (!parse_request(m->get_payload(), req)) {
      send(h, R"({"type":"error","id":null,"code":"bad_json","message":"not JSON"})");
      return;
    }
    const std::string id = req.id_json.empty() ? "null" : req.id_json;
    if (req.type == "subscribe" || req.type == "unsubscribe") {
      const bool subscribe = req.type == "subscribe";
      std::string topics_json;
      for (const std::string& topic : req.topics) {
        if (subscribe) {
          subscribers_[topic].insert(h);
          topics_of_[h].insert(topic);
        } else {
          auto found = subscribers_.find(topic);
          if (found != subscribers_.end()) found->second.erase(h);
          topics_of_[h].erase(topic);
        }
        if (!topics_json.empty()) topics_json += ',';
        topics_json += json_string(topic) + R"(:{"seq":)" + std::to_string(seq_[topic]) + R"(,"epoch":"naive"})";
      }
      if (!req.id_json.empty()) {
        send(h, subscribe ? R"({"type":"ack","id":)" + id + R"(,"data":{"topics":{)" + topics_json + "}}}"
                          : R"({"type":"ack","id":)" + id + "}");
      }
    } else if (req.type == "publish") {
      if (req.topic.empty() || req.data.empty()) {
        send(h, R"({"type":"error","id":)" + id + R"(,"code":"bad_request","message":"topic and data required"})");
        return;
      }
      const std::uint64_t seq = ++seq_[req.topic];
      std::string frame = R"({"type":"message","topic":)";
      frame += json_string(req.topic);
      frame += R"(,"seq":)";
      frame += std::to_string(seq);
      frame += R"(,"from":null,"data":)";
      frame.append(req.data.data(), req.data.size());
      frame += '}';
      std::size_t recipients = 0;
      auto found = subscribers_.find(req.topic);
      if (found != subscribers_.end()) {
        // The naive part: one send() per recipient, each copying the frame into its
        // own message and queueing it with no limit.
        for (const auto& subscriber : found->second) {
          if (!subscriber.owner_before(h) && !h.owner_before(subscriber)) continue;
          websocketpp::lib::error_code ec;
          endpoint_.send(subscriber, frame, websocketpp::frame::opcode::text, ec);
          if (!ec) ++recipients;
        }
      }
      if (!req.id_json.empty()) {
        send(h, R"({"type":"ack","id":)" + id + R"(,"data":{"seq":)" + std::to_string(seq) + R"(,"recipients":)" +
                    std::to_string(recipients) + "}}");
      }
    } else if (req.type == "ping") {
      send(h, req.id_json.empty() ? std::string(R"({"type":"pong"})") : R"({"type":"pong","id":)" + id + "}");
    } else {
      send(h, R"({"type":"error","id":)" + id + R"(,"code":"unknown_type","message":"unknown type"})");
    }
  }

  void on_close(websocketpp::connection_hdl h) {
    auto found = topics_of_.find(h);
    if (found == topics_of_.end()) return;
    for (const std::string& topic : found->second) {
      auto subscribers = subscribers_.find(topic);
      if (subscribers == subscribers_.end()) continue;
      subscribers->second.erase(h);
      if (subscribers->second.empty()) subscribers_.erase(subscribers);
    }
    topics_of_.erase(found);
  }

  void send(websocketpp::connection_hdl h, const std::string& text) {
    websocketpp::lib::error_code ec;
    endpoint_.send(h, text, websocketpp::frame::opcode::text, ec);
  }

  server endpoint_;
  std::string path_;
  std::map<std::string, hdl_set> subscribers_;
  std::map<websocketpp::connection_hdl, std::set<std::string>, std::owner_less<websocketpp::connection_hdl>>
      topics_of_;
  std::map<std::string, std::uint64_t> seq_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string bind = "127.0.0.1";
  std::string path = "/ws";
  long port = 9003;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 < argc && arg == "--bind") {
      bind = argv[++i];
    } else if (i + 1 < argc && arg == "--port") {
      port = std::strtol(argv[++i], nullptr, 10);
    } else if (i + 1 < argc && arg == "--path") {
      path = argv[++i];
    } else {
      std::fprintf(stderr, "usage: naive_server [--bind ADDR] [--port N] [--path P]\n");
      return 2;
    }
  }
  if (port < 0 || port > 65535) {
    std::fprintf(stderr, "naive_server: bad port\n");
    return 2;
  }
  // Thousands of idle connections need thousands of descriptors.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, exit_now);
  std::signal(SIGTERM, exit_now);
  try {
    naive_server s(bind, static_cast<std::uint16_t>(port), path);
    std::printf("naive_server listening on ws://%s:%u%s\n", bind.c_str(), static_cast<unsigned>(s.port()),
                path.c_str());
    std::fflush(stdout);
    s.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "naive_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
