#include "cch/margin/scenarios.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "cch/core/check.hpp"

namespace cch::margin {

std::string_view to_string(ScenarioRefusal refusal) {
  switch (refusal) {
    case ScenarioRefusal::invalid_history:
      return "invalid_history";
    case ScenarioRefusal::history_too_short:
      return "history_too_short";
    case ScenarioRefusal::missing_level:
      return "missing_level";
    case ScenarioRefusal::stress_period_outside_history:
      return "stress_period_outside_history";
  }
  return "invalid_history";
}

std::int64_t move_ppb(double log_return) {
  CCH_CHECK(!std::isnan(log_return), "a scenario's log-return is a number");
  const double clamped = std::clamp(log_return, kLogReturnMin, kLogReturnMax);
  const double move = std::expm1(clamped) * 1e9;
  const auto rounded = static_cast<std::int64_t>(std::llround(move));
  return std::clamp<std::int64_t>(rounded, -1'000'000'000 + 1, kMovePpbMax);
}

namespace {

constexpr std::size_t kSeedReturns = 25;

ScenarioError refuse(ScenarioRefusal refusal, std::string detail) { return ScenarioError{refusal, std::move(detail)}; }

// The daily log-returns of every factor, [f x dates + t] (t = 0 unused), proxies followed.
Result<std::vector<double>, ScenarioError> daily_returns(const FactorHistory& h) {
  const std::size_t dates = h.dates.size();
  std::vector<double> own(h.factor_count * dates, std::nan(""));
  for (std::size_t f = 0; f < h.factor_count; ++f) {
    for (std::size_t t = 1; t < dates; ++t) {
      const double now = h.levels[f * dates + t];
      const double before = h.levels[f * dates + t - 1];
      if (!std::isnan(now) && !std::isnan(before)) own[f * dates + t] = std::log(now / before);
    }
  }
  std::vector<double> returns(own.size(), 0.0);
  for (std::size_t f = 0; f < h.factor_count; ++f) {
    for (std::size_t t = 1; t < dates; ++t) {
      std::size_t source = f;
      std::size_t hops = 0;
      while (std::isnan(own[source * dates + t])) {
        const std::int32_t next = h.proxy[source];
        if (next < 0 || ++hops > h.factor_count) {
          return fail(refuse(ScenarioRefusal::missing_level,
                             "factor " + std::to_string(f) + " has no return on " + h.dates[t].format() +
                                 " (no level on that date or the one before, nor has any proxy)"));
        }
        source = static_cast<std::size_t>(next);
      }
      returns[f * dates + t] = own[source * dates + t];
    }
  }
  return returns;
}

struct StressWindow {
  std::size_t first = 0;  // date index
  std::size_t last = 0;
};

Result<StressWindow, ScenarioError> stress_window(const FactorHistory& h, const MarginParameters& p,
                                                  const std::vector<double>& returns) {
  const std::size_t dates = h.dates.size();
  if (p.stress_first) {
    if (*p.stress_first < h.dates.front() || *p.stress_last > h.dates.back()) {
      return fail(refuse(ScenarioRefusal::stress_period_outside_history,
                         "the stressed period " + p.stress_first->format() + ".." + p.stress_last->format() +
                             " is not within the history " + h.dates.front().format() + ".." +
                             h.dates.back().format()));
    }
    const auto first = std::lower_bound(h.dates.begin(), h.dates.end(), *p.stress_first) - h.dates.begin();
    const auto last = (std::upper_bound(h.dates.begin(), h.dates.end(), *p.stress_last) - h.dates.begin()) - 1;
    return StressWindow{static_cast<std::size_t>(first), static_cast<std::size_t>(last)};
  }
  // Prefix sums of the squared daily returns over all factors, per date.
  std::vector<double> prefix(dates + 1, 0.0);
  for (std::size_t t = 0; t < dates; ++t) {
    double day = 0;
    if (t >= 1) {
      for (std::size_t f = 0; f < h.factor_count; ++f) day += returns[f * dates + t] * returns[f * dates + t];
    }
    prefix[t + 1] = prefix[t] + day;
  }
  std::optional<StressWindow> best;
  double best_score = -1;
  std::size_t last = 0;
  for (std::size_t first = 0; first < dates; ++first) {
    last = std::max(last, first);
    while (last < dates && h.dates[last].days_since_epoch() - h.dates[first].days_since_epoch() < kStressPeriodDaysMin - 1) {
      ++last;
    }
    if (last >= dates) break;
    // The returns of the dates after `first` up to `last`.
    const double score = (prefix[last + 1] - prefix[first + 1]) / static_cast<double>(last - first);
    if (score > best_score) {
      best_score = score;
      best = StressWindow{first, last};
    }
  }
  if (!best) {
    return fail(refuse(ScenarioRefusal::history_too_short, "the history holds no twelve months to take a stressed period from"));
  }
  return *best;
}

}  // namespace

std::optional<ScenarioError> check_history(const FactorHistory& h) {
  const std::size_t dates = h.dates.size();
  if (h.factor_count == 0 || h.factor_count > kFactorCountMax || h.levels.size() != h.factor_count * dates ||
      h.proxy.size() != h.factor_count || dates > kHistoryDatesMax) {
    return refuse(ScenarioRefusal::invalid_history, "factor count, levels and proxies do not agree, or too many");
  }
  for (std::size_t t = 1; t < dates; ++t) {
    if (!(h.dates[t - 1] < h.dates[t])) {
      return refuse(ScenarioRefusal::invalid_history, "history dates not strictly ascending at " + h.dates[t].format());
    }
  }
  for (std::size_t f = 0; f < h.factor_count; ++f) {
    const std::int32_t proxy = h.proxy[f];
    if (proxy >= static_cast<std::int32_t>(h.factor_count) || proxy == static_cast<std::int32_t>(f) || proxy < -1) {
      return refuse(ScenarioRefusal::invalid_history, "factor " + std::to_string(f) + " has an invalid proxy");
    }
    for (std::size_t t = 0; t < dates; ++t) {
      const double level = h.levels[f * dates + t];
      if (!std::isnan(level) && !(std::isfinite(level) && level > 0)) {
        return refuse(ScenarioRefusal::invalid_history,
                      "factor " + std::to_string(f) + " has level " + std::to_string(level) + " on " + h.dates[t].format());
      }
    }
  }
  return std::nullopt;
}

Result<std::vector<double>, ScenarioError> daily_log_returns(const FactorHistory& history) {
  if (auto invalid = check_history(history)) return fail(std::move(*invalid));
  return daily_returns(history);
}

Result<ScenarioSet, ScenarioError> build_scenarios(const FactorHistory& h, const MarginParameters& p) {
  const std::size_t dates = h.dates.size();
  if (auto invalid = check_history(h)) return fail(std::move(*invalid));
  const auto dates_min = static_cast<std::size_t>(std::max(p.future.mpor_days, p.forward.mpor_days)) + 2;
  if (dates < dates_min) {
    return fail(refuse(ScenarioRefusal::history_too_short, "the history has " + std::to_string(dates) +
                                                               " dates; at least " + std::to_string(dates_min) +
                                                               " are needed"));
  }
  auto returns_result = daily_returns(h);
  if (!returns_result) return fail(returns_result.error());
  const std::vector<double>& r = returns_result.value();

  auto window = stress_window(h, p, r);
  if (!window) return fail(window.error());

  ScenarioSet set;
  set.as_of = h.dates.back();
  set.factor_count = h.factor_count;
  set.stress_first = h.dates[window->first];
  set.stress_last = h.dates[window->last];
  set.stress_selected = !p.stress_first.has_value();

  // EWMA volatilities.
  const double lambda = p.ewma_lambda_e4 / 10'000.0;
  const std::size_t lookback_first = dates - std::min<std::size_t>(dates - 1, static_cast<std::size_t>(p.lookback_days));
  std::vector<double> sigma(h.factor_count * dates, 0.0);
  set.sigma_today.resize(h.factor_count);
  set.sigma_mean.resize(h.factor_count);
  set.sigma_used.resize(h.factor_count);
  const double floor = p.vol_floor_bp / 10'000.0;
  for (std::size_t f = 0; f < h.factor_count; ++f) {
    const double* rf = r.data() + f * dates;
    const std::size_t seed_count = std::min(kSeedReturns, dates - 1);
    double variance = 0;
    for (std::size_t t = 1; t <= seed_count; ++t) variance += rf[t] * rf[t];
    variance /= static_cast<double>(seed_count);
    double* sf = sigma.data() + f * dates;
    sf[0] = std::sqrt(variance);
    for (std::size_t t = 1; t < dates; ++t) {
      variance = lambda * variance + (1 - lambda) * rf[t] * rf[t];
      sf[t] = std::sqrt(variance);
    }
    double sum = 0;
    for (std::size_t t = lookback_first; t < dates; ++t) sum += sf[t];
    set.sigma_today[f] = sf[dates - 1];
    set.sigma_mean[f] = sum / static_cast<double>(dates - lookback_first);
    set.sigma_used[f] = std::max(set.sigma_today[f], floor * set.sigma_mean[f]);
  }

  for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
    ClassScenarios& out = set.classes[static_cast<std::size_t>(c)];
    out.margin_class = c;
    out.mpor_days = p.of(c).mpor_days;
    const auto hd = static_cast<std::size_t>(out.mpor_days);
    std::vector<std::size_t> filtered_ends;
    for (std::size_t t = std::max(hd, lookback_first); t < dates; ++t) filtered_ends.push_back(t);
    std::vector<std::size_t> stressed_ends;
    for (std::size_t t = window->first + hd; t <= window->last; ++t) stressed_ends.push_back(t);
    if (filtered_ends.empty() || stressed_ends.empty()) {
      return fail(refuse(ScenarioRefusal::stress_period_outside_history,
                         "no " + std::to_string(hd) + "-day window for the " + std::string(to_string(c)) +
                             " class in the look-back or the stressed period"));
    }
    for (const std::size_t t : filtered_ends) out.filtered_dates.push_back(h.dates[t]);
    for (const std::size_t t : stressed_ends) out.stressed_dates.push_back(h.dates[t]);
    const std::size_t count = out.scenario_count();
    out.moves_ppb.assign(h.factor_count * count, 0);
    for (std::size_t f = 0; f < h.factor_count; ++f) {
      const double* rf = r.data() + f * dates;
      const double* sf = sigma.data() + f * dates;
      const auto window_return = [&](std::size_t t) {
        double sum = 0;
        for (std::size_t j = t + 1 - hd; j <= t; ++j) sum += rf[j];
        return sum;
      };
      std::int64_t* moves = out.moves_ppb.data() + f * count;
      std::size_t s = 0;
      for (const std::size_t t : filtered_ends) {
        const double raw = window_return(t);
        const double scaled = sf[t] > 0 ? raw * set.sigma_used[f] / sf[t] : raw;
        moves[s++] = move_ppb(scaled);
      }
      for (const std::size_t t : stressed_ends) moves[s++] = move_ppb(window_return(t));
    }
  }
  return set;
}

}  // namespace cch::margin
