// cch-risk: pricing and margining (curves, marks, initial margin, limits, margin calls): not built
// All logic lives in libs/; this file only names the service and its routes.
#include "cch/runtime/service.hpp"

int main(int argc, char** argv) {
  return cch::runtime::run_service(argc, argv, {.name = "risk", .add_routes = {}});
}
