// The backtest of a constant portfolio against the margin model: histories whose outcome is
// known by hand (a steady rise, a crash on a known date, a long against an equal short), every
// margin recomputed here from build_scenarios on the truncated history with an expected shortfall
// of this file's own, the realised loss from the levels by hand, the refusals, and the time a
// year of test dates takes on a 55-factor, 750-date history.
#include "cch/margin/portfolio_backtest.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <numeric>
#include <random>
#include <vector>

#include "cch/core/decimal.hpp"
#include "cch/margin/engine.hpp"

namespace cch::margin {
namespace {

constexpr std::int64_t kNano = 1'000'000'000;

BusinessDate date(int y, int m, int d) {
  return BusinessDate::from_year_month_day(y, m, d).value();
}

// Dates seven days apart from 2024-01-01: twelve months (364 days) are 52 steps, so the first
// stressed period the model can select needs 53 dates, and a truncated history of dates 0..t is
// too short for it while t < 52.
constexpr std::size_t kFirstDateWithTwelveMonths = 52;

std::vector<BusinessDate> weekly_dates(std::size_t count) {
  std::vector<BusinessDate> dates;
  for (std::size_t i = 0; i < count; ++i) {
    dates.push_back(date(2024, 1, 1).add_days(7 * static_cast<std::int64_t>(i)).value());
  }
  return dates;
}

// A history of the given factors' level series (NaN where there is none).
FactorHistory history_of(const std::vector<std::vector<double>>& series, std::vector<std::int32_t> proxy) {
  FactorHistory h;
  h.dates = weekly_dates(series.front().size());
  h.factor_count = series.size();
  for (const auto& levels : series) {
    h.levels.insert(h.levels.end(), levels.begin(), levels.end());
  }
  h.proxy = std::move(proxy);
  return h;
}

double level(const FactorHistory& h, std::size_t f, std::size_t t) {
  return h.levels[f * h.dates.size() + t];
}

// Levels from 100 by daily gross returns g[1..] (g[0] unused).
std::vector<double> levels_from(const std::vector<double>& gross) {
  std::vector<double> levels(gross.size());
  levels[0] = 100.0;
  for (std::size_t t = 1; t < gross.size(); ++t) {
    levels[t] = levels[t - 1] * gross[t];
  }
  return levels;
}

// ceil(a / b) for b > 0, Int128.
Int128 ceil_div(Int128 a, Int128 b) {
  return a / b + ((a % b != 0 && a > 0) ? 1 : 0);
}

// The class's expected shortfall after anti-procyclicality of these exposures against a class's
// scenarios, written again here from docs/margin.md section 8 (not the engine's code): the losses
// of each part sorted from the largest, k = ceil(n (1 - c)), the k largest summed, the APC rule,
// rounded up to the cent, not below zero.
std::int64_t expected_shortfall_by_hand(const MarginParameters& p, const ClassScenarios& c,
                                        const std::vector<std::int64_t>& exposure) {
  const std::size_t n = c.scenario_count();
  std::vector<Int128> losses(n, 0);
  for (std::size_t f = 0; f < exposure.size(); ++f) {
    for (std::size_t s = 0; s < n; ++s) {
      losses[s] -= static_cast<Int128>(exposure[f]) * c.moves_ppb[f * n + s];
    }
  }
  const std::int32_t confidence = p.of(c.margin_class).confidence_bp;
  const auto tail = [&](std::size_t first, std::size_t count, Int128& sum, Int128& k) {
    std::vector<Int128> part(losses.begin() + static_cast<std::ptrdiff_t>(first),
                             losses.begin() + static_cast<std::ptrdiff_t>(first + count));
    std::sort(part.begin(), part.end(), [](Int128 a, Int128 b) { return a > b; });
    k = std::max<Int128>(1, ceil_div(static_cast<Int128>(count) * (10'000 - confidence), 10'000));
    sum = 0;
    for (Int128 i = 0; i < k; ++i) {
      sum += part[static_cast<std::size_t>(i)];
    }
  };
  Int128 sum_filtered = 0, k_filtered = 0, sum_stressed = 0, k_stressed = 0;
  tail(0, c.filtered_count(), sum_filtered, k_filtered);
  tail(c.filtered_count(), c.stressed_count(), sum_stressed, k_stressed);
  Int128 cents = 0;
  if (p.apc_mode == ApcMode::stress_weight) {
    const Int128 w = p.apc_stress_weight_bp;
    cents = ceil_div((10'000 - w) * sum_filtered * k_stressed + w * sum_stressed * k_filtered,
                     10'000 * k_filtered * k_stressed * kNano);
  } else {
    const Int128 factor = 10'000 + (p.apc_buffer_released ? 0 : p.apc_buffer_bp);
    cents = ceil_div(sum_filtered * factor, k_filtered * 10'000 * kNano);
  }
  return static_cast<std::int64_t>(std::max<Int128>(0, cents));
}

// The history's dates 0..last, cut here (not with truncate_history).
FactorHistory cut(const FactorHistory& h, std::size_t last) {
  FactorHistory out;
  out.dates.assign(h.dates.begin(), h.dates.begin() + static_cast<std::ptrdiff_t>(last + 1));
  out.factor_count = h.factor_count;
  for (std::size_t f = 0; f < h.factor_count; ++f) {
    for (std::size_t t = 0; t <= last; ++t) {
      out.levels.push_back(level(h, f, t));
    }
  }
  out.proxy = h.proxy;
  return out;
}

// The move in parts per 10^9 of a ratio of levels, rounded to the nearest.
std::int64_t ratio_ppb(double ratio) {
  return std::llround((ratio - 1.0) * 1e9);
}

// The loss in cents, rounded up, of exposures moved by these moves.
std::int64_t loss_by_hand(const std::vector<std::int64_t>& exposure, const std::vector<std::int64_t>& moves) {
  Int128 pnl = 0;
  for (std::size_t f = 0; f < exposure.size(); ++f) {
    pnl += static_cast<Int128>(exposure[f]) * moves[f];
  }
  return static_cast<std::int64_t>(ceil_div(-pnl, kNano));
}

MarginParameters small_parameters() {
  MarginParameters p;
  p.lookback_days = kLookbackDaysMin;  // more than these histories: all of each
  return p;
}

// Each margin(t) is the shortfall recomputed here from build_scenarios on the history cut at t;
// each skipped date is one build_scenarios refuses; the dates are the test dates' in order.
void expect_margins_recomputed(const FactorHistory& h, const MarginParameters& p, MarginClass c,
                               const std::vector<std::int64_t>& exposure, std::size_t n, const PortfolioBacktest& got) {
  const std::size_t last = h.dates.size() - 1 - static_cast<std::size_t>(p.of(c).mpor_days);
  const std::size_t first = last + 1 >= n ? last + 1 - n : 0;
  std::size_t i = 0;
  std::int64_t skipped = 0;
  for (std::size_t t = first; t <= last; ++t) {
    const auto set = build_scenarios(cut(h, t), p);
    if (!set) {
      ++skipped;
      continue;
    }
    ASSERT_LT(i, got.observations.size());
    EXPECT_EQ(got.observations[i].date, h.dates[t]);
    EXPECT_EQ(got.observations[i].margin_cents, expected_shortfall_by_hand(p, set->of(c), exposure))
        << h.dates[t].format();
    ++i;
  }
  EXPECT_EQ(i, got.observations.size());
  EXPECT_EQ(got.skipped, skipped);
}

// --- a steady rise ---------------------------------------------------------------------------

// One factor rising 1 % a date: 100 x 1.01^t over 80 dates. Every return is ln 1.01, so every
// 2-day scenario (filtered: the volatility never changes, so the scaling is 1; stressed: unscaled)
// is +2.01 %, and the realised move from every t is 1.01^2 - 1 = +2.01 % = 20,100,000 ppb.
FactorHistory steady_rise() {
  std::vector<double> levels(80);
  for (std::size_t t = 0; t < levels.size(); ++t) {
    levels[t] = 100.0 * std::pow(1.01, static_cast<double>(t));
  }
  return history_of({levels}, {-1});
}

TEST(PortfolioBacktest, ALongPositionInAFactorThatOnlyRisesNeedsNoMarginAndNeverLoses) {
  const FactorHistory h = steady_rise();
  const std::vector<std::int64_t> exposure = {1'000'000};  // 10,000 USD long
  const auto got = backtest_portfolio(h, small_parameters(), MarginClass::future, exposure);
  ASSERT_TRUE(got.has_value()) << got.error().detail;
  // Test dates t = 0..77 (t + 2 <= 79, fewer than 250); t < 52 has no twelve months for the
  // stressed period: 52 skipped, 26 observed.
  EXPECT_EQ(got->skipped, static_cast<std::int64_t>(kFirstDateWithTwelveMonths));
  ASSERT_EQ(got->observations.size(), 26u);
  EXPECT_EQ(got->observations.front().date, h.dates[kFirstDateWithTwelveMonths]);
  EXPECT_EQ(got->observations.back().date, h.dates[77]);
  for (const BacktestObservation& o : got->observations) {
    EXPECT_EQ(o.margin_cents, 0);               // every scenario gains: the shortfall is floored at zero
    EXPECT_EQ(o.realised_loss_cents, -20'100);  // 1,000,000 x 2.01 %, a gain
  }
  EXPECT_EQ(got->mpor_days, 2);
  EXPECT_EQ(got->confidence_bp, 9'900);
  EXPECT_EQ(got->report.observations, 26);
  EXPECT_EQ(got->report.exceptions, 0);
  EXPECT_EQ(got->report.coverage_bp, 10'000);
  EXPECT_EQ(got->report.largest_exception_cents, 0);
}

TEST(PortfolioBacktest, AShortPositionInAFactorThatOnlyRisesLosesExactlyItsMargin) {
  const FactorHistory h = steady_rise();
  const std::vector<std::int64_t> exposure = {-1'000'000};
  const auto got = backtest_portfolio(h, small_parameters(), MarginClass::future, exposure);
  ASSERT_TRUE(got.has_value()) << got.error().detail;
  ASSERT_EQ(got->observations.size(), 26u);
  for (const BacktestObservation& o : got->observations) {
    // Every scenario, filtered and stressed, loses 2.01 %: the shortfall is 20,100 cents; so is
    // the realised loss. Equal is covered.
    EXPECT_EQ(o.margin_cents, 20'100);
    EXPECT_EQ(o.realised_loss_cents, 20'100);
  }
  EXPECT_EQ(got->report.exceptions, 0);
  EXPECT_EQ(got->report.coverage_bp, 10'000);
}

// --- a crash on a known date -----------------------------------------------------------------

// 130 dates; the daily gross returns cycle through +0.4 -0.3 +0.2 -0.5 +0.1 +0.3 -0.2 %, with two
// falls of 5 % on dates 10 and 20 (inside every stressed period the model can select before the
// crash) and the crash: -30 % on date kCrash. Factor 1 has the same levels as factor 0.
constexpr std::size_t kCrash = 100;

FactorHistory crash_history() {
  const std::vector<double> cycle = {1.004, 0.997, 1.002, 0.995, 1.001, 1.003, 0.998};
  std::vector<double> gross(130, 1.0);
  for (std::size_t t = 1; t < gross.size(); ++t) {
    gross[t] = cycle[t % cycle.size()];
  }
  gross[10] = 0.95;
  gross[20] = 0.95;
  gross[kCrash] = 0.70;
  const std::vector<double> levels = levels_from(gross);
  return history_of({levels, levels}, {-1, -1});
}

TEST(PortfolioBacktest, ACrashIsAnExceptionOnTheDatesWhoseMarginPeriodHoldsIt) {
  const FactorHistory h = crash_history();
  const MarginParameters p = small_parameters();
  const std::vector<std::int64_t> exposure = {100'000'000, 0};  // 1,000,000 USD long factor 0
  const auto got = backtest_portfolio(h, p, MarginClass::future, exposure, 100);
  ASSERT_TRUE(got.has_value()) << got.error().detail;
  // Test dates 28..127 (the last 100 with t + 2 <= 129); 28..51 skipped.
  EXPECT_EQ(got->skipped, static_cast<std::int64_t>(kFirstDateWithTwelveMonths - 28));
  ASSERT_EQ(got->observations.size(), 76u);
  expect_margins_recomputed(h, p, MarginClass::future, exposure, 100, *got);

  // The two margin periods holding the crash start on dates 98 and 99 (t + 1 <= 100 <= t + 2):
  // each an exception, and no other date. The loss from the levels: the move L(t + 2) / L(t) - 1
  // in parts per 10^9, times the exposure, rounded up to the cent.
  std::vector<std::int64_t> excess;
  for (const BacktestObservation& o : got->observations) {
    const bool holds_crash = o.date == h.dates[kCrash - 2] || o.date == h.dates[kCrash - 1];
    EXPECT_EQ(o.realised_loss_cents > o.margin_cents, holds_crash) << o.date.format();
    if (holds_crash) {
      const std::size_t t = o.date == h.dates[kCrash - 2] ? kCrash - 2 : kCrash - 1;
      const std::int64_t move = ratio_ppb(level(h, 0, t + 2) / level(h, 0, t));
      const std::int64_t loss = loss_by_hand({100'000'000}, {move});
      EXPECT_GT(loss, 29'000'000);  // about 30 % of 1,000,000 USD
      EXPECT_EQ(o.realised_loss_cents, loss);
      excess.push_back(loss - o.margin_cents);
    }
  }
  ASSERT_EQ(excess.size(), 2u);
  EXPECT_EQ(got->report.exceptions, 2);
  EXPECT_EQ(got->report.largest_exception_cents, std::max(excess[0], excess[1]));
  EXPECT_EQ(got->report.average_exception_cents, (excess[0] + excess[1] + 1) / 2);
  EXPECT_EQ(got->report.coverage_bp, 9'736);  // floor(10,000 x 74 / 76)
  // After the crash the model has seen it: the margin of a date after it is far above the one
  // before (the EWMA volatility and, once it is the worst twelve months, the stressed period).
  const auto at = [&](std::size_t t) {
    return std::find_if(got->observations.begin(), got->observations.end(),
                        [&](const BacktestObservation& o) { return o.date == h.dates[t]; })
        ->margin_cents;
  };
  EXPECT_GT(at(kCrash + 1), 5 * at(kCrash - 1));
}

TEST(PortfolioBacktest, ALongAndAnEqualShortOfTheSameFactorNeedNoMarginAndNeverLose) {
  const FactorHistory h = crash_history();  // factor 1 has factor 0's levels
  const std::vector<std::int64_t> exposure = {100'000'000, -100'000'000};
  const auto got = backtest_portfolio(h, small_parameters(), MarginClass::future, exposure, 100);
  ASSERT_TRUE(got.has_value()) << got.error().detail;
  ASSERT_EQ(got->observations.size(), 76u);
  for (const BacktestObservation& o : got->observations) {
    EXPECT_EQ(o.margin_cents, 0);
    EXPECT_EQ(o.realised_loss_cents, 0);
  }
  EXPECT_EQ(got->report.exceptions, 0);

  // The same with the short in a factor without levels of its own, moving as its proxy.
  FactorHistory proxied = h;
  std::fill(proxied.levels.begin() + static_cast<std::ptrdiff_t>(h.dates.size()), proxied.levels.end(), std::nan(""));
  proxied.proxy = {-1, 0};
  const auto by_proxy = backtest_portfolio(proxied, small_parameters(), MarginClass::forward, exposure, 100);
  ASSERT_TRUE(by_proxy.has_value()) << by_proxy.error().detail;
  ASSERT_FALSE(by_proxy->observations.empty());
  for (const BacktestObservation& o : by_proxy->observations) {
    EXPECT_EQ(o.margin_cents, 0);
    EXPECT_EQ(o.realised_loss_cents, 0);
  }
  EXPECT_EQ(by_proxy->report.exceptions, 0);
}

// --- margins recomputed independently --------------------------------------------------------

// Three factors over 150 dates: two random walks and a third quoted only from date 40 on, its
// proxy the second before.
FactorHistory three_factors() {
  std::mt19937_64 random(20240101);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> a(150), b(150), c(150);
  a[0] = 100;
  b[0] = 80;
  c[0] = std::nan("");
  for (std::size_t t = 1; t < a.size(); ++t) {
    const double common = normal(random);
    const double scale = t > 120 && t < 125 ? 4.0 : 1.0;  // a rough spell
    a[t] = a[t - 1] * std::exp(0.02 * scale * common);
    b[t] = b[t - 1] * std::exp(0.015 * scale * (0.6 * common + 0.8 * normal(random)));
    c[t] = t < 40 ? std::nan("") : (t == 40 ? 50.0 : c[t - 1] * std::exp(0.03 * normal(random)));
  }
  return history_of({a, b, c}, {-1, -1, 1});
}

TEST(PortfolioBacktest, EachMarginIsTheShortfallOfTheScenariosOfTheHistoryCutAtItsDate) {
  const FactorHistory h = three_factors();
  const std::vector<std::int64_t> exposure = {3'000'000, -1'700'000, 900'000};
  for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
    for (const ApcMode mode : {ApcMode::stress_weight, ApcMode::buffer}) {
      MarginParameters p = small_parameters();
      p.apc_mode = mode;
      const auto got = backtest_portfolio(h, p, c, exposure, 120);
      ASSERT_TRUE(got.has_value()) << got.error().detail;
      EXPECT_EQ(got->mpor_days, p.of(c).mpor_days);
      EXPECT_EQ(got->confidence_bp, p.of(c).confidence_bp);
      expect_margins_recomputed(h, p, c, exposure, 120, *got);
      // The report is backtest.hpp's of these observations at the class's confidence.
      EXPECT_EQ(got->report, backtest(got->observations, p.of(c).confidence_bp).value());
      // truncate_history cuts as this test does (NaN where the cut has NaN).
      const FactorHistory mine = truncate_history(h, 77);
      const FactorHistory theirs = cut(h, 77);
      EXPECT_EQ(mine.dates, theirs.dates);
      EXPECT_EQ(mine.proxy, theirs.proxy);
      ASSERT_EQ(mine.levels.size(), theirs.levels.size());
      for (std::size_t i = 0; i < mine.levels.size(); ++i) {
        EXPECT_TRUE(mine.levels[i] == theirs.levels[i] || (std::isnan(mine.levels[i]) && std::isnan(theirs.levels[i])));
      }
    }
  }
}

TEST(PortfolioBacktest, ManyPortfoliosInOnePassAnswerEachAsAlone) {
  // Each portfolio exposed to other factors (the pass prepares their union), one refused alone.
  const FactorHistory h = three_factors();
  const std::vector<std::vector<std::int64_t>> portfolios = {
      {3'000'000, -1'700'000, 900'000}, {0, 0, -2'500'000}, {0, 0, 0}, {1, 2}, {-4'000'000, 0, 0}};
  const MarginParameters p = small_parameters();
  for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
    const auto all = backtest_portfolios(h, p, c, portfolios, 120);
    ASSERT_EQ(all.size(), portfolios.size());
    for (std::size_t i = 0; i < portfolios.size(); ++i) {
      if (i == 3) {
        ASSERT_FALSE(all[i].has_value());
        EXPECT_EQ(all[i].error().refusal, PortfolioBacktestRefusal::exposure_count_mismatch);
        continue;
      }
      ASSERT_TRUE(all[i].has_value()) << i << ": " << all[i].error().detail;
      expect_margins_recomputed(h, p, c, portfolios[i], 120, *all[i]);
      const auto alone = backtest_portfolio(h, p, c, portfolios[i], 120);
      ASSERT_TRUE(alone.has_value());
      EXPECT_EQ(*all[i], *alone) << i;
    }
    // The empty book needs nothing and loses nothing.
    for (const BacktestObservation& o : all[2]->observations) {
      EXPECT_EQ(o.margin_cents, 0);
      EXPECT_EQ(o.realised_loss_cents, 0);
    }
  }
  // A refusal of the request is every portfolio's.
  const auto none = backtest_portfolios(h, p, MarginClass::future, portfolios, 0);
  ASSERT_EQ(none.size(), portfolios.size());
  for (const auto& one : none) EXPECT_EQ(one.error().refusal, PortfolioBacktestRefusal::invalid_observation_count);
}

// --- one pass over the history: build_scenarios on every truncation ----------------------------

// TruncatedScenarios::at(last) is build_scenarios on the history cut at last, class by class, for
// every last: the same scenarios to the last move, or the same refusal. Answers how many were
// built.
std::size_t expect_each_truncation_built_alike(const FactorHistory& h, const MarginParameters& p) {
  std::vector<std::size_t> every(h.factor_count);
  std::iota(every.begin(), every.end(), std::size_t{0});
  std::size_t built = 0;
  for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
    const auto prepared = TruncatedScenarios::prepare(h, p, c, every);
    EXPECT_TRUE(prepared.has_value()) << prepared.error().detail;
    // Only the factors listed: the others' moves are 0.
    const auto last_factor = TruncatedScenarios::prepare(h, p, c, {h.factor_count - 1});
    EXPECT_TRUE(last_factor.has_value());
    if (!prepared || !last_factor) {
      return 0;
    }
    for (std::size_t last = 0; last < h.dates.size(); ++last) {
      const auto want = build_scenarios(cut(h, last), p);
      const auto got = prepared->at(last);
      EXPECT_EQ(got.has_value(), want.has_value()) << to_string(c) << " to " << h.dates[last].format();
      if (got.has_value() != want.has_value()) {
        continue;
      }
      if (!want) {
        EXPECT_EQ(got.error().refusal, want.error().refusal) << h.dates[last].format();
        continue;
      }
      ++built;
      EXPECT_EQ(got.value(), want->of(c)) << to_string(c) << " to " << h.dates[last].format();
      const auto one = last_factor->at(last);
      EXPECT_TRUE(one.has_value());
      if (!one) {
        continue;
      }
      const std::size_t n = one->scenario_count();
      for (std::size_t i = 0; i < one->moves_ppb.size(); ++i) {
        EXPECT_EQ(one->moves_ppb[i], i / n == h.factor_count - 1 ? want->of(c).moves_ppb[i] : 0);
      }
    }
  }
  return built;
}

TEST(TruncatedScenarios, EachTruncationIsBuildScenariosOfTheHistoryCutThere) {
  // The stressed period selected anew on every date, the look-back all of the history.
  EXPECT_GT(expect_each_truncation_built_alike(three_factors(), small_parameters()), 0u);
  EXPECT_GT(expect_each_truncation_built_alike(crash_history(), small_parameters()), 0u);
}

TEST(TruncatedScenarios, ALookBackShorterThanTheHistoryAndAFloorThatBinds) {
  // 400 weekdays; volatile for the first 250 (3 % a day), calm after (0.5 %): today's volatility
  // falls below 75 % of the look-back's mean and the floor binds. Look-back: 250 dates.
  std::mt19937_64 random(400);
  std::normal_distribution<double> normal(0.0, 1.0);
  FactorHistory h;
  BusinessDate d = date(2023, 1, 2);
  for (std::size_t t = 0; t < 400; ++t) {
    h.dates.push_back(d);
    d = d.add_days(d.weekday() == Weekday::friday ? 3 : 1).value();
  }
  h.factor_count = 2;
  h.proxy = {-1, 0};
  std::vector<double> a(400), b(400);
  a[0] = 100;
  b[0] = 60;
  for (std::size_t t = 1; t < 400; ++t) {
    const double vol = t < 250 ? 0.03 : 0.005;
    a[t] = a[t - 1] * std::exp(vol * normal(random));
    b[t] = b[t - 1] * std::exp(vol * normal(random));
  }
  h.levels = a;
  h.levels.insert(h.levels.end(), b.begin(), b.end());
  MarginParameters p = small_parameters();
  ASSERT_EQ(p.lookback_days, 250);
  const auto whole = build_scenarios(h, p);
  ASSERT_TRUE(whole.has_value());
  EXPECT_GT(whole->sigma_used[0], whole->sigma_today[0]);  // the floor binds
  EXPECT_GT(expect_each_truncation_built_alike(h, p), 0u);
}

TEST(TruncatedScenarios, AGivenStressedPeriodShortHistoriesAndAFactorThatNeverMoves) {
  // 40 dates 40 days apart; the stressed period given as dates 0..10 (400 days): a history cut
  // before date 10 does not hold it; one of fewer than 26 dates seeds its EWMA with fewer than
  // 25 returns. Factor 1 never moves (volatility 0: its scenarios unscaled); factor 2 has no
  // levels before date 15 (its proxy: factor 0).
  FactorHistory h;
  for (std::size_t t = 0; t < 40; ++t) {
    h.dates.push_back(date(2020, 1, 6).add_days(40 * static_cast<std::int64_t>(t)).value());
  }
  h.factor_count = 3;
  h.proxy = {-1, -1, 0};
  std::mt19937_64 random(40);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> a(40), b(40, 75.0), c(40, std::nan(""));
  a[0] = 100;
  for (std::size_t t = 1; t < 40; ++t) {
    a[t] = a[t - 1] * std::exp(0.05 * normal(random));
  }
  for (std::size_t t = 15; t < 40; ++t) {
    c[t] = t == 15 ? 20.0 : c[t - 1] * std::exp(0.08 * normal(random));
  }
  h.levels = a;
  h.levels.insert(h.levels.end(), b.begin(), b.end());
  h.levels.insert(h.levels.end(), c.begin(), c.end());
  MarginParameters p = small_parameters();
  p.stress_first = h.dates[0];
  p.stress_last = h.dates[10];
  EXPECT_GT(expect_each_truncation_built_alike(h, p), 0u);
}

TEST(TruncatedScenarios, AStressedPeriodWithoutAWindowOfTheOtherClassIsRefusedForBoth) {
  // 20 dates 100 days apart, the stressed period dates 0..4 (400 days): it holds 2-day windows
  // (futures) but no 5-day one (forwards), so build_scenarios refuses every truncation, and so
  // does a backtest of the futures class alone: the model of a date is both classes' or none.
  FactorHistory h;
  for (std::size_t t = 0; t < 20; ++t) {
    h.dates.push_back(date(2020, 1, 6).add_days(100 * static_cast<std::int64_t>(t)).value());
  }
  h.factor_count = 1;
  h.proxy = {-1};
  for (std::size_t t = 0; t < 20; ++t) {
    h.levels.push_back(100.0 + static_cast<double>(t % 3));
  }
  MarginParameters p = small_parameters();
  p.stress_first = h.dates[0];
  p.stress_last = h.dates[4];
  EXPECT_EQ(expect_each_truncation_built_alike(h, p), 0u);
  const auto futures = TruncatedScenarios::prepare(h, p, MarginClass::future, {0});
  ASSERT_TRUE(futures.has_value());
  const auto at_last = futures->at(19);
  ASSERT_FALSE(at_last.has_value());
  EXPECT_EQ(at_last.error().refusal, ScenarioRefusal::stress_period_outside_history);
  const std::vector<std::int64_t> exposure = {1'000'000};
  const auto got = backtest_portfolio(h, p, MarginClass::future, exposure, 10);
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.error().refusal, PortfolioBacktestRefusal::no_observations);
}

// --- the realised loss -----------------------------------------------------------------------

TEST(PortfolioBacktest, TheRealisedLossOfOneDateByHand) {
  // The model needs twelve months before a test date, so take the crash history (factor 0 as it
  // is, factor 1 at half its levels, factor 2 without levels) and put these on dates 120..122:
  //   factor 0: 100  90  80    the move from 120 to 122: 80 / 100 - 1 = -20 %  = -200,000,000
  //   factor 1:  50  52  55                                55 / 50 - 1  = +10 % =  100,000,000
  //   factor 2:   -   -   -    no levels: its proxy, factor 1: +10 %          =  100,000,000
  // Exposures 2,000,333 long factor 0, 500,000 short factor 1, 250,000 long factor 2:
  //   P&L = 2,000,333 x -200,000,000 - 500,000 x 100,000,000 + 250,000 x 100,000,000
  //       = -400,066,600,000,000 - 50,000,000,000,000 + 25,000,000,000,000
  //       = -425,066,600,000,000 (10^-9 cent): a loss of 425,066.6 cents, rounded up: 425,067.
  FactorHistory h = crash_history();
  const std::size_t dates = h.dates.size();
  std::vector<double> f0(h.levels.begin(), h.levels.begin() + static_cast<std::ptrdiff_t>(dates));
  std::vector<double> f1 = f0;
  for (double& l : f1) {
    l /= 2;
  }
  std::vector<double> f2(dates, std::nan(""));
  f0[120] = 100;
  f0[121] = 90;
  f0[122] = 80;
  f1[120] = 50;
  f1[121] = 52;
  f1[122] = 55;
  h = history_of({f0, f1, f2}, {-1, -1, 1});
  const std::vector<std::int64_t> exposure = {2'000'333, -500'000, 250'000};
  const auto got = backtest_portfolio(h, small_parameters(), MarginClass::future, exposure, 10);
  ASSERT_TRUE(got.has_value()) << got.error().detail;
  const auto o = std::find_if(got->observations.begin(), got->observations.end(),
                              [&](const BacktestObservation& x) { return x.date == h.dates[120]; });
  ASSERT_NE(o, got->observations.end());
  EXPECT_EQ(o->realised_loss_cents, 425'067);
  // And the one before, from 119 to 121, by the same rule from the levels.
  const auto before = o - 1;
  EXPECT_EQ(before->date, h.dates[119]);
  EXPECT_EQ(before->realised_loss_cents,
            loss_by_hand(exposure, {ratio_ppb(90 / f0[119]), ratio_ppb(52 / f1[119]), ratio_ppb(52 / f1[119])}));
}

TEST(PortfolioBacktest, TheRealisedMoveIsTheUnscaledScenarioOfItsWindow) {
  // A short of 10^9 cents loses exactly the move in parts per 10^9: loss(t) is the move of the
  // window from t to t + h, the stressed (unscaled) scenario the model records for the window
  // ending t + h when its stressed period holds it (here: the whole history, given).
  const FactorHistory h = three_factors();
  MarginParameters whole = small_parameters();
  whole.stress_first = h.dates.front();
  whole.stress_last = h.dates.back();
  const auto set = build_scenarios(h, whole);
  ASSERT_TRUE(set.has_value()) << set.error().detail;
  for (const MarginClass c : {MarginClass::future, MarginClass::forward}) {
    const ClassScenarios& scenarios = set->of(c);
    const auto hd = static_cast<std::size_t>(scenarios.mpor_days);
    for (std::size_t f = 0; f < h.factor_count; ++f) {
      std::vector<std::int64_t> exposure(h.factor_count, 0);
      exposure[f] = -kNano;
      const auto got = backtest_portfolio(h, small_parameters(), c, exposure, 120);
      ASSERT_TRUE(got.has_value()) << got.error().detail;
      for (const BacktestObservation& o : got->observations) {
        const auto t = static_cast<std::size_t>(std::find(h.dates.begin(), h.dates.end(), o.date) - h.dates.begin());
        // The stressed windows end on dates h, h + 1, ...: the one ending t + h is the t-th.
        ASSERT_EQ(scenarios.stressed_dates[t], h.dates[t + hd]);
        EXPECT_EQ(o.realised_loss_cents, scenarios.moves_of(f)[scenarios.filtered_count() + t]);
      }
    }
  }
}

// --- refusals --------------------------------------------------------------------------------

TEST(PortfolioBacktest, Refusals) {
  const FactorHistory h = crash_history();
  const MarginParameters p = small_parameters();
  const std::vector<std::int64_t> long_one = {100'000'000, 0};
  const auto refusal = [&](const FactorHistory& history, std::span<const std::int64_t> exposure, std::size_t n) {
    const auto got = backtest_portfolio(history, p, MarginClass::future, exposure, n);
    EXPECT_FALSE(got.has_value());
    return got.has_value() ? PortfolioBacktestRefusal::no_observations : got.error().refusal;
  };
  EXPECT_EQ(refusal(h, long_one, 0), PortfolioBacktestRefusal::invalid_observation_count);
  EXPECT_EQ(refusal(h, long_one, kBacktestObservationsMax + 1), PortfolioBacktestRefusal::invalid_observation_count);
  EXPECT_TRUE(backtest_portfolio(h, p, MarginClass::future, long_one, kBacktestObservationsMax).has_value());
  const std::vector<std::int64_t> three = {1, 2, 3};
  EXPECT_EQ(refusal(h, three, 10), PortfolioBacktestRefusal::exposure_count_mismatch);
  // Gross 10^17 + 1 cents, though the net is 1.
  const std::vector<std::int64_t> huge = {kGrossExposureCentsMax / 2 + 1, -(kGrossExposureCentsMax / 2)};
  EXPECT_EQ(refusal(h, huge, 10), PortfolioBacktestRefusal::gross_exposure_too_large);
  const std::vector<std::int64_t> at_bound = {kGrossExposureCentsMax / 2, -(kGrossExposureCentsMax / 2)};
  EXPECT_TRUE(backtest_portfolio(h, p, MarginClass::future, at_bound, 10).has_value());
  // A level no test date's model would see (the last date's) is still checked: the realised moves
  // use it.
  FactorHistory negative = h;
  negative.levels[h.dates.size() - 1] = -1.0;
  EXPECT_EQ(refusal(negative, long_one, 10), PortfolioBacktestRefusal::invalid_history);
  FactorHistory missing = h;
  missing.levels[h.dates.size() - 1] = std::nan("");  // factor 0's last level, and no proxy
  EXPECT_EQ(refusal(missing, long_one, 10), PortfolioBacktestRefusal::missing_level);
  // No test date: the history is no longer than the margin period of risk.
  const FactorHistory two_dates = cut(h, 1);
  EXPECT_EQ(refusal(two_dates, long_one, 10), PortfolioBacktestRefusal::no_observations);
  // Every test date skipped: dates 30..49 have no twelve months before them.
  const FactorHistory short_history = cut(h, 51);
  EXPECT_EQ(refusal(short_history, long_one, 20), PortfolioBacktestRefusal::no_observations);
  // A given stressed period ending on the last date: no test date's history holds it.
  MarginParameters given = p;
  given.stress_first = h.dates[0];
  given.stress_last = h.dates.back();
  const auto all_skipped = backtest_portfolio(h, given, MarginClass::future, long_one, 10);
  ASSERT_FALSE(all_skipped.has_value());
  EXPECT_EQ(all_skipped.error().refusal, PortfolioBacktestRefusal::no_observations);
  // A loss beyond what a backtest takes (10^15 cents): 10^16 cents long through the crash.
  const std::vector<std::int64_t> very_long = {10'000'000'000'000'000, 0};
  EXPECT_EQ(refusal(h, very_long, 100), PortfolioBacktestRefusal::amount_out_of_range);
  EXPECT_EQ(to_string(PortfolioBacktestRefusal::amount_out_of_range), "amount_out_of_range");
  EXPECT_EQ(to_string(PortfolioBacktestRefusal::invalid_observation_count), "invalid_observation_count");
}

// --- the cost --------------------------------------------------------------------------------

// 55 factors (five products x eleven buckets) over 750 business days, the fifth product quoted
// only from date 300 on (its proxy: the fourth's bucket), the default parameters: a year of test
// dates (250). Prints the time; the margins of three dates are recomputed independently.
TEST(PortfolioBacktest, AYearOfTestDatesOn55FactorsAnd750Dates) {
  constexpr std::size_t kFactors = 55;
  constexpr std::size_t kDates = 750;
  FactorHistory h;
  BusinessDate d = date(2023, 1, 2);  // a Monday
  for (std::size_t t = 0; t < kDates; ++t) {
    h.dates.push_back(d);
    d = d.add_days(d.weekday() == Weekday::friday ? 3 : 1).value();
  }
  h.factor_count = kFactors;
  h.levels.assign(kFactors * kDates, std::nan(""));
  h.proxy.assign(kFactors, -1);
  std::mt19937_64 random(55750);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<std::int64_t> size(-100'000'000, 100'000'000);
  std::vector<std::int64_t> exposure(kFactors);
  for (std::size_t f = 0; f < kFactors; ++f) {
    const std::size_t from = f >= 44 ? 300 : 0;
    if (f >= 44) {
      h.proxy[f] = static_cast<std::int32_t>(f - 11);
    }
    double l = 100.0 + static_cast<double>(f);
    for (std::size_t t = from; t < kDates; ++t) {
      const double vol = t > 500 && t < 540 ? 0.06 : 0.02;
      if (t > from) {
        l *= std::exp(vol * normal(random));
      }
      h.levels[f * kDates + t] = l;
    }
    exposure[f] = size(random);
  }
  const auto start = std::chrono::steady_clock::now();
  const auto got = backtest_portfolio(h, MarginParameters{}, MarginClass::future, exposure);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(got.has_value()) << got.error().detail;
  std::cout << "portfolio backtest: 250 test dates, 55 factors, 750 dates: " << seconds << " s\n";
  RecordProperty("seconds", std::to_string(seconds));
  ASSERT_EQ(got->observations.size(), 250u);
  EXPECT_EQ(got->skipped, 0);
  EXPECT_EQ(got->observations.back().date, h.dates[kDates - 3]);
  for (const std::size_t i : {std::size_t{0}, std::size_t{125}, std::size_t{249}}) {
    const std::size_t t = kDates - 252 + i;
    const auto set = build_scenarios(cut(h, t), MarginParameters{});
    ASSERT_TRUE(set.has_value());
    EXPECT_EQ(got->observations[i].margin_cents,
              expected_shortfall_by_hand(MarginParameters{}, set->of(MarginClass::future), exposure));
  }
}

}  // namespace
}  // namespace cch::margin
