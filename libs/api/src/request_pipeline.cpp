// The request pipeline of every public route, in the order of routes.hpp: audit admission,
// authentication, rate limit, role, ownership, then the read or the command, and the audit record.
#include "request_pipeline.hpp"

#include "cch/core/log.hpp"
#include "cch/db/pool.hpp"
#include "cch/db/transaction.hpp"
#include "cch/runtime/unavailable.hpp"

#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <cassert>
#include <chrono>
#include <exception>
#include <future>
#include <optional>
#include <string>
#include <utility>

namespace cch::api {

audit::AuditRecord audit_record(const http::Request& request, std::string_view route_pattern,
                                const AuditStart& start, const Outcome& outcome) {
  audit::AuditRecord record;
  record.received_at = start.received_at;
  record.request_id = request.request_id;
  record.principal = outcome.principal;
  record.method = request.method;
  record.route = std::string(route_pattern);
  record.path = request.path.substr(0, 2048);
  record.status = outcome.response.status;
  record.reason = outcome.audit_reason.empty() ? audit::problem_reason(outcome.response) : outcome.audit_reason;
  record.remote_address = request.remote_address.substr(0, 64);
  record.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start.started).count();
  return record;
}

namespace {

using access::Role;

http::Response audit_backlog() {
  http::Response response = http::problem(503, "audit_log_backlog", "Service busy",
                                          "requests cannot be recorded in the audit log fast enough; retry shortly");
  response.headers.emplace_back("Retry-After", "1");
  return response;
}

http::Response rate_limited(std::chrono::milliseconds retry_after) {
  http::Response response =
      http::problem(429, "rate_limited", "Too many requests", "this principal's request rate limit is exceeded");
  response.headers.emplace_back("Retry-After",
                                std::to_string(access::retry_after_header_seconds(retry_after).count()));
  return response;
}

// The checks every authenticated request passes first: the principal's rate limit, then its
// role. nullopt: admitted.
std::optional<Outcome> refused_admission(Api& api, const RouteSpec& route, const access::Principal& principal) {
  const auto decision = api.limiter.try_acquire(principal.name, Clock::now());
  if (!decision.allowed) return Outcome{rate_limited(decision.retry_after), principal, {}};
  if (!route.roles.contains(principal.role)) {
    return Outcome{http::problem(403, "forbidden", "Forbidden",
                                 "the role " + std::string(access::to_string(principal.role)) +
                                     " may not use this route"),
                   principal,
                   {}};
  }
  return std::nullopt;
}

bool checks_owner(const RouteSpec& route, const access::Principal& principal) {
  return principal.role == Role::member && route.ownership != Ownership::none;
}

// Ownership: the object is missing (404) or another member's (404, audited as an attempt).
std::optional<Outcome> refused_ownership(const RouteSpec& route, const http::Request& request,
                                         const access::Principal& principal, std::optional<bool> owns) {
  if (!owns) return Outcome{not_found(), principal, {}};
  if (!*owns) {
    log::warn("object_access_denied",
              {{"principal", principal.name}, {"route", std::string(route.pattern)}, {"path", request.path}});
    return Outcome{not_found(), principal, "object_access_denied"};
  }
  return std::nullopt;
}

// A combined read's outcome: the member's own object, or 404 from the same row.
Outcome combined_outcome(const RouteSpec& route, const http::Request& request, const access::Principal& principal,
                         CombinedRead read) {
  if (checks_owner(route, principal)) {
    const std::optional<bool> owns = read.found ? std::optional<bool>(read.owner == principal.member) : std::nullopt;
    if (auto refusal = refused_ownership(route, request, principal, owns)) return std::move(*refusal);
  }
  return {std::move(read.response), principal, {}};
}

// Runs a combined read and waits for it (the blocking path; see serve_fast for the other).
CombinedRead wait_for(CombinedReadHandler handler, Api& api, const http::Request& request) {
  std::promise<CombinedRead> promise;
  auto future = promise.get_future();
  handler(api, request, [&promise](CombinedRead read, std::exception_ptr error) {
    if (error) {
      promise.set_exception(error);
    } else {
      promise.set_value(std::move(read));
    }
  });
  return future.get();
}

// Where a report was read, and the instant up to which it is complete: on a replica the commit
// time of the last transaction it replayed (everything committed before it is there; on a primary
// with no writes since, that instant may be older than the data is stale); on the primary the
// statement's start. Absent when a replica has replayed no transaction since it started.
struct ReportStamp {
  bool from_replica = false;
  std::optional<std::string> as_of;
};
ReportStamp report_stamp(pqxx::transaction_base& tx) {
  const auto row = tx.exec(
      "SELECT pg_is_in_recovery(), to_char(CASE WHEN pg_is_in_recovery() THEN pg_last_xact_replay_timestamp() "
      "ELSE statement_timestamp() END AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")[0];
  ReportStamp stamp;
  stamp.from_replica = row[0].as<bool>();
  if (!row[1].is_null()) stamp.as_of = row[1].as<std::string>();
  return stamp;
}

Outcome serve(Api& api, const RouteSpec& route, const http::Request& request, const AuditStart& start) {
  auto authenticated = api.authenticator.authenticate(request);
  if (!authenticated.principal) return {std::move(*authenticated.refusal), std::nullopt, {}};
  const access::Principal& principal = *authenticated.principal;
  if (auto refusal = refused_admission(api, route, principal)) return std::move(*refusal);

  const bool check_owner = checks_owner(route, principal);
  const auto denied = [&](std::optional<bool> owns) { return refused_ownership(route, request, principal, owns); };

  if (route.method == "POST") {
    if (check_owner) {
      const auto owns = db::run_transaction(api.context.pool, db::Isolation::read_committed, api.context.retry_policy,
                                            [&](pqxx::transaction_base& tx) {
                                              return member_owns(api, tx, route.ownership, request,
                                                                 *principal.member);
                                            });
      if (auto refusal = denied(owns)) return std::move(*refusal);
    }
    if (route.executor == Executor::risk_query) return forwarded_query(api, request, principal);
    const CommandHandler command =
        route.executor == Executor::api_command ? command_handler(route.method, route.pattern) : nullptr;
    assert((route.executor != Executor::api_command || command != nullptr) && "api command without a handler");
    return idempotent(api, route, request, principal, command, start);
  }
  const ReadRoute read = read_route(route.method, route.pattern);
  assert((read.handler != nullptr || read.combined != nullptr) && "read route without a handler");
  if (read.combined) return combined_outcome(route, request, principal, wait_for(read.combined, api, request));
  bool report_on_primary = false;
  const auto work = [&](pqxx::transaction_base& tx) -> Outcome {
    if (check_owner) {
      if (auto refusal = denied(member_owns(api, tx, route.ownership, request, *principal.member))) {
        return std::move(*refusal);
      }
    }
    if (!read.replica) return {read.handler(api, tx, request, principal), principal, {}};
    const ReportStamp stamp = report_stamp(tx);  // before the read: the read sees at least this much
    report_on_primary = !stamp.from_replica;
    Outcome outcome{read.handler(api, tx, request, principal), principal, {}};
    outcome.response.headers.emplace_back("Cch-Read-From", stamp.from_replica ? "replica" : "primary");
    if (stamp.as_of) outcome.response.headers.emplace_back("Cch-Data-As-Of", *stamp.as_of);
    return outcome;
  };
  const auto run_on = [&](db::ConnectionPool& pool) -> Outcome {
    if (read.snapshot) return db::run_transaction(pool, db::Isolation::repeatable_read, api.context.retry_policy, work);
    // No BEGIN/COMMIT: the hot reads (an account's balance) cost one statement each.
    auto lease = pool.acquire();
    pqxx::nontransaction tx(*lease);
    return work(tx);
  };
  if (read.replica && api.context.read_pool != nullptr) {
    try {
      Outcome outcome = run_on(*api.context.read_pool);
      if (report_on_primary) {
        // The read pool's connection was to a standby since promoted (connections live through a
        // promotion), or no standby answers: read again on a new connection, which libpq makes
        // to a standby when one answers; the answer says where it was read either way.
        api.context.read_pool->discard_idle();
        outcome = run_on(*api.context.read_pool);
        if (report_on_primary) api.context.read_pool->discard_idle();
      }
      return outcome;
    } catch (const std::exception& error) {
      // The replica away: the report comes from the primary (and says so) rather than not at all.
      if (!runtime::database_unavailable_answer(std::current_exception(), route.pattern)) throw;
      log::warn("api_report_replica_unavailable", {{"route", std::string(route.pattern)}, {"what", error.what()}});
    }
  }
  return run_on(api.context.pool);
}

// The answer to a request whose work threw. The database being busy or away is the environment,
// not a bug: 503 with Retry-After, so a client retries (a POST with the same Idempotency-Key,
// which makes the retry safe). Anything else is a bug: 500, the text logged and never sent.
http::Response failure_response(std::exception_ptr failure, std::string_view route_pattern) {
  const auto unavailable = [](std::string_view reason, std::string_view detail) {
    http::Response response = http::problem(503, reason, "Service unavailable", detail);
    response.headers.emplace_back("Retry-After", "1");
    return response;
  };
  const std::string route(route_pattern);
  if (auto answer = runtime::database_unavailable_answer(failure, route_pattern)) return std::move(*answer);
  try {
    std::rethrow_exception(std::move(failure));
  } catch (const db::CombinedReadsFull& error) {
    log::warn("api_database_busy", {{"route", route}, {"what", error.what()}});
    return unavailable("database_busy", "too many reads are waiting for the database; retry shortly");
  } catch (const db::CombinedReadsStopped& error) {
    log::warn("api_stopping", {{"route", route}, {"what", error.what()}});
    return unavailable("service_stopping", "the service is stopping; retry shortly");
  } catch (const std::exception& error) {
    log::error("api_request_failed", {{"route", route}, {"what", error.what()}});
  } catch (...) {
    log::error("api_request_failed", {{"route", route}, {"what", "non-standard exception"}});
  }
  return http::problem(500, "internal_error", "Internal error",
                       "the server failed to handle the request; quote the request id when reporting it");
}

// Hands the outcome of an admitted request to the audit log (releasing its slot; a command's row
// is written already) and returns the answer.
http::Response recorded(Api& api, const http::Request& request, std::string_view route_pattern,
                        const AuditStart& start, Outcome outcome) {
  if (outcome.audit_written) {
    api.audit.release();
  } else {
    api.audit.record(audit_record(request, route_pattern, start, outcome));
  }
  return std::move(outcome.response);
}

// Runs work under audit admission and records its outcome.
http::Response audited(Api& api, const http::Request& request, std::string_view route_pattern,
                       const std::function<Outcome(const AuditStart&)>& work) {
  if (!api.audit.try_reserve()) return audit_backlog();
  const AuditStart start;
  Outcome outcome{http::Response{}, std::nullopt, {}};
  try {
    outcome = work(start);
  } catch (...) {
    outcome = Outcome{failure_response(std::current_exception(), route_pattern), std::nullopt, {}};
  }
  return recorded(api, request, route_pattern, start, std::move(outcome));
}

// The same request as audited(serve(...)) answers, for a combined read, without blocking the
// server's I/O thread: taken only when the principal is known from the authentication cache and
// an audit slot is free at once; otherwise declined (false, nothing done) for the worker path,
// which may wait for both. The read's answer is recorded and sent from the combined-reads thread.
bool serve_fast(Api& api, const RouteSpec& route, CombinedReadHandler read, const http::Request& request,
                const http::Respond& respond) {
  auto principal = api.authenticator.known_principal(request);
  if (!principal || !api.audit.try_reserve_now()) return false;
  const AuditStart start;
  if (auto refusal = refused_admission(api, route, *principal)) {
    respond(recorded(api, request, route.pattern, start, std::move(*refusal)));
    return true;
  }
  read(api, request,
       [&api, &route, &request, respond, start, principal = std::move(*principal)](CombinedRead result,
                                                                                   std::exception_ptr error) {
         const log::ScopedRequestId request_id_scope(request.request_id);
         Outcome outcome = error ? Outcome{failure_response(error, route.pattern), principal, {}}
                                 : combined_outcome(route, request, principal, std::move(result));
         respond(recorded(api, request, route.pattern, start, std::move(outcome)));
       });
  return true;
}

}  // namespace

http::Response not_found() { return http::problem(404, "not_found", "Not found", "no resource at this path"); }

Api::Api(runtime::ServiceContext& context_, ApiOptions options_, Forward forward_)
    : context(context_),
      options(options_),
      forward(std::move(forward_)),
      authenticator(context_.pool,
                    AuthenticatorOptions{options_.credential_cache_ttl, 10'000, options_.auth_failures_per_second,
                                         options_.auth_failure_burst},
                    &context_.metrics.counter("cch_api_key_secret_hashes_total",
                                              "API key secrets verified with the slow hash (not found verified in "
                                              "memory).")),
      limiter(access::RateLimit{options_.rate_limit_per_second, options_.rate_limit_burst}, 100'000),
      audit(context_.pool, options_.audit_capacity, options_.audit_flush_interval),
      account_connections(account_read_pool_options(context_.pool.options())),
      accounts(account_fetch(account_connections, context_.metrics), kAccountReadLimits) {}

ApiOptions api_options_from(const config::Config& config) {
  ApiOptions options;
  options.rate_limit_per_second = static_cast<double>(config.integer("api.rate_limit_per_second"));
  options.rate_limit_burst = static_cast<double>(config.integer("api.rate_limit_burst"));
  options.audit_capacity = static_cast<std::size_t>(config.integer("api.audit_log_capacity"));
  options.api_key_hash_iterations = static_cast<int>(config.integer("api.api_key_hash_iterations"));
  options.credential_cache_ttl = std::chrono::seconds(config.integer("api.credential_cache_ttl_s"));
  options.auth_failure_burst = static_cast<double>(config.integer("api.auth_failure_burst"));
  options.reservation_stale_after =
      std::chrono::milliseconds(config.integer("api.forward_timeout_ms")) + std::chrono::seconds(5);
  return options;
}

std::shared_ptr<Api> add_api_routes(http::Router& router, runtime::ServiceContext& context, ApiOptions options,
                                    Forward forward) {
  auto api = std::make_shared<Api>(context, options, std::move(forward));
  Api* state = api.get();
  for (const RouteSpec& route : route_table()) {
    if (route.executor == Executor::observability) continue;
    http::Handler handler = [state, &route](const http::Request& request) {
      return audited(*state, request, route.pattern,
                     [&](const AuditStart& start) { return serve(*state, route, request, start); });
    };
    const CombinedReadHandler combined = read_route(route.method, route.pattern).combined;
    if (combined == nullptr) {
      router.add(std::string(route.method), std::string(route.pattern), std::move(handler));
      continue;
    }
    router.add(std::string(route.method), std::string(route.pattern), std::move(handler),
               [state, &route, combined](const http::Request& request, const http::Respond& respond) {
                 return serve_fast(*state, route, combined, request, respond);
               });
  }
  router.set_unmatched_guard([state](const http::Request& request, http::Response would_answer) {
    return audited(*state, request, http::Router::unmatched_route, [&](const AuditStart&) -> Outcome {
      auto authenticated = state->authenticator.authenticate(request);
      if (!authenticated.principal) return {std::move(*authenticated.refusal), std::nullopt, {}};
      return {std::move(would_answer), authenticated.principal, {}};
    });
  });
  context.protect_metrics = [state](http::Handler serve_metrics) -> http::Handler {
    return [state, serve_metrics = std::move(serve_metrics)](const http::Request& request) {
      auto authenticated = state->authenticator.authenticate(request);
      if (!authenticated.principal) return std::move(*authenticated.refusal);
      if (authenticated.principal->role != Role::operator_) {
        return http::problem(403, "forbidden", "Forbidden", "only operators read metrics");
      }
      return serve_metrics(request);
    };
  };
  return api;
}

void flush_audit_log(Api& api) { api.audit.flush(); }

}  // namespace cch::api
