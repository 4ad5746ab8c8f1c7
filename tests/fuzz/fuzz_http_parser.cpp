// libFuzzer target for parse_http_request_head: whatever the bytes, the parse stays
// within the buffer and the limits, and parsing as the bytes arrive (every prefix)
// never decides anything the whole buffer would decide differently.
//
// Input: byte 0 picks the limits; the rest is what the client sent.
#include <switchboard/detail/http_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using switchboard::detail::header_list_contains;
using switchboard::detail::http_limits;
using switchboard::detail::http_parse_result;
using switchboard::detail::http_request_head;
using switchboard::detail::iequals;
using switchboard::detail::is_tchar;
using switchboard::detail::parse_http_request_head;
using switchboard::detail::query_param;
using switchboard::detail::split_target;
using switchboard::detail::url_decode;

namespace {

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

bool inside(std::string_view view, std::string_view buffer) {
  return view.data() >= buffer.data() && view.data() + view.size() <= buffer.data() + buffer.size();
}

bool has_surrounding_space(std::string_view v) {
  return !v.empty() && (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t');
}

void check_result(std::string_view buffer, const http_parse_result& r, const http_request_head& head,
                  const http_limits& limits) {
  if (r.status == http_parse_result::failed) {
    const int s = r.http_status;
    require(s == 400 || s == 411 || s == 413 || s == 414 || s == 431 || s == 505, "an unexpected status");
    require(r.reason != nullptr && *r.reason != '\0', "a refusal without a reason");
    return;
  }
  if (r.status == http_parse_result::incomplete) {
    require(buffer.size() < limits.max_head_bytes, "incomplete past the head limit");
    require(buffer.find("\r\n\r\n") == std::string_view::npos, "incomplete with the head's end in the buffer");
    return;
  }
  require(r.status == http_parse_result::complete, "an unknown status");
  require(head.head_size >= 4 && head.head_size <= buffer.size(), "head_size outside the buffer");
  require(head.head_size <= limits.max_head_bytes, "a head over max_head_bytes");
  require(buffer.substr(0, head.head_size).find("\r\n\r\n") == head.head_size - 4, "the head does not end at its first blank line");
  require(head.fields.size() <= limits.max_fields, "more fields than max_fields");
  require(head.content_length <= limits.max_body_bytes, "a body over max_body_bytes");
  require(head.minor_version == 0 || head.minor_version == 1, "a version other than 1.0 or 1.1");
  const std::string_view h = buffer.substr(0, head.head_size);
  require(inside(head.method, h) && inside(head.target, h), "a request line view outside the head");
  require(!head.method.empty() && !head.target.empty(), "an empty method or target");
  for (char c : head.method) require(is_tchar(c), "a method that is not a token");
  for (char c : head.target) require(static_cast<unsigned char>(c) > 0x20 && c != 0x7F, "a target with spaces or controls");
  std::size_t hosts = 0;
  for (const auto& f : head.fields) {
    require(inside(f.name, h) && inside(f.value, h), "a field view outside the head");
    require(!f.name.empty(), "an empty field name");
    for (char c : f.name) require(is_tchar(c), "a field name that is not a token");
    require(!has_surrounding_space(f.value), "a field value with surrounding whitespace");
    for (char c : f.value) require(c != '\r' && c != '\n' && c != '\0', "a field value with CR, LF or NUL");
    require(head.header(f.name).data() != nullptr, "a field that header() cannot find");
    require(!iequals(f.name, "Transfer-Encoding"), "Transfer-Encoding accepted");
    hosts += iequals(f.name, "Host");
  }
  require(hosts <= 1, "more than one Host");
  if (head.minor_version == 1) require(!head.header("Host").empty(), "HTTP/1.1 without Host");

  // The helpers the server runs on every request must hold up on whatever got through.
  std::string_view path, query;
  split_target(head.target, path, query);
  const bool has_query = head.target.find('?') != std::string_view::npos;
  require(path.data() == head.target.data() && path.size() + has_query + query.size() == head.target.size(),
          "split_target lost or added bytes");
  const std::string decoded = url_decode(query);
  require(decoded.size() <= query.size(), "url_decode grew its input");
  (void)query_param(query, "token");
  (void)head.keep_alive();
  (void)header_list_contains(head.header("Connection"), "upgrade");
}

const http_limits limit_choices[4] = {
    {8192, 64, 1024 * 1024},  // the defaults
    {64, 4, 16},
    {200, 1, 0},
    {4096, 0, ~std::uint64_t(0)},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const http_limits& limits = limit_choices[data[0] & 3];
  const std::string_view buffer(reinterpret_cast<const char*>(data + 1), size - 1);

  http_request_head head;
  const http_parse_result whole = parse_http_request_head(buffer, head, limits);
  check_result(buffer, whole, head, limits);

  // As the bytes arrive: once a prefix decides (complete or failed), the whole buffer
  // decides the same; before that, every prefix is incomplete. All prefixes of short
  // inputs, and a sample plus the ones around the head's end of long ones.
  http_request_head partial;
  const auto check_prefix = [&](std::size_t n) {
    const std::string_view prefix = buffer.substr(0, n);
    const http_parse_result r = parse_http_request_head(prefix, partial, limits);
    check_result(prefix, r, partial, limits);
    if (r.status == http_parse_result::incomplete) return;
    require(r.status == whole.status && r.http_status == whole.http_status, "a prefix decided otherwise");
    if (r.status == http_parse_result::complete) {
      require(partial.head_size == head.head_size, "a prefix gave another head_size");
      require(partial.fields.size() == head.fields.size() && partial.content_length == head.content_length,
              "a prefix gave another head");
    }
  };
  const std::size_t step = buffer.size() <= 512 ? 1 : buffer.size() / 64;
  for (std::size_t n = 0; n < buffer.size(); n += step) check_prefix(n);
  if (whole.status == http_parse_result::complete) {
    check_prefix(head.head_size);
    const http_parse_result r = parse_http_request_head(buffer.substr(0, head.head_size - 1), partial, limits);
    require(r.status == http_parse_result::incomplete, "complete one byte before the head's end");
  }
  return 0;
}
