#include "api_impl.hpp"

#include "cch/audit/command_answer.hpp"
#include "cch/core/log.hpp"
#include "cch/core/sha256.hpp"
#include "cch/db/pool.hpp"
#include "cch/db/prepared.hpp"
#include "cch/db/transaction.hpp"
#include "cch/ledger/accounts.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/registry/trades.hpp"
#include "cch/runtime/internal.hpp"
#include "cch/settlement/collateral.hpp"

#include <pqxx/result>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <algorithm>
#include <array>
#include <cassert>
#include <chrono>
#include <exception>
#include <future>
#include <thread>
#include <utility>

namespace cch::api {
namespace {

using access::Role;
using access::RoleSet;

constexpr RoleSet kEveryone{Role::member, Role::risk_officer, Role::auditor, Role::operator_};
constexpr RoleSet kAnyPrincipal{Role::member, Role::risk_officer, Role::auditor, Role::operator_, Role::venue};
constexpr RoleSet kStaffReaders{Role::risk_officer, Role::auditor, Role::operator_};
constexpr RoleSet kOperator{Role::operator_};
constexpr RoleSet kAuditor{Role::auditor};
constexpr RoleSet kMember{Role::member};
constexpr RoleSet kRiskOfficer{Role::risk_officer};
// Trades, positions and limits: the member itself, risk officers and operators (auditors read the
// ledger and the audit logs only).
constexpr RoleSet kTradingReaders{Role::member, Role::risk_officer, Role::operator_};
// A member's own arrangements (which venues may register its trades): the member, or an operator
// on its behalf.
constexpr RoleSet kMemberOrOperator{Role::member, Role::operator_};

// The one table of public routes. Order: as the OpenAPI document lists them.
constexpr std::array kRoutes = {
    RouteSpec{"GET", "/healthz", {}, Ownership::none, Executor::observability, 200, "Liveness (no credentials)"},
    RouteSpec{"GET", "/readyz", {}, Ownership::none, Executor::observability, 200, "Readiness (no credentials)"},
    RouteSpec{"GET", "/metrics", kOperator, Ownership::none, Executor::observability, 200, "Prometheus metrics"},
    RouteSpec{"GET", "/v1/me", kAnyPrincipal, Ownership::none, Executor::read, 200, "The calling principal"},
    RouteSpec{"GET", "/v1/members", kStaffReaders, Ownership::none, Executor::read, 200, "List members"},
    RouteSpec{"POST", "/v1/members", kOperator, Ownership::none, Executor::registry, 201, "Register a member"},
    RouteSpec{"GET", "/v1/members/{member_id}", kEveryone, Ownership::member, Executor::read, 200, "One member"},
    RouteSpec{"GET", "/v1/members/{member_id}/accounts", kEveryone, Ownership::member, Executor::read, 200,
              "A member's accounts and balances"},
    RouteSpec{"GET", "/v1/members/{member_id}/collateral", kEveryone, Ownership::member, Executor::read, 200,
              "Collateral held, requested for withdrawal, available"},
    RouteSpec{"POST", "/v1/members/{member_id}/collateral-deposits", kOperator, Ownership::member,
              Executor::settlement, 201, "Record a collateral payment received"},
    RouteSpec{"GET", "/v1/members/{member_id}/collateral-withdrawals", kEveryone, Ownership::member, Executor::read,
              200, "A member's withdrawal requests"},
    RouteSpec{"POST", "/v1/members/{member_id}/collateral-withdrawals", kMember, Ownership::member,
              Executor::settlement, 201, "Request collateral back"},
    RouteSpec{"GET", "/v1/collateral-withdrawals/{withdrawal_id}", kEveryone, Ownership::withdrawal, Executor::read,
              200, "One withdrawal request"},
    RouteSpec{"POST", "/v1/collateral-withdrawals/{withdrawal_id}/approve", kOperator, Ownership::withdrawal,
              Executor::settlement, 200, "Approve and pay a withdrawal"},
    RouteSpec{"POST", "/v1/collateral-withdrawals/{withdrawal_id}/reject", kOperator, Ownership::withdrawal,
              Executor::settlement, 200, "Reject a withdrawal"},
    RouteSpec{"POST", "/v1/collateral-withdrawals/{withdrawal_id}/cancel", kMember, Ownership::withdrawal,
              Executor::settlement, 200, "Cancel one's own withdrawal request"},
    RouteSpec{"GET", "/v1/accounts/{account_id}", kEveryone, Ownership::account, Executor::read, 200,
              "An account and its balance"},
    RouteSpec{"GET", "/v1/accounts/{account_id}/history", RoleSet{Role::member, Role::auditor, Role::operator_},
              Ownership::account, Executor::read, 200, "An account's postings, newest first"},
    RouteSpec{"GET", "/v1/journals/{journal_id}", RoleSet{Role::member, Role::auditor}, Ownership::journal,
              Executor::read, 200, "One journal"},
    RouteSpec{"GET", "/v1/ledger/trial-balance", kAuditor, Ownership::none, Executor::read, 200, "Trial balance"},
    RouteSpec{"GET", "/v1/ledger/verification", kAuditor, Ownership::none, Executor::read, 200,
              "Verify the hash chains"},
    RouteSpec{"GET", "/v1/audit/requests", kAuditor, Ownership::none, Executor::read, 200, "The request audit log"},
    RouteSpec{"GET", "/v1/products", kEveryone, Ownership::none, Executor::read, 200, "List products"},
    RouteSpec{"POST", "/v1/products", kOperator, Ownership::none, Executor::registry, 201, "Create a product"},
    RouteSpec{"GET", "/v1/products/{product_id}", kEveryone, Ownership::none, Executor::read, 200, "One product"},
    RouteSpec{"POST", "/v1/products/{product_id}/trading-status", kOperator, Ownership::none, Executor::registry, 200,
              "Halt, delist or resume a product"},
    RouteSpec{"GET", "/v1/products/{product_id}/series", kEveryone, Ownership::none, Executor::read, 200,
              "The futures series listed today"},
    RouteSpec{"GET", "/v1/products/{product_id}/reference-prices", kEveryone, Ownership::none, Executor::read, 200,
              "Reference prices per delivery month"},
    RouteSpec{"POST", "/v1/products/{product_id}/reference-prices", kOperator, Ownership::none, Executor::registry,
              200, "Publish a month's reference price"},
    RouteSpec{"POST", "/v1/members/{member_id}/product-authorisations", kOperator, Ownership::member,
              Executor::registry, 201, "Authorise a member to clear a product"},
    RouteSpec{"GET", "/v1/members/{member_id}/limits", kTradingReaders, Ownership::member, Executor::read, 200,
              "A member's credit and position limits and credit used"},
    RouteSpec{"POST", "/v1/members/{member_id}/credit-limit", kRiskOfficer, Ownership::member, Executor::registry,
              200, "Set a member's credit limit"},
    RouteSpec{"POST", "/v1/members/{member_id}/position-limits", kRiskOfficer, Ownership::member, Executor::registry,
              200, "Set a member's position limit for a product"},
    RouteSpec{"GET", "/v1/members/{member_id}/positions", kTradingReaders, Ownership::member, Executor::read, 200,
              "A member's net positions per product and delivery month"},
    RouteSpec{"GET", "/v1/members/{member_id}/venue-authorisations", kTradingReaders, Ownership::member,
              Executor::read, 200, "The venues a member has authorised"},
    RouteSpec{"POST", "/v1/members/{member_id}/venue-authorisations", kMemberOrOperator, Ownership::member,
              Executor::registry, 201, "Authorise a venue to register the member's trades"},
    RouteSpec{"POST", "/v1/members/{member_id}/venue-authorisations/{venue_principal_id}/revoke", kMemberOrOperator,
              Ownership::member, Executor::registry, 200, "Revoke a venue's authorisation"},
    RouteSpec{"GET", "/v1/trades", kTradingReaders, Ownership::none, Executor::read, 200, "List trades"},
    RouteSpec{"POST", "/v1/trades", kMember, Ownership::none, Executor::registry, 201, "Submit a trade"},
    RouteSpec{"GET", "/v1/trades/{trade_id}", kTradingReaders, Ownership::trade, Executor::read, 200,
              "One trade and its history"},
    RouteSpec{"POST", "/v1/trades/{trade_id}/affirm", kMember, Ownership::trade, Executor::registry, 200,
              "Affirm a trade: checks, then clearing"},
    RouteSpec{"POST", "/v1/trades/{trade_id}/reject", kMember, Ownership::trade, Executor::registry, 200,
              "Reject a trade submitted by the other side"},
    RouteSpec{"POST", "/v1/trades/{trade_id}/cancel", kMember, Ownership::trade, Executor::registry, 200,
              "Cancel a pending trade"},
    RouteSpec{"POST", "/v1/venue-batches", RoleSet{Role::venue}, Ownership::none, Executor::registry, 200,
              "Register a venue's batch of trades"},
    RouteSpec{"GET", "/v1/principals", RoleSet{Role::operator_, Role::auditor}, Ownership::none, Executor::read, 200,
              "List principals"},
    RouteSpec{"POST", "/v1/principals", kOperator, Ownership::none, Executor::api_command, 201, "Create a principal"},
    RouteSpec{"POST", "/v1/principals/{principal_id}/api-keys", kOperator, Ownership::none, Executor::api_command, 201,
              "Issue an API key (shown once)"},
    RouteSpec{"POST", "/v1/api-keys/{key_id}/revoke", kOperator, Ownership::none, Executor::api_command, 200,
              "Revoke an API key"},
    RouteSpec{"POST", "/v1/principals/{principal_id}/certificates", kOperator, Ownership::none, Executor::api_command,
              201, "Register a client certificate"},
    RouteSpec{"POST", "/v1/certificates/{fingerprint}/revoke", kOperator, Ownership::none, Executor::api_command, 200,
              "Revoke a client certificate"},
};

using Clock = std::chrono::steady_clock;

http::Response audit_backlog() {
  http::Response response = http::problem(503, "audit_log_backlog", "Service busy",
                                          "requests cannot be recorded in the audit log fast enough; retry shortly");
  response.headers.emplace_back("Retry-After", "1");
  return response;
}

bool is_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 200) return false;
  for (const char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// Whether a member principal owns the object the path names. nullopt: the object does not exist.
// Each owning library answers who owns its object.
std::optional<bool> read_member_owns(pqxx::transaction_base& tx, Ownership ownership, const http::Request& request,
                                     MemberId member) {
  const auto id_of = [&](std::string_view name) { return request.path_id(name); };
  switch (ownership) {
    case Ownership::none: return true;
    case Ownership::member: {
      const auto id = id_of("member_id");
      if (!id) return std::nullopt;
      return *id == member.value();
    }
    case Ownership::account: {
      const auto id = id_of("account_id");
      if (!id) return std::nullopt;
      const auto owner = ledger::account_owner(tx, AccountId(*id));
      if (!owner) return std::nullopt;
      return owner->member == member;
    }
    case Ownership::withdrawal: {
      const auto id = id_of("withdrawal_id");
      if (!id) return std::nullopt;
      const auto owner = settlement::withdrawal_owner(tx, *id);
      if (!owner) return std::nullopt;
      return *owner == member;
    }
    case Ownership::trade: {
      const auto id = id_of("trade_id");
      if (!id) return std::nullopt;
      const auto parties = registry::trade_parties(tx, TradeId(*id));
      if (!parties) return std::nullopt;
      return parties->buyer == member || parties->seller == member;
    }
    case Ownership::journal: {
      const auto id = id_of("journal_id");
      if (!id) return std::nullopt;
      return ledger::journal_posts_to_member(tx, JournalId(*id), member);
    }
  }
  return std::nullopt;
}

std::optional<bool> member_owns(Api& api, pqxx::transaction_base& tx, Ownership ownership,
                                const http::Request& request, MemberId member) {
  if (ownership == Ownership::none || ownership == Ownership::member) {
    return read_member_owns(tx, ownership, request, member);  // no database needed
  }
  const std::string_view name = ownership == Ownership::account      ? "account_id"
                                : ownership == Ownership::withdrawal ? "withdrawal_id"
                                : ownership == Ownership::trade      ? "trade_id"
                                                                     : "journal_id";
  const std::string key = std::string(name) + ":" + std::string(request.path_param(name).value_or("")) + ":" +
                          member.to_string();
  if (const auto known = api.ownership.find(key)) return known;
  const auto owns = read_member_owns(tx, ownership, request, member);
  if (owns) api.ownership.remember(key, *owns);  // a missing object may yet be created: not remembered
  return owns;
}

http::Response rate_limited(std::chrono::milliseconds retry_after) {
  http::Response response =
      http::problem(429, "rate_limited", "Too many requests", "this principal's request rate limit is exceeded");
  response.headers.emplace_back("Retry-After",
                                std::to_string(access::retry_after_header_seconds(retry_after).count()));
  return response;
}

// When an admitted request began, for its audit record.
struct AuditStart {
  UtcTimestamp received_at = UtcTimestamp::now();
  Clock::time_point started = Clock::now();
};

struct Outcome {
  http::Response response;
  std::optional<access::Principal> principal;
  std::string audit_reason;    // overrides the problem's reason in the audit log
  bool audit_written = false;  // the request's audit row is written already (a command's)
};

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

// The request as the owning service receives it: the principal, the request id, and the
// command's audit context (audit/command_answer.hpp).
http::Request forwarded_request(const http::Request& request, const access::Principal& principal,
                                const RouteSpec& route, const AuditStart& start) {
  http::Request forwarded;
  forwarded.method = request.method;
  forwarded.target = std::string(runtime::kInternalPrefix) + request.target;
  forwarded.path = std::string(runtime::kInternalPrefix) + request.path;
  forwarded.query_params = request.query_params;
  forwarded.body = request.body;
  forwarded.request_id = request.request_id;
  forwarded.remote_address = request.remote_address;
  for (const std::string_view name : {"Content-Type", "Idempotency-Key"}) {
    if (const auto value = request.header(name)) forwarded.headers.emplace_back(std::string(name), std::string(*value));
  }
  forwarded.headers.emplace_back("X-Request-Id", request.request_id);
  for (auto& header : access::forwarded_principal_headers(principal)) forwarded.headers.push_back(std::move(header));
  for (auto& header :
       audit::forwarded_command_headers(route.pattern, request.path, start.received_at, request.remote_address)) {
    forwarded.headers.push_back(std::move(header));
  }
  return forwarded;
}

std::string request_digest(const http::Request& request) {
  return to_hex(sha256(request.method + "\n" + request.target + "\n" + request.body));
}

http::Response key_reused() {
  return http::problem(422, "idempotency_key_reused", "Idempotency-Key reused",
                       "this Idempotency-Key was used for another request; use a new key");
}

// One autocommit statement (or a few, each its own) on a pooled connection; the connection goes
// back to the pool before the caller does anything slow.
template <class Work>
auto alone(Api& api, Work&& work) {
  auto lease = api.context.pool.acquire();
  pqxx::nontransaction tx(*lease);
  return work(static_cast<pqxx::transaction_base&>(tx));
}

// A command's answer with its audit row written before the answer leaves (one statement).
Outcome written(Api& api, const http::Request& request, const RouteSpec& route, const AuditStart& start,
                Outcome outcome) {
  alone(api, [&](pqxx::transaction_base& tx) {
    audit::insert_record(tx, audit_record(request, route.pattern, start, outcome));
  });
  outcome.audit_written = true;
  return outcome;
}

// A command forwarded to its owning service under an Idempotency-Key (audit/command_answer.hpp):
// reserve the key (one statement), forward holding no database connection; the service records
// its answer with its effect. An answer it did not record is stored here with the audit row (one
// statement); after a 5xx the key is released, unless the service recorded an answer, which is
// then the answer. A request finding the key reserved by another waits for that answer, polling;
// a reservation older than ApiOptions::reservation_stale_after (its request died mid-forward, and
// the command did not take effect, or its answer would be there) is taken over.
Outcome forwarded_once(Api& api, const RouteSpec& route, const http::Request& request,
                       const access::Principal& principal, const audit::KeyRequest& key, const AuditStart& start) {
  constexpr auto kPoll = std::chrono::milliseconds(10);
  const auto give_up = Clock::now() + api.options.reservation_stale_after + std::chrono::seconds(5);
  const auto answer = [&](http::Response response) {
    return written(api, request, route, start, Outcome{std::move(response), principal, {}});
  };
  for (bool reserved = false; !reserved;) {
    auto found = alone(api, [&](pqxx::transaction_base& tx) {
      return audit::reserve_key(tx, key, api.options.reservation_stale_after);
    });
    switch (found.state) {
      case audit::Reservation::State::reserved: reserved = true; continue;
      case audit::Reservation::State::answered: return answer(std::move(*found.answer));
      case audit::Reservation::State::other_body: return answer(key_reused());
      case audit::Reservation::State::held_stale:
        if (alone(api, [&](pqxx::transaction_base& tx) { return audit::take_over(tx, key, found.held_by); })) {
          log::warn("idempotency_reservation_taken_over",
                    {{"principal", principal.name}, {"stale_request_id", found.held_by}});
          reserved = true;
          continue;
        }
        break;
      case audit::Reservation::State::held: break;
    }
    if (Clock::now() > give_up) return answer(audit::key_in_progress());
    std::this_thread::sleep_for(kPoll);
  }
  http::Response response = api.forward(route.executor, forwarded_request(request, principal, route, start));
  const auto recorded_by_service = std::find_if(response.headers.begin(), response.headers.end(), [](const auto& h) {
    return h.first == audit::kAnswerRecordedHeader;
  });
  if (recorded_by_service != response.headers.end()) {
    response.headers.erase(recorded_by_service);
    return Outcome{std::move(response), principal, {}, true};
  }
  if (response.status >= 500) {
    if (auto first = alone(api, [&](pqxx::transaction_base& tx) { return audit::release_key(tx, key); })) {
      return Outcome{std::move(*first), principal, {}, true};  // the service recorded it, then failed to send it
    }
    return answer(std::move(response));
  }
  Outcome outcome{std::move(response), principal, {}, true};
  alone(api, [&](pqxx::transaction_base& tx) {
    audit::answer_key(tx, key, outcome.response, audit_record(request, route.pattern, start, outcome));
  });
  return outcome;
}

// Runs a POST under its Idempotency-Key (see routes.hpp, step 6). Every answer's audit row is
// written before the answer leaves.
Outcome idempotent(Api& api, const RouteSpec& route, const http::Request& request, const access::Principal& principal,
                   CommandHandler command, const AuditStart& start) {
  const auto key = request.header("Idempotency-Key");
  if (!key) {
    return written(api, request, route, start,
                   Outcome{http::problem(400, "idempotency_key_required", "Idempotency-Key required",
                                         "every POST carries an Idempotency-Key header (1-200 visible ASCII "
                                         "characters)"),
                           principal,
                           {}});
  }
  if (!is_idempotency_key(*key)) {
    return written(api, request, route, start,
                   Outcome{http::problem(400, "invalid_idempotency_key", "Invalid Idempotency-Key",
                                         "an Idempotency-Key is 1-200 visible ASCII characters"),
                           principal,
                           {}});
  }
  const audit::KeyRequest key_request{.principal_id = principal.id.value(),
                                      .idempotency_key = std::string(*key),
                                      .method = request.method,
                                      .path = request.path,
                                      .request_sha256 = request_digest(request),
                                      .request_id = request.request_id};
  if (command == nullptr) return forwarded_once(api, route, request, principal, key_request, start);
  // A command of the api itself: its effect, its stored answer and its audit row commit together.
  return db::run_transaction(
      api.context.pool, db::Isolation::read_committed, api.context.retry_policy,
      [&](pqxx::transaction_base& tx) -> Outcome {
        Outcome outcome{http::Response{}, principal, {}, true};
        if (const auto stored = audit::find_answer(tx, key_request)) {
          outcome.response = !stored->same_request ? key_reused()
                             : !stored->answered   ? audit::key_in_progress()
                                                   : *stored->replay;
          audit::insert_record(tx, audit_record(request, route.pattern, start, outcome));
          return outcome;
        }
        outcome.response = command(api, tx, request, principal);
        if (outcome.response.status < 500) {
          audit::store_answer(tx, key_request, outcome.response, audit_record(request, route.pattern, start, outcome));
        } else {
          audit::insert_record(tx, audit_record(request, route.pattern, start, outcome));
        }
        return outcome;
      });
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
    const CommandHandler command =
        route.executor == Executor::api_command ? command_handler(route.method, route.pattern) : nullptr;
    assert((route.executor != Executor::api_command || command != nullptr) && "api command without a handler");
    return idempotent(api, route, request, principal, command, start);
  }
  const ReadRoute read = read_route(route.method, route.pattern);
  assert((read.handler != nullptr || read.combined != nullptr) && "read route without a handler");
  if (read.combined) return combined_outcome(route, request, principal, wait_for(read.combined, api, request));
  const auto work = [&](pqxx::transaction_base& tx) -> Outcome {
    if (check_owner) {
      if (auto refusal = denied(member_owns(api, tx, route.ownership, request, *principal.member))) {
        return std::move(*refusal);
      }
    }
    return {read.handler(api, tx, request, principal), principal, {}};
  };
  if (read.snapshot) {
    return db::run_transaction(api.context.pool, db::Isolation::repeatable_read, api.context.retry_policy, work);
  }
  // No BEGIN/COMMIT: the hot reads (an account's balance) cost one statement each.
  auto lease = api.context.pool.acquire();
  pqxx::nontransaction tx(*lease);
  return work(tx);
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
  try {
    std::rethrow_exception(std::move(failure));
  } catch (const db::PoolTimeout& error) {
    log::warn("api_database_busy", {{"route", route}, {"what", error.what()}});
    return unavailable("database_busy", "no database connection was free in time; retry shortly");
  } catch (const db::CombinedReadsFull& error) {
    log::warn("api_database_busy", {{"route", route}, {"what", error.what()}});
    return unavailable("database_busy", "too many reads are waiting for the database; retry shortly");
  } catch (const db::CombinedReadsStopped& error) {
    log::warn("api_stopping", {{"route", route}, {"what", error.what()}});
    return unavailable("service_stopping", "the service is stopping; retry shortly");
  } catch (const db::ConnectionFailed& error) {
    log::error("api_database_unreachable", {{"route", route}, {"what", error.what()}});
    return unavailable("database_unavailable", "the database cannot be reached; retry shortly");
  } catch (const db::CommitOutcomeUnknown& error) {
    log::error("api_commit_outcome_unknown", {{"route", route}, {"what", error.what()}});
    return unavailable("commit_outcome_unknown",
                       "the database connection broke while committing; retry with the same "
                       "Idempotency-Key to learn the outcome");
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

std::span<const RouteSpec> route_table() { return kRoutes; }

std::optional<bool> OwnershipCache::find(const std::string& key) const {
  const std::lock_guard lock(mutex_);
  const auto found = owns_.find(key);
  if (found == owns_.end()) return std::nullopt;
  return found->second;
}

void OwnershipCache::remember(const std::string& key, bool owns) {
  const std::lock_guard lock(mutex_);
  if (owns_.size() >= kEntriesMax) owns_.clear();
  owns_.emplace(key, owns);
}

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
  for (const RouteSpec& route : kRoutes) {
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
