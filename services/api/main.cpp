// cch-api: the public REST API: HTTPS with client certificates, every route members, risk officers, auditors and operators use.
// All logic lives in libs/; this file only names the service and its routes.
#include "cch/runtime/service.hpp"

int main(int argc, char** argv) {
  return cch::runtime::run_service(argc, argv, {.name = "api", .add_routes = {}});
}
