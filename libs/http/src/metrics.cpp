#include "cch/http/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "cch/http/router.hpp"

namespace cch::http {
namespace {

constexpr std::string_view requests_total_name = "cch_http_requests_total";
constexpr std::string_view duration_name = "cch_http_request_duration_seconds";

bool is_metric_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 200)
    return false;
  const auto first_ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; };
  if (!first_ok(name.front()))
    return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return first_ok(c) || (c >= '0' && c <= '9'); });
}

std::string_view method_label(std::string_view method) noexcept {
  static constexpr std::array<std::string_view, 9> known = {"GET",    "HEAD",    "POST",    "PUT",  "PATCH",
                                                            "DELETE", "OPTIONS", "CONNECT", "TRACE"};
  for (const auto candidate : known) {
    if (candidate == method)
      return candidate;
  }
  return "other";
}

unsigned status_label(unsigned status) noexcept {
  return (status >= 100 && status <= 599) ? status : 0;
}

void append_escaped_label(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out.push_back(c);
    }
  }
}

void append_help(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out += "# HELP ";
  out += name;
  out.push_back(' ');
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  out += "\n# TYPE ";
  out += name;
  out.push_back(' ');
  out += type;
  out.push_back('\n');
}

void append_double(std::string& out, double value) {
  std::array<char, 64> buffer{};
  // Fixed notation, shortest round trip: bucket bounds read "0.0005" rather than "5e-04".
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, std::chars_format::fixed);
  out.append(buffer.data(), result.ptr);
}

template <class Integer>
void append_integer(std::string& out, Integer value) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

std::uint64_t to_nanoseconds(double seconds) noexcept {
  return static_cast<std::uint64_t>(seconds * 1e9 + 0.5);
}

}  // namespace

Metrics::Named& Metrics::register_named(std::string_view name, std::string_view help, bool is_counter) {
  if (!is_metric_name(name)) {
    throw std::invalid_argument("invalid metric name '" + std::string(name) + "'");
  }
  if (name.starts_with(requests_total_name) || name.starts_with(duration_name)) {
    throw std::invalid_argument("metric name '" + std::string(name) + "' is reserved for the HTTP server");
  }
  if (help.size() > help_length_limit) {
    throw std::invalid_argument("help text of metric '" + std::string(name) + "' is too long");
  }
  const std::lock_guard lock(mutex_);
  if (const auto found = named_.find(name); found != named_.end()) {
    if ((found->second.counter != nullptr) != is_counter) {
      throw std::invalid_argument("metric '" + std::string(name) + "' is already registered as another kind");
    }
    return found->second;
  }
  if (named_.size() >= named_metric_limit) {
    throw std::invalid_argument("too many named metrics; cannot register '" + std::string(name) + "'");
  }
  Named named;
  named.help = std::string(help);
  if (is_counter) {
    named.counter = std::make_unique<Counter>();
  } else {
    named.gauge = std::make_unique<Gauge>();
  }
  return named_.emplace(std::string(name), std::move(named)).first->second;
}

Counter& Metrics::counter(std::string_view name, std::string_view help) {
  return *register_named(name, help, true).counter;
}

Gauge& Metrics::gauge(std::string_view name, std::string_view help) {
  return *register_named(name, help, false).gauge;
}

std::string Metrics::route_label(std::string_view route) const {
  if (durations_.find(route) != durations_.end() || durations_.size() < route_label_limit) {
    return std::string(route);
  }
  return std::string(Router::unmatched_route);
}

void Metrics::record_request(std::string_view route, std::string_view method, unsigned status,
                             std::chrono::nanoseconds duration) {
  const auto nanoseconds = static_cast<std::uint64_t>(std::max<std::int64_t>(0, duration.count()));
  std::size_t bucket = request_duration_buckets_seconds.size();  // +Inf
  for (std::size_t i = 0; i < request_duration_buckets_seconds.size(); ++i) {
    if (nanoseconds <= to_nanoseconds(request_duration_buckets_seconds[i])) {
      bucket = i;
      break;
    }
  }
  const std::lock_guard lock(mutex_);
  std::string label = route_label(route);
  ++request_counts_[{label, std::string(method_label(method)), status_label(status)}];
  Histogram& histogram = durations_[std::move(label)];
  ++histogram.bucket_counts[bucket];
  ++histogram.count;
  histogram.sum_nanoseconds += nanoseconds;
}

std::uint64_t Metrics::request_count(std::string_view route, std::string_view method, unsigned status) const {
  const std::lock_guard lock(mutex_);
  const auto found =
      request_counts_.find({std::string(route), std::string(method_label(method)), status_label(status)});
  return found == request_counts_.end() ? 0 : found->second;
}

std::string Metrics::render() const {
  std::string out;
  const std::lock_guard lock(mutex_);
  for (const auto& [name, named] : named_) {
    append_help(out, name, named.help, named.counter ? "counter" : "gauge");
    out += name;
    out.push_back(' ');
    if (named.counter) {
      append_integer(out, named.counter->value());
    } else {
      append_integer(out, named.gauge->value());
    }
    out.push_back('\n');
  }

  append_help(out, requests_total_name, "HTTP requests answered, by route pattern, method and status.", "counter");
  for (const auto& [labels, count] : request_counts_) {
    const auto& [route, method, status] = labels;
    out += requests_total_name;
    out += "{route=\"";
    append_escaped_label(out, route);
    out += "\",method=\"";
    append_escaped_label(out, method);
    out += "\",status=\"";
    append_integer(out, status);
    out += "\"} ";
    append_integer(out, count);
    out.push_back('\n');
  }

  append_help(out, duration_name, "Time from a request fully read to its response ready, by route pattern.",
              "histogram");
  for (const auto& [route, histogram] : durations_) {
    std::string route_labels = "route=\"";
    append_escaped_label(route_labels, route);
    route_labels.push_back('"');
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= request_duration_buckets_seconds.size(); ++i) {
      cumulative += histogram.bucket_counts[i];
      out += duration_name;
      out += "_bucket{";
      out += route_labels;
      out += ",le=\"";
      if (i < request_duration_buckets_seconds.size()) {
        append_double(out, request_duration_buckets_seconds[i]);
      } else {
        out += "+Inf";
      }
      out += "\"} ";
      append_integer(out, cumulative);
      out.push_back('\n');
    }
    out += duration_name;
    out += "_sum{" + route_labels + "} ";
    append_double(out, static_cast<double>(histogram.sum_nanoseconds) / 1e9);
    out.push_back('\n');
    out += duration_name;
    out += "_count{" + route_labels + "} ";
    append_integer(out, histogram.count);
    out.push_back('\n');
  }
  return out;
}

}  // namespace cch::http
