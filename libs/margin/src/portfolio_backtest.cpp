#include "cch/margin/portfolio_backtest.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <optional>
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

Int128 abs128(Int128 value) {
  return value < 0 ? -value : value;
}

ScenarioError scenario_refusal(ScenarioRefusal refusal, std::string detail) {
  return ScenarioError{refusal, std::move(detail)};
}

// What follows repeats build_scenarios' arithmetic (scenarios.cpp) operation for operation, so
// that each figure is bit for bit the one it computes from a truncated history; the tests compare
// the two on every date of several histories.
constexpr std::size_t kSeedReturns = 25;  // scenarios.hpp: the EWMA seed's returns

// The EWMA volatilities sigma(f, t), t < dates, of one factor's daily returns rf over `dates` dates.
void ewma_sigma(const double* rf, std::size_t dates, double lambda, double* sf) {
  const std::size_t seed_count = std::min(kSeedReturns, dates - 1);
  double variance = 0;
  for (std::size_t t = 1; t <= seed_count; ++t) {
    variance += rf[t] * rf[t];
  }
  variance /= static_cast<double>(seed_count);
  sf[0] = std::sqrt(variance);
  for (std::size_t t = 1; t < dates; ++t) {
    variance = lambda * variance + (1 - lambda) * rf[t] * rf[t];
    sf[t] = std::sqrt(variance);
  }
}

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
    for (std::size_t s = 0; s < n; ++s) {
      pnl[s] += exposure * moves[s];
    }
  }
  return expected_shortfall_cents(parameters, scenarios, pnl);
}

// loss(t) in cents, rounded up: -sum of exposure x the h-day move from t to t + h.
std::int64_t realised_loss_cents(const std::vector<double>& returns, std::size_t dates, std::size_t t, std::size_t h,
                                 std::span<const Exposed> exposed) {
  Int128 pnl = 0;
  for (const Exposed& e : exposed) {
    const double* r = returns.data() + e.factor * dates;
    double log_return = 0;
    for (std::size_t j = t + 1; j <= t + h; ++j) {
      log_return += r[j];
    }
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

Result<TruncatedScenarios, ScenarioError> TruncatedScenarios::prepare(const FactorHistory& history,
                                                                      const MarginParameters& parameters,
                                                                      MarginClass margin_class,
                                                                      std::vector<std::size_t> factors) {
  auto returns = daily_log_returns(history);
  if (!returns) {
    return fail(returns.error());
  }
  TruncatedScenarios out;
  out.parameters_ = parameters;
  out.margin_class_ = margin_class;
  out.dates_ = history.dates;
  out.factor_count_ = history.factor_count;
  out.factors_ = std::move(factors);
  out.returns_ = std::move(returns.value());
  const std::size_t dates = out.dates_.size();
  assert(std::all_of(out.factors_.begin(), out.factors_.end(), [&](std::size_t f) { return f < out.factor_count_; }));
  // build_scenarios' prefix sums of the squared daily returns over all factors, per date: those
  // of a truncated history are the first entries of these.
  out.squared_return_prefix_.assign(dates + 1, 0.0);
  for (std::size_t t = 0; t < dates; ++t) {
    double day = 0;
    if (t >= 1) {
      for (std::size_t f = 0; f < out.factor_count_; ++f) {
        day += out.returns_[f * dates + t] * out.returns_[f * dates + t];
      }
    }
    out.squared_return_prefix_[t + 1] = out.squared_return_prefix_[t] + day;
  }
  const double lambda = parameters.ewma_lambda_e4 / 10'000.0;
  const auto hd = static_cast<std::size_t>(parameters.of(margin_class).mpor_days);
  const std::size_t count = out.factors_.size();
  out.sigma_.assign(count * dates, 0.0);
  out.window_return_.assign(count * dates, 0.0);
  out.unscaled_move_ppb_.assign(count * dates, 0);
  for (std::size_t i = 0; i < count; ++i) {
    const double* rf = out.returns_.data() + out.factors_[i] * dates;
    if (dates >= 2) {
      ewma_sigma(rf, dates, lambda, out.sigma_.data() + i * dates);
    }
    for (std::size_t t = hd; t < dates; ++t) {
      double sum = 0;
      for (std::size_t j = t + 1 - hd; j <= t; ++j) {
        sum += rf[j];
      }
      out.window_return_[i * dates + t] = sum;
      out.unscaled_move_ppb_[i * dates + t] = move_ppb(sum);
    }
  }
  return out;
}

Result<ClassScenarios, ScenarioError> TruncatedScenarios::at(std::size_t last) const {
  assert(last < dates_.size());
  const MarginParameters& p = parameters_;
  const std::size_t all_dates = dates_.size();
  const std::size_t dates = last + 1;  // the truncated history's
  const auto dates_min = static_cast<std::size_t>(std::max(p.future.mpor_days, p.forward.mpor_days)) + 2;
  if (dates < dates_min) {
    return fail(scenario_refusal(ScenarioRefusal::history_too_short,
                                 "the history to " + dates_[last].format() + " has " + std::to_string(dates) +
                                     " dates; at least " + std::to_string(dates_min) + " are needed"));
  }
  // The stressed period, as scenarios.cpp's stress_window selects it from the truncated history.
  std::size_t stress_first = 0;
  std::size_t stress_last = 0;
  const auto begin = dates_.begin();
  const auto end = dates_.begin() + static_cast<std::ptrdiff_t>(dates);
  if (p.stress_first) {
    if (*p.stress_first < dates_.front() || *p.stress_last > dates_[last]) {
      return fail(scenario_refusal(ScenarioRefusal::stress_period_outside_history,
                                   "the stressed period is not within the history to " + dates_[last].format()));
    }
    stress_first = static_cast<std::size_t>(std::lower_bound(begin, end, *p.stress_first) - begin);
    stress_last = static_cast<std::size_t>((std::upper_bound(begin, end, *p.stress_last) - begin) - 1);
  } else {
    const std::vector<double>& prefix = squared_return_prefix_;
    bool found = false;
    double best_score = -1;
    std::size_t window_last = 0;
    for (std::size_t first = 0; first < dates; ++first) {
      window_last = std::max(window_last, first);
      while (window_last < dates &&
             dates_[window_last].days_since_epoch() - dates_[first].days_since_epoch() < kStressPeriodDaysMin - 1) {
        ++window_last;
      }
      if (window_last >= dates) {
        break;
      }
      const double score = (prefix[window_last + 1] - prefix[first + 1]) / static_cast<double>(window_last - first);
      if (score > best_score) {
        best_score = score;
        found = true;
        stress_first = first;
        stress_last = window_last;
      }
    }
    if (!found) {
      return fail(scenario_refusal(ScenarioRefusal::history_too_short,
                                   "the history to " + dates_[last].format() + " holds no twelve months"));
    }
  }
  const std::size_t lookback_first =
      dates - std::min<std::size_t>(dates - 1, static_cast<std::size_t>(p.lookback_days));
  // build_scenarios refuses when either class lacks a filtered or a stressed window.
  for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
    const auto hd = static_cast<std::size_t>(p.of(c).mpor_days);
    if (std::max(hd, lookback_first) >= dates || stress_first + hd > stress_last) {
      return fail(scenario_refusal(ScenarioRefusal::stress_period_outside_history,
                                   "no " + std::to_string(hd) + "-day window in the look-back or the stressed period"));
    }
  }

  ClassScenarios out;
  out.margin_class = margin_class_;
  out.mpor_days = p.of(margin_class_).mpor_days;
  const auto hd = static_cast<std::size_t>(out.mpor_days);
  const std::size_t filtered_first = std::max(hd, lookback_first);
  for (std::size_t t = filtered_first; t < dates; ++t) {
    out.filtered_dates.push_back(dates_[t]);
  }
  for (std::size_t t = stress_first + hd; t <= stress_last; ++t) {
    out.stressed_dates.push_back(dates_[t]);
  }
  const std::size_t count = out.scenario_count();
  out.moves_ppb.assign(factor_count_ * count, 0);

  const double lambda = p.ewma_lambda_e4 / 10'000.0;
  const double floor = p.vol_floor_bp / 10'000.0;
  // The seed is the mean of the first min(25, dates - 1) squared returns: a truncated history of
  // fewer than 26 dates has its own.
  const bool own_seed = std::min(kSeedReturns, dates - 1) != std::min(kSeedReturns, all_dates - 1);
  std::vector<double> own_sigma(own_seed ? dates : 0);
  for (std::size_t i = 0; i < factors_.size(); ++i) {
    const std::size_t f = factors_[i];
    const double* sf = sigma_.data() + i * all_dates;
    if (own_seed) {
      ewma_sigma(returns_.data() + f * all_dates, dates, lambda, own_sigma.data());
      sf = own_sigma.data();
    }
    double sum = 0;
    for (std::size_t t = lookback_first; t < dates; ++t) {
      sum += sf[t];
    }
    const double sigma_today = sf[dates - 1];
    const double sigma_mean = sum / static_cast<double>(dates - lookback_first);
    const double sigma_used = std::max(sigma_today, floor * sigma_mean);
    const double* window = window_return_.data() + i * all_dates;
    std::int64_t* moves = out.moves_ppb.data() + f * count;
    std::size_t s = 0;
    for (std::size_t t = filtered_first; t < dates; ++t) {
      const double raw = window[t];
      const double scaled = sf[t] > 0 ? raw * sigma_used / sf[t] : raw;
      moves[s++] = move_ppb(scaled);
    }
    const std::int64_t* unscaled = unscaled_move_ppb_.data() + i * all_dates;
    for (std::size_t t = stress_first + hd; t <= stress_last; ++t) {
      moves[s++] = unscaled[t];
    }
  }
  return out;
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

namespace {

// One portfolio's state through the pass over the test dates.
struct Portfolio {
  std::vector<Exposed> exposed;
  std::optional<PortfolioBacktestError> refused;
  PortfolioBacktest out;
};

// The report of a portfolio's observations, or its refusal.
Result<PortfolioBacktest, PortfolioBacktestError> finish(Portfolio& p, std::size_t dates, std::size_t h) {
  if (p.refused) return fail(std::move(*p.refused));
  PortfolioBacktest& out = p.out;
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
  return std::move(out);
}

}  // namespace

Result<PortfolioBacktest, PortfolioBacktestError> backtest_portfolio(const FactorHistory& history,
                                                                     const MarginParameters& parameters,
                                                                     MarginClass margin_class,
                                                                     std::span<const std::int64_t> exposure_cents,
                                                                     std::size_t observations) {
  const std::vector<std::int64_t> one(exposure_cents.begin(), exposure_cents.end());
  auto out = backtest_portfolios(history, parameters, margin_class, std::span<const std::vector<std::int64_t>>(&one, 1),
                                 observations);
  return std::move(out.at(0));
}

std::vector<Result<PortfolioBacktest, PortfolioBacktestError>> backtest_portfolios(
    const FactorHistory& history, const MarginParameters& parameters, MarginClass margin_class,
    std::span<const std::vector<std::int64_t>> portfolios, std::size_t observations) {
  assert(!validate(parameters).has_value());
  std::vector<Result<PortfolioBacktest, PortfolioBacktestError>> results;
  results.reserve(portfolios.size());
  const auto refuse_all = [&](PortfolioBacktestError error) {
    for (std::size_t i = 0; i < portfolios.size(); ++i) results.push_back(fail(error));
    return std::move(results);
  };
  if (observations < 1 || observations > kBacktestObservationsMax) {
    return refuse_all(refuse(PortfolioBacktestRefusal::invalid_observation_count,
                             std::to_string(observations) + " test dates asked; 1 to " +
                                 std::to_string(kBacktestObservationsMax) + " are allowed"));
  }
  std::vector<Portfolio> state(portfolios.size());
  std::vector<bool> needed(history.factor_count, false);
  for (std::size_t i = 0; i < portfolios.size(); ++i) {
    Portfolio& p = state[i];
    p.out.margin_class = margin_class;
    p.out.mpor_days = parameters.of(margin_class).mpor_days;
    p.out.confidence_bp = parameters.of(margin_class).confidence_bp;
    const std::vector<std::int64_t>& exposure_cents = portfolios[i];
    if (exposure_cents.size() != history.factor_count) {
      p.refused = refuse(PortfolioBacktestRefusal::exposure_count_mismatch,
                         std::to_string(exposure_cents.size()) + " exposures for " +
                             std::to_string(history.factor_count) + " factors");
      continue;
    }
    Int128 gross = 0;
    for (std::size_t f = 0; f < exposure_cents.size(); ++f) {
      gross += abs128(exposure_cents[f]);
      if (exposure_cents[f] != 0) p.exposed.push_back(Exposed{f, exposure_cents[f]});
    }
    if (gross > kGrossExposureCentsMax) {
      p.refused = refuse(PortfolioBacktestRefusal::gross_exposure_too_large,
                         "the gross exposure is above " + std::to_string(kGrossExposureCentsMax) + " cents");
      p.exposed.clear();
      continue;
    }
    for (const Exposed& e : p.exposed) needed[e.factor] = true;
  }
  // One preparation for the factors any portfolio is exposed to: a truncation's scenarios are
  // built once per test date, whatever the number of portfolios.
  std::vector<std::size_t> factors;
  for (std::size_t f = 0; f < needed.size(); ++f) {
    if (needed[f]) factors.push_back(f);
  }
  auto scenarios = TruncatedScenarios::prepare(history, parameters, margin_class, std::move(factors));
  if (!scenarios) {
    const bool missing = scenarios.error().refusal == ScenarioRefusal::missing_level;
    const auto error = refuse(missing ? PortfolioBacktestRefusal::missing_level : PortfolioBacktestRefusal::invalid_history,
                              scenarios.error().detail);
    for (Portfolio& p : state) {
      if (!p.refused) p.refused = error;
    }
  }
  const std::size_t dates = history.dates.size();
  const auto h = static_cast<std::size_t>(parameters.of(margin_class).mpor_days);
  if (scenarios && dates > h) {
    const std::size_t last = dates - 1 - h;
    const std::size_t first = last + 1 >= observations ? last + 1 - observations : 0;
    std::vector<Int128> pnl;
    for (std::size_t t = first; t <= last; ++t) {
      auto class_scenarios = scenarios->at(t);
      if (!class_scenarios) {
        const ScenarioRefusal refusal = class_scenarios.error().refusal;
        CCH_CHECK(
            refusal == ScenarioRefusal::history_too_short || refusal == ScenarioRefusal::stress_period_outside_history,
            "a truncated history of a valid history with every return is valid and has every return");
        for (Portfolio& p : state) ++p.out.skipped;
        continue;
      }
      for (Portfolio& p : state) {
        if (p.refused) continue;
        p.out.observations.push_back(
            BacktestObservation{history.dates[t], margin_cents(parameters, class_scenarios.value(), p.exposed, pnl),
                                realised_loss_cents(scenarios->daily_returns(), dates, t, h, p.exposed)});
      }
    }
  }
  for (Portfolio& p : state) results.push_back(finish(p, dates, h));
  return results;
}

}  // namespace cch::margin
