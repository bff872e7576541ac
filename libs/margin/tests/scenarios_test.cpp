// Scenarios by filtered historical simulation on a history small enough to follow by hand.
//
// Twelve dates 40 days apart from 2024-01-02 (so twelve months span eleven of them), two factors:
//   factor 0: 100 104  98 101  95  97 110 108 104 107 103 106
//   factor 1:   -   -   -  50  49  52  51  55  54  50  52  53   (proxy: factor 0)
// The stressed scenarios are unscaled, so each is a plain ratio: factor 0's 2-day window ending
// 2024-03-22 is 98 / 100 - 1 = -2 %, -20,000,000 parts per 10^9. The filtered ones are
// R x sigma* / sigma(t) with the EWMA of scenarios.hpp, lambda 0.97; their expected values below
// were computed independently, step by step in Python's float arithmetic (the same IEEE
// operations in the same order: seed = mean of the squared returns, v = 0.97 v + 0.03 r^2).
#include "cch/margin/scenarios.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace cch::margin {
namespace {

BusinessDate date(int y, int m, int d) { return BusinessDate::from_year_month_day(y, m, d).value(); }

FactorHistory small_history() {
  FactorHistory h;
  const BusinessDate base = date(2024, 1, 2);
  for (int i = 0; i < 12; ++i) h.dates.push_back(base.add_days(40 * i).value());
  const double nan = std::nan("");
  const std::vector<double> f0 = {100, 104, 98, 101, 95, 97, 110, 108, 104, 107, 103, 106};
  const std::vector<double> f1 = {nan, nan, nan, 50, 49, 52, 51, 55, 54, 50, 52, 53};
  h.factor_count = 2;
  h.levels = f0;
  h.levels.insert(h.levels.end(), f1.begin(), f1.end());
  h.proxy = {-1, 0};
  return h;
}

MarginParameters small_parameters() {
  MarginParameters p;
  p.lookback_days = kLookbackDaysMin;  // more than the history: all of it
  return p;
}

TEST(Scenarios, EwmaVolatilitiesOfASmallHistoryAsComputedByHand) {
  const auto set = build_scenarios(small_history(), small_parameters());
  ASSERT_TRUE(set.has_value()) << set.error().detail;
  EXPECT_DOUBLE_EQ(set->sigma_today[0], 0.05279721623176958);
  EXPECT_DOUBLE_EQ(set->sigma_today[1], 0.046884373376549035);
  EXPECT_DOUBLE_EQ(set->sigma_mean[0], 0.05333914374938089);
  EXPECT_DOUBLE_EQ(set->sigma_mean[1], 0.0467957951810637);
  // Today's volatility is above 75 % of the mean: the floor does not bind.
  EXPECT_EQ(set->sigma_used, set->sigma_today);
}

TEST(Scenarios, TheStressedPeriodSelectedIsTheTwelveMonthsOfLargestSquaredReturns) {
  const auto set = build_scenarios(small_history(), small_parameters());
  ASSERT_TRUE(set.has_value());
  EXPECT_TRUE(set->stress_selected);
  // Two candidate windows: 2024-01-02..2025-02-05 and 2024-02-11..2025-03-17; the first has the
  // larger mean squared return (it holds 2024-08-29's +12.6 % and drops only 2024-02-11's +3.9 %
  // for 2025-03-17's +2.9 %).
  EXPECT_EQ(set->stress_first, date(2024, 1, 2));
  EXPECT_EQ(set->stress_last, date(2025, 2, 5));
}

TEST(Scenarios, MovesOfEachClassAsComputedByHand) {
  const auto set = build_scenarios(small_history(), small_parameters());
  ASSERT_TRUE(set.has_value());
  const ClassScenarios& future = set->of(MarginClass::future);
  EXPECT_EQ(future.mpor_days, 2);
  ASSERT_EQ(future.filtered_count(), 10u);  // windows ending on the 3rd to the 12th date
  ASSERT_EQ(future.stressed_count(), 9u);   // windows inside 2024-01-02..2025-02-05
  EXPECT_EQ(future.filtered_dates.front(), date(2024, 3, 22));
  EXPECT_EQ(future.stressed_dates.back(), date(2025, 2, 5));
  const std::vector<std::int64_t> future_f0 = {-20000067, -29137952, -30752577, -40286911, 149515457, 109035623,
                                               -53012109, -9092119,  -9512833,  -9345794,
                                               // stressed: ratios of the levels two dates apart
                                               -20000000, -28846154, -30612245, -39603960, 157894737, 113402062,
                                               -54545455, -9259259,  -9615385};
  const std::vector<std::int64_t> future_f1 = {-19915568, -28978753, 10172261, 40293222, 41645396, 57388514,
                                               59294856,  -89392958, -36576591, 60000000,
                                               -20000000, -28846154, 10000000, 40000000, 40816327, 57692308,
                                               58823529,  -90909091, -37037037};
  EXPECT_EQ(std::vector<std::int64_t>(future.moves_of(0), future.moves_of(0) + 19), future_f0);
  EXPECT_EQ(std::vector<std::int64_t>(future.moves_of(1), future.moves_of(1) + 19), future_f1);
  // By hand: 98 / 100 - 1; factor 1's first stressed window is factor 0's (its proxy) as it has
  // no levels yet; 52 / 50 - 1 for the window ending 2024-06-10 (49 then 52 after 50).
  EXPECT_EQ(future_f0[10], -20'000'000);
  EXPECT_EQ(future_f1[10], -20'000'000);
  EXPECT_EQ(future_f1[13], 40'000'000);

  const ClassScenarios& forward = set->of(MarginClass::forward);
  EXPECT_EQ(forward.mpor_days, 5);
  ASSERT_EQ(forward.filtered_count(), 7u);
  ASSERT_EQ(forward.stressed_count(), 6u);
  const std::vector<std::int64_t> forward_f0 = {-30519976, 54757316, 98130854, 28832562, 123888883, 61172921,
                                                -36363636, -30000000, 57692308, 102040816, 29702970, 126315789,
                                                61855670};
  const std::vector<std::int64_t> forward_f1 = {50771302, -9609724, 132945244, 80647360, 20047804, 0,
                                                39215686, 50400000, -9423077, 133673469, 80000000, 20408163, 0};
  EXPECT_EQ(std::vector<std::int64_t>(forward.moves_of(0), forward.moves_of(0) + 13), forward_f0);
  EXPECT_EQ(std::vector<std::int64_t>(forward.moves_of(1), forward.moves_of(1) + 13), forward_f1);
  EXPECT_EQ(forward_f0[7], -30'000'000);  // the first stressed 5-day window: 97 / 100 - 1
}

TEST(Scenarios, AFlooredVolatilityScalesACalmDayUp) {
  FactorHistory h = small_history();
  // A calm last date: factor 0 barely moves, so today's volatility falls under the floor.
  MarginParameters p = small_parameters();
  p.vol_floor_bp = 10'000;  // floor at the look-back's mean
  const auto set = build_scenarios(h, p);
  ASSERT_TRUE(set.has_value());
  EXPECT_DOUBLE_EQ(set->sigma_used[0], std::max(set->sigma_today[0], set->sigma_mean[0]));
  EXPECT_GT(set->sigma_used[0], set->sigma_today[0]);
  // A filtered move is the raw window return x sigma* / sigma(t): the last window's sigma(t) is
  // today's, so its move is the raw return scaled by sigma* / sigma_today.
  const ClassScenarios& future = set->of(MarginClass::future);
  const double raw = 0.0 + std::log(103.0 / 107.0) + std::log(106.0 / 103.0);  // its two daily returns
  const double scaled = raw * set->sigma_used[0] / set->sigma_today[0];
  EXPECT_EQ(future.moves_of(0)[future.filtered_count() - 1], move_ppb(scaled));
  EXPECT_NE(move_ppb(scaled), move_ppb(raw));
}

TEST(Scenarios, AGivenStressedPeriodIsUsedAndMustLieWithinTheHistory) {
  MarginParameters p = small_parameters();
  p.stress_first = date(2024, 2, 11);
  p.stress_last = date(2025, 3, 17);
  const auto set = build_scenarios(small_history(), p);
  ASSERT_TRUE(set.has_value());
  EXPECT_FALSE(set->stress_selected);
  EXPECT_EQ(set->stress_first, date(2024, 2, 11));
  EXPECT_EQ(set->of(MarginClass::future).stressed_dates.front(), date(2024, 5, 1));
  p.stress_first = date(2023, 12, 1);
  const auto outside = build_scenarios(small_history(), p);
  ASSERT_FALSE(outside.has_value());
  EXPECT_EQ(outside.error().refusal, ScenarioRefusal::stress_period_outside_history);
}

TEST(Scenarios, RefusalsNameWhatIsWrong) {
  FactorHistory h = small_history();
  h.proxy = {-1, -1};  // factor 1 has no levels before 2024-04-21 and no proxy
  auto missing = build_scenarios(h, small_parameters());
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().refusal, ScenarioRefusal::missing_level);
  EXPECT_NE(missing.error().detail.find("factor 1"), std::string::npos) << missing.error().detail;
  EXPECT_NE(missing.error().detail.find("2024-02-11"), std::string::npos) << missing.error().detail;

  h = small_history();
  h.levels[3] = -1;
  EXPECT_EQ(build_scenarios(h, small_parameters()).error().refusal, ScenarioRefusal::invalid_history);
  h = small_history();
  std::swap(h.dates[2], h.dates[3]);
  EXPECT_EQ(build_scenarios(h, small_parameters()).error().refusal, ScenarioRefusal::invalid_history);

  h = small_history();
  h.dates.erase(h.dates.begin() + 6, h.dates.end());
  h.levels = {100, 101, 102, 103, 104, 105};
  h.factor_count = 1;
  h.proxy = {-1};
  EXPECT_EQ(build_scenarios(h, small_parameters()).error().refusal, ScenarioRefusal::history_too_short);
  // Enough dates but less than twelve months to select a stressed period from.
  h.dates.clear();
  for (int i = 0; i < 10; ++i) h.dates.push_back(date(2024, 1, 2).add_days(i).value());
  h.levels = {100, 101, 102, 103, 104, 105, 104, 103, 102, 101};
  EXPECT_EQ(build_scenarios(h, small_parameters()).error().refusal, ScenarioRefusal::history_too_short);
}

TEST(Scenarios, MovesAreClampedAndRoundedToTheNearestPartPerBillion) {
  EXPECT_EQ(move_ppb(0.0), 0);
  EXPECT_EQ(move_ppb(std::log(1.5)), 500'000'000);
  EXPECT_EQ(move_ppb(std::log(0.5)), -500'000'000);
  EXPECT_EQ(move_ppb(50.0), 9'000'000'000);       // at most +900 %
  EXPECT_EQ(move_ppb(-50.0), -999'999'998);      // exp(-20) - 1, rounded: never -100 %
}

}  // namespace
}  // namespace cch::margin
