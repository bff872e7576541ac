// Backtesting: the report's figures on a series computed by hand, Kupiec's test and the Basel
// traffic light against values computed by hand (the probabilities as exact fractions
// sum C(n, k) p^k (1 - p)^(n - k), then rounded), and the refusals.
#include "cch/margin/backtest.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "cch/core/money.hpp"

namespace cch::margin {
namespace {

BusinessDate date(int y, int m, int d) {
  return BusinessDate::from_year_month_day(y, m, d).value();
}

// |got - want| <= 1e-9 x |want|.
void expect_relative(double got, double want) {
  EXPECT_LE(std::abs(got - want), 1e-9 * std::abs(want)) << got << " vs " << want;
}

std::vector<BacktestObservation> ten_observations() {
  // {date, margin, realised loss}; the comment: the exception (loss - margin)
  return {
      {date(2026, 3, 2), 1'000, 500},     // covered
      {date(2026, 3, 3), 1'000, 1'000},   // equal: covered (an exception is strictly greater)
      {date(2026, 3, 4), 1'000, 1'001},   // 1
      {date(2026, 3, 5), 2'000, -300},    // a gain
      {date(2026, 3, 6), 1'500, 2'750},   // 1,250
      {date(2026, 3, 9), 0, 0},           // covered
      {date(2026, 3, 10), 0, 1},          // 1
      {date(2026, 3, 11), 800, 799},      // covered
      {date(2026, 3, 12), 5'000, 4'000},  // covered
      {date(2026, 3, 13), 1'200, 1'301},  // 101
  };
}

TEST(Backtest, TheReportOfTenObservationsByHand) {
  const auto report = backtest(ten_observations(), 9'900);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->first_date, date(2026, 3, 2));
  EXPECT_EQ(report->last_date, date(2026, 3, 13));
  EXPECT_EQ(report->confidence_bp, 9'900);
  EXPECT_EQ(report->observations, 10);
  EXPECT_EQ(report->exceptions, 4);
  EXPECT_EQ(report->coverage_bp, 6'000);  // 6 / 10
  EXPECT_EQ(report->coverage, 0.6);
  EXPECT_EQ(report->largest_exception_cents, 1'250);
  EXPECT_EQ(report->average_exception_cents, 339);  // (1 + 1,250 + 1 + 101) / 4 = 338.25, rounded up
  // Kupiec, n = 10, x = 4, p = 0.01:
  //   ln L(p)   = 6 ln 0.99 + 4 ln 0.01 = 6 x -0.010050336 + 4 x -4.605170186 = -18.480982759
  //   ln L(x/n) = 6 ln 0.6 + 4 ln 0.4   = 6 x -0.510825624 + 4 x -0.916290732 =  -6.730116670
  //   LR = 2 x (18.480982759 - 6.730116670) = 23.501732178; p-value erfc(sqrt(11.750866089)) = 1.248e-6
  expect_relative(report->kupiec.likelihood_ratio, 23.50173217796162);
  expect_relative(report->kupiec.p_value, 1.2480135516157685e-06);
  EXPECT_TRUE(report->kupiec.rejected);
  // P(X <= 4) for Binomial(10, 0.01) = 1 - 2.4168e-8: red.
  expect_relative(report->traffic_light.cumulative_probability, 0.9999999758321568);
  EXPECT_EQ(report->traffic_light.zone, TrafficLightZone::red);
}

TEST(Backtest, NoExceptionsGiveZerosAndFullCoverage) {
  std::vector<BacktestObservation> series = ten_observations();
  for (auto& o : series) {
    o.margin_cents = 10'000;
  }
  const auto report = backtest(series, 9'950);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->exceptions, 0);
  EXPECT_EQ(report->coverage_bp, 10'000);
  EXPECT_EQ(report->coverage, 1.0);
  EXPECT_EQ(report->largest_exception_cents, 0);
  EXPECT_EQ(report->average_exception_cents, 0);
  EXPECT_EQ(report->confidence_bp, 9'950);
  // x = 0: LR = -2 x 10 x ln 0.995 = 0.100250836, p-value 0.75
  expect_relative(report->kupiec.likelihood_ratio, -20.0 * std::log(0.995));
  EXPECT_FALSE(report->kupiec.rejected);
  // P(X <= 0) = 0.995^10 = 0.9511 >= 0.95: yellow. So short a series cannot be green at 99.5 %,
  // even without exceptions (the rule as defined; the header says so).
  expect_relative(report->traffic_light.cumulative_probability, 0.9511101304657719);
  EXPECT_EQ(report->traffic_light.zone, TrafficLightZone::yellow);
}

TEST(Backtest, CoverageInBasisPointsIsRoundedDown) {
  const std::vector<BacktestObservation> series = {
      {date(2026, 1, 5), 100, 101}, {date(2026, 1, 6), 100, 50}, {date(2026, 1, 7), 100, 99}};
  const auto report = backtest(series, 9'900);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->exceptions, 1);
  EXPECT_EQ(report->coverage_bp, 6'666);  // 2 / 3 = 0.66666...
  EXPECT_DOUBLE_EQ(report->coverage, 2.0 / 3.0);
  EXPECT_EQ(report->largest_exception_cents, 1);
  EXPECT_EQ(report->average_exception_cents, 1);
}

TEST(Backtest, TheLargestAmountsDoNotOverflow) {
  std::vector<BacktestObservation> series;
  BusinessDate day = date(2016, 1, 1);
  for (std::size_t i = 0; i < kBacktestObservationsMax; ++i) {
    series.push_back({day, 0, kAmountMinorMax});
    day = day.add_days(1).value();
  }
  const auto report = backtest(series, 9'900);
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->exceptions, static_cast<std::int64_t>(kBacktestObservationsMax));
  EXPECT_EQ(report->largest_exception_cents, kAmountMinorMax);
  EXPECT_EQ(report->average_exception_cents, kAmountMinorMax);
  EXPECT_EQ(report->coverage_bp, 0);
  // x = n: LR = -2 n ln p = 5,220 x 4.605170186 = 24,038.99
  expect_relative(report->kupiec.likelihood_ratio, -2.0 * 2'610 * std::log(0.01));
  EXPECT_EQ(report->traffic_light.cumulative_probability, 1.0);
  EXPECT_EQ(report->traffic_light.zone, TrafficLightZone::red);
}

TEST(Backtest, Refusals) {
  const std::vector<BacktestObservation> good = ten_observations();
  const auto refusal = [](const Result<BacktestReport, BacktestError>& r) {
    return r.has_value() ? BacktestError{} : r.error();
  };
  EXPECT_EQ(refusal(backtest(good, 0)), (BacktestError{BacktestRefusal::invalid_confidence, 0}));
  EXPECT_EQ(refusal(backtest(good, 10'000)), (BacktestError{BacktestRefusal::invalid_confidence, 0}));
  EXPECT_TRUE(backtest(good, 1).has_value());
  EXPECT_TRUE(backtest(good, 9'999).has_value());
  EXPECT_EQ(refusal(backtest({}, 9'900)), (BacktestError{BacktestRefusal::no_observations, 0}));

  std::vector<BacktestObservation> too_many;
  BusinessDate day = date(2016, 1, 1);
  for (std::size_t i = 0; i <= kBacktestObservationsMax; ++i) {
    too_many.push_back({day, 100, 0});
    day = day.add_days(1).value();
  }
  EXPECT_EQ(refusal(backtest(too_many, 9'900)), (BacktestError{BacktestRefusal::too_many_observations, 0}));
  too_many.pop_back();
  EXPECT_TRUE(backtest(too_many, 9'900).has_value());

  std::vector<BacktestObservation> repeated = good;
  repeated[4].date = repeated[3].date;
  EXPECT_EQ(refusal(backtest(repeated, 9'900)), (BacktestError{BacktestRefusal::dates_not_ascending, 4}));
  std::vector<BacktestObservation> backwards = good;
  std::swap(backwards[7].date, backwards[8].date);
  EXPECT_EQ(refusal(backtest(backwards, 9'900)), (BacktestError{BacktestRefusal::dates_not_ascending, 8}));

  std::vector<BacktestObservation> amounts = good;
  amounts[2].margin_cents = -1;
  EXPECT_EQ(refusal(backtest(amounts, 9'900)), (BacktestError{BacktestRefusal::amount_out_of_range, 2}));
  amounts[2].margin_cents = kAmountMinorMax + 1;
  EXPECT_EQ(refusal(backtest(amounts, 9'900)), (BacktestError{BacktestRefusal::amount_out_of_range, 2}));
  amounts[2].margin_cents = 0;
  amounts[6].realised_loss_cents = -kAmountMinorMax - 1;
  EXPECT_EQ(refusal(backtest(amounts, 9'900)), (BacktestError{BacktestRefusal::amount_out_of_range, 6}));
  amounts[6].realised_loss_cents = -kAmountMinorMax;
  EXPECT_TRUE(backtest(amounts, 9'900).has_value());

  EXPECT_EQ(to_string(BacktestRefusal::invalid_confidence), "invalid_confidence");
  EXPECT_EQ(to_string(BacktestRefusal::no_observations), "no_observations");
  EXPECT_EQ(to_string(BacktestRefusal::too_many_observations), "too_many_observations");
  EXPECT_EQ(to_string(BacktestRefusal::dates_not_ascending), "dates_not_ascending");
  EXPECT_EQ(to_string(BacktestRefusal::amount_out_of_range), "amount_out_of_range");
}

TEST(ChiSquare, OneDegreeOfFreedomAtTheTabulatedQuantiles) {
  // The chi-square(1) table: 2.7055 at 10 %, 3.8415 at 5 %, 6.6349 at 1 %, 10.8276 at 0.1 %.
  expect_relative(chi_square_1_p_value(2.705543454095404), 0.10);
  expect_relative(chi_square_1_p_value(3.841458820694124), 0.05);
  expect_relative(chi_square_1_p_value(6.634896601021214), 0.01);
  expect_relative(chi_square_1_p_value(10.827566170662733), 0.001);
  EXPECT_EQ(chi_square_1_p_value(0.0), 1.0);
  EXPECT_EQ(chi_square_1_p_value(-1e-15), 1.0);
}

TEST(Kupiec, TwoHundredFiftyObservationsAtNinetyNinePercent) {
  // n = 250, p = 0.01; ln 0.99 = -0.010050335853501, ln 0.01 = -4.605170185988091.
  // x = 0:  LR = -2 x 250 x ln 0.99 = 5.025167926750721; p-value erfc(sqrt(2.512583963)) = 0.024981503
  const KupiecTest zero = kupiec_pof(250, 0, 9'900);
  expect_relative(zero.likelihood_ratio, 5.025167926750721);
  expect_relative(zero.p_value, 0.024981503053449768);
  EXPECT_TRUE(zero.rejected);  // too few exceptions is a failure of the model too
  // x = 2:  ln L(p)   = 248 ln 0.99 + 2 ln 0.01      = -2.492483292 - 9.210340372 = -11.702823664
  //         ln L(x/n) = 248 ln 0.992 + 2 ln 0.008    = -1.991978581 - 9.656627475 = -11.648606056
  //         LR = 2 x (11.702823664 - 11.648606056) = 0.108435216; p-value 0.741932701
  const KupiecTest two = kupiec_pof(250, 2, 9'900);
  expect_relative(two.likelihood_ratio, 0.10843521623679564);
  expect_relative(two.p_value, 0.7419327009526322);
  EXPECT_FALSE(two.rejected);
  // x = 5:  ln L(p)   = 245 ln 0.99 + 5 ln 0.01      = -2.462332284 - 23.025850930 = -25.488183214
  //         ln L(x/n) = 245 ln 0.98 + 5 ln 0.02      = -4.949663293 - 19.560115027 = -24.509778320
  //         LR = 1.956809788; p-value 0.161854917
  const KupiecTest five = kupiec_pof(250, 5, 9'900);
  expect_relative(five.likelihood_ratio, 1.9568097882306148);
  expect_relative(five.p_value, 0.16185491719604347);
  EXPECT_FALSE(five.rejected);
  // x = 10: ln L(p)   = 240 ln 0.99 + 10 ln 0.01     = -2.412080605 - 46.051701860 = -48.463782464
  //         ln L(x/n) = 240 ln 0.96 + 10 ln 0.04     = -9.797278685 - 32.188758249 = -41.986036934
  //         LR = 12.955491062; p-value 0.000318985
  const KupiecTest ten = kupiec_pof(250, 10, 9'900);
  expect_relative(ten.likelihood_ratio, 12.955491062356018);
  expect_relative(ten.p_value, 0.0003189845082133835);
  EXPECT_TRUE(ten.rejected);
  // x = n: LR = -2 n ln p (0 ln 0 = 0 on both sides' other term)
  expect_relative(kupiec_pof(250, 250, 9'900).likelihood_ratio, 500.0 * 4.605170185988091);
  // x / n = p exactly: LR = 0, p-value 1
  const KupiecTest exact = kupiec_pof(200, 2, 9'900);
  EXPECT_LE(exact.likelihood_ratio, 1e-12);
  EXPECT_NEAR(exact.p_value, 1.0, 1e-6);
  EXPECT_FALSE(exact.rejected);
}

TEST(TrafficLight, TheBaselTableForTwoHundredFiftyObservationsAtNinetyNinePercent) {
  // P(X <= x), X ~ Binomial(250, 0.01), from the exact fractions (the Basel table's column
  // "cumulative probability": 8.11 %, 28.58 %, 54.32 %, 75.81 %, 89.22 %, 95.88 %, 98.63 %,
  // 99.60 %, 99.89 %, 99.97 %, 99.99 %).
  const std::vector<double> cumulative = {0.08105851616218146, 0.2857517387939528, 0.5431689733157259,
                                          0.7581166977648832,  0.8921876269036253, 0.9588168159301517,
                                          0.9862985521447963,  0.9959746612881922, 0.9989434675026432,
                                          0.9997498099312595,  0.999946101370953,  0.999989361192373};
  for (std::int64_t x = 0; x < static_cast<std::int64_t>(cumulative.size()); ++x) {
    const TrafficLight light = traffic_light(250, x, 9'900);
    expect_relative(light.cumulative_probability, cumulative[static_cast<std::size_t>(x)]);
    const TrafficLightZone want = x <= 4   ? TrafficLightZone::green
                                  : x <= 9 ? TrafficLightZone::yellow
                                           : TrafficLightZone::red;
    EXPECT_EQ(light.zone, want) << "x = " << x;
  }
  for (std::int64_t x = 12; x <= 250; ++x) {
    EXPECT_EQ(traffic_light(250, x, 9'900).zone, TrafficLightZone::red);
  }
  EXPECT_EQ(to_string(TrafficLightZone::green), "green");
  EXPECT_EQ(to_string(TrafficLightZone::yellow), "yellow");
  EXPECT_EQ(to_string(TrafficLightZone::red), "red");
}

TEST(TrafficLight, FiveHundredObservationsMoveTheBoundariesUp) {
  // X ~ Binomial(500, 0.01), exact: P(X <= 8) = 0.93289 (green), P(X <= 9) = 0.96890 (yellow),
  // P(X <= 14) = 0.99979 (yellow), P(X <= 15) = 0.999939 (red). Green 0-8, yellow 9-14, red from
  // 15: twice the observations, not quite twice the boundaries (the spread grows as sqrt(n)).
  expect_relative(binomial_cdf(500, 8, 9'900), 0.9328898400862953);
  expect_relative(binomial_cdf(500, 9, 9'900), 0.9688978933515121);
  expect_relative(binomial_cdf(500, 14, 9'900), 0.9997943221351799);
  expect_relative(binomial_cdf(500, 15, 9'900), 0.999938541434184);
  for (std::int64_t x = 0; x <= 30; ++x) {
    const TrafficLightZone want = x <= 8    ? TrafficLightZone::green
                                  : x <= 14 ? TrafficLightZone::yellow
                                            : TrafficLightZone::red;
    EXPECT_EQ(traffic_light(500, x, 9'900).zone, want) << "x = " << x;
  }
}

TEST(TrafficLight, NoUnderflowAtTheExtremes) {
  // p = 0.9999, n = 2,610: every term below x = n is tiny, yet P(X <= n - 1) = 1 - 0.9999^2610.
  expect_relative(binomial_cdf(2'610, 2'609, 1), 0.22972913315551766);
  // The longest series at 99 %: around its mean of 26.1 and in its tail.
  expect_relative(binomial_cdf(2'610, 26, 9'900), 0.5440669063207363);
  expect_relative(binomial_cdf(2'610, 40, 9'900), 0.995983178481413);
  expect_relative(binomial_cdf(2'610, 4, 9'950), 0.0035494671851658793);
  EXPECT_EQ(binomial_cdf(2'610, 2'610, 9'900), 1.0);
}

}  // namespace
}  // namespace cch::margin
