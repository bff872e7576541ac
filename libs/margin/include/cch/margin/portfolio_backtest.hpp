#pragma once
// Backtest of the margin model on a hypothetical portfolio: for a member's portfolio as it is
// today, held constant over the last n business days of the history, did the margin the model
// computed on each day t cover the loss the portfolio actually made over the margin period of
// risk that followed?
//
// A hypothetical portfolio. The portfolio is held constant: today's exposures, every one of the
// test dates, as if the member had held them throughout. EMIR RTS 153/2013 art. 49 asks a CCP to
// compare, each day, observed outcomes with those its margin model expected, on the current
// positions; a portfolio held constant over the past is that comparison for positions that did
// not exist then, a hypothetical portfolio, which art. 49 allows alongside the actual ones.
//
// What is tested: the scenario model alone, the class's expected shortfall after
// anti-procyclicality (engine.hpp). Left out: the concentration, liquidity and interim add-ons,
// and the GPU-generation basis. They are outside the scenario model (they charge for a close-out's
// size, its bid-ask spread, a product without history, correlations history may not keep), not a
// forecast from history of the portfolio's loss; counting them would credit the model with margin
// it did not compute from prices. The backtest tests the model's coverage, not the add-ons (the
// practice ESMA's opinion on CCP back testing under art. 49 asks for). The generation basis only
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
//                   history as history_too_short or stress_period_outside_history (too little
//                   history before t for the stressed period or the margin periods of risk), the
//                   date is skipped and counted in `skipped`; a history shorter than the
//                   look-back is used whole, as build_scenarios does.
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
// Cost: one build_scenarios per test date, O(factors x dates) each, and a P&L pass over the
// scenarios per factor exposed. 250 test dates of 55 factors over 750 dates take well under a
// second in an optimised build (the test measures its own build).
//
// Thread safety: a pure function; a PortfolioBacktest is a plain value.
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

// The history's dates 0..last (every factor's levels up to that date, the same proxies): what
// the model knew on date `last`. Precondition: last < history.dates.size() (asserted).
FactorHistory truncate_history(const FactorHistory& history, std::size_t last);

}  // namespace cch::margin
