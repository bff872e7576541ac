// POSTs under an Idempotency-Key: a command of the api itself runs in the transaction that stores
// its answer and audit row; a command of another service reserves its key, is forwarded holding
// no database connection, and its answer is the one the service recorded with its effect
// (cch/audit/command_answer.hpp).
#include "request_pipeline.hpp"

#include "cch/audit/command_answer.hpp"
#include "cch/core/log.hpp"
#include "cch/core/sha256.hpp"
#include "cch/db/pool.hpp"
#include "cch/db/transaction.hpp"
#include "cch/runtime/internal.hpp"

#include <pqxx/nontransaction>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

namespace cch::api {
namespace {

bool is_idempotency_key(std::string_view key) {
  if (key.empty() || key.size() > 200) return false;
  for (const char c : key) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
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

}  // namespace

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

}  // namespace cch::api
