#pragma once
// A compute forward curve: one price per UTC day, in USD per GPU-hour, built from period quotes.
//
// The curve of a business date starts on the day after it (first_day: delivery from then on is
// still to come) and has one value for each UTC day in [first_day, last_day]. Delivery is 24/7
// baseload in UTC, so every day has 24 hours and a period's average price is the plain mean of
// its daily values; an hour-aligned window's average weighs each day by its hours in the window.
//
// Quotes. A PeriodQuote is a label (for messages: "2027-03", "2027-Q2", "2027", "2027-W09",
// "2027-03-01"), whole UTC days [first_day, end_day) and a price in ticks (0.0001 USD per
// GPU-hour, price.hpp). The built curve's average over every independent quote's period equals
// the quote (to rounding in double, far below 1e-9 USD), and over every dependent quote's period
// it is within half a tick of the quote.
//
// Consistency (overlapping quotes: a year, its quarters and its months; weeks and days). Quotes
// are taken shortest period first (then earliest start). A quote is *dependent* when its period's
// total is already determined by the quotes taken before it: when its start and end are joined
// by a chain of earlier independent periods, each added or subtracted (a quarter by its three
// months; a month by its weeks and days, added and taken away). Its implied average is that
// chain's total over its number of days, computed exactly in integer ticks x days. A dependent
// quote agrees when |implied - quote| <= tick_size / 2 (the curve honours the finer quotes
// exactly and the coarser one rounds to its quote); otherwise the build is refused with
// inconsistent_quotes, naming the dependent quote, its price, the implied average and the labels
// of the quotes that determine it. Only independent quotes constrain the curve. The order of the
// quotes in the input does not matter: the same set gives a bit-identical curve.
//
// Method: maximum smoothness on daily values, the daily analogue of the maximum-smoothness
// forward curves of the power markets (Benth, Koekebakker and Ollmar 2007), which minimise the
// curve's curvature subject to the quoted averages. Let s be the first day of the earliest quote
// and e - 1 the last day of the latest, x_s..x_{e-1} the daily values and d_t = x_{t+1} - x_t.
// The curve minimises its roughness
//     R = sum_t (d_{t+1} - d_t)^2  +  d_s^2 + d_{e-2}^2  +  kTension * sum_t d_t^2
// subject to sum_{t in period q} x_t = days_q x price_q for every independent quote q. The first
// sum is the squared second differences; the two single terms are the second differences across
// the ends when the curve continues flat beyond them (the flat end condition: before the first
// quoted day and after the last, the curve is flat, so it does not trend away); kTension is a
// small penalty on the day-to-day changes themselves (a tension: with kTension = 1/900 the swing
// a quote causes beyond its period fades over about 30 days, 1/sqrt(kTension), instead of
// running through the whole curve, and the Hessian's condition number stays below
// (4 + kTension) / kTension, about 3,600, whatever the horizon, so ten years of monthly quotes
// are met to about 1e-12 USD per GPU-hour; without it, to about 1e-9). Days inside
// [s, e) without a quote are filled by the criterion. The curve is published as x_s for the days
// before s and x_{e-1} for the days from e on.
// Solution: in the variables (x_s, d) the Hessian of R is tridiagonal (2 + kTension on the
// diagonal, -1 beside it) and positive definite; it is factorised once (banded Cholesky), each
// constraint column is solved against it, and the multipliers come from a small dense bordered
// system (one row per independent quote, plus the level x_s), solved by Gaussian elimination
// with partial pivoting and two fixed rounds of iterative refinement on the constraints'
// residuals. Cost: O(independent quotes x (days + quoted days)) plus O(independent quotes^3);
// never a dense days x days solve.
// Why: smooth (no artificial jumps at period boundaries, where quoted prices change), honours
// every quote, leaves no free parameter per period, and is deterministic (a fixed sequence of
// floating-point operations on the quotes sorted as above).
// Weaknesses: a smooth curve must undershoot and overshoot around a large step between adjacent
// quotes (the average of a period next to a much dearer one is kept by its other days going
// lower), and it knows nothing of weekly or seasonal shape. If some day's value would be zero or
// below, the build is refused with non_positive_curve naming the day, rather than publishing a
// negative price; the quotes must then be looked at (or finer quotes added around the step).
//
// Refusals (CurveError), checked in this order: invalid_horizon (last_day before first_day, or
// more than kForwardHorizonDaysMax days); no_quotes; too_many_quotes (more than
// kPeriodQuotesMax); then quote by quote in input order: invalid_period (end_day <= first_day),
// period_outside_curve (starting before first_day or ending after last_day + 1),
// non_positive_price, price_too_large (above kPriceTicksMax), duplicate_period (the period or
// the label of an earlier quote); then inconsistent_quotes; then non_positive_curve.
// A tick size of zero or less is a programmer error (asserted), as in price.hpp.
//
// Thread safety: build_forward_curve is a pure function; a ForwardCurve is immutable and safe to
// share between threads.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/pricing/curve_error.hpp"

namespace cch::pricing {

inline constexpr std::size_t kPeriodQuotesMax = 256;
inline constexpr std::int64_t kForwardHorizonDaysMax = 3660;  // ten years and a few days
inline constexpr double kTension = 1.0 / 900.0;               // the tension of the method above
inline constexpr std::int64_t kHoursPerDay = 24;

struct PeriodQuote {
  std::string label;
  BusinessDate first_day;
  BusinessDate end_day;  // exclusive
  std::int64_t price_ticks = 0;
};

// An hour-aligned window [start, end).
struct DeliveryWindow {
  UtcTimestamp start;
  UtcTimestamp end;

  friend bool operator==(const DeliveryWindow&, const DeliveryWindow&) = default;
};

class ForwardCurve {
 public:
  // Preconditions (asserted): at least one value; every value finite. build_forward_curve makes
  // such a curve; a stored curve is rebuilt from its values with this constructor.
  ForwardCurve(BusinessDate first_day, std::vector<double> daily_prices_usd);

  [[nodiscard]] BusinessDate first_day() const { return first_day_; }
  [[nodiscard]] BusinessDate last_day() const;
  // 00:00 UTC of first_day, and of the day after last_day: the curve covers [start(), end()).
  [[nodiscard]] UtcTimestamp start() const { return first_day_.start_of_day(); }
  [[nodiscard]] UtcTimestamp end() const;
  // USD per GPU-hour, one per day from first_day.
  [[nodiscard]] std::span<const double> daily_prices() const { return daily_prices_; }

  // The price of `day`. Precondition: first_day() <= day <= last_day().
  [[nodiscard]] double price(BusinessDate day) const;

  // The hour-weighted average price over [window_start, window_end), in O(1) (prefix sums):
  // a partial first or last day counts its hours. Preconditions (asserted): both instants on
  // whole hours, window_start < window_end, and start() <= window_start, window_end <= end()
  // (clip() first a window that may reach outside).
  [[nodiscard]] double average(UtcTimestamp window_start, UtcTimestamp window_end) const;

  // The part of [window_start, window_end) inside the curve, or nothing if they do not overlap.
  [[nodiscard]] std::optional<DeliveryWindow> clip(UtcTimestamp window_start, UtcTimestamp window_end) const;

  friend bool operator==(const ForwardCurve& left, const ForwardCurve& right) {
    return left.first_day_ == right.first_day_ && left.daily_prices_ == right.daily_prices_;
  }

 private:
  BusinessDate first_day_;
  std::vector<double> daily_prices_;
  std::vector<double> prefix_sums_;  // prefix_sums_[k] = sum of the first k daily prices
};

// How the curve meets one quote: its average over the quote's period (USD per GPU-hour) and
// whether the quote was dependent (implied by finer quotes, met within half a tick).
struct PeriodFit {
  std::string label;
  std::int64_t price_ticks = 0;
  double curve_average_usd = 0.0;
  bool dependent = false;
};

struct ForwardCurveBuild {
  ForwardCurve curve;
  std::vector<PeriodFit> fits;  // in the order of the quotes
};

// Precondition: tick_size_ticks > 0.
Result<ForwardCurveBuild, CurveError> build_forward_curve(BusinessDate first_day, BusinessDate last_day,
                                                          std::int64_t tick_size_ticks,
                                                          std::span<const PeriodQuote> quotes);

}  // namespace cch::pricing
