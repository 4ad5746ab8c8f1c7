// HTTP/1.1 request heads (RFC 9112), parsed strictly and within limits, plus the small
// text helpers every HTTP path needs. No socket here, so it can be tested and fuzzed.
#ifndef SWITCHBOARD_DETAIL_HTTP_PARSER_HPP
#define SWITCHBOARD_DETAIL_HTTP_PARSER_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace switchboard {
namespace detail {

inline char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

/// Case-insensitive ASCII comparison (header names, tokens).
inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

/// `s` without leading and trailing spaces and tabs.
inline std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// True when the comma-separated list `list` holds `token` (case-insensitive), as in
/// `Connection: keep-alive, Upgrade`.
inline bool header_list_contains(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (iequals(trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

inline int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Where percent-encoded text comes from: a query, where `+` stands for a space (as
/// browsers encode forms), or a path segment, where `+` is itself (RFC 3986).
enum class url_part : std::uint8_t { query, path };

/// Percent-decodes `s`; a `%` not followed by two hex digits stays as it is.
inline std::string url_decode(std::string_view s, url_part part = url_part::query) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && part == url_part::query) {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit_value(s[i + 1]) >= 0 && hex_digit_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit_value(s[i + 1]) * 16 + hex_digit_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

/// The decoded value of `name` in a query string; nullopt when absent.
inline std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) return url_decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

/// Splits a request target into path and query (after `?`, empty when none).
inline void split_target(std::string_view target, std::string_view& path, std::string_view& query) noexcept {
  const std::size_t q = target.find('?');
  path = target.substr(0, q);
  query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
}

/// The credential of an `Authorization: Bearer <credential>` header value (scheme
/// case-insensitive); empty for another scheme or none.
inline std::string_view bearer_credential(std::string_view authorization) noexcept {
  authorization = trim_ows(authorization);
  if (authorization.size() <= 7 || !iequals(authorization.substr(0, 7), "Bearer ")) return {};
  return trim_ows(authorization.substr(7));
}

/// One header line of a request.
struct http_field {
  std::string_view name;
  std::string_view value;  // without surrounding whitespace
};

/// A parsed request head; every view points into the parsed buffer.
struct http_request_head {
  std::string_view method;
  std::string_view target;
  int minor_version = 1;               // HTTP/1.<minor_version>
  std::vector<http_field> fields;      // cleared and refilled by each parse
  std::size_t head_size = 0;           // bytes of the head, final CRLF CRLF included
  std::uint64_t content_length = 0;    // 0 when absent

  /// The first value of header `name` (case-insensitive); empty when absent.
  std::string_view header(std::string_view name) const noexcept {
    for (const auto& f : fields)
      if (iequals(f.name, name)) return f.value;
    return {};
  }
  /// Whether the connection stays open after the response.
  bool keep_alive() const noexcept {
    const std::string_view connection = header("Connection");
    if (minor_version == 0) return header_list_contains(connection, "keep-alive");
    return !header_list_contains(connection, "close");
  }
};

/// Limits a request head must stay within.
struct http_limits {
  std::size_t max_head_bytes = 8192;     ///< request line and headers
  std::size_t max_fields = 64;           ///< header lines
  std::uint64_t max_body_bytes = 1024 * 1024;
};

/// The outcome of `parse_http_request_head`.
struct http_parse_result {
  enum status_type { incomplete, complete, failed } status = incomplete;
  int http_status = 0;           ///< for `failed`: the status to answer (400, 411, 413, 414, 431, 505)
  const char* reason = "";       ///< for `failed`: why, for the error body
  static http_parse_result fail(int http_status, const char* reason) noexcept { return {failed, http_status, reason}; }
};

inline bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A field value may hold visible characters, spaces, tabs and obs-text, nothing else.
inline bool is_field_value(std::string_view v) noexcept {
  return std::all_of(v.begin(), v.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7F);
  });
}

/// Parses the request head at the start of `buffer`. `incomplete` asks for more bytes
/// (and is already `failed` with 431 or 414 once `buffer` passes the head limit without
/// the head's end). Only CRLF line ends are accepted; obsolete line folding, a body
/// framed by `Transfer-Encoding` (411: send Content-Length), conflicting lengths, a
/// repeated Host and versions other than HTTP/1.0 and 1.1 are refused.
inline http_parse_result parse_http_request_head(std::string_view buffer, http_request_head& head,
                                                 const http_limits& limits) {
  const std::size_t end = buffer.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > limits.max_head_bytes) {
    if (end == std::string_view::npos && buffer.size() < limits.max_head_bytes) return {};
    if (buffer.substr(0, limits.max_head_bytes).find("\r\n") == std::string_view::npos)
      return http_parse_result::fail(414, "request line too long");
    return http_parse_result::fail(431, "request header too large");
  }
  head.fields.clear();
  head.head_size = end + 4;
  head.content_length = 0;
  std::string_view rest = buffer.substr(0, end + 2);  // every line ends with CRLF

  const std::size_t line_end = rest.find("\r\n");
  std::string_view line = rest.substr(0, line_end);
  rest.remove_prefix(line_end + 2);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return http_parse_result::fail(400, "malformed request line");
  head.method = line.substr(0, sp1);
  head.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (head.method.empty() || !std::all_of(head.method.begin(), head.method.end(), is_tchar))
    return http_parse_result::fail(400, "malformed method");
  if (head.target.empty() || !std::all_of(head.target.begin(), head.target.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c > 0x20 && c != 0x7F;
      }))
    return http_parse_result::fail(400, "malformed request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9')
    return http_parse_result::fail(400, "malformed HTTP version");
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
    return http_parse_result::fail(505, "only HTTP/1.0 and HTTP/1.1 are supported");
  head.minor_version = version[7] - '0';

  bool has_length = false, has_transfer_encoding = false, has_host = false;
  while (!rest.empty()) {
    const std::size_t e = rest.find("\r\n");
    line = rest.substr(0, e);
    rest.remove_prefix(e + 2);
    if (line.empty() || line.front() == ' ' || line.front() == '\t')
      return http_parse_result::fail(400, "obsolete line folding");
    const std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return http_parse_result::fail(400, "malformed header line");
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (!std::all_of(name.begin(), name.end(), is_tchar) || !is_field_value(value))
      return http_parse_result::fail(400, "malformed header line");
    if (head.fields.size() == limits.max_fields) return http_parse_result::fail(431, "too many header lines");
    head.fields.push_back({name, value});
    if (iequals(name, "Content-Length")) {
      std::uint64_t n = 0;
      if (value.empty() || value.size() > 19 || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return http_parse_result::fail(400, "malformed Content-Length");
      for (const char c : value) n = n * 10 + static_cast<std::uint64_t>(c - '0');
      if (has_length && n != head.content_length) return http_parse_result::fail(400, "conflicting Content-Length");
      has_length = true;
      head.content_length = n;
    } else if (iequals(name, "Transfer-Encoding")) {
      has_transfer_encoding = true;
    } else if (iequals(name, "Host")) {
      // RFC 9112 3.2: two Host lines make the target ambiguous, whatever the version.
      if (has_host) return http_parse_result::fail(400, "more than one Host header");
      has_host = true;
    }
  }
  if (has_transfer_encoding) {
    if (has_length) return http_parse_result::fail(400, "both Transfer-Encoding and Content-Length");
    return http_parse_result::fail(411, "bodies must have a Content-Length; Transfer-Encoding is not supported");
  }
  if (head.content_length > limits.max_body_bytes) return http_parse_result::fail(413, "request body too large");
  if (head.minor_version == 1 && head.header("Host").empty()) return http_parse_result::fail(400, "missing Host header");
  return {http_parse_result::complete, 0, ""};
}

}  // namespace detail
}  // namespace switchboard

#endif
