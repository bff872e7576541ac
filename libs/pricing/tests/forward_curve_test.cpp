#include "cch/pricing/forward_curve.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

using cch::pricing::CurveRefusal;
using cch::pricing::PeriodQuote;

cch::BusinessDate date(int year, int month, int day) {
  return cch::BusinessDate::from_year_month_day(year, month, day).value();
}

cch::UtcTimestamp instant(const char* text) {
  return cch::UtcTimestamp::parse(text).value();
}

PeriodQuote month(int year, int month_number, std::int64_t price_ticks) {
  const cch::BusinessDate first = date(year, month_number, 1);
  const cch::BusinessDate end = month_number == 12 ? date(year + 1, 1, 1) : date(year, month_number + 1, 1);
  char label[16];
  std::snprintf(label, sizeof label, "%04d-%02d", year, month_number);
  return PeriodQuote{label, first, end, price_ticks};
}

PeriodQuote day_quote(cch::BusinessDate day, std::int64_t price_ticks) {
  return PeriodQuote{day.format(), day, *day.add_days(1), price_ticks};
}

// The curve's plain mean over [first, end).
double mean_over(const cch::pricing::ForwardCurve& curve, cch::BusinessDate first, cch::BusinessDate end) {
  double sum = 0.0;
  for (cch::BusinessDate day = first; day < end; day = *day.add_days(1)) {
    sum += curve.price(day);
  }
  return sum / static_cast<double>(cch::days_between(first, end));
}

double usd(std::int64_t price_ticks) {
  return static_cast<double>(price_ticks) / 10'000.0;
}

// As-of 2026-12-01: the curve starts on 2026-12-02.
const cch::BusinessDate kFirstDay = date(2026, 12, 2);
const cch::BusinessDate kLastDay = date(2028, 12, 31);
constexpr std::int64_t kTickSize = 50;  // 0.0050 USD per GPU-hour

}  // namespace

// One quote: the smoothest curve with that average is the constant, on the quoted month and, by
// the flat ends, everywhere.
TEST(ForwardCurve, SingleMonthQuoteGivesAFlatCurve) {
  const std::vector<PeriodQuote> quotes{month(2027, 3, 21450)};
  const auto built = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  const auto& curve = built->curve;
  EXPECT_EQ(curve.first_day(), kFirstDay);
  EXPECT_EQ(curve.last_day(), kLastDay);
  ASSERT_EQ(curve.daily_prices().size(), 761u);
  for (const double price : curve.daily_prices()) {
    EXPECT_NEAR(price, 2.145, 1e-12);
  }
  ASSERT_EQ(built->fits.size(), 1u);
  EXPECT_NEAR(built->fits[0].curve_average_usd, 2.145, 1e-12);
  EXPECT_FALSE(built->fits[0].dependent);
}

// A case small enough to solve by hand. Quotes: day 2027-01-01 at 2.0000 and the two days
// [2027-01-02, 2027-01-04) at 3.0000. So x0 = 2 and x1 + x2 = 6; write x1 = 3 + y, x2 = 3 - y.
// The changes are d0 = x1 - x0 = 1 + y and d1 = x2 - x1 = -2y, and the roughness with flat ends
//     R = d0^2 + (d1 - d0)^2 + d1^2 + tension (d0^2 + d1^2)
//       = (1 + y)^2 + (1 + 3y)^2 + 4y^2 + tension ((1 + y)^2 + 4y^2)
// has dR/dy = 8 + 28y + tension (2 + 10y) = 0 at y = -(8 + 2 tension) / (28 + 10 tension).
// With tension = 1/900: y = -0.2856803..., x1 = 2.7143197..., x2 = 3.2856803...
// Before 2027-01-01 the curve is flat at x0, after 2027-01-03 flat at x2.
TEST(ForwardCurve, ThreeDaysSolvedByHand) {
  const std::vector<PeriodQuote> quotes{
      day_quote(date(2027, 1, 1), 20000),
      PeriodQuote{"two days", date(2027, 1, 2), date(2027, 1, 4), 30000},
  };
  const auto built = cch::pricing::build_forward_curve(kFirstDay, date(2027, 3, 31), kTickSize, quotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  const double tension = cch::pricing::kTension;
  const double y = -(8.0 + 2.0 * tension) / (28.0 + 10.0 * tension);
  const auto& curve = built->curve;
  // Tolerance 1e-12 USD per GPU-hour: a few hundred roundings of numbers near 3.
  EXPECT_NEAR(curve.price(date(2027, 1, 1)), 2.0, 1e-12);
  EXPECT_NEAR(curve.price(date(2027, 1, 2)), 3.0 + y, 1e-12);
  EXPECT_NEAR(curve.price(date(2027, 1, 3)), 3.0 - y, 1e-12);
  EXPECT_NEAR(3.0 + y, 2.7143197, 1e-7);
  EXPECT_EQ(curve.price(kFirstDay), curve.price(date(2027, 1, 1)));
  EXPECT_EQ(curve.price(date(2027, 3, 31)), curve.price(date(2027, 1, 3)));
}

// January at 2.0000 and February at 3.0000: each month's average is its quote to 1e-9; the
// curve has no jump at the boundary (where the quotes jump by 1.0000) and is flat beyond.
TEST(ForwardCurve, TwoAdjacentMonthsGiveASmoothCurve) {
  const std::vector<PeriodQuote> quotes{month(2027, 1, 20000), month(2027, 2, 30000)};
  const auto built = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  const auto& curve = built->curve;
  EXPECT_NEAR(mean_over(curve, date(2027, 1, 1), date(2027, 2, 1)), 2.0, 1e-9);
  EXPECT_NEAR(mean_over(curve, date(2027, 2, 1), date(2027, 3, 1)), 3.0, 1e-9);
  EXPECT_NEAR(built->fits[0].curve_average_usd, 2.0, 1e-9);
  EXPECT_NEAR(built->fits[1].curve_average_usd, 3.0, 1e-9);

  double largest_change = 0.0;
  for (cch::BusinessDate day = date(2027, 1, 1); day < date(2027, 2, 28); day = *day.add_days(1)) {
    largest_change = std::max(largest_change, std::abs(curve.price(*day.add_days(1)) - curve.price(day)));
  }
  EXPECT_LT(largest_change, 0.06);  // a smooth rise over the two months, not a step of 1.0
  // Rising through the boundary: the last days of January above 2, the first of February below 3.
  EXPECT_GT(curve.price(date(2027, 1, 31)), 2.0);
  EXPECT_LT(curve.price(date(2027, 2, 1)), 3.0);
  EXPECT_LT(curve.price(date(2027, 1, 31)), curve.price(date(2027, 2, 1)));
  // Flat beyond the quoted span, on both sides.
  EXPECT_EQ(curve.price(kFirstDay), curve.price(date(2027, 1, 1)));
  EXPECT_EQ(curve.price(kLastDay), curve.price(date(2027, 2, 28)));
}

namespace {

// Twelve months of 2027 and the quarters and the year at their day-weighted averages rounded to
// the nearest tick of 50.
std::vector<PeriodQuote> year_quarters_and_months(std::int64_t second_quarter_shift_ticks) {
  const std::vector<std::int64_t> months{21000, 21400, 20650, 20100, 19800, 19950,
                                         20500, 21200, 21800, 22450, 23100, 23500};
  std::vector<PeriodQuote> quotes;
  for (int index = 0; index < 12; ++index) {
    quotes.push_back(month(2027, index + 1, months[static_cast<std::size_t>(index)]));
  }
  const auto rounded_average = [&](int first_month, int count) {
    std::int64_t tick_days = 0;
    std::int64_t days = 0;
    for (int index = first_month; index < first_month + count; ++index) {
      const PeriodQuote& quote = quotes[static_cast<std::size_t>(index)];
      const std::int64_t length = cch::days_between(quote.first_day, quote.end_day);
      tick_days += quote.price_ticks * length;
      days += length;
    }
    const double average = static_cast<double>(tick_days) / static_cast<double>(days);
    return static_cast<std::int64_t>(std::llround(average / kTickSize)) * kTickSize;
  };
  for (int quarter = 0; quarter < 4; ++quarter) {
    PeriodQuote quote{"2027-Q" + std::to_string(quarter + 1), quotes[static_cast<std::size_t>(3 * quarter)].first_day,
                      quotes[static_cast<std::size_t>(3 * quarter + 2)].end_day, rounded_average(3 * quarter, 3)};
    if (quarter == 1) {
      quote.price_ticks += second_quarter_shift_ticks;
    }
    quotes.push_back(quote);
  }
  quotes.push_back(PeriodQuote{"2027", date(2027, 1, 1), date(2028, 1, 1), rounded_average(0, 12)});
  return quotes;
}

}  // namespace

// The months determine the quarters and the year: those are dependent and agree within half a
// tick, so the curve is accepted, honours every month exactly and every quarter and the year
// within half a tick.
TEST(ForwardCurve, YearQuartersAndMonthsThatAgreeAreAccepted) {
  const std::vector<PeriodQuote> quotes = year_quarters_and_months(0);
  const auto built = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  ASSERT_EQ(built->fits.size(), 17u);
  for (std::size_t index = 0; index < quotes.size(); ++index) {
    const auto& fit = built->fits[index];
    const double average = mean_over(built->curve, quotes[index].first_day, quotes[index].end_day);
    EXPECT_EQ(fit.label, quotes[index].label);
    EXPECT_NEAR(fit.curve_average_usd, average, 1e-12) << fit.label;
    if (index < 12) {
      EXPECT_FALSE(fit.dependent) << fit.label;
      EXPECT_NEAR(average, usd(quotes[index].price_ticks), 1e-9) << fit.label;
    } else {
      EXPECT_TRUE(fit.dependent) << fit.label;
      EXPECT_LE(std::abs(average - usd(quotes[index].price_ticks)), usd(kTickSize) / 2.0 + 1e-9) << fit.label;
    }
  }
}

// Q2's months average (20100 x 30 + 19800 x 31 + 19950 x 30) / 91 = 1,815,300 / 91 = 19,948.35
// ticks, quoted (rounded to the tick of 50) at 19,950. Moved by +50 ticks to 20,000, Q2 is 51.6
// ticks from what its months imply, more than half a tick (25): refused, naming the quotes.
TEST(ForwardCurve, QuarterThatDisagreesWithItsMonthsIsRefused) {
  const std::vector<PeriodQuote> quotes = year_quarters_and_months(50);
  const auto built = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_FALSE(built.has_value());
  EXPECT_EQ(built.error().reason, CurveRefusal::inconsistent_quotes);
  EXPECT_EQ(built.error().detail,
            "quote '2027-Q2' at 2.0000 differs from the average 1.994835 implied by 2027-04, 2027-05, 2027-06 by "
            "more than half a tick (0.002500)");
}

// The boundary of the rule: exactly half a tick away agrees, one tick more does not.
TEST(ForwardCurve, HalfATickIsTheLimit) {
  std::vector<PeriodQuote> quotes{month(2027, 4, 21000), month(2027, 5, 21000), month(2027, 6, 21000),
                                  PeriodQuote{"2027-Q2", date(2027, 4, 1), date(2027, 7, 1), 21025}};
  EXPECT_TRUE(cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes).has_value());
  quotes.back().price_ticks = 21026;
  const auto refused = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, CurveRefusal::inconsistent_quotes);
  quotes.back().price_ticks = 20975;
  EXPECT_TRUE(cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes).has_value());
}

// Days and weeks. The ISO weeks 2027-W22..W26 run from Monday 2027-05-31 to Sunday 2027-07-04;
// June is those five weeks less 2027-05-31 and less 2027-07-01..04, all quoted as days, so June
// is dependent on them (added and taken away).
TEST(ForwardCurve, DaysAndWeeksDetermineAMonthAddedAndTakenAway) {
  std::vector<PeriodQuote> quotes;
  const std::vector<std::int64_t> weeks{21000, 21300, 21100, 20800, 20900};
  for (int week = 0; week < 5; ++week) {
    const cch::BusinessDate monday = *date(2027, 5, 31).add_days(7 * week);
    quotes.push_back(PeriodQuote{"2027-W" + std::to_string(22 + week), monday, *monday.add_days(7),
                                 weeks[static_cast<std::size_t>(week)]});
  }
  quotes.push_back(day_quote(date(2027, 5, 31), 21000));
  for (int day = 1; day <= 4; ++day) {
    quotes.push_back(day_quote(date(2027, 7, day), 20900));
  }
  // June implied: (7 x (21000 + 21300 + 21100 + 20800 + 20900) - 21000 - 4 x 20900) / 30
  //             = (735,700 - 21,000 - 83,600) / 30 = 631,100 / 30 = 21,036.67 ticks.
  quotes.push_back(month(2027, 6, 21050));  // 13.3 ticks away: agrees
  const auto built = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  for (std::size_t index = 0; index + 1 < quotes.size(); ++index) {
    EXPECT_FALSE(built->fits[index].dependent) << quotes[index].label;
    EXPECT_NEAR(built->fits[index].curve_average_usd, usd(quotes[index].price_ticks), 1e-9) << quotes[index].label;
  }
  EXPECT_TRUE(built->fits.back().dependent);
  EXPECT_NEAR(built->fits.back().curve_average_usd, 631'100.0 / 30.0 / 10'000.0, 1e-9);

  quotes.back().price_ticks = 21100;  // 63.3 ticks away
  const auto refused = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, CurveRefusal::inconsistent_quotes);
  EXPECT_EQ(refused.error().detail,
            "quote '2027-06' at 2.1100 differs from the average 2.103667 implied by 2027-05-31 (subtracted), "
            "2027-W22, 2027-W23, 2027-W24, 2027-W25, 2027-W26, 2027-07-01 (subtracted), 2027-07-02 (subtracted), "
            "2027-07-03 (subtracted), 2027-07-04 (subtracted) by more than half a tick (0.002500)");
}

// A week quoted with its seven days: the days are independent, the week dependent.
TEST(ForwardCurve, AWeekAndItsDays) {
  std::vector<PeriodQuote> quotes;
  std::int64_t tick_days = 0;
  for (int day = 0; day < 7; ++day) {
    const std::int64_t price = 21000 + 100 * day;
    quotes.push_back(day_quote(*date(2027, 1, 4).add_days(day), price));
    tick_days += price;
  }
  EXPECT_EQ(tick_days, 7 * 21300);
  quotes.push_back(PeriodQuote{"2027-W01", date(2027, 1, 4), date(2027, 1, 11), 21300});
  const auto built = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  for (int day = 0; day < 7; ++day) {
    EXPECT_NEAR(built->curve.price(*date(2027, 1, 4).add_days(day)), 2.1 + 0.01 * day, 1e-9);
  }
  EXPECT_TRUE(built->fits.back().dependent);
  EXPECT_NEAR(built->fits.back().curve_average_usd, 2.13, 1e-9);
}

// The longest horizon: 119 months over ten years, each met to 1e-11 (the tension keeps the
// system well conditioned whatever the horizon).
TEST(ForwardCurve, TenYearsOfMonthsAreMet) {
  std::vector<PeriodQuote> quotes;
  for (int index = 0; index < 119; ++index) {
    quotes.push_back(month(2027 + index / 12, index % 12 + 1, 20000 + 3000 * ((index * 7) % 5) + 100 * index));
  }
  const cch::BusinessDate last_day = *kFirstDay.add_days(cch::pricing::kForwardHorizonDaysMax - 1);
  const auto built = cch::pricing::build_forward_curve(kFirstDay, last_day, kTickSize, quotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  for (std::size_t index = 0; index < quotes.size(); ++index) {
    EXPECT_NEAR(mean_over(built->curve, quotes[index].first_day, quotes[index].end_day), usd(quotes[index].price_ticks),
                1e-11)
        << quotes[index].label;
  }
}

// average(): hour-weighted over a window on whole hours. Curve 2.0, 3.0, 5.0 from 2027-01-01.
// [2027-01-01T18:00, 2027-01-03T03:00): 6 h x 2.0 + 24 h x 3.0 + 3 h x 5.0 = 12 + 72 + 15 = 99
// over 33 h: 3.0. The whole curve: (48 + 72 + 120) / 72 = 3.3333...
TEST(ForwardCurve, AverageWeighsPartialDaysByTheirHours) {
  const cch::pricing::ForwardCurve curve(date(2027, 1, 1), {2.0, 3.0, 5.0});
  EXPECT_EQ(curve.start(), instant("2027-01-01T00:00:00Z"));
  EXPECT_EQ(curve.end(), instant("2027-01-04T00:00:00Z"));
  // Tolerance 1e-15: sums of a few small integers and one division.
  EXPECT_NEAR(curve.average(instant("2027-01-01T18:00:00Z"), instant("2027-01-03T03:00:00Z")), 3.0, 1e-15);
  EXPECT_NEAR(curve.average(curve.start(), curve.end()), 240.0 / 72.0, 1e-15);
  EXPECT_NEAR(curve.average(instant("2027-01-02T10:00:00Z"), instant("2027-01-02T12:00:00Z")), 3.0, 1e-15);
  // 23:00 on day one to 01:00 on day two: (2.0 + 3.0) / 2.
  EXPECT_NEAR(curve.average(instant("2027-01-01T23:00:00Z"), instant("2027-01-02T01:00:00Z")), 2.5, 1e-15);
  // The last hour of the curve.
  EXPECT_NEAR(curve.average(instant("2027-01-03T23:00:00Z"), curve.end()), 5.0, 1e-15);

  const auto clipped = curve.clip(instant("2026-12-30T05:00:00Z"), instant("2027-01-02T06:00:00Z"));
  ASSERT_TRUE(clipped.has_value());
  EXPECT_EQ(clipped->start, curve.start());
  EXPECT_EQ(clipped->end, instant("2027-01-02T06:00:00Z"));
  const auto past_end = curve.clip(instant("2027-01-03T20:00:00Z"), instant("2027-02-01T00:00:00Z"));
  ASSERT_TRUE(past_end.has_value());
  EXPECT_EQ(past_end->end, curve.end());
  EXPECT_FALSE(curve.clip(instant("2026-12-01T00:00:00Z"), curve.start()).has_value());
  EXPECT_FALSE(curve.clip(curve.end(), instant("2027-02-01T00:00:00Z")).has_value());
}

namespace {

// A product's quotes as the benchmark builds them: 31 days, 9 weeks, 12 months, 6 quarters and
// 2 years over three years, consistent by construction.
std::vector<PeriodQuote> many_quotes() {
  std::vector<PeriodQuote> quotes;
  for (int day = 0; day < 31; ++day) {
    quotes.push_back(day_quote(*kFirstDay.add_days(day), 21000 + 50 * (day % 5)));
  }
  for (int week = 0; week < 9; ++week) {
    const cch::BusinessDate monday = *date(2027, 1, 4).add_days(7 * week);
    quotes.push_back(PeriodQuote{"week " + std::to_string(week), monday, *monday.add_days(7), 21500 - 100 * week});
  }
  for (int index = 0; index < 12; ++index) {  // 2027-03 .. 2028-02
    quotes.push_back(month(2027 + (index + 2) / 12, (index + 2) % 12 + 1, 20000 + 150 * index));
  }
  return quotes;
}

}  // namespace

// The same quotes give a bit-identical curve, built twice or given in another order.
TEST(ForwardCurve, BuildingIsDeterministic) {
  std::vector<PeriodQuote> quotes = many_quotes();
  const auto first = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  const auto second = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_TRUE(first.has_value() && second.has_value()) << (first ? "" : first.error().detail);
  const auto a = first->curve.daily_prices();
  const auto b = second->curve.daily_prices();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0);

  std::reverse(quotes.begin(), quotes.end());
  const auto reversed = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_TRUE(reversed.has_value());
  const auto c = reversed->curve.daily_prices();
  EXPECT_EQ(std::memcmp(a.data(), c.data(), a.size() * sizeof(double)), 0);
}

// A week at 0.5000 between months at 100.0000: to keep the week's average, the smooth curve
// goes below zero inside it. Refused, naming a day of that week.
TEST(ForwardCurve, NonPositiveCurveIsRefused) {
  const std::vector<PeriodQuote> quotes{
      PeriodQuote{"before", date(2027, 1, 1), date(2027, 1, 11), 1'000'000},
      PeriodQuote{"dip", date(2027, 1, 11), date(2027, 1, 18), 5'000},
      PeriodQuote{"after", date(2027, 1, 18), date(2027, 2, 1), 1'000'000},
  };
  const auto refused = cch::pricing::build_forward_curve(kFirstDay, kLastDay, kTickSize, quotes);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().reason, CurveRefusal::non_positive_curve);
  EXPECT_NE(refused.error().detail.find(" on 2027-01-1"), std::string::npos) << refused.error().detail;
}

TEST(ForwardCurve, Refusals) {
  struct Case {
    cch::BusinessDate last_day;
    std::vector<PeriodQuote> quotes;
    CurveRefusal reason;
    std::string detail_mentions;
  };
  std::vector<PeriodQuote> too_many;
  for (int day = 0; day < 257; ++day) {
    too_many.push_back(day_quote(*kFirstDay.add_days(day), 21000));
  }
  const PeriodQuote march = month(2027, 3, 21000);
  const std::vector<Case> cases{
      {date(2026, 12, 1), {march}, CurveRefusal::invalid_horizon, "2026-12-02 to 2026-12-01"},
      {date(2037, 1, 1), {march}, CurveRefusal::invalid_horizon, "3660"},
      {kLastDay, {}, CurveRefusal::no_quotes, "no period quote"},
      {kLastDay, too_many, CurveRefusal::too_many_quotes, "257"},
      {kLastDay,
       {march, PeriodQuote{"bad", date(2027, 4, 1), date(2027, 4, 1), 21000}},
       CurveRefusal::invalid_period,
       "'bad'"},
      {kLastDay,
       {PeriodQuote{"early", date(2026, 12, 1), date(2026, 12, 3), 21000}},
       CurveRefusal::period_outside_curve,
       "'early' [2026-12-01, 2026-12-03)"},
      {date(2027, 3, 30), {march}, CurveRefusal::period_outside_curve, "[2026-12-02, 2027-03-31)"},
      {kLastDay, {month(2027, 3, 0)}, CurveRefusal::non_positive_price, "'2027-03'"},
      {kLastDay, {month(2027, 3, -50)}, CurveRefusal::non_positive_price, "-0.0050"},
      {kLastDay, {month(2027, 3, 10'000'001)}, CurveRefusal::price_too_large, "1000.0001"},
      {kLastDay, {march, month(2027, 3, 21000)}, CurveRefusal::duplicate_period, "'2027-03'"},
      {kLastDay,
       {march, PeriodQuote{"2027-03", date(2027, 4, 1), date(2027, 5, 1), 21000}},
       CurveRefusal::duplicate_period,
       "label"},
  };
  for (const Case& test : cases) {
    const auto built = cch::pricing::build_forward_curve(kFirstDay, test.last_day, kTickSize, test.quotes);
    ASSERT_FALSE(built.has_value()) << test.detail_mentions;
    EXPECT_EQ(built.error().reason, test.reason) << built.error().detail;
    EXPECT_NE(built.error().detail.find(test.detail_mentions), std::string::npos) << built.error().detail;
  }
}
