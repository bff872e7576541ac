// libFuzzer target: exact decimals (cch::parse_scaled_decimal, format_scaled_decimal) and the
// money and price parsers built on them.
//
// Properties, for every scale 0..kDecimalScaleMax (any violation aborts):
//   - parse_scaled_decimal agrees with an independent model of the grammar in decimal.hpp: the
//     same acceptance, the same value, the same class of refusal (empty, too_long, grammar,
//     too_many_decimals, out_of_range);
//   - round trip: text that parses to v formats to a text that parses to v again, and that
//     formatted text is canonical (formatting its value gives it back);
//   - no precision is lost: if text is v at scale s, it is 10*v at scale s+1 (or out_of_range);
//   - every int64 (the first 8 bytes of the input) formats to a text that parses back to it;
//   - parse_money (USD, 2 digits; XTS, 3 digits) and PricePerGpuHour::parse (4 digits) are
//     parse_scaled_decimal at their scale, and format_amount / format round-trip exactly.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "cch/core/decimal.hpp"
#include "cch/core/money.hpp"
#include "cch/core/price.hpp"
#include "fuzz_check.hpp"

namespace {

using cch::fuzz::check;

enum class Expected { value, empty, too_long, grammar, too_many_decimals, out_of_range };

struct Model {
  Expected outcome = Expected::grammar;
  std::int64_t units = 0;
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// decimal = [ "-" ] digits [ "." digits ], at most 64 characters, computed in 128 bits.
Model model_parse(std::string_view text, int scale) {
  if (text.empty())
    return {Expected::empty};
  if (text.size() > cch::kDecimalTextLengthMax)
    return {Expected::too_long};
  std::size_t position = 0;
  const bool negative = text[0] == '-';
  if (negative)
    ++position;
  const std::size_t integer_begin = position;
  while (position < text.size() && is_digit(text[position]))
    ++position;
  const std::string_view integer_digits = text.substr(integer_begin, position - integer_begin);
  if (integer_digits.empty())
    return {Expected::grammar};
  std::string_view fraction_digits;
  if (position < text.size() && text[position] == '.') {
    const std::size_t fraction_begin = ++position;
    while (position < text.size() && is_digit(text[position]))
      ++position;
    fraction_digits = text.substr(fraction_begin, position - fraction_begin);
    if (fraction_digits.empty())
      return {Expected::grammar};
  }
  if (position != text.size())
    return {Expected::grammar};

  const auto scale_digits = static_cast<std::size_t>(scale);
  for (std::size_t index = scale_digits; index < fraction_digits.size(); ++index) {
    if (fraction_digits[index] != '0')
      return {Expected::too_many_decimals};
  }
  // Saturate far above 2^63 so that any number of leading digits stays comparable.
  constexpr cch::UInt128 saturated = cch::UInt128{1} << 100U;
  cch::UInt128 magnitude = 0;
  const auto append = [&magnitude](char digit) {
    magnitude = magnitude >= saturated ? saturated : magnitude * 10 + static_cast<unsigned>(digit - '0');
  };
  for (const char digit : integer_digits)
    append(digit);
  for (std::size_t index = 0; index < scale_digits; ++index)
    append(index < fraction_digits.size() ? fraction_digits[index] : '0');

  const cch::UInt128 limit = negative ? (cch::UInt128{1} << 63U) : (cch::UInt128{1} << 63U) - 1;
  if (magnitude > limit)
    return {Expected::out_of_range};
  const auto signed_magnitude = static_cast<cch::Int128>(magnitude);
  return {Expected::value, static_cast<std::int64_t>(negative ? -signed_magnitude : signed_magnitude)};
}

Expected classify(cch::DecimalError error) {
  switch (error) {
    case cch::DecimalError::empty:
      return Expected::empty;
    case cch::DecimalError::too_long:
      return Expected::too_long;
    case cch::DecimalError::malformed:
    case cch::DecimalError::exponent_not_allowed:
      return Expected::grammar;
    case cch::DecimalError::too_many_decimals:
      return Expected::too_many_decimals;
    case cch::DecimalError::out_of_range:
      return Expected::out_of_range;
  }
  return Expected::grammar;
}

void check_round_trip(std::int64_t units, int scale) {
  const std::string text = cch::format_scaled_decimal(units, scale);
  const auto reparsed = cch::parse_scaled_decimal(text, scale);
  check(reparsed.has_value() && *reparsed == units, "format_scaled_decimal parses back to the same units");
  check(cch::format_scaled_decimal(*reparsed, scale) == text, "the formatted text is canonical");
}

void check_text(std::string_view text) {
  for (int scale = 0; scale <= cch::kDecimalScaleMax; ++scale) {
    const auto parsed = cch::parse_scaled_decimal(text, scale);
    const Model model = model_parse(text, scale);
    if (parsed) {
      check(model.outcome == Expected::value && model.units == *parsed,
            "parse_scaled_decimal accepts exactly the grammar, with the exact value");
      check_round_trip(*parsed, scale);
      if (scale < cch::kDecimalScaleMax) {
        const auto finer = cch::parse_scaled_decimal(text, scale + 1);
        if (finer) {
          check(*finer / 10 == *parsed && *finer % 10 == 0, "one more decimal place is ten times the units");
        } else {
          check(finer.error() == cch::DecimalError::out_of_range,
                "a value that parses at scale s parses at s+1 unless it no longer fits");
        }
      }
    } else {
      check(model.outcome == classify(parsed.error()), "parse_scaled_decimal refuses for the documented reason");
    }
  }

  for (const auto currency : {cch::Currency::usd(), cch::Currency::xts_for_tests()}) {
    const auto money = cch::parse_money(text, currency);
    const auto units = cch::parse_scaled_decimal(text, currency.minor_digits());
    check(money.has_value() == units.has_value(), "parse_money is parse_scaled_decimal at the minor digits");
    if (money) {
      check(money->amount_minor == *units && money->currency == currency, "parse_money keeps value and currency");
      const auto again = cch::parse_money(cch::format_amount(*money), currency);
      check(again.has_value() && *again == *money, "format_amount parses back to the same Money");
    } else {
      check(money.error() == units.error(), "parse_money refuses as parse_scaled_decimal does");
    }
  }

  const auto price = cch::PricePerGpuHour::parse(text);
  const auto ticks = cch::parse_scaled_decimal(text, cch::kPriceScale);
  check(price.has_value() == ticks.has_value(), "PricePerGpuHour::parse is parse_scaled_decimal at scale 4");
  if (price) {
    check(price->price_ticks == *ticks, "PricePerGpuHour::parse keeps the ticks");
    const auto again = cch::PricePerGpuHour::parse(price->format());
    check(again.has_value() && *again == *price, "PricePerGpuHour::format parses back to the same price");
  } else {
    check(price.error() == ticks.error(), "PricePerGpuHour::parse refuses as parse_scaled_decimal does");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_text(cch::fuzz::as_text(data, size));
  if (size >= sizeof(std::int64_t)) {
    std::int64_t units = 0;
    std::memcpy(&units, data, sizeof units);
    for (int scale = 0; scale <= cch::kDecimalScaleMax; ++scale)
      check_round_trip(units, scale);
  }
  return 0;
}
