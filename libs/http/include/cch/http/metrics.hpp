#pragma once
// Metrics: a small Prometheus registry rendered in text exposition format 0.0.4.
//
// Built in:
//   cch_http_requests_total{route,method,status}      counter
//   cch_http_request_duration_seconds{route}          histogram, fixed buckets 0.5 ms .. 10 s
// plus named, unlabelled counters and gauges that services register (the server registers
// cch_http_connections_open, cch_http_connections_refused_total and a few more).
//
// Contract: label cardinality is bounded. Route labels are route patterns (Router::route_name)
// or "unmatched"; once route_label_limit distinct routes have been seen, further ones are
// counted as "unmatched". Method labels are the standard methods or "other". Status labels are
// the status codes 100..599 (others become 0). Named metrics are capped at named_metric_limit.
//
// Thread safety: every member function may be called concurrently from any thread. References
// returned by counter() and gauge() stay valid for the life of the Metrics object.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace cch::http {

class Counter {
 public:
  void increment(std::uint64_t amount = 1) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(std::int64_t value) noexcept { value_.store(value, std::memory_order_relaxed); }
  void add(std::int64_t amount) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
  [[nodiscard]] std::int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

class Metrics {
 public:
  // Upper bounds of the duration histogram's buckets, in seconds (+Inf is implicit).
  static constexpr std::array<double, 14> request_duration_buckets_seconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0};
  static constexpr std::size_t route_label_limit = 512;
  static constexpr std::size_t named_metric_limit = 256;
  static constexpr std::size_t help_length_limit = 512;

  Metrics() = default;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Registers (or returns the already registered) metric. Throws std::invalid_argument if the
  // name is not a valid Prometheus metric name, is taken by a metric of another kind or by the
  // built-in request metrics, or named_metric_limit is reached.
  Counter& counter(std::string_view name, std::string_view help);
  Gauge& gauge(std::string_view name, std::string_view help);

  // Counts one request and observes its duration.
  void record_request(std::string_view route, std::string_view method, unsigned status,
                      std::chrono::nanoseconds duration);

  // The current value of cch_http_requests_total for these labels (0 if never recorded).
  [[nodiscard]] std::uint64_t request_count(std::string_view route, std::string_view method, unsigned status) const;

  // All metrics in Prometheus text exposition format 0.0.4.
  [[nodiscard]] std::string render() const;

 private:
  struct Histogram {
    std::array<std::uint64_t, request_duration_buckets_seconds.size() + 1> bucket_counts{};  // not cumulative
    std::uint64_t count = 0;
    std::uint64_t sum_nanoseconds = 0;
  };
  struct Named {
    std::string help;
    std::unique_ptr<Counter> counter;  // exactly one of counter and gauge is set
    std::unique_ptr<Gauge> gauge;
  };

  Named& register_named(std::string_view name, std::string_view help, bool is_counter);
  [[nodiscard]] std::string route_label(std::string_view route) const;  // requires mutex_

  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, unsigned>, std::uint64_t> request_counts_;  // guarded by mutex_
  std::map<std::string, Histogram, std::less<>> durations_;                                 // guarded by mutex_
  std::map<std::string, Named, std::less<>> named_;                                         // guarded by mutex_
};

}  // namespace cch::http
