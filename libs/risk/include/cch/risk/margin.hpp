#pragma once
// Initial margin in the risk service: each business date's margin model built from stored
// market data, and margin runs over members' open legs (docs/margin.md).
//
// Building a date's model (build_margin_model):
//   - its curve set: the latest version of the date's (refused no_curve_set without one);
//   - its parameters: the version asked for, or the latest; with none stored yet, the defaults of
//     parameters.hpp are stored as version 1 ("the model's defaults") and used;
//   - its products: those with a forward curve in the curve set, in product id order; a product's
//     generation groups it with the products of the same GPU model (in the order of their
//     models' names); its open interest is the GPU-hours still to be delivered on open buy legs,
//     as of the build; its spread the parameters';
//   - its factor history: the factor levels (factor_history.hpp) of every business date with
//     settlement prices from the look-back's start to the date, latest versions, all products on
//     one date axis from the first date any product has; a product quoted later than others has
//     the returns of the product quoted most recently before it (same bucket) where it has none
//     of its own (scenarios.hpp's proxies): a new GPU generation is margined on the history of
//     the one before it until it has its own;
//   - the scenarios (scenarios.hpp), the exposure grid (the curve set's forward and discount
//     curves), stored with everything it was made from (margin_store/models.hpp).
// The same inputs build the same model: a second build answers the first (created = false).
//
// A margin run (run_margin) values every open leg of the members in scope against a model (the
// latest when none is named), sums each member's bucketed exposures (exposure.hpp) and computes
// its figures (engine.hpp), storing the run and every member's row in one transaction. A leg of a
// product the model does not cover (listed after the model was built) is margined by the interim
// rule (parameters.hpp, interim_rate_bp of its notional); the run counts and names them
// (legs_interim). A member in scope without an open leg gets a row of zeros.
//
// Verification (verify_margin_model) rebuilds a stored model from what it recorded (curve set,
// parameter version, the factor levels of the snapshots it used, the open interest it measured)
// and compares the content hash; verify_margin_run recomputes each member's figures in a run from
// the model and the stored position, and the position from the member's legs.
//
// Refusals: no_curve_set, unknown_parameter_version, no_factor_history (a product without levels
// on the date), scenarios_refused (scenarios.hpp's refusal and detail), unknown_model,
// leg_refused (a leg exposure.hpp refuses; names the trade).
//
// Thread safety: functions take the caller's transaction.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "cch/core/calendar.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/margin_store/backtests.hpp"
#include "cch/margin_store/model_cache.hpp"
#include "cch/margin_store/models.hpp"
#include "cch/margin_store/runs.hpp"

namespace cch::risk {

enum class MarginRefusal {
  no_curve_set,
  unknown_parameter_version,
  no_factor_history,
  scenarios_refused,
  unknown_model,
  leg_refused,
};
std::string_view to_string(MarginRefusal refusal);

struct MarginError {
  MarginRefusal refusal = MarginRefusal::unknown_model;
  std::string detail;
};

struct ModelRequest {
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::optional<std::int32_t> parameter_version;
  std::string built_by;
  std::optional<std::string> request_id;
};

struct BuiltModel {
  margin::ModelRecord record;
  bool created = false;
};

Result<BuiltModel, MarginError> build_margin_model(pqxx::transaction_base& tx, const ModelRequest& request);

struct MarginRunRequest {
  std::optional<std::int64_t> model_id;         // the latest model when none
  std::optional<std::vector<MemberId>> members;  // every member with an open leg when none
  std::string cause = "on_demand";
  std::string requested_by;
  std::optional<std::string> request_id;
  // With members named: a member whose kept margin state (registry::kept_margin_states) is under
  // the run's model starts from it instead of from its open legs valued again: the same position
  // to the cent, in the time of a few arrays rather than of every open leg. The others (no state,
  // or one under another model) are valued from their legs as usual.
  bool from_kept_states = false;
  // Where the process keeps the models it has read (the service's): the run's model is read from
  // the database only when it is not kept there. None: read.
  margin::ModelCache* models = nullptr;
};

// Where a run's time went, in microseconds (logged with the run, printed by the benchmark).
struct MarginRunTimings {
  std::int64_t model_us = 0;    // the model read (or found in the cache)
  std::int64_t legs_us = 0;     // the open legs read and valued, the kept states read
  std::int64_t compute_us = 0;  // every member's figures, factor lines and stress results
  std::int64_t store_us = 0;    // the run's rows written
};

struct MarginRunOutcome {
  margin::RunRecord run;
  std::int64_t legs_interim = 0;  // legs of products the model does not cover: the interim rule
  std::vector<ProductId> interim_products;
  MarginRunTimings timings;
};

Result<MarginRunOutcome, MarginError> run_margin(pqxx::transaction_base& tx, const MarginRunRequest& request,
                                                 const BusinessCalendar& clearing_calendar);

// A member's bucketed position under a model, from its open legs, and how many legs it has.
struct MemberLegs {
  margin::MemberPosition position;
  std::int64_t legs = 0;
};
Result<MemberLegs, MarginError> member_position(pqxx::transaction_base& tx, const margin::PublishedModel& model,
                                                MemberId member, const BusinessCalendar& clearing_calendar);

struct ModelVerification {
  std::int64_t model_id = 0;
  std::string stored_hash;
  std::string rebuilt_hash;
  bool matches = false;
};
Result<ModelVerification, MarginError> verify_margin_model(pqxx::transaction_base& tx, std::int64_t model_id);

struct RunVerification {
  std::int64_t run_id = 0;
  std::int32_t members = 0;
  std::int32_t figures_differing = 0;    // figures recomputed from the stored positions
  std::int32_t positions_differing = 0;  // positions recomputed from the members' legs
  bool matches = false;
};
Result<RunVerification, MarginError> verify_margin_run(pqxx::transaction_base& tx, std::int64_t run_id,
                                                       const BusinessCalendar& clearing_calendar);

// The backtest of a run (margin_store/backtests.hpp): each member's portfolio of the run, per
// class it is exposed in, tested over the last `observations` dates of the factor history the
// run's model was built from (rebuilt from what the model recorded). Computed once per run and
// length: a second request answers the first (created = false). Refused unknown_model for a run
// that does not exist. Precondition: 1 <= observations <= margin::kBacktestObservationsMax.
struct BacktestRunRequest {
  std::int64_t run_id = 0;
  std::int32_t observations = 250;
  std::string requested_by;
  std::optional<std::string> request_id;
};

struct BacktestOutcome {
  margin::BacktestRecord record;
  bool created = false;
};

Result<BacktestOutcome, MarginError> backtest_margin_run(pqxx::transaction_base& tx, const BacktestRunRequest& request);

}  // namespace cch::risk
