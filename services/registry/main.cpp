// cch-registry: contract registration: members, products, trade submission and affirmation,
// venue batches, pre-trade checks, novation, positions. Internal: reached through cch-api only.
// The domain lives in libs/registry, the routes in libs/registry_routes.
#include "cch/registry_routes/routes.hpp"
#include "cch/runtime/service.hpp"

int main(int argc, char** argv) {
  // Novation's statements are planned once per connection, not at every batch
  // (db::PoolOptions::generic_plans); the trade listing asks for custom plans in its transaction.
  return cch::runtime::run_service(
      argc, argv, {.name = "registry", .add_routes = cch::registry::add_registry_routes, .generic_plans = true});
}
