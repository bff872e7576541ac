#include "cch/core/money.hpp"

#include <compare>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string_view>

#include <gtest/gtest.h>

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

cch::Money usd(std::int64_t amount_minor) {
  return cch::Money{amount_minor, cch::Currency::usd()};
}

}  // namespace

TEST(Money, CurrencyParsesOnlyKnownCodes) {
  const auto parsed = cch::Currency::parse("USD");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed.value(), cch::Currency::usd());
  EXPECT_EQ(parsed.value().code(), "USD");
  EXPECT_EQ(parsed.value().minor_digits(), 2);

  for (const std::string_view code : {"usd", "Usd", "", "US", "USDX", " USD", "USD ", "XTS", "EUR", "U$D"}) {
    const auto refused = cch::Currency::parse(code);
    ASSERT_FALSE(refused.has_value()) << "'" << code << "'";
    EXPECT_EQ(refused.error(), cch::CurrencyError::unknown_currency) << "'" << code << "'";
  }
  EXPECT_EQ(cch::to_string(cch::CurrencyError::unknown_currency), "unknown_currency");
}

TEST(Money, CurrenciesCompareByCodeAndDigits) {
  EXPECT_EQ(cch::Currency::usd(), cch::Currency::usd());
  EXPECT_NE(cch::Currency::usd(), cch::Currency::xts_for_tests());
  EXPECT_EQ(cch::Currency::xts_for_tests().code(), "XTS");
  EXPECT_EQ(cch::Currency::xts_for_tests().minor_digits(), 3);
}

TEST(Money, AddsAndSubtractsWithinOneCurrency) {
  EXPECT_EQ(cch::add(usd(1050), usd(-50)).value(), usd(1000));
  EXPECT_EQ(cch::subtract(usd(1050), usd(2000)).value(), usd(-950));
  EXPECT_EQ(cch::add(usd(kInt64Max - 1), usd(1)).value(), usd(kInt64Max));
  EXPECT_EQ(cch::subtract(usd(kInt64Min + 1), usd(1)).value(), usd(kInt64Min));
  EXPECT_EQ(cch::add(cch::Money::zero(cch::Currency::usd()), usd(7)).value(), usd(7));
}

TEST(Money, RefusesOverflowAtTheInt64Limits) {
  EXPECT_EQ(cch::add(usd(kInt64Max), usd(1)).error(), cch::MoneyError::overflow);
  EXPECT_EQ(cch::add(usd(kInt64Min), usd(-1)).error(), cch::MoneyError::overflow);
  EXPECT_EQ(cch::subtract(usd(kInt64Min), usd(1)).error(), cch::MoneyError::overflow);
  EXPECT_EQ(cch::subtract(usd(0), usd(kInt64Min)).error(), cch::MoneyError::overflow);
  EXPECT_EQ(cch::to_string(cch::MoneyError::overflow), "overflow");
}

TEST(Money, RefusesCurrencyMismatchBeforeOverflow) {
  const cch::Money test_amount{1, cch::Currency::xts_for_tests()};
  EXPECT_EQ(cch::add(usd(1), test_amount).error(), cch::MoneyError::currency_mismatch);
  EXPECT_EQ(cch::subtract(test_amount, usd(1)).error(), cch::MoneyError::currency_mismatch);
  EXPECT_EQ(cch::add(usd(kInt64Max), cch::Money{kInt64Max, cch::Currency::xts_for_tests()}).error(),
            cch::MoneyError::currency_mismatch);
  EXPECT_EQ(cch::to_string(cch::MoneyError::currency_mismatch), "currency_mismatch");
}

TEST(Money, NegatesExceptTheMostNegativeAmount) {
  EXPECT_EQ(cch::negate(usd(5)).value(), usd(-5));
  EXPECT_EQ(cch::negate(usd(-5)).value(), usd(5));
  EXPECT_EQ(cch::negate(usd(0)).value(), usd(0));
  EXPECT_EQ(cch::negate(usd(kInt64Max)).value(), usd(kInt64Min + 1));
  EXPECT_EQ(cch::negate(usd(kInt64Min)).error(), cch::MoneyError::overflow);
}

TEST(Money, OrdersAmountsOfOneCurrencyOnly) {
  EXPECT_LT(usd(-1), usd(0));
  EXPECT_GT(usd(100), usd(99));
  EXPECT_LE(usd(5), usd(5));
  EXPECT_EQ(usd(5), usd(5));
  EXPECT_NE(usd(5), usd(6));

  const cch::Money test_amount{5, cch::Currency::xts_for_tests()};
  EXPECT_NE(usd(5), test_amount);
  EXPECT_FALSE(usd(5) < test_amount);
  EXPECT_FALSE(usd(5) > test_amount);
  EXPECT_FALSE(usd(4) <= test_amount);
  EXPECT_FALSE(usd(6) >= test_amount);
  EXPECT_EQ(usd(5) <=> test_amount, std::partial_ordering::unordered);
}

TEST(Money, ParsesDecimalTextAtTheCurrencysMinorDigits) {
  const cch::Currency dollar = cch::Currency::usd();
  EXPECT_EQ(cch::parse_money("408545.28", dollar).value(), usd(40854528));
  EXPECT_EQ(cch::parse_money("12.3", dollar).value(), usd(1230));
  EXPECT_EQ(cch::parse_money("12", dollar).value(), usd(1200));
  EXPECT_EQ(cch::parse_money("-0.00", dollar).value(), usd(0));
  EXPECT_EQ(cch::parse_money("0.100", dollar).value(), usd(10));
  EXPECT_EQ(cch::parse_money("12.345", dollar).error(), cch::DecimalError::too_many_decimals);
  EXPECT_EQ(cch::parse_money("1e3", dollar).error(), cch::DecimalError::exponent_not_allowed);
  EXPECT_EQ(cch::parse_money("$12", dollar).error(), cch::DecimalError::malformed);
  EXPECT_EQ(cch::parse_money("", dollar).error(), cch::DecimalError::empty);
  EXPECT_EQ(cch::parse_money("92233720368547758.08", dollar).error(), cch::DecimalError::out_of_range);
  // Three minor digits: the scale follows the currency.
  EXPECT_EQ(cch::parse_money("12.345", cch::Currency::xts_for_tests()).value(),
            (cch::Money{12345, cch::Currency::xts_for_tests()}));
}

TEST(Money, FormatsExactlyTheMinorDigits) {
  EXPECT_EQ(cch::format_amount(usd(40854528)), "408545.28");
  EXPECT_EQ(cch::format_amount(usd(-5)), "-0.05");
  EXPECT_EQ(cch::format_amount(usd(0)), "0.00");
  EXPECT_EQ(cch::format_amount(usd(kInt64Min)), "-92233720368547758.08");
  EXPECT_EQ(cch::format_amount(cch::Money{-1, cch::Currency::xts_for_tests()}), "-0.001");
  EXPECT_EQ(cch::to_string(usd(40854528)), "408545.28 USD");
  std::ostringstream stream;
  stream << usd(1) << " " << cch::Currency::usd();
  EXPECT_EQ(stream.str(), "0.01 USD USD");
}
