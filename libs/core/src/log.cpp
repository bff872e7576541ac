#include "cch/core/log.hpp"

#include "cch/core/time.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <mutex>

namespace cch::log {
namespace {

struct State {
  std::mutex mutex;
  std::string service = "cch";
  Format format = Format::json;
  std::shared_ptr<spdlog::logger> logger;
};

State& state() {
  static State instance;
  return instance;
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
  if (!s.logger) {
    s.logger = std::make_shared<spdlog::logger>("cch", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    s.logger->set_pattern("%v");
    s.logger->flush_on(spdlog::level::debug);
  }
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
    if (!s.logger) {
      s.logger = std::make_shared<spdlog::logger>("cch", std::make_shared<spdlog::sinks::stderr_sink_mt>());
      s.logger->set_pattern("%v");
      s.logger->set_level(spdlog::level::info);
    }
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
