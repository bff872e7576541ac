#pragma once
// Backtest of the margin model on a hypothetical portfolio: for a member's portfolio as it is
// today, held constant over the last n business days of the history, did the margin the model
// computed on each day t cover the loss the portfolio actually made over the margin period of
// risk that followed?
//
// A hypothetical portfolio. The portfolio is held constant: today's exposures on every test
// date, as if the member had held them throughout, though it did not (those positions did not all
// exist then). EMIR RTS 153/2013 art. 49 has a CCP compare, each day, the outcomes observed with
// those its margin model expected, on current positions; testing today's positions over the past
// is that comparison with a hypothetical portfolio, which art. 49 allows: it asks for the
// model's coverage to be tested and does not confine the test to the portfolios members held.
//
// What is tested: the scenario model alone, the class's expected shortfall after
// anti-procyclicality (engine.hpp). Left out: the concentration, liquidity and interim add-ons,
// and the GPU-generation basis. They are outside the scenario model (they charge for a close-out's
// size, its bid-ask spread, a product without history, correlations history may not keep), not a
// forecast from history of the portfolio's loss; counting them would credit the model with margin
// it did not compute from prices. The backtest tests the model's coverage, not the add-ons (as
// ESMA's opinion of 16 October 2023 on CCP back testing under art. 49 asks: add-ons that history
// does not reflect are left out). The generation basis only
// adds margin, so the figure tested is never more than the class's requirement.
//
// Input:
//   history         a FactorHistory (scenarios.hpp): dates ascending, levels [factor x dates + t],
//                   NaN where there is none, proxies; its last date is the last the test can use
//   parameters      MarginParameters (validate passed: asserted)
//   margin_class    the class tested: its mpor_days h (history dates) and confidence_bp c
//   exposure_cents  [factor], size history.factor_count: the member's exposure in cents to each
//                   factor in that class today (engine.hpp's units: long positive)
//   observations    n, the test dates wanted, 1..kBacktestObservationsMax (the default 250, a year)
//
// Definition (t indexes the history's dates 0..T-1):
//   test dates      the last n dates t of the history for which t + h is in the history:
//                   max(0, T - h - n) <= t <= T - 1 - h, ascending
//   margin(t)       the class's expected shortfall after anti-procyclicality (engine.hpp's
//                   formula: the tail sums over the filtered and the stressed scenarios, exact in
//                   Int128, rounded up to the cent, at least 0) of the portfolio's scenario P&Ls
//                   P&L(s) = sum over f of exposure(f) x move(f, s) (10^-9 cent), against the
//                   scenarios build_scenarios builds from the history truncated at t (its dates
//                   0..t, every factor, the same parameters): what the model would have asked on
//                   day t, knowing nothing after it. When build_scenarios refuses the truncated
//                   history as history_too_short or stress_period_outside_history (too few dates,
//                   no twelve months to select a stressed period from, a given stressed period
//                   not over by t, or one without a window of either class's margin period of
//                   risk: a date's model is both classes' or none), the date is skipped and
//                   counted in `skipped`; a history shorter than the look-back is used whole, as
//                   build_scenarios does.
//   realised move   m(f, t) = move_ppb(r(f, t + 1) + ... + r(f, t + h)) (scenarios.hpp), r the
//                   daily log-returns as build_scenarios takes them (daily_log_returns: the
//                   factor's own levels where it has both of a day's, else its proxy's, following
//                   proxies), added in date order: the h-day log-return from t to t + h, turned
//                   into a relative change in parts per 10^9, rounded to the nearest (ties away
//                   from zero) and clamped to (-100 %, +900 %] as every scenario move is. Where the
//                   factor has its own levels throughout, the log-returns add up to
//                   ln(L(f, t + h) / L(f, t)), so m is L(f, t + h) / L(f, t) - 1 in parts per
//                   10^9 (to within the last bit of a double, far below the rounding); the same
//                   number the model records as the unscaled (stressed) scenario of the window
//                   ending t + h. A factor that rose more than tenfold in h days counts as +900 %.
//   realised loss   loss(t) = -sum over f of exposure(f) x m(f, t), exact in 10^-9 cent (Int128),
//                   in cents rounded up (ceiling: towards more loss, as stress losses are, a gain
//                   of 12.3 cents is a loss of -12)
//   report          backtest(observations, c) (backtest.hpp) of the observations (t's date,
//                   margin(t), loss(t)): an exception is a loss strictly above the margin
//
// Bounds. A gross exposure (sum of |exposure(f)|) at most kGrossExposureCentsMax (10^17 cents,
// engine.hpp) and moves within (-10^9, 9 x 10^9] keep every P&L below 10^27 in 10^-9 cent (Int128
// holds 1.7 x 10^38) and every margin and loss within 64 bits; backtest.hpp then takes margins
// and losses up to kAmountMinorMax (10^15 cents) only.
//
// Refusals (PortfolioBacktestRefusal, checked in this order; the detail names the date or factor):
//   invalid_observation_count  n outside 1..kBacktestObservationsMax
//   exposure_count_mismatch    exposure_cents.size() != history.factor_count
//   gross_exposure_too_large   the gross exposure above kGrossExposureCentsMax
//   invalid_history            scenarios.hpp's invalid_history, of the whole history
//   missing_level              a daily return neither the factor nor a proxy has, on any date of
//                              the history (every one is needed: by the last test date's
//                              scenarios or by a realised move)
//   no_observations            no test date (T <= h), or every test date skipped
//   amount_out_of_range        a margin or a realised loss beyond kAmountMinorMax (backtest.hpp)
//
// Cost. The scenarios of each test date are not rebuilt from scratch: TruncatedScenarios takes the
// daily returns, the EWMA volatilities and the h-day returns once from the whole history (none of
// them at date t depends on a later date, but for the EWMA's seed, the mean of the first 25
// squared returns, which a truncated history of fewer than 26 dates takes again) and, per test
// date, only what does depend on it: the stressed period, the look-back's mean volatility, the
// floor and the scaled moves, of the class tested and the factors exposed. Its scenarios are
// build_scenarios' on the truncated history, move for move (the same IEEE operations in the same
// order; tested for every date of several histories). 250 test dates of 55 factors over 750 dates,
// measured on a shared two-core machine: 0.7 to 1.8 s in the sanitized debug build (preset ci),
// 0.25 s optimised, against 5 s and 0.65 s when each date's scenarios were built anew (the test
// prints its own time).
//
// Thread safety: pure functions; PortfolioBacktest is a plain value; a TruncatedScenarios is
// immutable once prepared and may be shared by threads.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cch/core/result.hpp"
#include "cch/margin/backtest.hpp"
#include "cch/margin/parameters.hpp"
#include "cch/margin/scenarios.hpp"

namespace cch::margin {

inline constexpr std::size_t kPortfolioBacktestObservationsDefault = 250;  // a year of business days

struct PortfolioBacktest {
  MarginClass margin_class = MarginClass::future;
  std::int32_t mpor_days = 0;      // h, history dates
  std::int32_t confidence_bp = 0;  // c, the class's
  // One per test date not skipped, ascending: the date t, margin(t), loss(t).
  std::vector<BacktestObservation> observations;
  std::int64_t skipped = 0;  // test dates whose truncated history was too short for the model
  BacktestReport report;
  friend bool operator==(const PortfolioBacktest&, const PortfolioBacktest&) = default;
};

enum class PortfolioBacktestRefusal : std::uint8_t {
  invalid_observation_count,
  exposure_count_mismatch,
  gross_exposure_too_large,
  invalid_history,
  missing_level,
  no_observations,
  amount_out_of_range,
};
std::string_view to_string(PortfolioBacktestRefusal refusal);

struct PortfolioBacktestError {
  PortfolioBacktestRefusal refusal = PortfolioBacktestRefusal::no_observations;
  std::string detail;
};

// The backtest of a constant portfolio of one class over the last `observations` test dates of
// the history (the definitions above).
Result<PortfolioBacktest, PortfolioBacktestError> backtest_portfolio(
    const FactorHistory& history, const MarginParameters& parameters, MarginClass margin_class,
    std::span<const std::int64_t> exposure_cents, std::size_t observations = kPortfolioBacktestObservationsDefault);

// backtest_portfolio of each portfolio (each an exposure_cents as above), answer i for
// portfolios[i], from one pass over the test dates: a truncation's scenarios are built once
// whatever the number of portfolios, so a day's backtest of every member costs one build per test
// date plus each member's P&Ls. A portfolio refused alone (exposure_count_mismatch,
// gross_exposure_too_large, amount_out_of_range, no_observations) leaves the others' answers as
// they would be alone; a refusal of the history (invalid_observation_count, invalid_history,
// missing_level) is every portfolio's.
std::vector<Result<PortfolioBacktest, PortfolioBacktestError>> backtest_portfolios(
    const FactorHistory& history, const MarginParameters& parameters, MarginClass margin_class,
    std::span<const std::vector<std::int64_t>> portfolios,
    std::size_t observations = kPortfolioBacktestObservationsDefault);

// The scenarios of one class that build_scenarios builds from the history truncated at each of
// its dates, for some of its factors, from one pass over the whole history.
class TruncatedScenarios {
 public:
  // Refused as daily_log_returns refuses (invalid_history, then missing_level: the whole
  // history is checked, including the dates after the ones asked for). Preconditions: validate
  // passed; each factor listed is below history.factor_count (asserted).
  static Result<TruncatedScenarios, ScenarioError> prepare(const FactorHistory& history,
                                                           const MarginParameters& parameters, MarginClass margin_class,
                                                           std::vector<std::size_t> factors);

  // build_scenarios(truncate_history(history, last), parameters).of(margin_class), with the moves
  // of the factors listed and 0 for every other factor; or the refusal build_scenarios makes of
  // that truncated history (history_too_short or stress_period_outside_history, the same refusal;
  // its detail in other words). Precondition: last < history.dates.size() (asserted).
  [[nodiscard]] Result<ClassScenarios, ScenarioError> at(std::size_t last) const;

  // The whole history's daily log-returns (daily_log_returns), [factor x dates + t].
  [[nodiscard]] const std::vector<double>& daily_returns() const { return returns_; }

 private:
  TruncatedScenarios() = default;
  MarginParameters parameters_;
  MarginClass margin_class_ = MarginClass::future;
  std::vector<BusinessDate> dates_;
  std::size_t factor_count_ = 0;
  std::vector<std::size_t> factors_;
  std::vector<double> returns_;                // [factor x dates + t], every factor: daily_log_returns
  std::vector<double> squared_return_prefix_;  // [t + 1]: the squared returns of dates 1..t, all factors
  // [i x dates + t] for factor factors_[i]:
  std::vector<double> sigma_;                    // EWMA volatility, seeded as over the whole history
  std::vector<double> window_return_;            // the h-day log-return ending t (t >= h)
  std::vector<std::int64_t> unscaled_move_ppb_;  // move_ppb of it: the stressed scenario
};

// The history's dates 0..last (every factor's levels up to that date, the same proxies): what
// the model knew on date `last`. Precondition: last < history.dates.size() (asserted).
FactorHistory truncate_history(const FactorHistory& history, std::size_t last);

}  // namespace cch::margin
