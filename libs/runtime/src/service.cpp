#include "cch/runtime/service.hpp"

#include "cch/core/log.hpp"
#include "cch/http/observability.hpp"
#include "cch/http/server.hpp"
#include "cch/runtime/schema.hpp"
#include "cch/runtime/unavailable.hpp"

#include <CLI/CLI.hpp>
#include <pqxx/transaction>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <optional>
#include <pthread.h>
#include <unistd.h>

#ifndef CCH_VERSION
#define CCH_VERSION "0.0.0"
#endif

namespace cch::runtime {
namespace {

struct StartupFailure {
  ExitStatus status;
  std::string message;
};

int report(const std::string& program, const StartupFailure& failure) {
  log::flush();  // the lines logged before the failure come first
  std::cerr << program << ": error: " << failure.message << std::endl;
  return failure.status;
}

http::ClientCertificateMode certificate_mode_from(const std::string& text) {
  if (text == "required") return http::ClientCertificateMode::required;
  if (text == "optional") return http::ClientCertificateMode::optional;
  return http::ClientCertificateMode::none;
}

bool is_loopback_address(std::string_view address) {
  return address == "::1" || address == "localhost" || address.starts_with("127.");
}

std::optional<StartupFailure> server_options_from(const config::Config& config, const std::string& service,
                                                  http::ServerOptions& options) {
  options.service_name = service;
  options.listen_address = config.text(service + ".listen_address");
  options.port = static_cast<unsigned short>(config.integer(service + ".port"));
  options.io_threads = static_cast<unsigned>(config.integer("http.io_threads"));
  options.worker_threads = static_cast<unsigned>(config.integer("http.worker_threads"));
  http::ServerLimits& limits = options.limits;
  limits.body_limit_bytes = static_cast<std::size_t>(config.integer("http.body_limit_bytes"));
  limits.header_limit_bytes = static_cast<std::uint32_t>(config.integer("http.header_limit_bytes"));
  limits.read_timeout_ms = static_cast<std::uint32_t>(config.integer("http.read_timeout_ms"));
  limits.write_timeout_ms = static_cast<std::uint32_t>(config.integer("http.write_timeout_ms"));
  limits.idle_timeout_ms = static_cast<std::uint32_t>(config.integer("http.idle_timeout_ms"));
  limits.handshake_timeout_ms = static_cast<std::uint32_t>(config.integer("http.handshake_timeout_ms"));
  limits.max_connections = static_cast<std::size_t>(config.integer("http.max_connections"));
  limits.max_queued_requests = static_cast<std::size_t>(config.integer("http.max_queued_requests"));
  limits.shutdown_grace_ms = static_cast<std::uint32_t>(config.integer("http.shutdown_grace_ms"));
  // An internal service trusts the principal the api forwards, so nothing but the api may reach
  // it: it listens on loopback, or it demands a client certificate from the clearinghouse CA.
  const bool internal = service != "api";
  const bool mutual_tls = config.boolean(service + ".tls") && config.text("tls.client_certificate") == "required";
  if (internal && !is_loopback_address(options.listen_address) && !mutual_tls) {
    return StartupFailure{exit_configuration,
                          service + ".listen_address " + options.listen_address +
                              " is not a loopback address: an internal service listens on loopback, or sets " + service +
                              ".tls = true with tls.client_certificate = \"required\""};
  }
  if (!config.boolean(service + ".tls")) {
    return std::nullopt;
  }
  http::TlsOptions tls;
  tls.certificate_file = config.text("tls.certificate_file");
  tls.private_key_file = config.text("tls.private_key_file");
  tls.client_ca_file = config.text("tls.client_ca_file");
  tls.client_certificate_mode = certificate_mode_from(config.text("tls.client_certificate"));
  if (tls.certificate_file.empty() || tls.private_key_file.empty()) {
    return StartupFailure{exit_configuration, service + ".tls is true but tls.certificate_file or "
                                                        "tls.private_key_file is empty"};
  }
  if (tls.client_certificate_mode != http::ClientCertificateMode::none && tls.client_ca_file.empty()) {
    return StartupFailure{exit_configuration, "tls.client_certificate is " + config.text("tls.client_certificate") +
                                                  " but tls.client_ca_file is empty"};
  }
  options.tls = std::move(tls);
  return std::nullopt;
}

std::string host_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') {
    return "unknown";
  }
  return buffer;
}

void record_start(db::ConnectionPool& pool, const db::RetryPolicy& policy, const std::string& service,
                  const std::string& listen) {
  db::run_transaction(pool, db::Isolation::read_committed, policy, [&](pqxx::transaction_base& tx) {
    tx.exec_params(
        "INSERT INTO cch.service_start (service, version, host, process_id, listen_address) VALUES ($1, $2, $3, $4, $5)",
        service, std::string(CCH_VERSION), host_name(), static_cast<int>(getpid()), listen);
  });
}

// Applies or checks the schema; a failure becomes a StartupFailure.
std::optional<StartupFailure> prepare_schema(db::ConnectionPool& pool, bool migrate) {
  try {
    auto lease = pool.acquire();
    const auto outcome = migrate ? db::migrate(*lease, schema_migrations()) : db::check_migrations(*lease, schema_migrations());
    if (!outcome) {
      std::string message = outcome.error().message;
      if (outcome.error().kind == db::MigrationErrorKind::not_applied) {
        message += "; apply it with `cch-admin migrate` (schema owner's rights) or set database.migrate_on_start";
      }
      return StartupFailure{exit_database, message};
    }
    for (const std::string& name : outcome->applied_now) {
      log::info("migration_applied", {{"migration", name}});
    }
    return std::nullopt;
  } catch (const db::ConnectionFailed& error) {
    return StartupFailure{exit_database, error.what()};
  } catch (const pqxx::failure& error) {
    std::string message = error.what();
    message = message.substr(0, message.find('\n'));
    return StartupFailure{exit_database, "cannot prepare the database schema: " + message};
  }
}

// Ready while a primary is reachable: every service writes (the api its audit log), so during a
// failover each turns unready until the new primary takes connections, and ready again after.
http::ReadinessReport readiness(db::ConnectionPool& pool) {
  http::ReadinessReport report;
  try {
    pool.check_writable();
    report.checks.push_back({"database", true, ""});
  } catch (const std::exception& error) {
    report.checks.push_back({"database", false, error.what()});
  }
  return report;
}

// Blocks SIGTERM and SIGINT in this thread and in every thread started after it, so that
// wait_for_stop_signal() receives them synchronously.
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

int wait_for_stop_signal(const sigset_t& signals) {
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  return signal_number;
}

}  // namespace

db::PoolOptions pool_options_from(const config::Config& config, std::string application_name) {
  db::PoolOptions options;
  options.url = config.text("database.url");
  options.size = static_cast<std::size_t>(config.integer("database.pool_size"));
  options.acquire_timeout = std::chrono::milliseconds(config.integer("database.acquire_timeout_ms"));
  options.connect_timeout_s = static_cast<int>(config.integer("database.connect_timeout_s"));
  options.statement_timeout_ms = static_cast<int>(config.integer("database.statement_timeout_ms"));
  options.tcp_user_timeout_ms = static_cast<int>(config.integer("database.tcp_user_timeout_ms"));
  options.application_name = std::move(application_name);
  return options;
}

http::ClientOptions service_client_options(const config::Config& config, const std::string& service,
                                           std::uint32_t timeout_ms, const http::ClientTlsOptions& tls) {
  http::ClientOptions options;
  options.host = config.text(service + ".listen_address");
  if (options.host == "0.0.0.0") options.host = "127.0.0.1";
  if (options.host == "::") options.host = "::1";
  options.port = static_cast<unsigned short>(config.integer(service + ".port"));
  options.timeout_ms = timeout_ms;
  if (config.boolean(service + ".tls")) options.tls = tls;
  return options;
}

db::RetryPolicy retry_policy_from(const config::Config& config) {
  db::RetryPolicy policy;
  policy.max_attempts = static_cast<int>(config.integer("database.max_transaction_attempts"));
  return policy;
}

int run_service(int argc, char** argv, const ServiceDefinition& definition) {
  const std::string program = "cch-" + definition.name;
  CLI::App app{program + ": the cch " + definition.name + " service"};
  std::optional<std::string> config_path;
  bool check_only = false;
  app.add_option("-c,--config", config_path, "TOML configuration file (default: built-in defaults)")
      ->envname("CCH_CONFIG");
  app.add_flag("--check-config", check_only, "Validate the configuration and exit");
  app.set_version_flag("--version", CCH_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  const auto loaded = config::Config::load(config_path, config::process_environment());
  if (!loaded) {
    return report(program, {exit_configuration, loaded.error().message});
  }
  const config::Config& config = loaded.value();
  log::Level level{};
  log::Format format{};
  log::parse_level(config.text("log.level"), level);
  log::parse_format(config.text("log.format"), format);
  log::init(definition.name, level, format);

  http::ServerOptions server_options;
  if (auto failure = server_options_from(config, definition.name, server_options)) {
    return report(program, *failure);
  }
  if (check_only) {
    std::cout << program << ": configuration is valid" << std::endl;
    return exit_ok;
  }

  const sigset_t stop_signals = block_stop_signals();
  db::PoolOptions pool_options = pool_options_from(config, program);
  pool_options.generic_plans = definition.generic_plans;
  db::ConnectionPool pool(pool_options);
  try {
    pool.check_connectivity();
  } catch (const std::exception& error) {
    return report(program, {exit_database, error.what()});
  }
  if (auto failure = prepare_schema(pool, config.boolean("database.migrate_on_start"))) {
    return report(program, *failure);
  }

  http::Metrics metrics;
  // Declared after the pool and the metrics, before the routes' state: its tasks use the first
  // two, and stop() releases what they hold of the third.
  BackgroundTasks tasks(metrics, TaskLimits{.stop_grace = std::chrono::milliseconds(config.integer("tasks.stop_grace_ms"))});
  http::Router router;
  router.set_failure_answer(database_unavailable_answer);
  // Reports may read from a replica: a pool of its own, small, opened on first use (a replica
  // that is down does not stop the service; the reports then read from the primary).
  std::optional<db::ConnectionPool> read_pool;
  if (!config.text("database.read_url").empty()) {
    db::PoolOptions read_options = pool_options_from(config, program + "-reports");
    read_options.url = config.text("database.read_url");
    read_options.size = std::min<std::size_t>(read_options.size, 4);
    read_pool.emplace(read_options);
  }
  ServiceContext context{config, pool, metrics, tasks, retry_policy_from(config), {}, {},
                         read_pool ? &*read_pool : nullptr};
  if (definition.add_routes) {
    try {
      definition.add_routes(router, context);
    } catch (const std::exception& error) {
      return report(program, {exit_configuration, std::string("cannot add the service's routes and tasks: ") + error.what()});
    }
  }
  http::add_observability_routes(router, metrics, [&pool] { return readiness(pool); }, context.protect_metrics);

  std::optional<http::Server> server;
  try {
    server.emplace(server_options, router, metrics);
    server->start();
  } catch (const std::exception& error) {
    return report(program, {exit_listen, error.what()});
  }
  const std::string listen = server_options.listen_address + ":" + std::to_string(server->port());
  try {
    record_start(pool, context.retry_policy, definition.name, listen);
  } catch (const std::exception& error) {
    server->stop();
    server->wait();
    return report(program, {exit_database, std::string("cannot record the service start: ") + error.what()});
  }
  tasks.start();
  log::info("service_ready", {{"listen", listen},
                              {"tls", server_options.tls.has_value()},
                              {"background_tasks", tasks.size()},
                              {"version", CCH_VERSION}});

  const int signal_number = wait_for_stop_signal(stop_signals);
  log::info("service_stopping", {{"signal", signal_number}});
  server->stop();
  server->wait();
  if (!tasks.stop()) {
    // A task still runs (logged as task_stop_timeout) and would use what is destroyed next.
    log::error("service_stopped_with_tasks_running");
    log::flush();
    std::_Exit(exit_tasks_did_not_stop);
  }
  log::info("service_stopped");
  return exit_ok;
}

}  // namespace cch::runtime
