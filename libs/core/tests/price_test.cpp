#include "cch/core/price.hpp"

#include <cstdint>
#include <limits>
#include <sstream>
#include <string_view>

#include <gtest/gtest.h>

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

}  // namespace

TEST(Price, OneTickIsOneTenThousandthOfADollarPerGpuHour) {
  EXPECT_EQ(cch::kPriceScale, 4);
  EXPECT_EQ(cch::PricePerGpuHour::parse("0.0001").value(), cch::PricePerGpuHour{1});
  EXPECT_EQ(cch::PricePerGpuHour::parse("1").value(), cch::PricePerGpuHour{10000});
}

TEST(Price, ParsesUpToFourSignificantDecimals) {
  EXPECT_EQ(cch::PricePerGpuHour::parse("2.1450").value().price_ticks, 21450);
  EXPECT_EQ(cch::PricePerGpuHour::parse("2.145").value().price_ticks, 21450);
  EXPECT_EQ(cch::PricePerGpuHour::parse("2.14500").value().price_ticks, 21450);
  EXPECT_EQ(cch::PricePerGpuHour::parse("-0.0050").value().price_ticks, -50);
  EXPECT_EQ(cch::PricePerGpuHour::parse("-0").value().price_ticks, 0);
  EXPECT_EQ(cch::PricePerGpuHour::parse("922337203685477.5807").value().price_ticks, kInt64Max);
}

TEST(Price, RefusesWhatDecimalRefuses) {
  EXPECT_EQ(cch::PricePerGpuHour::parse("2.14501").error(), cch::DecimalError::too_many_decimals);
  EXPECT_EQ(cch::PricePerGpuHour::parse("2.1e1").error(), cch::DecimalError::exponent_not_allowed);
  EXPECT_EQ(cch::PricePerGpuHour::parse("2,145").error(), cch::DecimalError::malformed);
  EXPECT_EQ(cch::PricePerGpuHour::parse("+2.145").error(), cch::DecimalError::malformed);
  EXPECT_EQ(cch::PricePerGpuHour::parse("").error(), cch::DecimalError::empty);
  EXPECT_EQ(cch::PricePerGpuHour::parse("922337203685477.5808").error(), cch::DecimalError::out_of_range);
}

TEST(Price, FormatsAlwaysFourDecimals) {
  EXPECT_EQ(cch::PricePerGpuHour{21450}.format(), "2.1450");
  EXPECT_EQ(cch::PricePerGpuHour{0}.format(), "0.0000");
  EXPECT_EQ(cch::PricePerGpuHour{-50}.format(), "-0.0050");
  EXPECT_EQ(cch::PricePerGpuHour{kInt64Min}.format(), "-922337203685477.5808");
  std::ostringstream stream;
  stream << cch::PricePerGpuHour{21450};
  EXPECT_EQ(stream.str(), "2.1450 USD/GPU-hour");
}

TEST(Price, ChecksMultiplesOfAProductTickSize) {
  const cch::PricePerGpuHour half_cent_tick{50};  // 0.0050 USD per GPU-hour
  EXPECT_TRUE(cch::PricePerGpuHour{21450}.is_multiple_of(half_cent_tick));
  EXPECT_FALSE(cch::PricePerGpuHour{21455}.is_multiple_of(half_cent_tick));
  EXPECT_TRUE(cch::PricePerGpuHour{0}.is_multiple_of(half_cent_tick));
  EXPECT_TRUE(cch::PricePerGpuHour{-100}.is_multiple_of(half_cent_tick));
  EXPECT_FALSE(cch::PricePerGpuHour{-101}.is_multiple_of(half_cent_tick));
  EXPECT_TRUE(cch::PricePerGpuHour{kInt64Min}.is_multiple_of(cch::PricePerGpuHour{1}));
  EXPECT_TRUE(cch::PricePerGpuHour{kInt64Max}.is_multiple_of(cch::PricePerGpuHour{7}));  // 7 x 1317624576693539401
  EXPECT_FALSE(cch::PricePerGpuHour{kInt64Max}.is_multiple_of(cch::PricePerGpuHour{kInt64Max - 1}));
  EXPECT_TRUE(cch::PricePerGpuHour{kInt64Max}.is_multiple_of(cch::PricePerGpuHour{kInt64Max}));
}

TEST(Price, ComparesByTicks) {
  EXPECT_LT(cch::PricePerGpuHour{-1}, cch::PricePerGpuHour{0});
  EXPECT_GT(cch::PricePerGpuHour{21450}, cch::PricePerGpuHour{21449});
  EXPECT_EQ(cch::PricePerGpuHour::parse("2.145").value(), cch::PricePerGpuHour::parse("2.1450").value());
}

TEST(Price, RandomPricesRoundTripThroughText) {
  std::uint64_t state = 88172645463325252ULL;  // xorshift64: deterministic, no library involved
  for (int index = 0; index < 10000; ++index) {
    state ^= state << 13U;
    state ^= state >> 7U;
    state ^= state << 17U;
    const cch::PricePerGpuHour price{static_cast<std::int64_t>(state)};
    ASSERT_EQ(cch::PricePerGpuHour::parse(price.format()).value(), price) << price.format();
  }
}
