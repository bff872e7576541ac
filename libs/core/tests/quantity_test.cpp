#include "cch/core/quantity.hpp"

#include <cstdint>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

cch::Money usd_cents(std::int64_t amount_minor) {
  return cch::Money{amount_minor, cch::Currency::usd()};
}

}  // namespace

TEST(Quantity, TradeQuantityMustBePositive) {
  EXPECT_EQ(cch::make_trade_quantity(256).value(), cch::GpuCount{256});
  EXPECT_EQ(cch::make_trade_quantity(1).value(), cch::GpuCount{1});
  EXPECT_EQ(cch::make_trade_quantity(kInt64Max).value(), cch::GpuCount{kInt64Max});
  EXPECT_EQ(cch::make_trade_quantity(0).error(), cch::QuantityError::quantity_not_positive);
  EXPECT_EQ(cch::make_trade_quantity(-1).error(), cch::QuantityError::quantity_not_positive);
  EXPECT_EQ(cch::make_trade_quantity(kInt64Min).error(), cch::QuantityError::quantity_not_positive);
  EXPECT_EQ(cch::to_string(cch::QuantityError::quantity_not_positive), "quantity_not_positive");
}

TEST(Quantity, GpuHoursAreGpusTimesHoursChecked) {
  // March: 31 days x 24 hours = 744 hours.
  EXPECT_EQ(cch::gpu_hours(cch::GpuCount{256}, 744).value(), cch::GpuHours{190464});
  EXPECT_EQ(cch::gpu_hours(cch::GpuCount{-256}, 744).value(), cch::GpuHours{-190464});  // a short position
  EXPECT_EQ(cch::gpu_hours(cch::GpuCount{0}, 744).value(), cch::GpuHours{0});
  EXPECT_EQ(cch::gpu_hours(cch::GpuCount{kInt64Max}, 1).value(), cch::GpuHours{kInt64Max});
  EXPECT_EQ(cch::gpu_hours(cch::GpuCount{kInt64Max}, 2).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::gpu_hours(cch::GpuCount{kInt64Min}, -1).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::add(cch::GpuHours{kInt64Max - 1}, cch::GpuHours{1}).value(), cch::GpuHours{kInt64Max});
  EXPECT_EQ(cch::add(cch::GpuHours{kInt64Max}, cch::GpuHours{1}).error(), cch::ArithmeticError::overflow);
}

TEST(Quantity, NotionalOfTheMarchExampleIsExact) {
  // 256 GPUs x 744 hours = 190,464 GPU-hours at 2.1450 USD per GPU-hour:
  //   190,464 x 2       = 380,928.00
  //   190,464 x 0.1450  =  27,617.28   (190,464 x 145 = 27,617,280, / 1000)
  //   total             = 408,545.28 USD = 40,854,528 cents, with nothing to round.
  // In ticks: 21,450 x 190,464 = 4,085,452,800 ten-thousandths of a dollar, / 100 = 40,854,528.
  const cch::GpuHours volume = cch::gpu_hours(cch::GpuCount{256}, 744).value();
  const cch::PricePerGpuHour price = cch::PricePerGpuHour::parse("2.1450").value();
  for (const cch::Rounding rounding : {cch::Rounding::half_even, cch::Rounding::half_away_from_zero,
                                       cch::Rounding::toward_zero, cch::Rounding::floor, cch::Rounding::ceiling}) {
    const auto amount = cch::notional(price, volume, rounding);
    ASSERT_TRUE(amount.has_value()) << cch::to_string(rounding);
    EXPECT_EQ(amount.value(), usd_cents(40854528)) << cch::to_string(rounding);
    EXPECT_EQ(cch::format_amount(amount.value()), "408545.28");
  }
}

TEST(Quantity, NotionalRoundsHalfCentsByTheGivenRule) {
  struct NotionalCase {
    std::int64_t price_ticks;
    std::int64_t gpu_hours;
    cch::Rounding rounding;
    std::int64_t expected_cents;
  };
  // 0.0050 USD x 1 GPU-hour = 0.5 cent (a tie); 0.0150 = 1.5 cents (a tie); 2.1451 = 214.51 cents.
  const std::vector<NotionalCase> cases = {
      {50, 1, cch::Rounding::half_even, 0},
      {50, 1, cch::Rounding::half_away_from_zero, 1},
      {50, 1, cch::Rounding::toward_zero, 0},
      {50, 1, cch::Rounding::floor, 0},
      {50, 1, cch::Rounding::ceiling, 1},
      {150, 1, cch::Rounding::half_even, 2},
      {150, 1, cch::Rounding::half_away_from_zero, 2},
      {-50, 1, cch::Rounding::half_even, 0},
      {-50, 1, cch::Rounding::half_away_from_zero, -1},
      {-50, 1, cch::Rounding::floor, -1},
      {-50, 1, cch::Rounding::ceiling, 0},
      {50, -3, cch::Rounding::half_even, -2},  // -1.5 cents: tie to even -2
      {21451, 1, cch::Rounding::half_even, 215},
      {21451, 1, cch::Rounding::toward_zero, 214},
      {21451, 100, cch::Rounding::toward_zero, 21451},  // exact
  };
  for (const NotionalCase& notional_case : cases) {
    const auto amount = cch::notional(cch::PricePerGpuHour{notional_case.price_ticks},
                                      cch::GpuHours{notional_case.gpu_hours}, notional_case.rounding);
    ASSERT_TRUE(amount.has_value());
    EXPECT_EQ(amount.value(), usd_cents(notional_case.expected_cents))
        << notional_case.price_ticks << " ticks x " << notional_case.gpu_hours << " GPU-hours, "
        << cch::to_string(notional_case.rounding);
  }
}

TEST(Quantity, NotionalIsExactUpToTheInt64LimitOfCents) {
  // The 128-bit product never overflows; only a result beyond int64 cents is refused.
  EXPECT_EQ(cch::notional(cch::PricePerGpuHour{kInt64Max}, cch::GpuHours{100}, cch::Rounding::half_even).value(),
            usd_cents(kInt64Max));
  EXPECT_EQ(cch::notional(cch::PricePerGpuHour{kInt64Min}, cch::GpuHours{100}, cch::Rounding::half_even).value(),
            usd_cents(kInt64Min));
  EXPECT_EQ(cch::notional(cch::PricePerGpuHour{kInt64Max}, cch::GpuHours{101}, cch::Rounding::half_even).error(),
            cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::notional(cch::PricePerGpuHour{kInt64Max}, cch::GpuHours{kInt64Max}, cch::Rounding::floor).error(),
            cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::notional(cch::PricePerGpuHour{kInt64Min}, cch::GpuHours{kInt64Min}, cch::Rounding::floor).error(),
            cch::ArithmeticError::overflow);
  // 10^9 GPU-hours at 9,000 USD: 9 x 10^12 USD = 9 x 10^14 cents, far inside the range.
  EXPECT_EQ(
      cch::notional(cch::PricePerGpuHour{90'000'000}, cch::GpuHours{1'000'000'000}, cch::Rounding::half_even).value(),
      usd_cents(900'000'000'000'000));
}

TEST(Quantity, PrintsWithUnits) {
  std::ostringstream stream;
  stream << cch::GpuCount{256} << ", " << cch::GpuHours{190464};
  EXPECT_EQ(stream.str(), "256 GPUs, 190464 GPU-hours");
}
