#pragma once
// The api service: one table of every public route with the roles allowed on it, and the
// wrapper every request goes through. Tests read the same table (the role x route matrix).
//
// Every request to a /v1 route, in this order:
//   1. audit admission   no free audit slot: 503 "audit_log_backlog" (see cch/audit/request_log.hpp)
//   2. authentication    401 / 429 (see authenticate.hpp)
//   3. rate limit        per principal token bucket: 429 "rate_limited" with Retry-After
//   4. role              deny by default: a role not listed for the route gets 403 "forbidden"
//   5. object ownership  a member principal on another member's object (member, account,
//                        journal, withdrawal, trade, margin call): 404 "not_found", exactly as
//                        for a missing object, logged as "object_access_denied" and audited with
//                        that reason
//   6. a command's POST (not a risk_query's): Idempotency-Key (required, 1-200 visible ASCII):
//      a replay answers the stored first response (Idempotent-Replayed: true); the same key with
//      another method, target or body is refused 422 "idempotency_key_reused". A forwarded
//      command reserves its key and is forwarded holding no database connection; the owning
//      service stores the answer in the transaction that makes the command's effect
//      (cch/audit/command_answer.hpp), so a retry after any crash gets the first answer if the
//      effect happened; a request with a key still reserved waits for that answer (409
//      "idempotency_key_in_progress" after the forward timeout and 5 s); a 5xx stores nothing,
//      so a retry runs afresh
//   7. the handler: a read straight from PostgreSQL, a command of the api itself (credentials),
//      a command forwarded to its owning service (registry, risk, settlement) over internal HTTP
//      with the principal, the request id and the command's audit context, or a question
//      forwarded to the risk service with the principal and the request id (risk_query)
//   8. the audit record of the outcome: a command's (every POST past step 5 but a risk_query)
//      is written before its answer leaves, with its effect when it had one; any other
//      request's is buffered
//      (cch/audit/request_log.hpp)
// The database busy or away (no free pooled connection in time, unreachable, a commit whose
// outcome is unknown) answers 503 database_busy / database_unavailable / commit_outcome_unknown
// with Retry-After, never 500: retrying a POST with the same Idempotency-Key is safe.
// A request matching no route gets 401 when it carries no valid credentials and 404/405 otherwise.
//
// Thread safety: the route table is immutable; the handlers are called concurrently.

#include "cch/access/principal.hpp"
#include "cch/http/message.hpp"
#include "cch/http/router.hpp"
#include "cch/runtime/service.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace cch::api {

// Whose object a route's path names, checked for member principals.
enum class Ownership {
  none,        // no member's object (or staff-only)
  member,      // {member_id}
  account,     // {account_id}
  journal,     // {journal_id}: a member sees a journal that posts to one of its accounts
  withdrawal,  // {withdrawal_id}
  trade,       // {trade_id}: a member sees the trades it is the buyer or the seller of
  margin_call, // {call_id}: a member sees its own margin calls
};

// Where the work happens. risk_query: a question the risk service answers without changing
// anything, a POST for its body (the margin what-if): forwarded without an Idempotency-Key (none
// is needed; one sent is ignored) and audited as a read.
enum class Executor { read, api_command, registry, risk, settlement, observability, risk_query };

struct RouteSpec {
  std::string_view method;
  std::string_view pattern;
  access::RoleSet roles;
  Ownership ownership = Ownership::none;
  Executor executor = Executor::read;
  unsigned success_status = 200;
  std::string_view summary;
};

// Every public route, /v1 and the observability routes (/healthz and /readyz are open to all;
// /metrics needs an operator).
std::span<const RouteSpec> route_table();

// Sends a forwarded command to its owning service; returns its response (or a 503 problem when
// the service cannot be reached). The default sends HTTP to the service's configured address;
// tests pass one that dispatches into routers in the same process.
using Forward = std::function<http::Response(Executor service, const http::Request& forwarded)>;

struct ApiOptions {
  double rate_limit_per_second = 100;
  double rate_limit_burst = 200;
  std::size_t audit_capacity = 10'000;
  std::chrono::milliseconds audit_flush_interval{20};
  int api_key_hash_iterations = 100'000;
  std::chrono::seconds credential_cache_ttl{30};
  double auth_failures_per_second = 1;
  double auth_failure_burst = 20;
  // A forwarded command's Idempotency-Key reservation older than this is taken to belong to a
  // request that died mid-forward, and a retry may take it over: the forward timeout and 5 s.
  std::chrono::milliseconds reservation_stale_after{15'000};
};

ApiOptions api_options_from(const config::Config& config);

// An HTTP Forward to the registry and settlement services named in config.
Forward http_forward(const config::Config& config);

class Api;  // the state behind the routes (authenticator, limiter, audit log)

// Adds every route of route_table() to router, with the wrapper above, and sets the router's
// unmatched guard and context.protect_metrics. The returned object must outlive the router's use.
std::shared_ptr<Api> add_api_routes(http::Router& router, runtime::ServiceContext& context, ApiOptions options,
                                    Forward forward);

// Waits until every audit record so far is written (tests).
void flush_audit_log(Api& api);

}  // namespace cch::api
