#include "cch/core/log.hpp"

#include "cch/core/time.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>

namespace cch::log {
namespace {

// Standard error through a buffer: a warning or an error goes out at once (with every line before
// it); info and debug lines once kBufferBytes are waiting, within kFlushInterval, and at exit. One
// write per batch instead of one per line: under the api's read benchmark, a write per request
// line was 3 % of the api's CPU. A crash loses at most the last kFlushInterval of info lines;
// the request audit log in PostgreSQL is the durable record of requests.
class BufferedStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  static constexpr std::size_t kBufferBytes = 16 * 1024;
  static constexpr std::chrono::milliseconds kFlushInterval{100};

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    buffer_.append(message.payload.data(), message.payload.size());
    buffer_.push_back('\n');
    if (message.level >= spdlog::level::warn || buffer_.size() >= kBufferBytes) flush_();
  }

  void flush_() override {
    std::string_view rest = buffer_;
    while (!rest.empty()) {
      const ssize_t written = ::write(STDERR_FILENO, rest.data(), rest.size());
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) break;  // standard error is gone: nothing better to do with the lines
      rest.remove_prefix(static_cast<std::size_t>(written));
    }
    buffer_.clear();
  }

 private:
  std::string buffer_;
};

struct State {
  std::mutex mutex;
  std::string service = "cch";
  Format format = Format::json;
  std::shared_ptr<spdlog::logger> logger;
};

// Never destroyed: lines may be written, and the flusher runs, until the process ends.
State& state() {
  static State* instance = new State;
  return *instance;
}

}  // namespace

void flush() {
  State& s = state();
  std::shared_ptr<spdlog::logger> logger;
  {
    const std::lock_guard lock(s.mutex);
    logger = s.logger;
  }
  if (logger) logger->flush();
}

namespace {

void flush_at_exit() { flush(); }

// Called with the state's mutex held, once: the logger, its periodic flusher and the exit flush.
void create_logger(State& s) {
  s.logger = std::make_shared<spdlog::logger>("cch", std::make_shared<BufferedStderrSink>());
  s.logger->set_level(spdlog::level::info);
  std::thread([logger = s.logger] {
    for (;;) {
      std::this_thread::sleep_for(BufferedStderrSink::kFlushInterval);
      logger->flush();
    }
  }).detach();
  std::atexit(flush_at_exit);
}

thread_local std::string t_request_id;

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (byte < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(byte));
          out += buffer;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void append_value(std::string& out, const Field::Value& value, bool quote_strings) {
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string_view>) {
          if (quote_strings) {
            append_json_string(out, v);
          } else {
            out.append(v);
          }
        } else if constexpr (std::is_same_v<V, bool>) {
          out += v ? "true" : "false";
        } else {
          out += std::to_string(v);
        }
      },
      value);
}

// The fixed form "YYYY-MM-DDTHH:MM:SS.ffffffZ" of time.hpp (no snprintf into a fixed buffer).
std::string utc_now_iso8601() { return UtcTimestamp::now().format(); }

}  // namespace

bool parse_level(std::string_view text, Level& out) {
  for (const Level level : {Level::debug, Level::info, Level::warn, Level::error}) {
    if (text == level_name(level)) {
      out = level;
      return true;
    }
  }
  return false;
}

bool parse_format(std::string_view text, Format& out) {
  if (text == "json") {
    out = Format::json;
    return true;
  }
  if (text == "text") {
    out = Format::text;
    return true;
  }
  return false;
}

void init(std::string_view service, Level level, Format format) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.service = std::string(service);
  s.format = format;
  if (!s.logger) create_logger(s);
  s.logger->set_level(to_spdlog(level));
}

std::string format_line(Format format, std::string_view service, Level level, std::string_view event,
                        std::string_view request_id, Fields fields) {
  std::string line;
  line.reserve(160);
  if (format == Format::json) {
    line += "{\"ts\":\"";
    line += utc_now_iso8601();
    line += "\",\"level\":\"";
    line += level_name(level);
    line += "\",\"service\":";
    append_json_string(line, service);
    line += ",\"event\":";
    append_json_string(line, event);
    if (!request_id.empty()) {
      line += ",\"request_id\":";
      append_json_string(line, request_id);
    }
    for (const Field& field : fields) {
      line.push_back(',');
      append_json_string(line, field.key);
      line.push_back(':');
      append_value(line, field.value, true);
    }
    line.push_back('}');
  } else {
    line += utc_now_iso8601();
    line.push_back(' ');
    line += level_name(level);
    line.push_back(' ');
    line += service;
    line.push_back(' ');
    line += event;
    if (!request_id.empty()) {
      line += " request_id=";
      line += request_id;
    }
    for (const Field& field : fields) {
      line.push_back(' ');
      line += field.key;
      line.push_back('=');
      append_value(line, field.value, false);
    }
  }
  return line;
}

void write(Level level, std::string_view event, Fields fields) {
  State& s = state();
  std::shared_ptr<spdlog::logger> logger;
  std::string service;
  Format format{};
  {
    std::lock_guard lock(s.mutex);
    if (!s.logger) create_logger(s);
    logger = s.logger;
    service = s.service;
    format = s.format;
  }
  if (!logger->should_log(to_spdlog(level))) {
    return;
  }
  logger->log(to_spdlog(level), format_line(format, service, level, event, t_request_id, fields));
}

ScopedRequestId::ScopedRequestId(std::string request_id) : previous_(std::move(t_request_id)) {
  t_request_id = std::move(request_id);
}

ScopedRequestId::~ScopedRequestId() { t_request_id = std::move(previous_); }

std::string_view current_request_id() { return t_request_id; }

}  // namespace cch::log
