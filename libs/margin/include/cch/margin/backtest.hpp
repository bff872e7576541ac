#pragma once
// Backtesting: how often a portfolio's realised loss over a margin period exceeded the margin
// required at its start, and whether that is more often than the confidence level allows. The
// figures a CCP back-testing report carries (ISO 20022 auth.066), Kupiec's proportion-of-failures
// test and the Basel traffic light.
//
// Input: one observation per business date, in strictly ascending date order:
//   margin_cents         the margin required at the start of the margin period, 0..kAmountMinorMax
//   realised_loss_cents  the portfolio's realised loss over it (negative = a gain),
//                        |value| <= kAmountMinorMax (money.hpp: 10^15 cents)
// and the confidence level tested, confidence_bp in 1..9,999 (9,900 = 99 %), whose exception
// probability is p = (10,000 - confidence_bp) / 10,000.
//
// Figures (n observations, x exceptions; money in integer cents, statistics in double):
//   exception           an observation whose realised loss is strictly greater than its margin
//   coverage_bp         floor(10,000 x (n - x) / n): basis points, rounded down (2/3 is 6,666)
//   coverage            (n - x) / n as a double, for display
//   largest_exception   max over the exceptions of (loss - margin), cents; 0 when none
//   average_exception   ceil(sum over the exceptions of (loss - margin) / x), cents, rounded up
//                       (towards the worse figure); 0 when none
//   Kupiec (proportion of failures), with 0 ln 0 = 0 (so x = 0 and x = n are defined):
//     LR = -2 ln[(1 - p)^(n - x) p^x] + 2 ln[(1 - x/n)^(n - x) (x/n)^x]   (>= 0; a negative
//          rounding residue when x/n = p is reported as 0)
//     p_value = P(chi-square with 1 degree of freedom >= LR) = erfc(sqrt(LR / 2))
//     rejected when p_value < kKupiecSignificance (0.05): the exception rate is not p's
//   traffic light: c = P(X <= x), X ~ Binomial(n, p), summed term by term in long double over
//     logarithms (no underflow for any n, p here; accurate to far better than 10^-12):
//     green when c < 0.95, yellow when c < 0.9999, red otherwise. For n = 250 at 99 % (the
//     Basel table): green 0-4 exceptions, yellow 5-9, red 10 or more; for n = 500: green 0-8,
//     yellow 9-14, red 15 or more. A series too short for its confidence is never green: when
//     (1 - p)^n >= 0.95 (n <= 5 at 99 %, n <= 10 at 99.5 %) even no exception is yellow.
//
// Refusals (BacktestRefusal, checked in this order; BacktestError names the first offending
// observation where there is one): invalid_confidence (outside 1..9,999), no_observations,
// too_many_observations (more than kBacktestObservationsMax: ten years of business days, the
// margin model's longest look-back), then observation by observation: dates_not_ascending (a
// date not after the one before), amount_out_of_range (a margin outside 0..kAmountMinorMax or a
// loss beyond +-kAmountMinorMax). Within these bounds the exception sum fits in 64 bits
// (2,610 x 2 x 10^15 < 2^63).
//
// kupiec_pof, binomial_cdf and traffic_light take their arguments as figures already checked:
// observations >= 1, 0 <= exceptions <= observations, confidence_bp in 1..9,999 (asserted).
//
// Thread safety: pure functions and plain values.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "cch/core/result.hpp"
#include "cch/core/time.hpp"

namespace cch::margin {

inline constexpr std::size_t kBacktestObservationsMax = 2'610;
inline constexpr double kKupiecSignificance = 0.05;
inline constexpr double kTrafficLightYellowFrom = 0.95;
inline constexpr double kTrafficLightRedFrom = 0.9999;

struct BacktestObservation {
  BusinessDate date = BusinessDate::from_days_since_epoch(0).value();
  std::int64_t margin_cents = 0;
  std::int64_t realised_loss_cents = 0;  // negative = a gain
  friend bool operator==(const BacktestObservation&, const BacktestObservation&) = default;
};

struct KupiecTest {
  double likelihood_ratio = 0.0;  // LR, >= 0
  double p_value = 1.0;           // P(chi-square(1) >= LR)
  bool rejected = false;          // p_value < kKupiecSignificance
  friend bool operator==(const KupiecTest&, const KupiecTest&) = default;
};

enum class TrafficLightZone : std::uint8_t { green, yellow, red };
std::string_view to_string(TrafficLightZone zone);

struct TrafficLight {
  TrafficLightZone zone = TrafficLightZone::green;
  double cumulative_probability = 0.0;  // P(X <= exceptions)
  friend bool operator==(const TrafficLight&, const TrafficLight&) = default;
};

struct BacktestReport {
  BusinessDate first_date = BusinessDate::from_days_since_epoch(0).value();
  BusinessDate last_date = BusinessDate::from_days_since_epoch(0).value();
  std::int32_t confidence_bp = 0;
  std::int64_t observations = 0;
  std::int64_t exceptions = 0;
  std::int32_t coverage_bp = 0;  // rounded down
  double coverage = 0.0;
  std::int64_t largest_exception_cents = 0;  // 0 when none
  std::int64_t average_exception_cents = 0;  // rounded up; 0 when none
  KupiecTest kupiec;
  TrafficLight traffic_light;
  friend bool operator==(const BacktestReport&, const BacktestReport&) = default;
};

enum class BacktestRefusal : std::uint8_t {
  invalid_confidence,
  no_observations,
  too_many_observations,
  dates_not_ascending,
  amount_out_of_range,
};
std::string_view to_string(BacktestRefusal refusal);

struct BacktestError {
  BacktestRefusal refusal = BacktestRefusal::no_observations;
  std::size_t observation = 0;  // the index of the offending observation; 0 for the first three
  friend bool operator==(const BacktestError&, const BacktestError&) = default;
};

// The report of a series of observations at a confidence level (the definitions above).
Result<BacktestReport, BacktestError> backtest(std::span<const BacktestObservation> observations,
                                               std::int32_t confidence_bp);

// Kupiec's proportion-of-failures test of x exceptions in n observations at a confidence level.
KupiecTest kupiec_pof(std::int64_t observations, std::int64_t exceptions, std::int32_t confidence_bp);

// P(chi-square with 1 degree of freedom >= statistic) = erfc(sqrt(statistic / 2)); 1 for a
// statistic <= 0.
double chi_square_1_p_value(double statistic);

// P(X <= exceptions), X ~ Binomial(observations, (10,000 - confidence_bp) / 10,000).
double binomial_cdf(std::int64_t observations, std::int64_t exceptions, std::int32_t confidence_bp);

// The Basel traffic light zone of x exceptions in n observations at a confidence level.
TrafficLight traffic_light(std::int64_t observations, std::int64_t exceptions, std::int32_t confidence_bp);

}  // namespace cch::margin
