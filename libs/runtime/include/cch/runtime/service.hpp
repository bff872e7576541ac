#pragma once
// The start-up and shutdown that every cch service shares, so that services/*/main.cpp stays a
// few lines: read the configuration, set up logging, connect to PostgreSQL and apply (or check)
// migrations, record the start, add the service's routes plus /healthz, /readyz and /metrics,
// listen, start the service's background tasks (tasks.hpp), and on SIGTERM or SIGINT stop
// gracefully: stop accepting, finish the requests in progress (http.shutdown_grace_ms), stop and
// join the background tasks (tasks.stop_grace_ms), then destroy the routes' state and the pool.
//
// A start-up failure (malformed configuration, unreachable database, busy port, bad TLS files)
// prints exactly one line "cch-<service>: error: <what>" to standard error and returns a
// non-zero exit status:
//   2 configuration (or routes and tasks that could not be added), 3 database, 4 listening
//   socket or TLS.
// A background task still running tasks.stop_grace_ms after the stop was requested ends the
// process at once with status 5 (logged as task_stop_timeout): what it uses is about to be
// destroyed, and the stop must end.
//
// Thread safety: run_service() is called once, from main().

#include "cch/config/config.hpp"
#include "cch/db/pool.hpp"
#include "cch/db/transaction.hpp"
#include "cch/http/client.hpp"
#include "cch/http/metrics.hpp"
#include "cch/http/router.hpp"
#include "cch/runtime/tasks.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace cch::runtime {

enum ExitStatus : int {
  exit_ok = 0,
  exit_configuration = 2,
  exit_database = 3,
  exit_listen = 4,
  exit_tasks_did_not_stop = 5,
};

// What a service's routes may use. Lives as long as the service runs.
struct ServiceContext {
  const config::Config& config;
  db::ConnectionPool& pool;
  http::Metrics& metrics;
  // Where add_routes registers the service's periodic and background work (the registry's expiry
  // sweep, outbox consumers and wake-ups); run_service starts them once the service listens and
  // stops them after the server has stopped, before routes_state and the pool are destroyed.
  BackgroundTasks& tasks;
  db::RetryPolicy retry_policy;
  // Set by add_routes to put GET /metrics behind the service's own authentication (the api
  // does); empty: /metrics is served to anyone who can reach the port.
  std::function<http::Handler(http::Handler)> protect_metrics;
  // State the routes use (the api's authenticator, audit log, ...), kept by run_service: it is
  // destroyed after the server has stopped and before the database pool.
  std::shared_ptr<void> routes_state;
  // A pool on database.read_url (a replica) for reports that may be a moment old; null when that
  // setting is empty, and the reports read from the primary.
  db::ConnectionPool* read_pool;
};

struct ServiceDefinition {
  std::string name;  // one of config::service_names()
  // Adds the service's own routes; may be empty.
  std::function<void(http::Router&, ServiceContext&)> add_routes;
  // The pool's connections plan each prepared statement once (db::PoolOptions::generic_plans);
  // for a service whose statements are written for it.
  bool generic_plans = false;
};

// Runs the service until SIGTERM or SIGINT; returns the process exit status.
int run_service(int argc, char** argv, const ServiceDefinition& definition);

// How a client on this machine reaches `service` as configured: its port, its listen address
// (0.0.0.0 and :: become the loopback address), and over TLS with `tls` when the service sets
// <service>.tls.
http::ClientOptions service_client_options(const config::Config& config, const std::string& service,
                                           std::uint32_t timeout_ms, const http::ClientTlsOptions& tls);

// Building blocks, shared with cch-admin and tests.
db::PoolOptions pool_options_from(const config::Config& config, std::string application_name);
db::RetryPolicy retry_policy_from(const config::Config& config);

}  // namespace cch::runtime
