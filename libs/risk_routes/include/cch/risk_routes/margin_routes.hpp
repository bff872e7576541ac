#pragma once
// The risk service's internal routes for initial margin (reached only through the api), its
// outbox consumer "risk_margin", and the JSON and CSV forms of parameter versions, models,
// scenarios, runs and members' figures, which the api's reads share (docs/margin.md).
//
//   POST /internal/v1/margin/parameters   risk officer
//        {"parameters": {"future.mpor_days": 2, ...every name of the canonical text...}, "reason"}
//        -> 201 a new parameter version, or 200 the version whose text is the same
//   POST /internal/v1/margin/models       operator or risk officer
//        {"business_date", "parameter_version"?} -> 201 the date's new model, or 200 the stored
//        model the same inputs built (risk::build_margin_model)
//   POST /internal/v1/margin/runs         operator or risk officer
//        {"model_id"?, "members"?: [ids]} -> 201 a margin run (cause on_demand) against the model
//        (the latest when none is named) of the members (every member with an open leg when none)
//
// A parameter set travels as a JSON object of the canonical text's names (parameters.hpp): each
// integer parameter a JSON integer, stress_first and stress_last a string (a date YYYY-MM-DD or
// "auto"), apc_mode a string, apc_buffer_released a boolean, and "spread_ticks.<product id>" an
// integer for a product's own spread. Every name of the canonical text is required. The object
// is turned into the canonical text and read by margin::parse_parameters, so the rules are the
// library's and a refusal names the parameter: 422 invalid_parameter with "field":
// "parameters.<name>".
//
// The outbox consumer risk_margin (topics curve_set.built and trade.cleared), in the batch's
// transaction:
//   - with risk.margin_on_curve_set (default true), each curve_set.built event builds the model
//     of the curve set's business date (the date's latest curve set) and, when that model is the
//     latest (no later business date has a model), runs every member with an open leg against it
//     (cause curve_set.built). A curve set of a date older than the latest model's is passed over:
//     its margins would not be anyone's current figures. A build refused (no history yet: the
//     first days of a clearinghouse; a product without factor levels) is logged at warning with
//     its reason and the event is handled: it would be refused again;
//   - with risk.margin_on_trade_cleared (default true), the trade.cleared events of a batch run
//     the union of their trades' two members against the latest model, once (cause
//     trade.cleared), unless a run of every member against that model was made in the same batch.
//     Before any model there is nothing to run against: logged, handled.
// Runs are records (a repeated event makes another run with the same figures); the latest run
// that has a member is its current margin.
//
// Refusals: 404 unknown_model (no such model, or none built yet), unknown_member; 422
// no_curve_set, unknown_parameter_version, no_factor_history, scenarios_refused, leg_refused,
// invalid_parameter; and the BodyReader's 422s.
//
// Thread safety: handlers are called concurrently; they share only the pool.

#include "cch/http/message.hpp"
#include "cch/http/router.hpp"
#include "cch/margin_store/backtests.hpp"
#include "cch/margin_store/model_cache.hpp"
#include "cch/margin_store/models.hpp"
#include "cch/margin_store/runs.hpp"
#include "cch/risk/margin.hpp"
#include "cch/runtime/outbox.hpp"
#include "cch/runtime/service.hpp"

#include <nlohmann/json.hpp>

#include <span>
#include <string>

namespace cch::risk {

// The most members one run command names.
inline constexpr std::size_t kMarginRunMembersMax = 1000;
// The most factors one scenarios answer holds (ten products' buckets): with 3,000 scenarios,
// about 3.6 MB of JSON.
inline constexpr std::size_t kScenarioFactorsPageMax = 110;

// Cents as the API writes money: "1234.56", "-0.05".
std::string format_cents(Int128 cents);

nlohmann::json parameters_object_json(const margin::MarginParameters& parameters);
nlohmann::json parameter_version_json(const margin::ParameterVersion& version);
nlohmann::json model_record_json(const margin::ModelRecord& record);
// The record with the stressed period, the products, the buckets, the classes and the parameters.
nlohmann::json model_detail_json(const margin::ModelSummary& summary, const margin::ParameterVersion& parameters);
nlohmann::json scenarios_json(const margin::ModelSummary& summary, const margin::ScenarioSlice& slice);
// One row per scenario (index, date, set), a column per factor ("<product id>:<bucket label>").
std::string scenarios_csv(const margin::ModelSummary& summary, const margin::ScenarioSlice& slice);
nlohmann::json model_verification_json(const ModelVerification& verification);

nlohmann::json run_record_json(const margin::RunRecord& run);
nlohmann::json run_verification_json(const RunVerification& verification);
// A member's figures in a run (no factor lines): classes, add-ons, initial margin.
nlohmann::json member_figures_json(const margin::StoredMemberMargin& stored);
std::string run_members_csv(std::span<const margin::StoredMemberMargin> members);
// A member's figures with their factor lines and the model they were computed with.
nlohmann::json member_margin_json(const margin::StoredMemberMargin& stored, const margin::ModelSummary& model);
std::string member_factors_csv(const margin::StoredMemberMargin& stored, const margin::ModelSummary& model);
nlohmann::json margin_history_entry_json(const margin::MemberMarginHistoryEntry& entry);

// Stress results (a member's, in kStressScenarios order), a member's worst, Cover-2; a run's
// members' stress results as CSV (a line per member: each scenario's loss and uncovered loss, the
// worst). Amounts are decimal strings in USD.
nlohmann::json stress_results_json(std::span<const margin::StressResult> results);
nlohmann::json worst_stress_json(const margin::WorstStress& worst);
nlohmann::json cover_2_json(const margin::Cover2& cover);
std::string run_stress_csv(std::span<const margin::StoredMemberMargin> members);

// Backtests: the record; a member's result for a class (the auth.066 fields, Kupiec, the traffic
// light, and its daily observations when read with them); a backtest with its results and the
// count of results in each zone; the results as CSV, a line per member and class; the
// observations as CSV, a line per member, class and date.
nlohmann::json backtest_record_json(const margin::BacktestRecord& record);
nlohmann::json member_backtest_json(const margin::MemberBacktest& row);
nlohmann::json backtest_json(const margin::BacktestRecord& record, std::span<const margin::MemberBacktest> rows);
std::string backtest_members_csv(std::span<const margin::MemberBacktest> rows);
std::string backtest_observations_csv(std::span<const margin::MemberBacktest> rows);

http::Response margin_refusal(const MarginError& error);

http::Response store_parameters_command(runtime::ServiceContext& context, const http::Request& request);
http::Response build_model_command(runtime::ServiceContext& context, const http::Request& request);
// models: where the service keeps the models it has read (none: each run reads its model).
http::Response margin_run_command(runtime::ServiceContext& context, const http::Request& request,
                                  margin::ModelCache* models = nullptr);
// POST /v1/margin/runs/{run_id}/backtests {"observations": 1..2610, default 250}: 201 with the
// backtest, 200 with the one already computed for that run and length.
http::Response backtest_command(runtime::ServiceContext& context, const http::Request& request);

struct MarginConsumerOptions {
  bool on_curve_set = true;
  bool on_trade_cleared = true;
  std::int32_t backtest_observations = 250;  // the day's run backtested (risk_margin_backtest); 0: none
};

// The outbox consumer's handler (above).
void margin_on_events(pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events,
                      const MarginConsumerOptions& options, const BusinessCalendar& clearing_calendar,
                      margin::ModelCache* models = nullptr);

// The risk_margin_backtest consumer's handler: each margin.run_completed of a run of every member
// made on a new curve set (cause curve_set.built, scope all) is backtested over `observations`
// dates, once (backtest_margin_run).
void backtest_on_events(pqxx::transaction_base& tx, std::span<const runtime::OutboxEvent> events,
                        std::int32_t observations);

// Adds the routes (the what-if's too), and to context.tasks the risk_margin consumer unless both
// settings are false and the risk_margin_backtest consumer unless risk.margin_backtest_observations
// is 0 (kept, with what context.routes_state held before, in context.routes_state).
void add_margin_routes(http::Router& router, runtime::ServiceContext& context);

// ---- What if (docs/margin.md, "What if") -------------------------------------------------------
//
//   POST /internal/v1/members/{member_id}/margin/what-if   the member itself, a risk officer or an
//        operator
//        {"trades": [{"product_id", "side": "buy"|"sell", "series"? | "delivery_start",
//                     "delivery_end", "gpus", "price"}, ...1 to risk::kWhatIfTradesMax]}
//        -> 200 {"member_id", "model_id", "business_date", "open_legs", "trades", "currency",
//                "before": figures, "after": figures, "initial_margin_change"}
//
// A question, not a command: the member's initial margin under the latest published model now
// and with the hypothetical trades added (risk::what_if), in a read-only transaction, so nothing
// is written. The api forwards it without an Idempotency-Key and audits it as a read. "side" is
// the member's side; a trade naming a "series" is a future over the series' period, one with a
// window a bilateral forward (the trade submission's fields and rules: the window on whole UTC
// hours, at most 26,328 hours; GPUs 1..1,000,000 and a multiple of the product's node block; the
// price positive, at most 1,000.0000 and on the product's tick). The figures are
// margin_figures_json's, the member margin report's.
//
// Refusals: 404 not_found (no such member, or another member's: a member asks only for itself),
// 404 unknown_model (no model built yet); 413 body_too_large (over kWhatIfBodyBytesMax); 422
// too_many_trades, invalid_field ("trades" not an array of 1 or more), and per trade, with
// "field" "trades[<index>].<name>": unknown_product, unknown_series, invalid_window,
// invalid_gpus, invalid_price, price_off_tick, and the BodyReader's 422s.

// The largest what-if body: 100 trades of about 300 bytes each, and room.
inline constexpr std::size_t kWhatIfBodyBytesMax = 64 * 1024;

// Every component of a member's figures, as the member margin report shows them: the classes,
// the add-ons and the initial margin (member_figures_json adds the member and its legs).
nlohmann::json margin_figures_json(const margin::MarginFigures& figures);

// models: the service's cache of the latest model (none: read each time).
http::Response what_if_query(runtime::ServiceContext& context, const http::Request& request,
                             margin::ModelCache* models = nullptr);

}  // namespace cch::risk
