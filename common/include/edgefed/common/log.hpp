// Levelled, structured logging to stderr, one line per event.
//
//   log::info("round closed", {{"round", 3}, {"survivors", 9}, {"dropped", 1}});
//   ts=2026-11-29T16:02:11.042Z level=info msg="round closed" round=3 survivors=9 dropped=1
//
// Format is logfmt by default or JSON lines (`set_format(Format::json)`). Lines are written
// whole under a mutex, so threads never interleave. Never log key material or device data:
// the logger cannot tell, so callers must not pass it.
#pragma once

#include "edgefed/common/result.hpp"

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace edgefed::log {

enum class Level { trace = 0, debug, info, warn, error, off };
enum class Format { logfmt, json };

// One key=value pair. Keys should be [a-z0-9_]; values are numbers, booleans or text.
struct Field {
  using Value = std::variant<std::int64_t, std::uint64_t, double, bool, std::string>;

  template <typename T>
  Field(std::string_view k, T&& v) : key(k), value(convert(std::forward<T>(v))) {}

  std::string_view key;
  Value value;

 private:
  template <typename T>
  static Value convert(T&& v) {
    using U = std::decay_t<T>;
    if constexpr (std::is_same_v<U, bool>) return v;
    else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) return static_cast<std::int64_t>(v);
    else if constexpr (std::is_integral_v<U>) return static_cast<std::uint64_t>(v);
    else if constexpr (std::is_floating_point_v<U>) return static_cast<double>(v);
    else return std::string(std::string_view(v));
  }
};

void set_level(Level level);
Level level();
void set_format(Format format);
// Parses "trace" | "debug" | "info" | "warn" | "error" | "off".
Result<Level> parse_level(std::string_view name);
std::string_view to_string(Level level);
// Replaces the output (default: stderr); pass nullptr to restore stderr. For tests and
// embedders that route logs elsewhere. The sink receives whole lines without the newline.
void set_sink(std::function<void(std::string_view line)> sink);

// Formats and emits one event if `level` is enabled.
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});
// Renders an event as the current format would, without emitting it.
std::string format_line(Level level, std::string_view message, std::initializer_list<Field> fields);

inline bool enabled(Level l) { return l >= level(); }
inline void trace(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::trace, m, f); }
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }

}  // namespace edgefed::log
