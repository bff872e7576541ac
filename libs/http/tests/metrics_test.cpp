#include "cch/http/metrics.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace cch::http {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

bool contains(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(Metrics, CountsRequestsByRouteMethodAndStatus) {
  Metrics metrics;
  metrics.record_request("/v1/trades/{trade_id}", "GET", 200, milliseconds(3));
  metrics.record_request("/v1/trades/{trade_id}", "GET", 200, milliseconds(4));
  metrics.record_request("/v1/trades/{trade_id}", "GET", 404, milliseconds(1));
  metrics.record_request("unmatched", "BREW", 404, milliseconds(1));
  const std::string text = metrics.render();
  EXPECT_TRUE(contains(text, "# HELP cch_http_requests_total "));
  EXPECT_TRUE(contains(text, "# TYPE cch_http_requests_total counter\n"));
  EXPECT_TRUE(
      contains(text, "cch_http_requests_total{route=\"/v1/trades/{trade_id}\",method=\"GET\",status=\"200\"} 2\n"));
  EXPECT_TRUE(
      contains(text, "cch_http_requests_total{route=\"/v1/trades/{trade_id}\",method=\"GET\",status=\"404\"} 1\n"));
  EXPECT_TRUE(contains(text, "cch_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 1\n"));
  EXPECT_EQ(metrics.request_count("/v1/trades/{trade_id}", "GET", 200), 2U);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Metrics metrics;
  metrics.record_request("/r", "GET", 200, microseconds(400));  // <= 0.0005
  metrics.record_request("/r", "GET", 200, milliseconds(1));    // <= 0.001 (bounds are inclusive)
  metrics.record_request("/r", "GET", 200, milliseconds(30));   // <= 0.05
  metrics.record_request("/r", "GET", 200, seconds(11));        // only +Inf
  const std::string text = metrics.render();
  EXPECT_TRUE(contains(text, "# TYPE cch_http_request_duration_seconds histogram\n"));
  const std::string prefix = "cch_http_request_duration_seconds_bucket{route=\"/r\",le=";
  EXPECT_TRUE(contains(text, prefix + "\"0.0005\"} 1\n"));
  EXPECT_TRUE(contains(text, prefix + "\"0.001\"} 2\n"));
  EXPECT_TRUE(contains(text, prefix + "\"0.025\"} 2\n"));
  EXPECT_TRUE(contains(text, prefix + "\"0.05\"} 3\n"));
  EXPECT_TRUE(contains(text, prefix + "\"10\"} 3\n"));
  EXPECT_TRUE(contains(text, prefix + "\"+Inf\"} 4\n"));
  EXPECT_TRUE(contains(text, "cch_http_request_duration_seconds_sum{route=\"/r\"} 11.0314\n"));
  EXPECT_TRUE(contains(text, "cch_http_request_duration_seconds_count{route=\"/r\"} 4\n"));
  // Buckets appear in increasing order of le.
  EXPECT_LT(text.find(prefix + "\"0.0005\""), text.find(prefix + "\"0.001\""));
  EXPECT_LT(text.find(prefix + "\"10\""), text.find(prefix + "\"+Inf\""));
}

TEST(Metrics, EscapesLabelValues) {
  Metrics metrics;
  metrics.record_request("/a\"b\\c\nd", "GET", 200, milliseconds(1));
  EXPECT_TRUE(contains(metrics.render(), "route=\"/a\\\"b\\\\c\\nd\""));
}

TEST(Metrics, NamedCountersAndGauges) {
  Metrics metrics;
  Counter& refused = metrics.counter("cch_http_connections_refused_total", "Refused connections.");
  Gauge& open = metrics.gauge("cch_http_connections_open", "Open connections.\nSecond line \\ here.");
  refused.increment();
  refused.increment(2);
  open.add(5);
  open.add(-2);
  EXPECT_EQ(&metrics.counter("cch_http_connections_refused_total", "again"), &refused);
  const std::string text = metrics.render();
  EXPECT_TRUE(contains(text,
                       "# HELP cch_http_connections_refused_total Refused connections.\n"
                       "# TYPE cch_http_connections_refused_total counter\n"
                       "cch_http_connections_refused_total 3\n"));
  EXPECT_TRUE(contains(text,
                       "# HELP cch_http_connections_open Open connections.\\nSecond line \\\\ here.\n"
                       "# TYPE cch_http_connections_open gauge\n"
                       "cch_http_connections_open 3\n"));
}

TEST(Metrics, RefusesBadOrConflictingNames) {
  Metrics metrics;
  metrics.counter("jobs_total", "Jobs.");
  EXPECT_THROW(metrics.gauge("jobs_total", "Jobs."), std::invalid_argument);
  EXPECT_THROW(metrics.counter("1abc", "x"), std::invalid_argument);
  EXPECT_THROW(metrics.counter("has space", "x"), std::invalid_argument);
  EXPECT_THROW(metrics.counter("cch_http_requests_total", "x"), std::invalid_argument);
}

TEST(Metrics, RouteLabelsAreBounded) {
  Metrics metrics;
  for (std::size_t i = 0; i < Metrics::route_label_limit + 10; ++i) {
    metrics.record_request("/route/" + std::to_string(i), "GET", 200, milliseconds(1));
  }
  EXPECT_EQ(metrics.request_count("unmatched", "GET", 200), 10U);
  EXPECT_EQ(metrics.request_count("/route/0", "GET", 200), 1U);
}

}  // namespace
}  // namespace cch::http
