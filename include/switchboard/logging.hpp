// Operational logging: levels, records with an event name and structured fields, the
// hook a host installs, and a logfmt formatter. Security events have their own hook
// (audit.hpp); a hub also logs them, at warn, through the same path as everything else.
#ifndef SWITCHBOARD_LOGGING_HPP
#define SWITCHBOARD_LOGGING_HPP

#include <switchboard/audit.hpp>
#include <switchboard/detail/utf8.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace switchboard {

/// Severity of a log record, lowest first. `off` is a threshold only: no record has it.
enum class log_level : std::uint8_t { debug, info, warn, error, off };

/// "debug", "info", "warn", "error" or "off".
constexpr std::string_view log_level_name(log_level level) noexcept {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "off";
}

/// The level named `name` (as `log_level_name` spells it; "warning" too), or nothing.
constexpr std::optional<log_level> parse_log_level(std::string_view name) noexcept {
  if (name == "debug") return log_level::debug;
  if (name == "info") return log_level::info;
  if (name == "warn" || name == "warning") return log_level::warn;
  if (name == "error") return log_level::error;
  if (name == "off") return log_level::off;
  return std::nullopt;
}

/// The value of one field: a string, an integer, a boolean, or nothing (the field is
/// left out when formatted). Holds a view: a string value must outlive the record,
/// which a temporary does for the duration of the `logger::write` call it appears in.
class log_value {
 public:
  enum class kind : std::uint8_t { none, string, unsigned_integer, signed_integer, boolean };

  constexpr log_value() noexcept = default;
  constexpr log_value(std::string_view text) noexcept : kind_(kind::string), text_(text) {}
  constexpr log_value(const char* text) noexcept : kind_(kind::string), text_(text) {}
  log_value(const std::string& text) noexcept : kind_(kind::string), text_(text) {}
  constexpr log_value(bool b) noexcept : kind_(kind::boolean), unsigned_(b ? 1 : 0) {}
  template <class T, std::enable_if_t<std::is_integral<T>::value && std::is_unsigned<T>::value &&
                                          !std::is_same<T, bool>::value && !std::is_same<T, char>::value,
                                      int> = 0>
  constexpr log_value(T n) noexcept : kind_(kind::unsigned_integer), unsigned_(n) {}
  template <class T, std::enable_if_t<std::is_integral<T>::value && std::is_signed<T>::value &&
                                          !std::is_same<T, char>::value,
                                      int> = 0>
  constexpr log_value(T n) noexcept : kind_(kind::signed_integer), signed_(n) {}

  constexpr kind type() const noexcept { return kind_; }
  constexpr std::string_view text() const noexcept { return text_; }
  constexpr std::uint64_t unsigned_value() const noexcept { return unsigned_; }
  constexpr std::int64_t signed_value() const noexcept { return signed_; }
  constexpr bool boolean() const noexcept { return unsigned_ != 0; }

 private:
  kind kind_ = kind::none;
  std::string_view text_;
  std::uint64_t unsigned_ = 0;
  std::int64_t signed_ = 0;
};

/// One key and its value. Keys are the library's (or the application's) own names:
/// lower case, digits and `_`.
struct log_field {
  std::string_view key;
  log_value value;
};

/// The fields of a record, in the order they were given.
class log_fields {
 public:
  constexpr log_fields() noexcept = default;
  constexpr log_fields(const log_field* first, std::size_t count) noexcept : first_(first), count_(count) {}
  constexpr const log_field* begin() const noexcept { return first_; }
  constexpr const log_field* end() const noexcept { return first_ + count_; }
  constexpr std::size_t size() const noexcept { return count_; }
  /// The value of the first field named `key`, or null.
  constexpr const log_value* find(std::string_view key) const noexcept {
    for (const log_field& f : *this)
      if (f.key == key) return &f.value;
    return nullptr;
  }

 private:
  const log_field* first_ = nullptr;
  std::size_t count_ = 0;
};

/// One log record. Everything in it is a view, valid during the hook's call only.
struct log_record {
  log_level level;
  std::string_view event;  ///< what happened, a fixed name: `connection_closed`, `slow_consumer`, ...
  log_fields fields;
};

/// Receives the records at or above the threshold it was installed with. Runs on the
/// thread that logs (the hub's), so keep it cheap; an exception it throws is dropped
/// along with its record.
using log_hook = std::function<void(const log_record&)>;

/// A threshold and a hook. Checking a level is one comparison; a record below the
/// threshold, or with no hook installed, builds nothing and calls nothing.
///
/// Thread safety: `write` from the owner's thread; `set_hook` from the same thread.
class logger {
 public:
  /// Sends records at `threshold` and above to `hook`; an empty hook turns logging off.
  void set_hook(log_level threshold, log_hook hook) {
    hook_ = std::move(hook);
    threshold_ = hook_ ? threshold : log_level::off;
  }
  /// The lowest level written; `off` when none is.
  log_level threshold() const noexcept { return threshold_; }
  /// Whether a record at `level` would reach the hook. Check it before computing a
  /// field that costs something (a formatted address, an error message).
  bool enabled(log_level level) const noexcept { return level >= threshold_ && level != log_level::off; }

  /// Hands `{level, event, fields}` to the hook if `level` is enabled.
  /// Example: `log.write(log_level::info, "listening", {{"address", where}, {"tls", false}});`
  void write(log_level level, std::string_view event, std::initializer_list<log_field> fields = {}) const {
    if (!enabled(level)) return;
    try {
      hook_(log_record{level, event, log_fields(fields.begin(), fields.size())});
    } catch (...) {
      // Logging never takes the server down: a failing hook loses its record.
    }
  }

 private:
  log_hook hook_;
  log_level threshold_ = log_level::off;
};

namespace detail {

/// Bounds the records one kind of event produces, so that a flood (refused frames,
/// failing handshakes) cannot become a flood of log lines: at most `per_window` records
/// per `window`; the ones past it are counted, and the next record admitted carries
/// the count (`suppressed`).
class log_limit {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::uint32_t per_window = 10;
  static constexpr clock::duration window = std::chrono::seconds(10);

  /// True when a record may be written at `now`; then `take_suppressed()` says how many
  /// were held back before it.
  bool admit(clock::time_point now) noexcept {
    if (written_ == 0 || now - window_start_ >= window) {
      window_start_ = now;
      written_ = 0;
    }
    if (written_ >= per_window) {
      ++suppressed_;
      return false;
    }
    ++written_;
    return true;
  }
  std::uint64_t take_suppressed() noexcept { return std::exchange(suppressed_, 0); }

 private:
  clock::time_point window_start_{};
  std::uint32_t written_ = 0;
  std::uint64_t suppressed_ = 0;
};

/// A count of held-back records as a field value: left out when zero.
inline log_value suppressed_count(std::uint64_t n) noexcept { return n ? log_value(n) : log_value(); }
/// A string field left out when empty (no user, no known peer).
constexpr log_value unless_empty(std::string_view s) noexcept { return s.empty() ? log_value() : log_value(s); }

/// Where a hub's security events go: the application's audit hook, and the logger at
/// warn, each kind bounded by its own `log_limit`. The hub calls the hook this returns,
/// which is empty while neither wants events, so that none is even built.
class audit_router {
 public:
  explicit audit_router(const logger& log) noexcept : log_(log) {}
  audit_router(const audit_router&) = delete;
  audit_router& operator=(const audit_router&) = delete;

  void set_application_hook(audit_hook hook) { application_ = std::move(hook); }
  /// The hook to call for each event from now on; recompute after either hook changes.
  audit_hook hook() {
    if (!application_ && !log_.enabled(log_level::warn)) return {};
    return [this](const audit_event& e) { dispatch(e); };
  }

 private:
  void dispatch(const audit_event& e) {
    if (application_) application_(e);
    if (!log_.enabled(log_level::warn)) return;
    log_limit& limit = limits_[std::min<std::size_t>(static_cast<std::size_t>(e.kind), limits_.size() - 1)];
    if (!limit.admit(log_limit::clock::now())) return;
    log_.write(log_level::warn, audit_kind_name(e.kind),
               {{"connection", e.connection ? log_value(e.connection) : log_value()},
                {"user", unless_empty(e.user)},
                {"remote", unless_empty(e.remote)},
                {"detail", unless_empty(e.detail)},
                {"suppressed", suppressed_count(limit.take_suppressed())}});
  }

  const logger& log_;
  audit_hook application_;
  std::array<log_limit, 16> limits_{};  // by audit_kind
};

// A value goes out bare when it holds only these; anything else is quoted.
constexpr bool is_bare_log_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == ':' || c == '/' || c == '@' || c == '+' || c == '[' || c == ']';
}

inline void append_hex_escape(std::string& out, char prefix, unsigned value, int digits) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '\\';
  out += prefix;
  for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out += hex[(value >> shift) & 0xFu];
}

/// Appends `text` as a logfmt value: bare when it is safe so, otherwise in double
/// quotes with `"` and `\` escaped, control characters (C0, DEL, C1), U+2028 and U+2029
/// as `\uXXXX` (or `\n`, `\r`, `\t`), and bytes that are not UTF-8 as `\xHH`; past
/// 1 KiB it is cut and ends in `...` inside the quotes. Whatever `text` holds, the result
/// is one line of valid UTF-8 that ends where it seems to.
inline void append_log_value(std::string& out, std::string_view text) {
  // A record is a line, not a document: a long value (a topic, a reason) is cut, at a
  // character boundary, and marked.
  constexpr std::size_t max_bytes = 1024;
  bool cut = false;
  if (text.size() > max_bytes) {
    std::size_t n = max_bytes;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0u) == 0x80u) --n;
    text = text.substr(0, n);
    cut = true;
  }
  bool bare = !text.empty() && !cut;
  for (const char c : text) bare = bare && is_bare_log_char(c);
  if (bare) {
    out.append(text.data(), text.size());
    return;
  }
  out += '"';
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7F) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
      ++i;
      continue;
    }
    if (byte < 0x80) {
      if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else append_hex_escape(out, 'u', byte, 4);
      ++i;
      continue;
    }
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      append_hex_escape(out, 'x', byte, 2);
      ++i;
      continue;
    }
    // C1 controls (NEL among them) and the Unicode line and paragraph separators end
    // lines in some viewers.
    const auto b1 = static_cast<unsigned char>(text[i + 1]);
    if (length == 2 && byte == 0xC2 && b1 < 0xA0) {
      append_hex_escape(out, 'u', b1, 4);
    } else if (length == 3 && byte == 0xE2 && b1 == 0x80 &&
               (static_cast<unsigned char>(text[i + 2]) == 0xA8 || static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
      append_hex_escape(out, 'u', 0x2000u | (static_cast<unsigned char>(text[i + 2]) == 0xA8 ? 0x28u : 0x29u), 4);
    } else {
      out.append(text.data() + i, length);
    }
    i += length;
  }
  if (cut) out += "...";
  out += '"';
}

// Keys come from code, but a line must stay parseable whatever a caller passes.
inline void append_log_key(std::string& out, std::string_view key) {
  if (key.empty()) {
    out += '_';
    return;
  }
  for (const char c : key) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    out += safe ? c : '_';
  }
}

template <class Integer>
void append_integer(std::string& out, Integer n) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, static_cast<std::size_t>(result.ptr - digits));
}

// Zero-padded decimal of `width` digits.
inline void append_padded(std::string& out, std::uint64_t n, int width) {
  char digits[20];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + n % 10);
    n /= 10;
  }
  out.append(digits, static_cast<std::size_t>(width));
}

/// Appends `when` as RFC 3339 UTC with milliseconds (`2026-12-03T09:41:07.250Z`),
/// computed without the C library's non-reentrant time functions.
inline void append_utc_timestamp(std::string& out, std::chrono::system_clock::time_point when) {
  const std::int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
  std::int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
  const std::int64_t ms_of_day = ms - days * 86400000;
  // Civil date from days since 1970-01-01, counting in 400-year eras that begin on
  // 0000-03-01 so that the leap day falls at the end of each year.
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t day_of_era = days - era * 146097;
  const std::int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t month_index = (5 * day_of_year + 2) / 153;  // 0 = March
  const std::int64_t day = day_of_year - (153 * month_index + 2) / 5 + 1;
  const std::int64_t month = month_index < 10 ? month_index + 3 : month_index - 9;
  const std::int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  append_padded(out, static_cast<std::uint64_t>(year < 0 ? 0 : year), 4);
  out += '-';
  append_padded(out, static_cast<std::uint64_t>(month), 2);
  out += '-';
  append_padded(out, static_cast<std::uint64_t>(day), 2);
  out += 'T';
  append_padded(out, static_cast<std::uint64_t>(ms_of_day / 3600000), 2);
  out += ':';
  append_padded(out, static_cast<std::uint64_t>(ms_of_day / 60000 % 60), 2);
  out += ':';
  append_padded(out, static_cast<std::uint64_t>(ms_of_day / 1000 % 60), 2);
  out += '.';
  append_padded(out, static_cast<std::uint64_t>(ms_of_day % 1000), 3);
  out += 'Z';
}

}  // namespace detail

/// Appends one logfmt line for `record`, without the newline:
/// `ts=2026-12-03T09:41:07.250Z level=warn event=slow_consumer connection=12 user=alice`.
/// Values are bare when made of letters, digits and `-._:/@+[]`, quoted and escaped
/// otherwise (see `detail::append_log_value`): a hostile user id cannot end the line or
/// forge another field. Fields without a value are left out.
inline void append_log_line(std::string& out, const log_record& record, std::chrono::system_clock::time_point when) {
  out += "ts=";
  detail::append_utc_timestamp(out, when);
  out += " level=";
  out += log_level_name(record.level);
  out += " event=";
  detail::append_log_value(out, record.event);
  for (const log_field& f : record.fields) {
    const log_value& v = f.value;
    if (v.type() == log_value::kind::none) continue;
    out += ' ';
    detail::append_log_key(out, f.key);
    out += '=';
    switch (v.type()) {
      case log_value::kind::string: detail::append_log_value(out, v.text()); break;
      case log_value::kind::unsigned_integer: detail::append_integer(out, v.unsigned_value()); break;
      case log_value::kind::signed_integer: detail::append_integer(out, v.signed_value()); break;
      case log_value::kind::boolean: out += v.boolean() ? "true" : "false"; break;
      case log_value::kind::none: break;
    }
  }
}

/// `append_log_line` into a new string, stamped with the current time.
inline std::string format_log_line(const log_record& record,
                                   std::chrono::system_clock::time_point when = std::chrono::system_clock::now()) {
  std::string line;
  line.reserve(128);
  append_log_line(line, record, when);
  return line;
}

}  // namespace switchboard

#endif
