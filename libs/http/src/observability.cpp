#include "cch/http/observability.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

#include "cch/core/log.hpp"

namespace cch::http {

bool ReadinessReport::ready() const {
  return std::all_of(checks.begin(), checks.end(), [](const ReadinessCheck& check) { return check.ok; });
}

void add_observability_routes(Router& router, Metrics& metrics, std::function<ReadinessReport()> readiness,
                              const std::function<Handler(Handler)>& protect) {
  if (!readiness)
    throw std::invalid_argument("add_observability_routes: the readiness callback is empty");

  router.add("GET", "/healthz", [](const Request&) { return json_response(200, {{"status", "ok"}}); });

  router.add("GET", "/readyz", [readiness = std::move(readiness)](const Request&) {
    ReadinessReport report;
    try {
      report = readiness();
    } catch (const std::exception& exception) {
      log::error("readiness_check_failed", {{"what", exception.what()}});
      report.checks.push_back({"readiness", false, "the readiness check failed"});
    }
    nlohmann::json checks = nlohmann::json::array();
    nlohmann::json failing = nlohmann::json::array();
    for (const auto& check : report.checks) {
      nlohmann::json entry = {{"name", check.name}, {"ok", check.ok}};
      if (!check.detail.empty())
        entry["detail"] = check.detail;
      checks.push_back(std::move(entry));
      if (!check.ok)
        failing.push_back(check.name);
    }
    if (report.ready())
      return json_response(200, {{"status", "ready"}, {"checks", std::move(checks)}});
    Response response =
        json_response(503, {{"status", "not_ready"}, {"checks", std::move(checks)}, {"failing", std::move(failing)}});
    response.headers.emplace_back("Retry-After", "5");
    return response;
  });

  Handler serve_metrics = [&metrics](const Request&) {
    Response response;
    response.status = 200;
    response.content_type = "text/plain; version=0.0.4";
    response.body = metrics.render();
    return response;
  };
  router.add("GET", "/metrics", protect ? protect(std::move(serve_metrics)) : std::move(serve_metrics));
}

}  // namespace cch::http
