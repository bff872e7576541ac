// cch-settlement: the daily settlement cycle: settlement prices, marks, variation margin, expiries and deliveries.
// All logic lives in libs/; this file only names the service and its routes.
#include "cch/runtime/service.hpp"

int main(int argc, char** argv) {
  return cch::runtime::run_service(argc, argv, {.name = "settlement", .add_routes = {}});
}
