// The worked example of docs/curves.md: every number shown there is asserted here.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cch/pricing/curve_set.hpp"
#include "cch/pricing/marks.hpp"

namespace {

using cch::pricing::OisQuote;
using cch::pricing::PeriodQuote;

cch::BusinessDate date(int year, int month, int day) {
  return cch::BusinessDate::from_year_month_day(year, month, day).value();
}

cch::UtcTimestamp instant(const char* text) {
  return cch::UtcTimestamp::parse(text).value();
}

const cch::BusinessDate kAsOf = date(2026, 12, 1);
const std::vector<OisQuote> kOis{{"1M", 0.0430}, {"6M", 0.0418}, {"1Y", 0.0402}};
const std::vector<PeriodQuote> kQuotes{
    {"2027-01", date(2027, 1, 1), date(2027, 2, 1), 21000},
    {"2027-02", date(2027, 2, 1), date(2027, 3, 1), 22500},
    {"2027-Q1", date(2027, 1, 1), date(2027, 4, 1), 22000},
};
const cch::ProductId kProduct(7);

cch::pricing::CurveSet example_curve_set() {
  const std::vector<cch::pricing::ProductQuotes> products{{kProduct, 50, date(2027, 12, 31), kQuotes}};
  return cch::pricing::build_curve_set(kAsOf, kOis, products,
                                       {"ois:SOFR:2026-12-01:v1", "quotes:product:7:2026-12-01:v1"})
      .value();
}

}  // namespace

// Step 1: the discount curve. Tolerances: 5e-13 on numbers shown with 12 decimals.
TEST(WorkedExample, DiscountCurve) {
  const auto built = cch::pricing::build_discount_curve(kAsOf, kOis);
  ASSERT_TRUE(built.has_value());
  const auto nodes = built->curve.nodes();
  ASSERT_EQ(nodes.size(), 4u);
  EXPECT_EQ(nodes[1].date, date(2027, 1, 6));
  EXPECT_EQ(nodes[2].date, date(2027, 6, 7));
  EXPECT_EQ(nodes[3].date, date(2027, 12, 7));
  EXPECT_NEAR(nodes[1].discount_factor, 0.995717393523, 5e-13);
  EXPECT_NEAR(nodes[2].discount_factor, 0.978625633386, 5e-13);
  EXPECT_NEAR(nodes[3].discount_factor, 0.960209982642, 5e-13);
  for (const auto& repricing : built->repricings) {
    EXPECT_NEAR(repricing.implied_rate, repricing.rate, 1e-12) << repricing.tenor;
  }
  // The 1M swap: spot 2026-12-03, end 2027-01-04 (32 days), paid 2027-01-06.
  const double spot = built->curve.discount(date(2026, 12, 3));
  const double end = built->curve.discount(date(2027, 1, 4));
  EXPECT_NEAR(spot, 0.999761594917, 5e-13);
  EXPECT_NEAR(end, 0.995954834218, 5e-13);
  EXPECT_NEAR(end / spot, 1.0 / (1.0 + 0.0430 * 32.0 / 360.0), 1e-12);
  // On the first segment (36 days to the 1M node), DF(spot) = DF(node)^(2/36).
  EXPECT_NEAR(spot, std::pow(nodes[1].discount_factor, 2.0 / 36.0), 1e-15);
  // The forward leg's payment date, 106 days out, between the nodes at 36 and 188 days.
  const double interpolated = std::exp(std::log(nodes[1].discount_factor) +
                                       (106.0 - 36.0) / (188.0 - 36.0) *
                                           (std::log(nodes[2].discount_factor) - std::log(nodes[1].discount_factor)));
  EXPECT_NEAR(built->curve.discount(date(2027, 3, 17)), interpolated, 1e-15);
  EXPECT_NEAR(interpolated, 0.987809419116, 5e-13);
}

// Step 2: the forward curve of product 7. Tolerance 5e-7 on prices shown with 6 decimals.
TEST(WorkedExample, ForwardCurve) {
  const auto built = cch::pricing::build_forward_curve(date(2026, 12, 2), date(2027, 12, 31), 50, kQuotes);
  ASSERT_TRUE(built.has_value()) << built.error().detail;
  const auto& curve = built->curve;
  // Q1 is independent: January and February do not determine it (March is not quoted).
  for (const auto& fit : built->fits) {
    EXPECT_FALSE(fit.dependent) << fit.label;
  }
  EXPECT_NEAR(built->fits[0].curve_average_usd, 2.1, 1e-12);
  EXPECT_NEAR(built->fits[1].curve_average_usd, 2.25, 1e-12);
  EXPECT_NEAR(built->fits[2].curve_average_usd, 2.2, 1e-12);
  // March, implied: (2.2000 x 90 - 2.1000 x 31 - 2.2500 x 28) / 31 = 69.9 / 31 = 2.254839.
  double march = 0.0;
  for (cch::BusinessDate day = date(2027, 3, 1); day < date(2027, 4, 1); day = *day.add_days(1)) {
    march += curve.price(day);
  }
  EXPECT_NEAR(march / 31.0, 69.9 / 31.0, 1e-12);
  EXPECT_NEAR(69.9 / 31.0, 2.254839, 5e-7);

  const std::vector<std::pair<cch::BusinessDate, double>> points{
      {date(2026, 12, 2), 2.049941}, {date(2027, 1, 1), 2.049941},  {date(2027, 1, 15), 2.085566},
      {date(2027, 1, 31), 2.183395}, {date(2027, 2, 1), 2.189994},  {date(2027, 2, 15), 2.261544},
      {date(2027, 2, 25), 2.277105}, {date(2027, 2, 28), 2.276222}, {date(2027, 3, 1), 2.275492},
      {date(2027, 3, 14), 2.256351}, {date(2027, 3, 31), 2.239402}, {date(2027, 12, 31), 2.239402},
  };
  for (const auto& [day, price] : points) {
    EXPECT_NEAR(curve.price(day), price, 5e-7) << day;
  }
  // The peak is on 2027-02-25; there is no step at 2027-02-01.
  const auto prices = curve.daily_prices();
  const auto peak = std::max_element(prices.begin(), prices.end()) - prices.begin();
  EXPECT_EQ(*date(2026, 12, 2).add_days(peak), date(2027, 2, 25));
}

// Step 3: marks. A forward and a future of product 7, marked on 2026-12-01.
TEST(WorkedExample, Marks) {
  const cch::pricing::CurveSet set = example_curve_set();
  const cch::pricing::ForwardCurve& curve = set.forwards.at(kProduct);

  // Forward, buy 8 GPUs from 2027-02-15T00:00Z to 2027-03-15T00:00Z (28 days, 672 hours) at
  // 2.2000, paid 2027-03-17. F = the mean of the 28 daily prices = 63.552394 / 28 = 2.269728;
  // Q = 8 x 672 = 5,376; (F - K) x Q = 0.069728 x 5,376 = 374.8597 USD; DF = 0.987809419116;
  // PV = 370.2900 USD = 37,029 cents.
  const std::vector<double> window_prices{
      2.261544, 2.264528, 2.267187, 2.269520, 2.271529, 2.273217, 2.274590, 2.275656, 2.276422, 2.276901,
      2.277105, 2.277048, 2.276748, 2.276222, 2.275492, 2.274580, 2.273507, 2.272293, 2.270960, 2.269524,
      2.268004, 2.266418, 2.264781, 2.263109, 2.261417, 2.259717, 2.258025, 2.256351,
  };
  double window_sum = 0.0;
  for (std::size_t index = 0; index < window_prices.size(); ++index) {
    const cch::BusinessDate day = *date(2027, 2, 15).add_days(static_cast<std::int64_t>(index));
    EXPECT_NEAR(curve.price(day), window_prices[index], 5e-7) << day;
    window_sum += curve.price(day);
  }
  EXPECT_NEAR(window_sum, 63.552394, 5e-7);
  const cch::pricing::Leg forward_leg{1,
                                      cch::pricing::Side::buy,
                                      cch::pricing::ContractKind::forward,
                                      instant("2027-02-15T00:00:00Z"),
                                      instant("2027-03-15T00:00:00Z"),
                                      8,
                                      22000,
                                      date(2027, 3, 17)};
  const auto forward_mark = cch::pricing::mark_leg(forward_leg, kAsOf, curve, set.discount);
  ASSERT_TRUE(forward_mark.has_value());
  EXPECT_NEAR(forward_mark->forward_price_usd, window_sum / 28.0, 1e-13);
  EXPECT_NEAR(forward_mark->forward_price_usd, 2.269728, 5e-7);
  EXPECT_EQ(forward_mark->gpu_hours, 5376);
  EXPECT_NEAR((forward_mark->forward_price_usd - 2.2) * 5376.0, 374.8597, 5e-5);
  EXPECT_NEAR(forward_mark->discount_factor, 0.987809419116, 5e-13);
  EXPECT_NEAR((forward_mark->forward_price_usd - 2.2) * 5376.0 * forward_mark->discount_factor, 370.2900, 5e-5);
  EXPECT_EQ(forward_mark->pv_minor, 37029);

  // Future, sell 16 GPUs over January 2027 (744 hours) at 2.0500: F = the January quote, 2.1000;
  // Q = 16 x 744 = 11,904; PV = -(2.1000 - 2.0500) x 11,904 = -595.20 USD, undiscounted.
  const cch::pricing::Leg future_leg{2,
                                     cch::pricing::Side::sell,
                                     cch::pricing::ContractKind::future,
                                     instant("2027-01-01T00:00:00Z"),
                                     instant("2027-02-01T00:00:00Z"),
                                     16,
                                     20500,
                                     date(2027, 2, 3)};
  const auto future_mark = cch::pricing::mark_leg(future_leg, kAsOf, curve, set.discount);
  ASSERT_TRUE(future_mark.has_value());
  EXPECT_NEAR(future_mark->forward_price_usd, 2.1, 1e-13);
  EXPECT_EQ(future_mark->discount_factor, 1.0);
  EXPECT_EQ(future_mark->gpu_hours, 11904);
  EXPECT_EQ(future_mark->pv_minor, -59520);
}

// Step 4: the curve set's content hash. It is a function of the curves' exact bits: if this
// fails after a change of compiler, C library or QuantLib, the curves' last bits changed (look at
// how much before accepting the new hash; docs/curves.md).
TEST(WorkedExample, ContentHash) {
  const cch::pricing::CurveSet set = example_curve_set();
  EXPECT_EQ(cch::pricing::content_hash(set), "8f7a98469eda5cef968765f64495ab96f391eef22705c6e39a3df9d962ec406f");
  const std::string text = cch::pricing::canonical_serialisation(set);
  EXPECT_EQ(text.substr(0, text.find("forward_curves=")),
            "cch-curve-set/1\n"
            "as_of=2026-12-01\n"
            "method=151:" +
                std::string(cch::pricing::kCurveMethodVersion) +
                "\n"
                "discount_nodes=4\n"
                "node=2026-12-01 3ff0000000000000\n"
                "node=2027-01-06 3fefdceab927ac72\n"
                "node=2027-06-07 3fef50e6b44d7672\n"
                "node=2027-12-07 3feeba0a4917b7fa\n");
  EXPECT_NE(text.find("\nforward_curves=1\nforward=7 first_day=2026-12-02 days=395\n"), std::string::npos);
}
