// cch-risk: market data, and (being built) curves, marks, initial margin, limits and margin calls.
// Internal: reached through cch-api only. All logic lives in libs/; this file only names the
// service and its routes.
#include "cch/risk_routes/market_routes.hpp"
#include "cch/runtime/service.hpp"

int main(int argc, char** argv) {
  return cch::runtime::run_service(argc, argv, {.name = "risk", .add_routes = cch::risk::add_risk_routes});
}
