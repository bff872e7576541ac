#pragma once
// Scenarios by filtered historical simulation (FHS): the moves of every risk factor over the
// margin period of risk, taken from history and scaled to today's volatility.
//
// Input: the levels of each factor (buckets.hpp: product x tenor bucket at constant time to
// delivery) on each history date, the last being the business date margined. A factor may lack
// levels before its product was quoted; where a return cannot be taken from its own levels it is
// its proxy's (the caller names one per factor, e.g. the same bucket of the nearest older GPU
// generation), following proxies until one has it.
//
// Definitions (t indexes the history dates 0..T-1; ln is the natural logarithm):
//   daily return       r(f, t) = ln(L(f, t) / L(f, t - 1)), t >= 1 (or the proxy's)
//   EWMA variance      v(f, 0) = the mean of r(f, t)^2 over t = 1..min(25, T - 1) (the seed)
//                      v(f, t) = lambda x v(f, t - 1) + (1 - lambda) x r(f, t)^2
//                      sigma(f, t) = sqrt(v(f, t)); today's is sigma(f, T - 1)
//   floored vol        sigma*(f) = max(sigma(f, T - 1), floor x mean of sigma(f, t) over the
//                      look-back's dates t), floor = vol_floor_bp / 10,000: a calm spell cannot
//                      scale the scenarios below that share of their usual size
//   h-day return       R(f, t) = r(f, t - h + 1) + ... + r(f, t) (log-returns add), t >= h: the
//                      overlapping windows of the margin period of risk h ending on each date
//   filtered scenario  R(f, t) x sigma*(f) / sigma(f, t)   (R itself when sigma(f, t) is 0)
//                      for the window ends t of the look-back: the last lookback_days dates
//                      (all of them when the history is shorter), t >= h
//   stressed scenario  R(f, t) unscaled, for the windows lying wholly in the stressed period
//   move               the relative change exp(x) - 1 of a scenario's log-return x, clamped to
//                      [kLogReturnMin, kLogReturnMax], in parts per 10^9, rounded to the nearest
//                      (ties away from zero): an integer, so margins computed from the moves are
//                      exact and a member recomputes them to the cent (docs/margin.md)
// The stressed period is the parameters' when given (it must lie within the history), else the
// twelve months of the history with the largest mean squared daily return over all factors: the
// window from each date to the first date at least 364 days later; the largest wins, the earliest
// among equals.
//
// Refusals (ScenarioError, checked in this order): invalid_history (dates not strictly
// ascending, a level not finite or not positive, sizes that do not agree), history_too_short
// (fewer dates than the longest margin period of risk + 2, or no twelve months to select a
// stressed period from; the risk service asks for far more, kLookbackDaysMin dates),
// missing_level (a return neither the factor nor a proxy has; names the factor and date),
// stress_period_outside_history (a given stressed period not within the history's dates, or
// holding no window of some class's margin period of risk).
//
// Thread safety: a pure function; a ScenarioSet is a plain value.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/margin/parameters.hpp"

namespace cch::margin {

inline constexpr double kLogReturnMin = -20.0;                  // a move of -100 % to 1e-9
inline constexpr double kLogReturnMax = 2.302585092994045684;   // ln 10: a move of at most +900 %
inline constexpr std::int64_t kMovePpbMax = 9'000'000'000;
inline constexpr std::size_t kHistoryDatesMax = 3'000;
inline constexpr std::size_t kFactorCountMax = 1'100;           // 100 products x 11 buckets

struct FactorHistory {
  std::vector<BusinessDate> dates;   // ascending; the last is the business date margined
  std::size_t factor_count = 0;
  std::vector<double> levels;        // [factor x dates.size() + t]; NaN where there is none
  std::vector<std::int32_t> proxy;   // [factor]: the factor standing in for it, or -1
};

struct ClassScenarios {
  MarginClass margin_class = MarginClass::future;
  std::int32_t mpor_days = 0;
  std::vector<BusinessDate> filtered_dates;  // each filtered scenario's window end
  std::vector<BusinessDate> stressed_dates;  // each stressed scenario's window end
  // Factor-major: moves_ppb[f x scenario_count() + s], the filtered scenarios first (s <
  // filtered_dates.size()), then the stressed ones.
  std::vector<std::int64_t> moves_ppb;

  [[nodiscard]] std::size_t filtered_count() const { return filtered_dates.size(); }
  [[nodiscard]] std::size_t stressed_count() const { return stressed_dates.size(); }
  [[nodiscard]] std::size_t scenario_count() const { return filtered_dates.size() + stressed_dates.size(); }
  [[nodiscard]] const std::int64_t* moves_of(std::size_t factor) const {
    return moves_ppb.data() + factor * scenario_count();
  }
  friend bool operator==(const ClassScenarios&, const ClassScenarios&) = default;
};

struct ScenarioSet {
  BusinessDate as_of = BusinessDate::from_days_since_epoch(0).value();
  std::size_t factor_count = 0;
  BusinessDate stress_first = BusinessDate::from_days_since_epoch(0).value();
  BusinessDate stress_last = BusinessDate::from_days_since_epoch(0).value();
  bool stress_selected = false;    // chosen from the history, not given
  std::vector<double> sigma_today;  // [factor] daily
  std::vector<double> sigma_mean;   // [factor] over the look-back
  std::vector<double> sigma_used;   // [factor] sigma*
  std::array<ClassScenarios, kMarginClassCount> classes;

  [[nodiscard]] const ClassScenarios& of(MarginClass c) const { return classes[static_cast<std::size_t>(c)]; }
  friend bool operator==(const ScenarioSet&, const ScenarioSet&) = default;
};

enum class ScenarioRefusal { invalid_history, history_too_short, missing_level, stress_period_outside_history };
std::string_view to_string(ScenarioRefusal refusal);

struct ScenarioError {
  ScenarioRefusal refusal = ScenarioRefusal::invalid_history;
  std::string detail;
};

// Precondition: validate(parameters) passed.
Result<ScenarioSet, ScenarioError> build_scenarios(const FactorHistory& history, const MarginParameters& parameters);

// The history's validity alone: nothing, or build_scenarios' invalid_history refusal (the checks
// it makes first, on the whole history).
std::optional<ScenarioError> check_history(const FactorHistory& history);

// The daily log-returns r(f, t) that build_scenarios takes, proxies followed as above:
// [f x dates + t], t = 0 holding 0 (no return). Refused: invalid_history (check_history), then
// missing_level (a return neither the factor nor a proxy has, on any date of the history).
Result<std::vector<double>, ScenarioError> daily_log_returns(const FactorHistory& history);

// The move in parts per 10^9 of a log-return (clamped, rounded as above).
std::int64_t move_ppb(double log_return);

}  // namespace cch::margin
