#include "cch/margin/portfolio_backtest.hpp"

#include <cassert>
#include <utility>

#include "cch/core/check.hpp"
#include "cch/core/decimal.hpp"
#include "cch/margin/engine.hpp"

namespace cch::margin {

namespace {

constexpr Int128 kNanoPerCent = 1'000'000'000;

PortfolioBacktestError refuse(PortfolioBacktestRefusal refusal, std::string detail) {
  return PortfolioBacktestError{refusal, std::move(detail)};
}

Int128 abs128(Int128 value) { return value < 0 ? -value : value; }

struct Exposed {
  std::size_t factor = 0;
  std::int64_t cents = 0;
};

// margin(t): the class's expected shortfall after APC of the exposed factors' scenario P&Ls.
std::int64_t margin_cents(const MarginParameters& parameters, const ClassScenarios& scenarios,
                          std::span<const Exposed> exposed, std::vector<Int128>& pnl) {
  const std::size_t n = scenarios.scenario_count();
  pnl.assign(n, 0);
  for (const Exposed& e : exposed) {
    const Int128 exposure = e.cents;
    const std::int64_t* moves = scenarios.moves_of(e.factor);
    for (std::size_t s = 0; s < n; ++s) pnl[s] += exposure * moves[s];
  }
  return expected_shortfall_cents(parameters, scenarios, pnl);
}

// loss(t) in cents, rounded up: -sum of exposure x the h-day move from t to t + h.
std::int64_t realised_loss_cents(const std::vector<double>& returns, std::size_t dates, std::size_t t,
                                 std::size_t h, std::span<const Exposed> exposed) {
  Int128 pnl = 0;
  for (const Exposed& e : exposed) {
    const double* r = returns.data() + e.factor * dates;
    double log_return = 0;
    for (std::size_t j = t + 1; j <= t + h; ++j) log_return += r[j];
    pnl += static_cast<Int128>(e.cents) * move_ppb(log_return);
  }
  const auto loss = divide_rounded(-pnl, kNanoPerCent, Rounding::ceiling);
  CCH_CHECK(loss.has_value(), "a realised loss fits in 64 bits within the gross exposure bound");
  return loss.value();
}

}  // namespace

std::string_view to_string(PortfolioBacktestRefusal refusal) {
  switch (refusal) {
    case PortfolioBacktestRefusal::invalid_observation_count:
      return "invalid_observation_count";
    case PortfolioBacktestRefusal::exposure_count_mismatch:
      return "exposure_count_mismatch";
    case PortfolioBacktestRefusal::gross_exposure_too_large:
      return "gross_exposure_too_large";
    case PortfolioBacktestRefusal::invalid_history:
      return "invalid_history";
    case PortfolioBacktestRefusal::missing_level:
      return "missing_level";
    case PortfolioBacktestRefusal::no_observations:
      return "no_observations";
    case PortfolioBacktestRefusal::amount_out_of_range:
      return "amount_out_of_range";
  }
  return "unknown";
}

FactorHistory truncate_history(const FactorHistory& history, std::size_t last) {
  const std::size_t dates = history.dates.size();
  assert(last < dates && history.levels.size() == history.factor_count * dates);
  FactorHistory out;
  out.dates.assign(history.dates.begin(), history.dates.begin() + static_cast<std::ptrdiff_t>(last + 1));
  out.factor_count = history.factor_count;
  out.levels.reserve(history.factor_count * (last + 1));
  for (std::size_t f = 0; f < history.factor_count; ++f) {
    const auto first = history.levels.begin() + static_cast<std::ptrdiff_t>(f * dates);
    out.levels.insert(out.levels.end(), first, first + static_cast<std::ptrdiff_t>(last + 1));
  }
  out.proxy = history.proxy;
  return out;
}

Result<PortfolioBacktest, PortfolioBacktestError> backtest_portfolio(const FactorHistory& history,
                                                                     const MarginParameters& parameters,
                                                                     MarginClass margin_class,
                                                                     std::span<const std::int64_t> exposure_cents,
                                                                     std::size_t observations) {
  assert(!validate(parameters).has_value());
  if (observations < 1 || observations > kBacktestObservationsMax) {
    return fail(refuse(PortfolioBacktestRefusal::invalid_observation_count,
                       std::to_string(observations) + " test dates asked; 1 to " +
                           std::to_string(kBacktestObservationsMax) + " are allowed"));
  }
  if (exposure_cents.size() != history.factor_count) {
    return fail(refuse(PortfolioBacktestRefusal::exposure_count_mismatch,
                       std::to_string(exposure_cents.size()) + " exposures for " +
                           std::to_string(history.factor_count) + " factors"));
  }
  Int128 gross = 0;
  std::vector<Exposed> exposed;
  for (std::size_t f = 0; f < exposure_cents.size(); ++f) {
    gross += abs128(exposure_cents[f]);
    if (exposure_cents[f] != 0) exposed.push_back(Exposed{f, exposure_cents[f]});
  }
  if (gross > kGrossExposureCentsMax) {
    return fail(refuse(PortfolioBacktestRefusal::gross_exposure_too_large,
                       "the gross exposure is above " + std::to_string(kGrossExposureCentsMax) + " cents"));
  }
  auto returns = daily_log_returns(history);
  if (!returns) {
    const bool missing = returns.error().refusal == ScenarioRefusal::missing_level;
    return fail(refuse(missing ? PortfolioBacktestRefusal::missing_level : PortfolioBacktestRefusal::invalid_history,
                       returns.error().detail));
  }

  PortfolioBacktest out;
  out.margin_class = margin_class;
  out.mpor_days = parameters.of(margin_class).mpor_days;
  out.confidence_bp = parameters.of(margin_class).confidence_bp;
  const std::size_t dates = history.dates.size();
  const auto h = static_cast<std::size_t>(out.mpor_days);
  if (dates > h) {
    const std::size_t last = dates - 1 - h;
    const std::size_t first = last + 1 >= observations ? last + 1 - observations : 0;
    std::vector<Int128> pnl;
    for (std::size_t t = first; t <= last; ++t) {
      auto scenarios = build_scenarios(truncate_history(history, t), parameters);
      if (!scenarios) {
        const ScenarioRefusal refusal = scenarios.error().refusal;
        CCH_CHECK(refusal == ScenarioRefusal::history_too_short ||
                      refusal == ScenarioRefusal::stress_period_outside_history,
                  "a truncated history of a valid history with every return is valid and has every return");
        ++out.skipped;
        continue;
      }
      out.observations.push_back(
          BacktestObservation{history.dates[t], margin_cents(parameters, scenarios->of(margin_class), exposed, pnl),
                              realised_loss_cents(returns.value(), dates, t, h, exposed)});
    }
  }
  if (out.observations.empty()) {
    return fail(refuse(PortfolioBacktestRefusal::no_observations,
                       dates > h ? "every one of the " + std::to_string(out.skipped) +
                                       " test dates had too little history before it for the model"
                                 : "no date of the history has a margin period of risk after it in the history"));
  }
  auto report = backtest(out.observations, out.confidence_bp);
  if (!report) {
    CCH_CHECK(report.error().refusal == BacktestRefusal::amount_out_of_range,
              "test dates are ascending, at most kBacktestObservationsMax, and the confidence is valid");
    const BacktestObservation& o = out.observations[report.error().observation];
    return fail(refuse(PortfolioBacktestRefusal::amount_out_of_range,
                       "on " + o.date.format() + " the margin is " + std::to_string(o.margin_cents) +
                           " and the realised loss " + std::to_string(o.realised_loss_cents) +
                           " cents, beyond what a backtest takes"));
  }
  out.report = report.value();
  return out;
}

}  // namespace cch::margin
