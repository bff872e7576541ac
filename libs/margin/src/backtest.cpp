#include "cch/margin/backtest.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <vector>

#include "cch/core/check.hpp"
#include "cch/core/decimal.hpp"
#include "cch/core/money.hpp"

namespace cch::margin {

namespace {

bool figures_in_range(std::int64_t observations, std::int64_t exceptions, std::int32_t confidence_bp) {
  return observations >= 1 && exceptions >= 0 && exceptions <= observations && confidence_bp >= 1 &&
         confidence_bp <= 9'999;
}

bool amount_in_range(const BacktestObservation& o) {
  return o.margin_cents >= 0 && o.margin_cents <= kAmountMinorMax && o.realised_loss_cents >= -kAmountMinorMax &&
         o.realised_loss_cents <= kAmountMinorMax;
}

}  // namespace

std::string_view to_string(TrafficLightZone zone) {
  switch (zone) {
    case TrafficLightZone::green:
      return "green";
    case TrafficLightZone::yellow:
      return "yellow";
    case TrafficLightZone::red:
      return "red";
  }
  return "unknown";
}

std::string_view to_string(BacktestRefusal refusal) {
  switch (refusal) {
    case BacktestRefusal::invalid_confidence:
      return "invalid_confidence";
    case BacktestRefusal::no_observations:
      return "no_observations";
    case BacktestRefusal::too_many_observations:
      return "too_many_observations";
    case BacktestRefusal::dates_not_ascending:
      return "dates_not_ascending";
    case BacktestRefusal::amount_out_of_range:
      return "amount_out_of_range";
  }
  return "unknown";
}

double chi_square_1_p_value(double statistic) {
  if (!(statistic > 0.0)) {
    return 1.0;
  }
  return std::erfc(std::sqrt(statistic / 2.0));
}

KupiecTest kupiec_pof(std::int64_t observations, std::int64_t exceptions, std::int32_t confidence_bp) {
  assert(figures_in_range(observations, exceptions, confidence_bp));
  const auto n = static_cast<double>(observations);
  const auto x = static_cast<double>(exceptions);
  const double p = static_cast<double>(10'000 - confidence_bp) / 10'000.0;
  // ln of the likelihood under p, and under the observed rate x / n; 0 ln 0 = 0.
  double null_log = (n - x) * std::log1p(-p);
  if (exceptions > 0) {
    null_log += x * std::log(p);
  }
  double observed_log = 0.0;
  if (exceptions < observations) {
    observed_log += (n - x) * std::log((n - x) / n);
  }
  if (exceptions > 0) {
    observed_log += x * std::log(x / n);
  }
  const double ratio = std::max(0.0, -2.0 * null_log + 2.0 * observed_log);
  const double p_value = chi_square_1_p_value(ratio);
  return KupiecTest{ratio, p_value, p_value < kKupiecSignificance};
}

double binomial_cdf(std::int64_t observations, std::int64_t exceptions, std::int32_t confidence_bp) {
  assert(figures_in_range(observations, exceptions, confidence_bp));
  if (exceptions == observations) {
    return 1.0;
  }
  const auto n = static_cast<long double>(observations);
  const long double p = static_cast<long double>(10'000 - confidence_bp) / 10'000.0L;
  const long double log_p = std::log(p);
  const long double log_q = std::log1p(-p);
  // ln of each term C(n, k) p^k (1 - p)^(n - k), ln C(n, k) built up as sum ln((n - i) / (i + 1)).
  std::vector<long double> log_terms;
  log_terms.reserve(static_cast<std::size_t>(exceptions) + 1);
  long double log_choose = 0.0L;
  for (std::int64_t k = 0; k <= exceptions; ++k) {
    if (k > 0) {
      log_choose += std::log((n - static_cast<long double>(k - 1)) / static_cast<long double>(k));
    }
    const auto kk = static_cast<long double>(k);
    log_terms.push_back(log_choose + kk * log_p + (n - kk) * log_q);
  }
  const long double largest = *std::max_element(log_terms.begin(), log_terms.end());
  long double sum = 0.0L;
  for (const long double t : log_terms) {
    sum += std::exp(t - largest);
  }
  const long double cdf = std::exp(largest + std::log(sum));
  return static_cast<double>(std::min(cdf, 1.0L));
}

TrafficLight traffic_light(std::int64_t observations, std::int64_t exceptions, std::int32_t confidence_bp) {
  const double c = binomial_cdf(observations, exceptions, confidence_bp);
  const TrafficLightZone zone = c < kTrafficLightYellowFrom ? TrafficLightZone::green
                                : c < kTrafficLightRedFrom  ? TrafficLightZone::yellow
                                                            : TrafficLightZone::red;
  return TrafficLight{zone, c};
}

Result<BacktestReport, BacktestError> backtest(std::span<const BacktestObservation> observations,
                                               std::int32_t confidence_bp) {
  if (confidence_bp < 1 || confidence_bp > 9'999) {
    return fail(BacktestError{BacktestRefusal::invalid_confidence, 0});
  }
  if (observations.empty()) {
    return fail(BacktestError{BacktestRefusal::no_observations, 0});
  }
  if (observations.size() > kBacktestObservationsMax) {
    return fail(BacktestError{BacktestRefusal::too_many_observations, 0});
  }
  std::int64_t exceptions = 0;
  Int128 exception_sum = 0;
  std::int64_t largest = 0;
  for (std::size_t i = 0; i < observations.size(); ++i) {
    const BacktestObservation& o = observations[i];
    if (i > 0 && !(observations[i - 1].date < o.date)) {
      return fail(BacktestError{BacktestRefusal::dates_not_ascending, i});
    }
    if (!amount_in_range(o)) {
      return fail(BacktestError{BacktestRefusal::amount_out_of_range, i});
    }
    if (o.realised_loss_cents > o.margin_cents) {
      const std::int64_t excess = o.realised_loss_cents - o.margin_cents;  // <= 2 x 10^15
      ++exceptions;
      exception_sum += excess;
      largest = std::max(largest, excess);
    }
  }
  const auto n = static_cast<std::int64_t>(observations.size());
  BacktestReport report;
  report.first_date = observations.front().date;
  report.last_date = observations.back().date;
  report.confidence_bp = confidence_bp;
  report.observations = n;
  report.exceptions = exceptions;
  report.coverage_bp = static_cast<std::int32_t>((n - exceptions) * 10'000 / n);
  report.coverage = static_cast<double>(n - exceptions) / static_cast<double>(n);
  report.largest_exception_cents = largest;
  if (exceptions > 0) {
    const auto average = divide_rounded(exception_sum, exceptions, Rounding::ceiling);
    CCH_CHECK(average.has_value(), "an average of bounded exceptions fits in 64 bits");
    report.average_exception_cents = average.value();
  }
  report.kupiec = kupiec_pof(n, exceptions, confidence_bp);
  report.traffic_light = traffic_light(n, exceptions, confidence_bp);
  return report;
}

}  // namespace cch::margin
