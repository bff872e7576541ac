#pragma once
// Structured logging on top of spdlog.
//
// Lines are buffered: a warning or an error is written at once, with every line before it; info
// and debug lines within 100 ms (or once 16 KB wait) and at exit, so a crash may lose the last
// 100 ms of them.
//
// Every line is one event with named fields, written to standard error either as one JSON
// object per line (the default, for machines) or as "time level event key=value" text (for
// people at a terminal). A request id set with ScopedRequestId is added to every line that the
// current thread writes while the scope lives, so one request can be followed across lines.
//
//   cch::log::info("trade_affirmed", {{"trade_id", 42}, {"member", "m1"}});
//
// Thread safety: all functions may be called from any thread after init().

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace cch::log {

enum class Level { debug, info, warn, error };
enum class Format { json, text };

struct Field {
  using Value = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  Field(std::string_view k, long v) : key(k), value(std::int64_t{v}) {}
  Field(std::string_view k, long long v) : key(k), value(std::int64_t{v}) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::uint64_t{v}) {}
  Field(std::string_view k, unsigned long v) : key(k), value(std::uint64_t{v}) {}
  Field(std::string_view k, unsigned long long v) : key(k), value(std::uint64_t{v}) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  Value value;
};

using Fields = std::initializer_list<Field>;

// Parses "debug", "info", "warn", "error"; false if the text is none of them.
bool parse_level(std::string_view text, Level& out);
// Parses "json" or "text"; false otherwise.
bool parse_format(std::string_view text, Format& out);

// Sets the service name written on every line, the lowest level written and the format.
// May be called again (tests do); the last call wins.
void init(std::string_view service, Level level, Format format);

void write(Level level, std::string_view event, Fields fields = {});
// Writes out the lines still buffered: call it before writing to standard error directly, so that
// lines keep their order.
void flush();
inline void debug(std::string_view event, Fields fields = {}) { write(Level::debug, event, fields); }
inline void info(std::string_view event, Fields fields = {}) { write(Level::info, event, fields); }
inline void warn(std::string_view event, Fields fields = {}) { write(Level::warn, event, fields); }
inline void error(std::string_view event, Fields fields = {}) { write(Level::error, event, fields); }

// Formats one line without writing it (used by write(), and by tests).
std::string format_line(Format format, std::string_view service, Level level, std::string_view event,
                        std::string_view request_id, Fields fields);

// While alive, lines written by this thread carry "request_id". Scopes nest; the inner wins.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string request_id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};

// The request id of the innermost live ScopedRequestId of this thread, or "".
std::string_view current_request_id();

}  // namespace cch::log
