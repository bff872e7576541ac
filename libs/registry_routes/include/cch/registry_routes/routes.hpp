#pragma once
// The registry service's internal routes (reached only through the api, see
// cch/runtime/internal.hpp), over the registry's domain (libs/registry). The JSON form of its
// records, which the api's reads share, is json.hpp.
//
//   POST /internal/v1/members                                    operator: register a member
//   POST /internal/v1/products                                   operator: create a product
//   POST /internal/v1/products/{product_id}/trading-status       operator: halt, delist, resume
//   POST /internal/v1/members/{member_id}/product-authorisations operator: may clear a product
//   POST /internal/v1/members/{member_id}/venue-authorisations   member (itself), operator: a venue
//        may register the member's trades
//   POST /internal/v1/members/{member_id}/venue-authorisations/{venue_principal_id}/revoke
//                                                                member (itself), operator
//   POST /internal/v1/members/{member_id}/credit-limit           risk officer
//   POST /internal/v1/members/{member_id}/position-limits        risk officer
//   POST /internal/v1/trades                                     member: submit (or match) a trade
//   POST /internal/v1/trades/{trade_id}/affirm|reject|cancel     member
// Creating again what exists answers 200 with it; a new object answers 201. Refusals are
// problem+json with the stable reasons of catalog.hpp and trades.hpp (404 for what the caller
// may not see, 409 for conflicts with the object's state, 422 for rule breaches).
//
// The registry also runs two background tasks (cch/runtime/tasks.hpp): the expiry sweep
// (expiry_sweep, every registry.expiry_sweep_interval_ms) and the outbox consumers' wake-ups
// (outbox_notify: after commits that cleared trades, and so wrote trade.cleared events, one
// NOTIFY at most every outbox.notify_interval_ms; none when it is 0). Affirmations are
// decided in groups (group_commit.hpp; registry.affirmation_group_max, _queue_max, _workers):
// a full queue answers 503 affirmation_queue_full, an answer not ready within
// registry.affirmation_wait_ms answers 503 affirmation_outcome_unknown (read the trade).
//
// Thread safety: handlers are called concurrently; they share the pool and the read-only
// RegistryState.

#include "cch/http/message.hpp"
#include "cch/http/router.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/members.hpp"
#include "cch/registry/trades.hpp"
#include "cch/registry_routes/group_commit.hpp"
#include "cch/registry_routes/json.hpp"
#include "cch/runtime/outbox.hpp"
#include "cch/runtime/service.hpp"
#include "cch/runtime/tasks.hpp"

#include <chrono>
#include <memory>
#include <optional>

namespace cch::registry {

// What the registry's routes share: the registration policy from configuration, the published
// margin model its check prices with (loaded once per model), group commit and the outbox
// consumers' wake-ups.
struct RegistryState {
  explicit RegistryState(const config::Config& config);
  RegistryState(const RegistryState&) = delete;
  RegistryState& operator=(const RegistryState&) = delete;

  // After a commit that cleared trades (and so wrote their outbox events): wakes the consumers.
  void events_committed() const noexcept {
    if (outbox_notifier) outbox_notifier->events_committed();
  }

  margin::ModelCache margin_models;
  BusinessCalendar clearing_calendar;  // market.business_calendar: forwards' payment dates
  RegistrationPolicy policy;
  // Affirmations go through group commit when set (add_registry_routes sets it); destroyed
  // before the policy it reads.
  std::unique_ptr<AffirmationGroups> affirmations;
  std::chrono::milliseconds affirmation_wait{10'000};
  // Set by add_registry_routes unless outbox.notify_interval_ms is 0.
  std::shared_ptr<runtime::OutboxNotifier> outbox_notifier;
};

// Every `interval`, expires the trades past their affirmation window, in transactions of at most
// 1,000 trades (at most 100 of them per run): the task expiry_sweep.
runtime::TaskDefinition expiry_sweep_task(db::ConnectionPool& pool, const db::RetryPolicy& retry_policy,
                                          std::chrono::milliseconds interval);

// The answer to an affirmation's outcome, as the affirming member sees it.
http::Response affirmation_answer(const Affirmation& affirmation, const Result<Trade, TradeError>& outcome);

http::Response register_member_command(runtime::ServiceContext& context, const http::Request& request);

void add_trade_routes(http::Router& router, runtime::ServiceContext& context,
                      const std::shared_ptr<const RegistryState>& state);

// Every registry route, and its background tasks (added to context.tasks); keeps the state in
// context.routes_state. Throws std::logic_error if a task cannot be added.
void add_registry_routes(http::Router& router, runtime::ServiceContext& context);

}  // namespace cch::registry
