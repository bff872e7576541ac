#include "cch/pricing/marks.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace {

using cch::pricing::ContractKind;
using cch::pricing::Leg;
using cch::pricing::MarkRefusal;
using cch::pricing::Side;

cch::BusinessDate date(int year, int month, int day) {
  return cch::BusinessDate::from_year_month_day(year, month, day).value();
}

cch::UtcTimestamp instant(const char* text) {
  return cch::UtcTimestamp::parse(text).value();
}

const cch::BusinessDate kAsOf = date(2026, 12, 1);
const cch::BusinessDate kFirstDay = date(2026, 12, 2);

// A forward curve at 2.0000 every day from 2026-12-02 to 2027-12-31, except
//     2026-12-02: 2.2    2026-12-03: 2.4    2027-03-01: 2.5    2027-03-02: 2.25
cch::pricing::ForwardCurve test_forward_curve() {
  std::vector<double> prices(static_cast<std::size_t>(cch::days_between(kFirstDay, date(2027, 12, 31)) + 1), 2.0);
  const auto set = [&](cch::BusinessDate day, double price) {
    prices[static_cast<std::size_t>(cch::days_between(kFirstDay, day))] = price;
  };
  set(date(2026, 12, 2), 2.2);
  set(date(2026, 12, 3), 2.4);
  set(date(2027, 3, 1), 2.5);
  set(date(2027, 3, 2), 2.25);
  return cch::pricing::ForwardCurve(kFirstDay, std::move(prices));
}

// A discount curve with a flat continuously compounded rate of 4 % on Actual/365:
// DF(date) = exp(-0.04 x days / 365), log-linear between the two nodes and beyond.
cch::pricing::DiscountCurve test_discount_curve() {
  return cch::pricing::DiscountCurve({{kAsOf, 1.0}, {date(2027, 12, 1), std::exp(-0.04)}});
}

// A buy forward on 8 GPUs over 2027-03-01 and 2027-03-02 (48 hours) at 2.0000, paid 2027-03-05.
Leg march_leg() {
  return Leg{17, Side::buy, ContractKind::forward, instant("2027-03-01T00:00:00Z"), instant("2027-03-03T00:00:00Z"),
             8,  20000,     date(2027, 3, 5)};
}

}  // namespace

// F = (24 x 2.5 + 24 x 2.25) / 48 = 2.375; K = 2.0000; Q = 8 x 48 = 384 GPU-hours.
// Undiscounted: (2.375 - 2.0) x 384 = 144.00 USD. Payment 2027-03-05 is 94 days after the as-of
// date: DF = exp(-0.04 x 94 / 365) = 0.98975151... PV = 144 x DF = 142.5242... USD = 14,252 cents.
TEST(Marks, ForwardIsDiscountedFromItsPaymentDate) {
  const auto forward = test_forward_curve();
  const auto discount = test_discount_curve();
  const auto mark = cch::pricing::mark_leg(march_leg(), kAsOf, forward, discount);
  ASSERT_TRUE(mark.has_value()) << cch::pricing::to_string(mark.error());
  EXPECT_EQ(mark->leg_id, 17);
  // Tolerance 1e-13: F comes from prefix sums of about 180 USD.
  EXPECT_NEAR(mark->forward_price_usd, 2.375, 1e-13);
  // Tolerance 1e-15: the curve interpolates exp(log) of the node, as the hand formula does.
  EXPECT_NEAR(mark->discount_factor, std::exp(-0.04 * 94.0 / 365.0), 1e-15);
  EXPECT_NEAR(mark->discount_factor, 0.98975151, 1e-8);
  EXPECT_EQ(mark->gpu_hours, 384);
  EXPECT_EQ(mark->pv_minor, 14252);
}

// A future is settled daily: the same leg is worth (F - K) x Q undiscounted, 144.00 USD.
TEST(Marks, FutureIsUndiscounted) {
  Leg leg = march_leg();
  leg.kind = ContractKind::future;
  const auto mark = cch::pricing::mark_leg(leg, kAsOf, test_forward_curve(), test_discount_curve());
  ASSERT_TRUE(mark.has_value());
  EXPECT_EQ(mark->discount_factor, 1.0);
  EXPECT_EQ(mark->gpu_hours, 384);
  EXPECT_EQ(mark->pv_minor, 14400);
}

// The sell side of the same forward is its negative, cent for cent.
TEST(Marks, SellLegIsTheNegative) {
  Leg leg = march_leg();
  leg.side = Side::sell;
  const auto mark = cch::pricing::mark_leg(leg, kAsOf, test_forward_curve(), test_discount_curve());
  ASSERT_TRUE(mark.has_value());
  EXPECT_EQ(mark->pv_minor, -14252);
}

// A leg from 2026-11-30T12:00 to 2026-12-03T06:00, marked on 2026-12-01: the hours before
// 2026-12-02T00:00 are delivered; the marked part is 24 h of 2026-12-02 (at 2.2) and 6 h of
// 2026-12-03 (at 2.4): F = (24 x 2.2 + 6 x 2.4) / 30 = (52.8 + 14.4) / 30 = 2.24.
// A future on 4 GPUs at 2.1000: Q = 4 x 30 = 120; PV = (2.24 - 2.10) x 120 = 16.80 USD.
TEST(Marks, PartlyDeliveredLegMarksWhatIsLeft) {
  const Leg leg{18, Side::buy, ContractKind::future, instant("2026-11-30T12:00:00Z"), instant("2026-12-03T06:00:00Z"),
                4,  21000,     date(2026, 12, 7)};
  const auto mark = cch::pricing::mark_leg(leg, kAsOf, test_forward_curve(), test_discount_curve());
  ASSERT_TRUE(mark.has_value());
  EXPECT_NEAR(mark->forward_price_usd, 2.24, 1e-13);
  EXPECT_EQ(mark->gpu_hours, 120);
  EXPECT_EQ(mark->pv_minor, 1680);
}

// Delivered in full before the curve's first day: nothing is left, the mark is zero.
TEST(Marks, DeliveredLegMarksToZero) {
  const Leg leg{19, Side::sell, ContractKind::forward, instant("2026-11-01T00:00:00Z"), instant("2026-12-02T00:00:00Z"),
                4,  21000,      date(2026, 11, 30)};
  const auto mark = cch::pricing::mark_leg(leg, kAsOf, test_forward_curve(), test_discount_curve());
  ASSERT_TRUE(mark.has_value());
  EXPECT_EQ(*mark, (cch::pricing::LegMark{19, 0.0, 1.0, 0, 0}));
}

// A tie: F = 2.5, K = 2.4375 (24,375 ticks; both exact in binary), 1 GPU for 2 hours:
// PV = 0.0625 x 2 = 0.125 USD = 12.5 cents exactly, rounded away from zero: 13 (a sell: -13).
TEST(Marks, RoundsTiesAwayFromZero) {
  Leg leg{20, Side::buy, ContractKind::future, instant("2027-03-01T10:00:00Z"), instant("2027-03-01T12:00:00Z"),
          1,  24375,     date(2027, 3, 3)};
  const auto forward = test_forward_curve();
  const auto discount = test_discount_curve();
  const auto bought = cch::pricing::mark_leg(leg, kAsOf, forward, discount);
  ASSERT_TRUE(bought.has_value());
  EXPECT_EQ(bought->forward_price_usd, 2.5);
  EXPECT_EQ(bought->pv_minor, 13);
  leg.side = Side::sell;
  const auto sold = cch::pricing::mark_leg(leg, kAsOf, forward, discount);
  ASSERT_TRUE(sold.has_value());
  EXPECT_EQ(sold->pv_minor, -13);

  EXPECT_EQ(cch::pricing::usd_to_cents(0.125), 13);
  EXPECT_EQ(cch::pricing::usd_to_cents(-0.125), -13);
  EXPECT_EQ(cch::pricing::usd_to_cents(0.124), 12);
  EXPECT_EQ(cch::pricing::usd_to_cents(0.0), 0);
}

TEST(Marks, Refusals) {
  const auto forward = test_forward_curve();
  const auto discount = test_discount_curve();
  const auto refusal_of = [&](const Leg& leg) {
    const auto mark = cch::pricing::mark_leg(leg, kAsOf, forward, discount);
    EXPECT_FALSE(mark.has_value());
    return mark.has_value() ? MarkRefusal::invalid_window : mark.error();
  };
  Leg leg = march_leg();
  leg.delivery_end = instant("2027-03-02T23:30:00Z");
  EXPECT_EQ(refusal_of(leg), MarkRefusal::invalid_window);
  leg = march_leg();
  leg.delivery_end = leg.delivery_start;
  EXPECT_EQ(refusal_of(leg), MarkRefusal::invalid_window);
  leg = march_leg();
  leg.gpus = 0;
  EXPECT_EQ(refusal_of(leg), MarkRefusal::invalid_gpus);
  leg.gpus = cch::pricing::kLegGpusMax + 1;
  EXPECT_EQ(refusal_of(leg), MarkRefusal::invalid_gpus);
  leg = march_leg();
  leg.price_ticks = -10'000'001;
  EXPECT_EQ(refusal_of(leg), MarkRefusal::invalid_price);
  leg = march_leg();
  leg.delivery_end = instant("2028-01-01T01:00:00Z");  // an hour past the curve's last day
  EXPECT_EQ(refusal_of(leg), MarkRefusal::beyond_curve);
  leg = march_leg();
  leg.payment_date = date(2026, 11, 30);
  EXPECT_EQ(refusal_of(leg), MarkRefusal::payment_before_as_of);
  leg.kind = ContractKind::future;  // a future has no payment date to discount from
  EXPECT_TRUE(cch::pricing::mark_leg(leg, kAsOf, forward, discount).has_value());

  // 10^6 GPUs for 48 hours at a curve of 1,000,000 USD per GPU-hour: 4.8 x 10^13 USD, above
  // 10^13 USD (kAmountMinorMax cents).
  std::vector<double> dear(forward.daily_prices().begin(), forward.daily_prices().end());
  for (double& price : dear) {
    price = 1'000'000.0;
  }
  const cch::pricing::ForwardCurve dear_curve(kFirstDay, std::move(dear));
  leg = march_leg();
  leg.gpus = cch::pricing::kLegGpusMax;
  const auto too_large = cch::pricing::mark_leg(leg, kAsOf, dear_curve, discount);
  ASSERT_FALSE(too_large.has_value());
  EXPECT_EQ(too_large.error(), MarkRefusal::amount_too_large);
  EXPECT_EQ(cch::pricing::to_string(MarkRefusal::amount_too_large), "amount_too_large");
}
