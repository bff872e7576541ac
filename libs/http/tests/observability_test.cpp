#include "cch/http/observability.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace cch::http {
namespace {

Request get(std::string_view path) {
  Request request;
  request.method = "GET";
  EXPECT_TRUE(parse_target(path, request));
  return request;
}

TEST(Observability, HealthzIsOkWhileServing) {
  Router router;
  Metrics metrics;
  add_observability_routes(router, metrics, [] { return ReadinessReport{}; });
  Request request = get("/healthz");
  const Response response = router.dispatch(request);
  EXPECT_EQ(response.status, 200U);
  EXPECT_EQ(nlohmann::json::parse(response.body), nlohmann::json({{"status", "ok"}}));
}

TEST(Observability, ReadyzReportsFailingChecksWith503) {
  Router router;
  Metrics metrics;
  std::atomic<bool> database_up{false};
  add_observability_routes(router, metrics, [&database_up] {
    return ReadinessReport{{{"config", true, ""}, {"database", database_up.load(), "connection refused"}}};
  });
  Request request = get("/readyz");
  Response response = router.dispatch(request);
  EXPECT_EQ(response.status, 503U);
  auto document = nlohmann::json::parse(response.body);
  EXPECT_EQ(document["status"], "not_ready");
  EXPECT_EQ(document["failing"], nlohmann::json::array({"database"}));
  EXPECT_EQ(document["checks"].size(), 2U);

  database_up = true;
  response = router.dispatch(request);
  EXPECT_EQ(response.status, 200U);
  EXPECT_EQ(nlohmann::json::parse(response.body)["status"], "ready");
}

TEST(Observability, ReadinessCallbackThatThrowsIsNotReady) {
  Router router;
  Metrics metrics;
  add_observability_routes(router, metrics, []() -> ReadinessReport { throw std::runtime_error("pool closed"); });
  Request request = get("/readyz");
  const Response response = router.dispatch(request);
  EXPECT_EQ(response.status, 503U);
  EXPECT_EQ(nlohmann::json::parse(response.body)["failing"], nlohmann::json::array({"readiness"}));
}

TEST(Observability, MetricsIsPrometheusText) {
  Router router;
  Metrics metrics;
  add_observability_routes(router, metrics, [] { return ReadinessReport{}; });
  metrics.record_request("/healthz", "GET", 200, std::chrono::milliseconds(1));
  Request request = get("/metrics");
  const Response response = router.dispatch(request);
  EXPECT_EQ(response.status, 200U);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(response.body.find("cch_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 1"),
            std::string::npos);
}

}  // namespace
}  // namespace cch::http
