#include "cch/core/decimal.hpp"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();

struct ParseCase {
  std::string_view text;
  int scale;
  std::int64_t expected_units;
};

struct RefusalCase {
  std::string text;
  int scale;
  cch::DecimalError expected_error;
};

void expect_refused(const std::vector<RefusalCase>& cases) {
  for (const RefusalCase& refusal : cases) {
    const auto parsed = cch::parse_scaled_decimal(refusal.text, refusal.scale);
    ASSERT_FALSE(parsed.has_value()) << "'" << refusal.text << "' at scale " << refusal.scale << " parsed as "
                                     << parsed.value();
    EXPECT_EQ(parsed.error(), refusal.expected_error)
        << "'" << refusal.text << "' at scale " << refusal.scale << " refused as " << cch::to_string(parsed.error())
        << ", expected " << cch::to_string(refusal.expected_error);
  }
}

void expect_parsed(const std::vector<ParseCase>& cases) {
  for (const ParseCase& parse_case : cases) {
    const auto parsed = cch::parse_scaled_decimal(parse_case.text, parse_case.scale);
    ASSERT_TRUE(parsed.has_value()) << "'" << parse_case.text << "' at scale " << parse_case.scale << " refused as "
                                    << cch::to_string(parsed.error());
    EXPECT_EQ(parsed.value(), parse_case.expected_units) << "'" << parse_case.text << "' at scale " << parse_case.scale;
  }
}

}  // namespace

TEST(Decimal, ParsesPlainValuesAtTheirScale) {
  expect_parsed({
      {"12.34", 2, 1234},
      {"0", 2, 0},
      {"5", 0, 5},
      {"-1.5", 2, -150},
      {"007.50", 2, 750},
      {"1.2", 4, 12000},
      {"0.01", 2, 1},
      {"-0.01", 2, -1},
      {"123456789", 3, 123456789000},
  });
}

TEST(Decimal, NegativeZeroIsPlainZero) {
  expect_parsed({{"-0", 2, 0}, {"-0.00", 2, 0}, {"-0.000000", 2, 0}, {"-000", 0, 0}});
  EXPECT_EQ(cch::format_scaled_decimal(cch::parse_scaled_decimal("-0.00", 2).value(), 2), "0.00");
}

TEST(Decimal, AcceptsExtraDecimalsOnlyWhenTheyAreZeros) {
  expect_parsed({{"1.2300", 2, 123}, {"5.0", 0, 5}, {"5.000000000000000000000", 0, 5}, {"-2.10", 1, -21}});
  expect_refused({
      {"1.005", 2, cch::DecimalError::too_many_decimals},
      {"1.0000000001", 2, cch::DecimalError::too_many_decimals},
      {"5.1", 0, cch::DecimalError::too_many_decimals},
      {"-0.001", 2, cch::DecimalError::too_many_decimals},  // not silently rounded to -0.00
  });
}

TEST(Decimal, RefusesMalformedText) {
  const cch::DecimalError malformed = cch::DecimalError::malformed;
  expect_refused({
      {"+1", 2, malformed},
      {" 1", 2, malformed},
      {"1 ", 2, malformed},
      {"\t1", 2, malformed},
      {"1\n", 2, malformed},
      {"1.", 2, malformed},
      {".5", 2, malformed},
      {"-.5", 2, malformed},
      {"1..2", 2, malformed},
      {"1.2.3", 2, malformed},
      {"--1", 2, malformed},
      {"-", 2, malformed},
      {"1,5", 2, malformed},
      {"0x10", 2, malformed},
      {"1_000", 2, malformed},
      {"NaN", 2, malformed},
      {"inf", 2, malformed},
      {"-+1", 2, malformed},
      {"1-", 2, malformed},
      {"e5", 2, malformed},
      {"1 000", 2, malformed},
      {"\xd9\xa3", 2, malformed},  // ARABIC-INDIC DIGIT THREE
      {std::string("1\0", 2), 2, malformed},
  });
}

TEST(Decimal, NamesExponentsSeparately) {
  const cch::DecimalError exponent = cch::DecimalError::exponent_not_allowed;
  expect_refused({{"1e5", 2, exponent},
                  {"1E5", 2, exponent},
                  {"1.5e-3", 4, exponent},
                  {"2.0E+2", 2, exponent},
                  {"-7e0", 0, exponent},
                  {"1e", 2, exponent}});
}

TEST(Decimal, RefusesEmptyAndTooLongTextCheaply) {
  expect_refused({{"", 2, cch::DecimalError::empty}});
  // 64 characters is the limit: 63 zeros and a one is accepted.
  const std::string longest = std::string(63, '0') + "1";
  ASSERT_EQ(longest.size(), cch::kDecimalTextLengthMax);
  EXPECT_EQ(cch::parse_scaled_decimal(longest, 2).value(), 100);
  const std::string one_megabyte_of_digits(1U << 20U, '7');
  expect_refused({
      {longest + "0", 2, cch::DecimalError::too_long},
      {one_megabyte_of_digits, 2, cch::DecimalError::too_long},
      {"x" + one_megabyte_of_digits, 2, cch::DecimalError::too_long},  // length first, grammar after
  });
}

TEST(Decimal, DetectsOverflowAtTheInt64Limits) {
  expect_parsed({
      {"9223372036854775807", 0, kInt64Max},
      {"-9223372036854775808", 0, kInt64Min},
      {"92233720368547758.07", 2, kInt64Max},
      {"-92233720368547758.08", 2, kInt64Min},
      {"9.223372036854775807", 18, kInt64Max},
      {"-9.223372036854775808", 18, kInt64Min},
      {"1", 18, 1'000'000'000'000'000'000},
  });
  const cch::DecimalError out_of_range = cch::DecimalError::out_of_range;
  expect_refused({
      {"9223372036854775808", 0, out_of_range},
      {"-9223372036854775809", 0, out_of_range},
      {"92233720368547758.08", 2, out_of_range},
      {"-92233720368547758.09", 2, out_of_range},
      {"18446744073709551616", 0, out_of_range},  // 2^64: would wrap to 0 if unchecked
      {"18446744073709551615", 0, out_of_range},  // 2^64 - 1: fits uint64 but not int64
      {"99999999999999999999999", 0, out_of_range},
      {"10", 18, out_of_range},  // 10^19
      {"9223372036854775807", 1, out_of_range},
  });
}

TEST(Decimal, RefusalsFollowTheDocumentedOrder) {
  // Grammar before decimals before range.
  expect_refused({
      {"99999999999999999999.123+", 2, cch::DecimalError::malformed},
      {"99999999999999999999.123", 2, cch::DecimalError::too_many_decimals},
      {"1.5e99999999999999999999", 2, cch::DecimalError::exponent_not_allowed},
  });
}

TEST(Decimal, FormatsExactlyScaleDecimals) {
  struct FormatCase {
    std::int64_t units;
    int scale;
    std::string_view expected_text;
  };
  const std::vector<FormatCase> cases = {
      {1234, 2, "12.34"},
      {5, 2, "0.05"},
      {-5, 2, "-0.05"},
      {0, 2, "0.00"},
      {0, 0, "0"},
      {-7, 0, "-7"},
      {100, 2, "1.00"},
      {kInt64Min, 0, "-9223372036854775808"},
      {kInt64Min, 2, "-92233720368547758.08"},
      {kInt64Max, 18, "9.223372036854775807"},
      {-1, 18, "-0.000000000000000001"},
      {40854528, 2, "408545.28"},
  };
  for (const FormatCase& format_case : cases) {
    EXPECT_EQ(cch::format_scaled_decimal(format_case.units, format_case.scale), format_case.expected_text)
        << format_case.units << " at scale " << format_case.scale;
  }
}

TEST(Decimal, RandomValuesRoundTripExactlyAtEveryScale) {
  std::mt19937_64 generator(20260301);  // fixed seed: the same values on every run
  std::vector<std::int64_t> values = {0, 1, -1, kInt64Max, kInt64Min, kInt64Max - 1, kInt64Min + 1};
  std::uniform_int_distribution<std::int64_t> any_value(kInt64Min, kInt64Max);
  std::uniform_int_distribution<std::int64_t> small_value(-1'000'000, 1'000'000);
  for (int index = 0; index < 5000; ++index) {
    values.push_back(any_value(generator));
    values.push_back(small_value(generator));
  }
  for (int scale = 0; scale <= cch::kDecimalScaleMax; ++scale) {
    for (const std::int64_t units : values) {
      const std::string text = cch::format_scaled_decimal(units, scale);
      const auto parsed = cch::parse_scaled_decimal(text, scale);
      ASSERT_TRUE(parsed.has_value()) << text << " refused as " << cch::to_string(parsed.error());
      ASSERT_EQ(parsed.value(), units) << text << " at scale " << scale;
    }
  }
}

TEST(Decimal, PowersOfTenCoverEveryScale) {
  EXPECT_EQ(cch::power_of_ten(0), 1);
  EXPECT_EQ(cch::power_of_ten(2), 100);
  EXPECT_EQ(cch::power_of_ten(18), 1'000'000'000'000'000'000);
}

TEST(Decimal, ReasonCodesAreStableSnakeCase) {
  EXPECT_EQ(cch::to_string(cch::DecimalError::empty), "empty");
  EXPECT_EQ(cch::to_string(cch::DecimalError::too_long), "too_long");
  EXPECT_EQ(cch::to_string(cch::DecimalError::malformed), "malformed");
  EXPECT_EQ(cch::to_string(cch::DecimalError::exponent_not_allowed), "exponent_not_allowed");
  EXPECT_EQ(cch::to_string(cch::DecimalError::too_many_decimals), "too_many_decimals");
  EXPECT_EQ(cch::to_string(cch::DecimalError::out_of_range), "out_of_range");
  EXPECT_EQ(cch::to_string(cch::ArithmeticError::overflow), "overflow");
  EXPECT_EQ(cch::to_string(cch::ArithmeticError::division_by_zero), "division_by_zero");
  EXPECT_EQ(cch::to_string(cch::Rounding::half_even), "half_even");
  EXPECT_EQ(cch::to_string(cch::Rounding::half_away_from_zero), "half_away_from_zero");
  EXPECT_EQ(cch::to_string(cch::Rounding::toward_zero), "toward_zero");
  EXPECT_EQ(cch::to_string(cch::Rounding::floor), "floor");
  EXPECT_EQ(cch::to_string(cch::Rounding::ceiling), "ceiling");
}

// ---- Rounding (Rounding suite) ----

TEST(Rounding, EveryModeOnTiesAndNonTiesOfBothSigns) {
  // numerator / 10: 25 is 2.5 (a tie), 27 is 2.7, 22 is 2.2, 20 is exact, 5 is 0.5, 15 is 1.5.
  struct RoundingCase {
    std::int64_t numerator;
    std::int64_t half_even;
    std::int64_t half_away_from_zero;
    std::int64_t toward_zero;
    std::int64_t floor;
    std::int64_t ceiling;
  };
  const std::vector<RoundingCase> cases = {
      {25, 2, 3, 2, 2, 3},       {35, 4, 4, 3, 3, 4},       {27, 3, 3, 2, 2, 3},       {22, 2, 2, 2, 2, 3},
      {20, 2, 2, 2, 2, 2},       {5, 0, 1, 0, 0, 1},        {15, 2, 2, 1, 1, 2},       {0, 0, 0, 0, 0, 0},
      {-25, -2, -3, -2, -3, -2}, {-35, -4, -4, -3, -4, -3}, {-27, -3, -3, -2, -3, -2}, {-22, -2, -2, -2, -3, -2},
      {-20, -2, -2, -2, -2, -2}, {-5, 0, -1, 0, -1, 0},     {-15, -2, -2, -1, -2, -1},
  };
  for (const RoundingCase& rounding_case : cases) {
    const cch::Int128 numerator = rounding_case.numerator;
    const std::vector<std::pair<cch::Rounding, std::int64_t>> expectations = {
        {cch::Rounding::half_even, rounding_case.half_even},
        {cch::Rounding::half_away_from_zero, rounding_case.half_away_from_zero},
        {cch::Rounding::toward_zero, rounding_case.toward_zero},
        {cch::Rounding::floor, rounding_case.floor},
        {cch::Rounding::ceiling, rounding_case.ceiling},
    };
    for (const auto& [rounding, expected] : expectations) {
      EXPECT_EQ(cch::divide_rounded(numerator, 10, rounding).value(), expected)
          << rounding_case.numerator << "/10 " << cch::to_string(rounding);
      // The sign of the quotient, not of the operands, decides: -n / -10 == n / 10.
      EXPECT_EQ(cch::divide_rounded(-numerator, -10, rounding).value(), expected)
          << -rounding_case.numerator << "/-10 " << cch::to_string(rounding);
    }
  }
}

TEST(Rounding, TiesWithOddDivisorsAndThirds) {
  // 7/2 = 3.5 (tie to even 4), 9/2 = 4.5 (tie to even 4), 1/3 and 2/3 are never ties.
  EXPECT_EQ(cch::divide_rounded(7, 2, cch::Rounding::half_even).value(), 4);
  EXPECT_EQ(cch::divide_rounded(9, 2, cch::Rounding::half_even).value(), 4);
  EXPECT_EQ(cch::divide_rounded(-9, 2, cch::Rounding::half_even).value(), -4);
  EXPECT_EQ(cch::divide_rounded(1, 3, cch::Rounding::half_away_from_zero).value(), 0);
  EXPECT_EQ(cch::divide_rounded(2, 3, cch::Rounding::half_even).value(), 1);
  EXPECT_EQ(cch::divide_rounded(-2, 3, cch::Rounding::half_even).value(), -1);
  EXPECT_EQ(cch::divide_rounded(-1, 3, cch::Rounding::floor).value(), -1);
  EXPECT_EQ(cch::divide_rounded(1, 3, cch::Rounding::ceiling).value(), 1);
}

TEST(Rounding, RefusesDivisionByZeroAndResultsBeyondInt64) {
  const cch::Int128 int128_max = static_cast<cch::Int128>(~cch::UInt128{0} >> 1U);
  const cch::Int128 int128_min = -int128_max - 1;
  const cch::Int128 two_to_the_63 = cch::Int128{1} << 63U;

  EXPECT_EQ(cch::divide_rounded(1, 0, cch::Rounding::half_even).error(), cch::ArithmeticError::division_by_zero);
  EXPECT_EQ(cch::divide_rounded(0, 0, cch::Rounding::floor).error(), cch::ArithmeticError::division_by_zero);
  EXPECT_EQ(cch::divide_rounded(two_to_the_63, 1, cch::Rounding::floor).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::divide_rounded(-two_to_the_63, 1, cch::Rounding::floor).value(), kInt64Min);
  EXPECT_EQ(cch::divide_rounded(-two_to_the_63 - 1, 1, cch::Rounding::floor).error(), cch::ArithmeticError::overflow);
  // Rounding itself can push a quotient over the edge: (2^63 - 0.5) rounds to 2^63 away from zero.
  EXPECT_EQ(cch::divide_rounded(2 * two_to_the_63 - 1, 2, cch::Rounding::toward_zero).value(), kInt64Max);
  EXPECT_EQ(cch::divide_rounded(2 * two_to_the_63 - 1, 2, cch::Rounding::half_away_from_zero).error(),
            cch::ArithmeticError::overflow);
  // The 128-bit extremes, including INT128_MIN / -1 which would be undefined in plain division.
  EXPECT_EQ(cch::divide_rounded(int128_min, -1, cch::Rounding::half_even).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::divide_rounded(int128_min, 1, cch::Rounding::half_even).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::divide_rounded(int128_max, int128_max, cch::Rounding::half_even).value(), 1);
  EXPECT_EQ(cch::divide_rounded(int128_min, int128_min, cch::Rounding::half_even).value(), 1);
  EXPECT_EQ(cch::divide_rounded(int128_min, int128_max, cch::Rounding::toward_zero).value(), -1);
  EXPECT_EQ(cch::divide_rounded(int128_max, int128_min, cch::Rounding::floor).value(), -1);
  // (2^127 - 1) / 2^126 is just under 2: a divisor this large must not overflow the comparison.
  EXPECT_EQ(cch::divide_rounded(int128_max, cch::Int128{1} << 126U, cch::Rounding::half_even).value(), 2);
  EXPECT_EQ(cch::divide_rounded(int128_max, cch::Int128{1} << 126U, cch::Rounding::toward_zero).value(), 1);
}

TEST(Rounding, RandomQuotientsSatisfyTheDefinitions) {
  // floor(q) * d <= n < (floor(q) + 1) * d for d > 0, ceiling = floor + (remainder != 0), and
  // the half rules differ from floor or ceiling by the rounded-to-nearest choice.
  std::mt19937_64 generator(7);
  std::uniform_int_distribution<std::int64_t> any_value(kInt64Min, kInt64Max);
  std::uniform_int_distribution<std::int64_t> small_divisor(1, 1000);
  for (int index = 0; index < 20000; ++index) {
    const cch::Int128 numerator = cch::Int128{any_value(generator)} * 7;
    const cch::Int128 denominator = small_divisor(generator) * (index % 2 == 0 ? 1 : 1000);
    const auto floor_result = cch::divide_rounded(numerator, denominator, cch::Rounding::floor);
    if (!floor_result) {
      continue;  // beyond int64; covered by the overflow test
    }
    const cch::Int128 floor_value = floor_result.value();
    ASSERT_TRUE(floor_value * denominator <= numerator) << "index " << index;
    ASSERT_TRUE((floor_value + 1) * denominator > numerator) << "index " << index;
    const cch::Int128 remainder = numerator - floor_value * denominator;  // 0 <= remainder < d
    const auto ceiling_result = cch::divide_rounded(numerator, denominator, cch::Rounding::ceiling);
    if (ceiling_result) {
      EXPECT_TRUE(cch::Int128{ceiling_result.value()} == floor_value + (remainder != 0 ? 1 : 0)) << "index " << index;
    }
    const auto nearest = cch::divide_rounded(numerator, denominator, cch::Rounding::half_even);
    if (nearest && 2 * remainder != denominator) {
      EXPECT_TRUE(cch::Int128{nearest.value()} == floor_value + (2 * remainder > denominator ? 1 : 0))
          << "index " << index;
    }
    const auto truncated = cch::divide_rounded(numerator, denominator, cch::Rounding::toward_zero);
    ASSERT_TRUE(truncated.has_value());
    EXPECT_TRUE(cch::Int128{truncated.value()} == numerator / denominator) << "index " << index;  // C++ truncates
  }
}

TEST(Rounding, CheckedInt64ArithmeticRefusesOverflow) {
  EXPECT_EQ(cch::checked_add(kInt64Max - 1, 1).value(), kInt64Max);
  EXPECT_EQ(cch::checked_add(kInt64Max, 1).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::checked_add(kInt64Min, -1).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::checked_add(kInt64Min, kInt64Max).value(), -1);
  EXPECT_EQ(cch::checked_subtract(kInt64Min + 1, 1).value(), kInt64Min);
  EXPECT_EQ(cch::checked_subtract(kInt64Min, 1).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::checked_subtract(0, kInt64Min).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::checked_subtract(-1, kInt64Max).value(), kInt64Min);
  EXPECT_EQ(cch::checked_multiply(3'037'000'499, 3'037'000'499).value(), 9'223'372'030'926'249'001);
  EXPECT_EQ(cch::checked_multiply(3'037'000'500, 3'037'000'500).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::checked_multiply(kInt64Min, -1).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::checked_multiply(kInt64Min, 1).value(), kInt64Min);
  EXPECT_EQ(cch::checked_multiply(-4'611'686'018'427'387'904, 2).value(), kInt64Min);
  EXPECT_EQ(cch::checked_negate(kInt64Max).value(), kInt64Min + 1);
  EXPECT_EQ(cch::checked_negate(kInt64Min).error(), cch::ArithmeticError::overflow);
  EXPECT_EQ(cch::checked_negate(0).value(), 0);
}
