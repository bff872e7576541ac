// cch-settlement: the daily settlement runs (settlement prices, marks, variation margin, deliveries
// and expiries; on demand or at the configured minute), collateral deposits and withdrawals,
// delivery reports and disputes, margin calls. Internal: reached through cch-api only. All logic
// lives in libs/settlement.
#include "cch/runtime/service.hpp"
#include "cch/settlement/routes.hpp"

int main(int argc, char** argv) {
  return cch::runtime::run_service(argc, argv,
                                   {.name = "settlement", .add_routes = cch::settlement::add_settlement_routes});
}
