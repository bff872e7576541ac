#pragma once
// The three routes every cch service serves:
//   GET /healthz  200 {"status":"ok"} while the process serves requests (liveness).
//   GET /readyz   runs the readiness callback: 200 {"status":"ready","checks":[...]} when every
//                 check passes, else 503 {"status":"not_ready","checks":[...],"failing":[names]}.
//                 A callback that throws counts as one failing check named "readiness".
//   GET /metrics  Metrics::render() as text/plain; version=0.0.4.
//
// Thread safety: add_observability_routes() is called at startup like Router::add. The readiness
// callback is then called concurrently from worker threads and must be thread-safe; it should
// be quick and bounded (e.g. a database ping with a short statement timeout).

#include <functional>
#include <string>
#include <vector>

#include "cch/http/metrics.hpp"
#include "cch/http/router.hpp"

namespace cch::http {

struct ReadinessCheck {
  std::string name;  // e.g. "database"
  bool ok = false;
  std::string detail;  // why it failed; keep secrets out
};

struct ReadinessReport {
  std::vector<ReadinessCheck> checks;
  [[nodiscard]] bool ready() const;  // true when every check is ok (and when there are none)
};

// Adds GET /healthz, /readyz and /metrics. metrics must outlive the router. When protect is
// set, the /metrics handler is wrapped by it (e.g. to demand credentials).
void add_observability_routes(Router& router, Metrics& metrics, std::function<ReadinessReport()> readiness,
                              const std::function<Handler(Handler)>& protect = {});

}  // namespace cch::http
