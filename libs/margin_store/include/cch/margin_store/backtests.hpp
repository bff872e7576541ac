#pragma once
// Backtests of margin runs (tables of migration 0024; docs/margin.md "Backtesting").
//
// A backtest takes each member's portfolio in a margin run (its factor lines' exposures, per
// margin class) and tests the run's model on it over the last `observations_requested` dates of
// the model's factor history (margin/portfolio_backtest.hpp): on each test date the margin the
// model would have asked, knowing only the history up to then, against the loss the portfolio
// made over the margin period of risk after it. One row per member and class the member has an
// exposure in: the report's fields (ISO 20022 auth.066: observations, exceptions, coverage,
// largest and average exception) with the Kupiec test and the traffic-light zone, and every
// observation; or the refusal that left the member without one (e.g. no_observations when the
// history is too short for any test date). A run's backtest of a given length is computed once
// (a second request answers the first).
//
// Thread safety: functions take the caller's transaction.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "cch/core/ids.hpp"
#include "cch/core/time.hpp"
#include "cch/margin/backtest.hpp"
#include "cch/margin/parameters.hpp"

namespace cch::margin {

struct MemberBacktest {
  MemberId member = MemberId::from_value(1).value();
  MarginClass margin_class = MarginClass::future;
  std::int32_t mpor_days = 0;
  std::int32_t confidence_bp = 0;
  std::int64_t skipped = 0;
  std::optional<std::string> refusal;  // portfolio_backtest.hpp's refusal name; no report then
  std::string refusal_detail;
  std::vector<BacktestObservation> observations;  // empty when refused, or when read without them
  std::int64_t observation_count = 0;
  BacktestReport report;  // meaningful when not refused
};

struct BacktestRecord {
  std::int64_t backtest_id = 0;
  std::int64_t run_id = 0;
  std::int64_t model_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::int32_t observations_requested = 0;
  std::int32_t members = 0;
  UtcTimestamp computed_at{0};
  std::int64_t compute_microseconds = 0;
  std::string requested_by;
};

struct BacktestRequest {
  std::int64_t run_id = 0;
  std::int64_t model_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::int32_t observations_requested = 0;  // 1..kBacktestObservationsMax
  std::int64_t compute_microseconds = 0;
  std::string requested_by;  // 1..64 characters
  std::optional<std::string> request_id;
};

// Stores the backtest and its members' rows (COPY) in the caller's transaction, with the outbox
// event margin.backtest_completed ({backtest_id, run_id, business_date, members}).
BacktestRecord store_backtest(pqxx::transaction_base& tx, const BacktestRequest& request,
                              std::span<const MemberBacktest> members);

std::optional<BacktestRecord> find_backtest(pqxx::transaction_base& tx, std::int64_t backtest_id);
// The backtest of a run of that length, if computed.
std::optional<BacktestRecord> backtest_of_run(pqxx::transaction_base& tx, std::int64_t run_id,
                                              std::int32_t observations_requested);
// The run's latest backtest, of any length.
std::optional<BacktestRecord> latest_backtest_of_run(pqxx::transaction_base& tx, std::int64_t run_id);
// Newest first, ids below `before`; at most `limit`.
std::vector<BacktestRecord> list_backtests(pqxx::transaction_base& tx, std::optional<std::int64_t> before,
                                           std::size_t limit);
// A backtest's rows, by member and class (future first), of one member or all; with every
// observation or without (observation_count is given either way).
std::vector<MemberBacktest> backtest_members(pqxx::transaction_base& tx, std::int64_t backtest_id,
                                             std::optional<MemberId> member, bool with_observations);
// The latest backtest that has a row of the member.
std::optional<BacktestRecord> latest_backtest_of_member(pqxx::transaction_base& tx, MemberId member);

}  // namespace cch::margin
