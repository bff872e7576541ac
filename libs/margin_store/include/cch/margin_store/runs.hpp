#pragma once
// Margin runs and every member's figures in them (tables of migrations 0021 and 0024; docs/margin.md).
//
// A run is one computation of some members' margins (scope all: every member with an open leg;
// members: those named, e.g. the two members of a cleared trade) against one published model,
// with its cause (on_demand, curve_set.built, trade.cleared) and who asked. Each member's row
// holds the figures of engine.hpp and its factor lines, its bucketed position (the exposure and
// net GPU-hours per class, product and bucket) with each factor's contribution (arrays in the
// member's row, one element per line: migration 0024), so
// a member's margin can be explained line by line and recomputed from the model alone.
// A member's current margin is its row in the latest run that has one.
//
// Thread safety: functions take the caller's transaction.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/transaction_base>

#include "cch/core/ids.hpp"
#include "cch/core/time.hpp"
#include "cch/margin/engine.hpp"
#include "cch/margin/stress.hpp"

namespace cch::margin {

enum class RunScope { all, members };
std::string_view to_string(RunScope scope);

struct FactorLine {
  MarginClass margin_class = MarginClass::forward;
  ProductId product;
  std::int32_t bucket = 0;
  std::int64_t exposure_cents = 0;
  std::int64_t net_gpu_hours = 0;
  std::int64_t contribution_cents = 0;
  friend bool operator==(const FactorLine&, const FactorLine&) = default;
};

struct MemberResult {
  MemberId member;
  std::int64_t legs = 0;
  MarginFigures figures;
  std::vector<FactorLine> factors;  // the non-zero ones, by class, product index and bucket
  // Under each stress scenario (run_stress.hpp), in kStressScenarios order, against the initial
  // margin; empty in a run made before stress results were kept.
  std::vector<StressResult> stress;
};

// A member's result with the model's products to name them: builds the factor lines from a
// MemberMargin (exposures, net GPU-hours and contributions).
MemberResult member_result(const MarginModel& model, MemberId member, std::int64_t legs, const MemberMargin& margin);

struct RunRecord {
  std::int64_t run_id = 0;
  std::int64_t model_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  RunScope scope = RunScope::all;
  std::string cause;
  std::int32_t members = 0;
  std::int64_t legs = 0;
  UtcTimestamp started_at{0};
  UtcTimestamp finished_at{0};
  std::string requested_by;
  std::vector<std::string> stress_scenarios;  // the names of MemberResult::stress, in order; empty before they were kept
};

struct RunRequest {
  std::int64_t model_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  RunScope scope = RunScope::all;
  std::string cause;  // ^[a-z_.]{1,64}$
  UtcTimestamp started_at{0};
  std::string requested_by;
  std::optional<std::string> request_id;
};

// Stores the run and its members' rows (COPY; each member's stress results with them, the run's
// scenario names those of kStressScenarios), and the outbox event margin.run_completed
// ({run_id, model_id, business_date, scope, cause, members}), in the caller's transaction.
RunRecord store_run(pqxx::transaction_base& tx, const RunRequest& request, std::span<const MemberResult> results,
                    std::int64_t legs);

std::optional<RunRecord> find_run(pqxx::transaction_base& tx, std::int64_t run_id);
std::vector<RunRecord> list_runs(pqxx::transaction_base& tx, std::optional<std::int64_t> before, std::size_t limit);
// The latest run of that scope (of any scope when none).
std::optional<RunRecord> latest_run(pqxx::transaction_base& tx, std::optional<RunScope> scope);

struct StoredMemberMargin {
  std::int64_t run_id = 0;
  std::int64_t model_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  UtcTimestamp computed_at{0};
  MemberResult result;
};

// The member's figures in a run (with its factor lines), or in the latest run that has it.
std::optional<StoredMemberMargin> member_margin(pqxx::transaction_base& tx, MemberId member,
                                                std::optional<std::int64_t> run_id);
// Every member's figures in a run (without factor lines), by member.
std::vector<StoredMemberMargin> run_members(pqxx::transaction_base& tx, std::int64_t run_id);
// Every member's factor lines in a run, by member id (then class, product index and bucket, as
// member_margin gives them).
std::vector<std::pair<MemberId, std::vector<FactorLine>>> run_factor_lines(pqxx::transaction_base& tx,
                                                                           std::int64_t run_id);
// Each member's latest figures (without factor lines), by member.
std::vector<StoredMemberMargin> latest_member_margins(pqxx::transaction_base& tx);

// A page of a run's members' figures (without factor lines), by member id, after `after`.
std::vector<StoredMemberMargin> run_members_page(pqxx::transaction_base& tx, std::int64_t run_id,
                                                 std::optional<MemberId> after, std::size_t limit);
// The sum of every member's initial margin in a run, in cents.
Int128 run_initial_margin_total(pqxx::transaction_base& tx, std::int64_t run_id);

// A member's initial margin in each run that has it, newest first, runs before `before`.
struct MemberMarginHistoryEntry {
  std::int64_t run_id = 0;
  std::int64_t model_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::string cause;
  UtcTimestamp computed_at{0};
  std::int64_t legs = 0;
  std::int64_t initial_margin_cents = 0;
};
std::vector<MemberMarginHistoryEntry> member_margin_history(pqxx::transaction_base& tx, MemberId member,
                                                            std::optional<std::int64_t> before, std::size_t limit);
// The member's figures in the latest run (by id) of a business date, if any.
std::optional<MemberMarginHistoryEntry> member_margin_of_date(pqxx::transaction_base& tx, MemberId member,
                                                              BusinessDate business_date);

}  // namespace cch::margin
