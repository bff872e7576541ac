#pragma once
// The settlement service's internal routes for collateral (reached only through the api, see
// cch/runtime/internal.hpp) and the JSON form of withdrawals and the JSON and CSV forms of margin
// calls, which the api's reads share (GET /v1/margin-calls, /v1/margin-calls/{call_id},
// /v1/members/{member_id}/margin-calls read cch.margin_call through margin_calls.hpp).
//
//   POST /internal/v1/members/{member_id}/collateral-deposits     operator records a payment in
//        {"amount", "currency", "bank_reference", "business_date"?}  -> 201, or 200 on a replay
//   POST /internal/v1/members/{member_id}/collateral-withdrawals  the member requests a payment out
//        {"amount", "currency"}                                    -> 201 withdrawal
//   POST /internal/v1/collateral-withdrawals/{withdrawal_id}/approve  operator {"note"?} -> 200
//   POST /internal/v1/collateral-withdrawals/{withdrawal_id}/reject   operator {"note"}  -> 200
//   POST /internal/v1/collateral-withdrawals/{withdrawal_id}/cancel   the member {}      -> 200
//   POST /internal/v1/settlement/runs   operator {"business_date"} -> 201 the run settled (or resumed
//        and finished), 200 the date's run settled before; 409 settlement_run_in_progress,
//        earlier_run_unfinished, later_date_settled; 422 not_a_business_date,
//        business_date_in_future, no_curve_set, settlement_prices_missing, marks_refused
//   POST /internal/v1/settlement/runs/{run_id}/reverse   operator {"reason"} -> 200 the run, reversed;
//        404 no such run; 409 run_already_reversed, later_date_settled, settlement_run_in_progress
//
// Refusals map to problem+json with the reason of CollateralRefusal: 404 unknown_member /
// withdrawal_not_found, 409 bank_reference_reused / withdrawal_already_decided, 422 otherwise
// (amount_too_large beyond settlement.collateral_movement_max, balance_limit_exceeded, ...).
//
// Thread safety: handlers are called concurrently; they share only the pool.

#include "cch/http/message.hpp"
#include "cch/http/router.hpp"
#include "cch/registry/trades.hpp"
#include "cch/runtime/outbox.hpp"
#include "cch/runtime/service.hpp"
#include "cch/runtime/tasks.hpp"
#include "cch/settlement/collateral.hpp"
#include "cch/settlement/deliveries.hpp"
#include "cch/settlement/margin_calls.hpp"
#include "cch/settlement/runs.hpp"
#include "cch/settlement/statements.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/transaction_base>

#include <chrono>
#include <span>
#include <string>

namespace cch::settlement {

nlohmann::json withdrawal_json(const Withdrawal& withdrawal);
// A margin call: ids as strings, amounts as decimal strings, times in UTC, closed_at null while
// the call is open (issued or overdue).
nlohmann::json margin_call_json(const MarginCall& call);
// A header and a line per call, the JSON form's fields in the same order.
std::string margin_calls_csv(std::span<const MarginCall> calls);
http::Response refusal_response(CollateralRefusal refusal);

http::Response record_deposit_command(runtime::ServiceContext& context, const http::Request& request);
// margin_policy: when given, the check is against the member's margin under the latest model
// (WithdrawalRequest::margin_policy); the service's routes give it.
http::Response request_withdrawal_command(runtime::ServiceContext& context, const http::Request& request,
                                          const registry::RegistrationPolicy* margin_policy = nullptr);
http::Response decide_withdrawal_command(runtime::ServiceContext& context, const http::Request& request,
                                         std::string_view decision);

// Margin calls from margin runs: the handler of the outbox consumer settlement_margin_calls
// (topic margin.run_completed; issue_margin_calls for each run), and the task that marks calls
// past their deadline overdue. add_settlement_routes adds both unless settlement.margin_calls is
// false.
void issue_calls_of_runs(pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events,
                         std::chrono::minutes deadline);
runtime::TaskDefinition overdue_calls_task(db::ConnectionPool& pool, const db::RetryPolicy& retry_policy,
                                           std::chrono::milliseconds interval);

// Settlement runs: a run with its steps (each step's counts as an object, its duration in ms);
// each member's variation margin in a run (JSON and CSV: a header and a line per member); a
// member's figures per product and kind, and each leg's contribution; the refusal's problem.
nlohmann::json settlement_run_json(const SettlementRun& run);
nlohmann::json member_variation_margin_json(const MemberVariationMargin& member);
std::string member_variation_margin_csv(std::span<const MemberVariationMargin> members, std::int64_t run_id,
                                        BusinessDate business_date);
// A member's figures per run: the columns above with the run's state after its date.
std::string member_variation_margin_history_csv(std::span<const MemberRunVariationMargin> rows);
nlohmann::json product_variation_margin_json(const ProductVariationMargin& product);
nlohmann::json leg_variation_margin_json(const LegVariationMargin& leg);
http::Response settle_refusal(const SettleError& error);

// Deliveries: a trade's day (its report, answer, decision and how a run settled it); a trade a run
// settled (JSON, and CSV: a header and a line per trade); the refusal's problem (404 unknown_trade
// and unknown_product, 403 not_the_seller / not_the_buyer, 409 already_* and trade_settled, 422
// otherwise).
nlohmann::json delivery_day_json(const DeliveryDay& day);
nlohmann::json trade_delivery_json(const TradeDelivery& delivery);
std::string trade_deliveries_csv(std::span<const TradeDelivery> deliveries);
http::Response delivery_refusal(const DeliveryError& error);

// Statements: a member's statement of a date (JSON; CSV: a header and a line per figure, section
// by section, amounts as credited to the member, each with its journal where one moved it), and
// every member's summary for staff (JSON; CSV: a line per member).
nlohmann::json member_statement_json(const MemberStatement& statement);
std::string member_statement_csv(const MemberStatement& statement);
nlohmann::json statement_summary_json(const StatementSummary& summary);
std::string statement_summaries_csv(std::span<const StatementSummary> summaries, BusinessDate business_date);
//   POST /internal/v1/trades/{trade_id}/deliveries   the seller {"delivery_day", "delivered_gpu_hours"} -> 201
//   POST /internal/v1/trades/{trade_id}/deliveries/{delivery_day}/confirm   the buyer {} -> 200
//   POST /internal/v1/trades/{trade_id}/deliveries/{delivery_day}/dispute   the buyer
//        {"buyer_gpu_hours", "reason"} -> 200
//   POST /internal/v1/trades/{trade_id}/deliveries/{delivery_day}/decision  a risk officer
//        {"delivered_gpu_hours", "reason"} -> 200
// `action`: report, confirm, dispute or decision.
http::Response delivery_command(runtime::ServiceContext& context, const http::Request& request,
                                std::string_view action);
//   POST /internal/v1/products/{product_id}/buy-in-index   operator or risk officer {"index"} -> 200
http::Response buy_in_index_command(runtime::ServiceContext& context, const http::Request& request);

// POST /internal/v1/settlement/runs: the run in this request, its answer recorded after it (a
// retry under the key after a crash settles the date again, which answers the run).
http::Response settle_command(runtime::ServiceContext& context, const http::Request& request,
                              const BusinessCalendar& clearing_calendar);

//   POST /internal/v1/products/{product_id}/settlement-price-fallbacks   operator or risk officer
//        {"business_date", "method": "curve", "reason"} -> 201 the approval; 404 no such product;
//        409 fallback_already_approved; 422 invalid_reason, field reasons
http::Response price_fallback_command(runtime::ServiceContext& context, const http::Request& request);
nlohmann::json price_fallback_json(const PriceFallback& fallback);

// POST /internal/v1/settlement/runs/{run_id}/reverse: reverse_run, its answer recorded after it (a
// retry under the key after a crash answers run_already_reversed).
http::Response reverse_command(runtime::ServiceContext& context, const http::Request& request);

// The daily schedule: a task (settlement_schedule, every minute) that settles each business day
// after settlement.daily_run_minute_utc (settle_on_schedule); add_settlement_routes adds it unless
// the setting is -1.
runtime::TaskDefinition scheduled_settlement_task(db::ConnectionPool& pool, BusinessCalendar clearing_calendar,
                                                  int run_minute_utc, std::int32_t buy_in_penalty_bps,
                                                  std::int64_t delivery_fee_ticks_per_gpu_hour);

void add_settlement_routes(http::Router& router, runtime::ServiceContext& context);

}  // namespace cch::settlement
