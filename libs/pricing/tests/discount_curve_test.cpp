#include "cch/pricing/discount_curve.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <ql/settings.hpp>

#include "ois_bootstrap.hpp"
#include "quantlib_scope.hpp"

namespace {

using cch::pricing::CurveRefusal;
using cch::pricing::OisQuote;

cch::BusinessDate date(int year, int month, int day) {
  return cch::BusinessDate::from_year_month_day(year, month, day).value();
}

// 2026-12-01 is a Tuesday; the SOFR calendar (US government bond) has no holiday until
// 2026-12-25. Spot (T+2 business days) is Thursday 2026-12-03.
const cch::BusinessDate kAsOf = date(2026, 12, 1);
const cch::BusinessDate kSpot = date(2026, 12, 3);

// A realistic SOFR OIS curve: 12 tenors.
const std::vector<OisQuote> kTwelveTenors{
    {"1W", 0.0431},  {"1M", 0.0430}, {"3M", 0.0426}, {"6M", 0.0418}, {"9M", 0.0410}, {"1Y", 0.0402},
    {"18M", 0.0388}, {"2Y", 0.0378}, {"3Y", 0.0366}, {"5Y", 0.0359}, {"7Y", 0.0362}, {"10Y", 0.0371},
};

double days(cch::BusinessDate from, cch::BusinessDate to) {
  return static_cast<double>(cch::days_between(from, to));
}

}  // namespace

TEST(Tenor, ParsesTheGrammar) {
  using cch::pricing::Tenor;
  using cch::pricing::TenorUnit;
  EXPECT_EQ(cch::pricing::parse_tenor("1W"), (Tenor{1, TenorUnit::weeks}));
  EXPECT_EQ(cch::pricing::parse_tenor("18M"), (Tenor{18, TenorUnit::months}));
  EXPECT_EQ(cch::pricing::parse_tenor("30Y"), (Tenor{30, TenorUnit::years}));
  EXPECT_EQ(cch::pricing::parse_tenor("360M"), (Tenor{360, TenorUnit::months}));
  EXPECT_EQ(cch::pricing::parse_tenor("1565W"), (Tenor{1565, TenorUnit::weeks}));
  EXPECT_EQ(cch::pricing::parse_tenor("10957D"), (Tenor{10957, TenorUnit::days}));
  for (const char* text : {"", "Y", "1", "0Y", "01Y", "1y", "1m", "31Y", "361M", "1566W", "10958D", "1Y6M", " 1Y",
                           "1Y ", "+1Y", "-1Y", "1.5Y", "1X", "999999D"}) {
    EXPECT_FALSE(cch::pricing::parse_tenor(text).has_value()) << "'" << text << "'";
  }
}

// One 1W quote and one 1Y quote. Each is a single-period OIS (annual payments; a 1Y swap has one
// period) whose two legs pay on the same date (the period's end + 2 business days), so the
// payment date's discount factor cancels and the fair rate r satisfies
//     r x tau x DF(pay) = (DF(spot) / DF(end) - 1) x DF(pay)      (the overnight leg compounds
//     => DF(end) / DF(spot) = 1 / (1 + r x tau),  tau = days(spot, end) / 360   to the curve's growth)
// 1W: spot Thu 2026-12-03, end Thu 2026-12-10 (7 days), paid Mon 2026-12-14.
// 1Y: end Fri 2027-12-03 (365 days), paid Tue 2027-12-07.
// The curve's nodes are the as-of date (DF 1) and the two payment dates; log DF is linear in days
// between nodes. On the first segment log DF(t) = -k t with the days t from the as-of date, so
// 1W's relation gives k = ln(1 + r_1W x 7/360) / 7 and DF(spot) = exp(-2k), DF(2026-12-14) =
// exp(-13k). The second segment's slope follows from the 1Y relation (checked directly).
TEST(DiscountCurve, SingleQuotesMatchTheOnePeriodSwapByHand) {
  const std::vector<OisQuote> quotes{{"1W", 0.0431}, {"1Y", 0.0402}};
  const auto built = cch::pricing::build_discount_curve(kAsOf, quotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  const cch::pricing::DiscountCurve& curve = built->curve;

  ASSERT_EQ(curve.nodes().size(), 3u);
  EXPECT_EQ(curve.nodes()[0].date, kAsOf);
  EXPECT_EQ(curve.nodes()[0].discount_factor, 1.0);
  EXPECT_EQ(curve.nodes()[1].date, date(2026, 12, 14));
  EXPECT_EQ(curve.nodes()[2].date, date(2027, 12, 7));
  EXPECT_EQ(curve.discount(kAsOf), 1.0);

  // Tolerance 1e-12: QuantLib's bootstrap solves each node to an accuracy of 1e-12.
  const double tolerance = 1e-12;
  const double k = std::log(1.0 + 0.0431 * 7.0 / 360.0) / 7.0;
  EXPECT_NEAR(curve.discount(kSpot), std::exp(-2.0 * k), tolerance);
  EXPECT_NEAR(curve.discount(date(2026, 12, 14)), std::exp(-13.0 * k), tolerance);
  EXPECT_NEAR(curve.discount(date(2026, 12, 10)) / curve.discount(kSpot), 1.0 / (1.0 + 0.0431 * 7.0 / 360.0),
              tolerance);
  EXPECT_NEAR(curve.discount(date(2027, 12, 3)) / curve.discount(kSpot), 1.0 / (1.0 + 0.0402 * 365.0 / 360.0),
              tolerance);

  ASSERT_EQ(built->repricings.size(), 2u);
  EXPECT_EQ(built->repricings[0].tenor, "1W");
  EXPECT_EQ(built->repricings[0].pillar_date, date(2026, 12, 14));
  EXPECT_NEAR(built->repricings[0].implied_rate, 0.0431, 1e-10);
  EXPECT_EQ(built->repricings[1].pillar_date, date(2027, 12, 7));
  EXPECT_NEAR(built->repricings[1].implied_rate, 0.0402, 1e-10);
}

// A 2Y swap has two annual periods: [spot, end1) paid at pay1 and [end1, end2) paid at pay2.
// Fixed leg: r x (tau1 DF(pay1) + tau2 DF(pay2)); overnight leg: (DF(spot)/DF(end1) - 1) DF(pay1)
// + (DF(end1)/DF(end2) - 1) DF(pay2). The built curve must make them equal at the quoted rate.
// Dates: spot 2026-12-03, end1 2027-12-03 (Fri, 365 days), pay1 2027-12-07, end2 2028-12-04 (Mon:
// 2028-12-03 is a Sunday, adjusted to the next business day; 367 days), pay2 2028-12-06.
TEST(DiscountCurve, TwoYearQuoteSatisfiesTheTwoPeriodSwapByHand) {
  const std::vector<OisQuote> quotes{{"1W", 0.0431}, {"1Y", 0.0402}, {"2Y", 0.0378}};
  const auto built = cch::pricing::build_discount_curve(kAsOf, quotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  const cch::pricing::DiscountCurve& curve = built->curve;
  const double spot = curve.discount(kSpot);
  const double end1 = curve.discount(date(2027, 12, 3));
  const double pay1 = curve.discount(date(2027, 12, 7));
  const double end2 = curve.discount(date(2028, 12, 4));
  const double pay2 = curve.discount(date(2028, 12, 6));
  const double tau1 = days(kSpot, date(2027, 12, 3)) / 360.0;
  const double tau2 = days(date(2027, 12, 3), date(2028, 12, 4)) / 360.0;
  EXPECT_EQ(tau2, 367.0 / 360.0);
  const double fixed_leg = 0.0378 * (tau1 * pay1 + tau2 * pay2);
  const double overnight_leg = (spot / end1 - 1.0) * pay1 + (end1 / end2 - 1.0) * pay2;
  // Tolerance 1e-12 on legs of size ~0.07: the bootstrap's accuracy.
  EXPECT_NEAR(fixed_leg, overnight_leg, 1e-12);
  EXPECT_EQ(curve.nodes().back().date, date(2028, 12, 6));
}

TEST(DiscountCurve, EveryQuoteOfATwelveTenorCurveIsRepriced) {
  const auto built = cch::pricing::build_discount_curve(kAsOf, kTwelveTenors);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  ASSERT_EQ(built->repricings.size(), kTwelveTenors.size());
  ASSERT_EQ(built->curve.nodes().size(), kTwelveTenors.size() + 1);
  for (std::size_t index = 0; index < kTwelveTenors.size(); ++index) {
    const auto& repricing = built->repricings[index];
    EXPECT_EQ(repricing.tenor, kTwelveTenors[index].tenor);
    EXPECT_EQ(repricing.rate, kTwelveTenors[index].rate);
    EXPECT_NEAR(repricing.implied_rate, kTwelveTenors[index].rate, 1e-10) << repricing.tenor;
    EXPECT_EQ(repricing.pillar_date, built->curve.nodes()[index + 1].date) << repricing.tenor;
  }
  // Discount factors decrease with positive rates.
  for (std::size_t index = 1; index < built->curve.nodes().size(); ++index) {
    EXPECT_LT(built->curve.nodes()[index].discount_factor, built->curve.nodes()[index - 1].discount_factor);
  }
}

// The plain curve against QuantLib's own, every day from the as-of date to two years past the
// last node (QuantLib extrapolating too): relative difference at most 1e-14.
TEST(DiscountCurve, AgreesWithTheQuantLibCurveEveryDay) {
  const auto built = cch::pricing::build_discount_curve(kAsOf, kTwelveTenors);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  std::vector<cch::pricing::detail::ParsedOisQuote> parsed;
  for (const OisQuote& quote : kTwelveTenors) {
    parsed.push_back({*cch::pricing::parse_tenor(quote.tenor), quote.rate});
  }
  const cch::BusinessDate last = *built->curve.nodes().back().date.add_days(730);
  std::size_t compared = 0;
  double worst = 0.0;
  cch::pricing::detail::with_quantlib_ois_curve(kAsOf, parsed, [&](const cch::pricing::detail::QuantLibOisCurve& ql) {
    for (cch::BusinessDate day = kAsOf; day <= last; day = *day.add_days(1)) {
      const double expected = ql.curve.discount(cch::pricing::detail::to_quantlib_date(day));
      const double got = built->curve.discount(day);
      worst = std::max(worst, std::abs(got - expected) / expected);
      ++compared;
    }
  });
  EXPECT_GT(compared, 4000u);
  EXPECT_LE(worst, 1e-14);
}

// Beyond the last node the curve continues the last segment's log-slope.
TEST(DiscountCurve, ExtrapolatesTheLastSegmentsLogSlope) {
  const auto built = cch::pricing::build_discount_curve(kAsOf, kTwelveTenors);
  ASSERT_TRUE(built.has_value());
  const auto nodes = built->curve.nodes();
  const auto& before = nodes[nodes.size() - 2];
  const auto& last = nodes.back();
  const double slope = std::log(last.discount_factor / before.discount_factor) / days(before.date, last.date);
  const cch::BusinessDate later = *last.date.add_days(1000);
  EXPECT_NEAR(built->curve.discount(later), last.discount_factor * std::exp(slope * 1000.0), 1e-15);
}

// A stored curve, rebuilt from its nodes, answers as the built one.
TEST(DiscountCurve, RebuiltFromNodesAnswersTheSame) {
  const auto built = cch::pricing::build_discount_curve(kAsOf, kTwelveTenors);
  ASSERT_TRUE(built.has_value());
  const std::vector<cch::pricing::DiscountNode> nodes(built->curve.nodes().begin(), built->curve.nodes().end());
  const cch::pricing::DiscountCurve rebuilt(nodes);
  EXPECT_EQ(rebuilt, built->curve);
  EXPECT_EQ(rebuilt.discount(date(2031, 6, 17)), built->curve.discount(date(2031, 6, 17)));
}

TEST(DiscountCurve, Refusals) {
  struct Case {
    std::vector<OisQuote> quotes;
    cch::BusinessDate as_of;
    CurveRefusal reason;
    std::string detail_mentions;
  };
  std::vector<OisQuote> too_many;
  for (int weeks = 1; weeks <= 65; ++weeks) {
    too_many.push_back({std::to_string(weeks) + "W", 0.04});
  }
  const std::vector<Case> cases{
      {{}, kAsOf, CurveRefusal::no_quotes, "no SOFR OIS quote"},
      {too_many, kAsOf, CurveRefusal::too_many_quotes, "65"},
      {{{"1Y", 0.04}}, date(2170, 1, 2), CurveRefusal::as_of_outside_calendar_range, "2170-01-02"},
      {{{"1Y", 0.04}, {"1y", 0.04}}, kAsOf, CurveRefusal::invalid_tenor, "'1y'"},
      {{{"1Y", 0.04}, {"31Y", 0.04}}, kAsOf, CurveRefusal::invalid_tenor, "'31Y'"},
      {{{"1Y", 0.04}, {"12M", 0.04}}, kAsOf, CurveRefusal::duplicate_tenor, "'12M' is the same period as '1Y'"},
      {{{"1W", 0.04}, {"7D", 0.04}}, kAsOf, CurveRefusal::duplicate_tenor, "'7D'"},
      // 2027-01-03 is a Sunday: a month and 31 days from spot both end on Monday 2027-01-04.
      {{{"1M", 0.04}, {"31D", 0.04}}, kAsOf, CurveRefusal::duplicate_tenor, "'1M' and '31D' end on the same date"},
      {{{"1Y", 1.5}}, kAsOf, CurveRefusal::rate_out_of_range, "1Y rate 1.5"},
      {{{"1Y", -1.0000001}}, kAsOf, CurveRefusal::rate_out_of_range, "1Y"},
      {{{"1Y", std::numeric_limits<double>::quiet_NaN()}}, kAsOf, CurveRefusal::rate_out_of_range, "1Y"},
      {{{"1Y", std::numeric_limits<double>::infinity()}}, kAsOf, CurveRefusal::rate_out_of_range, "1Y"},
      // A 10-year swap at -100 %: no discount factor reprices it; QuantLib's solver gives up.
      {{{"1Y", 0.04}, {"10Y", -1.0}}, kAsOf, CurveRefusal::bootstrap_failed, "root not bracketed"},
  };
  for (const Case& test : cases) {
    const auto built = cch::pricing::build_discount_curve(test.as_of, test.quotes);
    ASSERT_FALSE(built.has_value()) << test.detail_mentions;
    EXPECT_EQ(built.error().reason, test.reason) << built.error().detail;
    EXPECT_NE(built.error().detail.find(test.detail_mentions), std::string::npos) << built.error().detail;
    EXPECT_FALSE(built.error().product_id.has_value());
  }
  EXPECT_EQ(cch::pricing::to_string(CurveRefusal::quote_not_repriced), "quote_not_repriced");
  EXPECT_EQ(cch::pricing::to_string(CurveRefusal::bootstrap_failed), "bootstrap_failed");
}

// The evaluation date is QuantLib's global: a build sets it only inside its scope and puts back
// what it found, and builds on several threads at different as-of dates give what they give alone.
TEST(DiscountCurve, ConfinesQuantLibsEvaluationDate) {
  const QuantLib::Date before(15, QuantLib::March, 2024);
  QuantLib::Settings::instance().evaluationDate() = before;
  const auto alone_first = cch::pricing::build_discount_curve(kAsOf, kTwelveTenors);
  const auto alone_second = cch::pricing::build_discount_curve(date(2027, 3, 1), kTwelveTenors);
  ASSERT_TRUE(alone_first.has_value() && alone_second.has_value());
  EXPECT_EQ(QuantLib::Settings::instance().evaluationDate().value(), before);

  std::vector<std::thread> threads;
  std::vector<char> same(8, 0);  // not vector<bool>: each thread writes its own element
  for (std::size_t index = 0; index < same.size(); ++index) {
    threads.emplace_back([&, index] {
      const bool first = index % 2 == 0;
      const auto built = cch::pricing::build_discount_curve(first ? kAsOf : date(2027, 3, 1), kTwelveTenors);
      same[index] = static_cast<char>(built.has_value() && built->curve == (first ? alone_first : alone_second)->curve);
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  for (std::size_t index = 0; index < same.size(); ++index) {
    EXPECT_TRUE(same[index] != 0) << "thread " << index;
  }
  EXPECT_NE(alone_first->curve, alone_second->curve);
  EXPECT_EQ(QuantLib::Settings::instance().evaluationDate().value(), before);

  // Also when QuantLib throws.
  const std::vector<OisQuote> unbootstrappable{{"1Y", 0.04}, {"10Y", -1.0}};
  const auto failed = cch::pricing::build_discount_curve(kAsOf, unbootstrappable);
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().reason, CurveRefusal::bootstrap_failed);
  EXPECT_EQ(QuantLib::Settings::instance().evaluationDate().value(), before);
  QuantLib::Settings::instance().evaluationDate() = QuantLib::Date();
}
