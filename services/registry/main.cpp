// cch-registry: contract registration: products, trade submission and affirmation, pre-trade checks, novation, positions.
// All logic lives in libs/; this file only names the service and its routes.
#include "cch/runtime/service.hpp"

int main(int argc, char** argv) {
  return cch::runtime::run_service(argc, argv, {.name = "registry", .add_routes = {}});
}
