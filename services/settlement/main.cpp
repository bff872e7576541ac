// cch-settlement: cash movements: collateral deposits and withdrawals (daily settlement runs are
// not built yet). Internal: reached through cch-api only. All logic lives in libs/settlement.
#include "cch/runtime/service.hpp"
#include "cch/settlement/routes.hpp"

int main(int argc, char** argv) {
  return cch::runtime::run_service(argc, argv,
                                   {.name = "settlement", .add_routes = cch::settlement::add_settlement_routes});
}
