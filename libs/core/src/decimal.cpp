#include "cch/core/decimal.hpp"

#include <array>
#include <cassert>
#include <limits>

namespace cch {

namespace {

constexpr std::uint64_t kInt64MaxMagnitude = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
constexpr std::uint64_t kInt64MinMagnitude = kInt64MaxMagnitude + 1;  // |INT64_MIN| = 2^63

constexpr std::array<std::int64_t, kDecimalScaleMax + 1> kPowersOfTen = [] {
  std::array<std::int64_t, kDecimalScaleMax + 1> powers{};
  powers[0] = 1;
  for (std::size_t exponent = 1; exponent < powers.size(); ++exponent) {
    powers[exponent] = powers[exponent - 1] * 10;
  }
  return powers;
}();

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

[[maybe_unused]] bool is_valid_scale(int scale) {
  return scale >= 0 && scale <= kDecimalScaleMax;
}

// The refusal for a grammar violation found at `position`: an 'e' or 'E' right after a digit
// is an attempted exponent; anything else is simply malformed.
DecimalError grammar_error_at(std::string_view text, std::size_t position) {
  if (position < text.size() && position > 0 && (text[position] == 'e' || text[position] == 'E') &&
      is_digit(text[position - 1])) {
    return DecimalError::exponent_not_allowed;
  }
  return DecimalError::malformed;
}

// Appends one decimal digit to `magnitude`; false when the result no longer fits in 64 bits.
bool append_digit(std::uint64_t& magnitude, char digit) {
  const auto digit_value = static_cast<std::uint64_t>(digit - '0');
  return !__builtin_mul_overflow(magnitude, std::uint64_t{10}, &magnitude) &&
         !__builtin_add_overflow(magnitude, digit_value, &magnitude);
}

// Magnitude of a signed value as an unsigned one, defined for the most negative value too.
std::uint64_t magnitude_of(std::int64_t value) {
  return value < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(value) : static_cast<std::uint64_t>(value);
}

UInt128 magnitude_of(Int128 value) {
  return value < 0 ? UInt128{0} - static_cast<UInt128>(value) : static_cast<UInt128>(value);
}

// Applies a sign to a magnitude; false when the signed value does not fit in an int64.
bool to_signed(std::uint64_t magnitude, bool negative, std::int64_t& out) {
  if (negative) {
    if (magnitude > kInt64MinMagnitude) {
      return false;
    }
    out = magnitude == kInt64MinMagnitude ? std::numeric_limits<std::int64_t>::min()
                                          : -static_cast<std::int64_t>(magnitude);
    return true;
  }
  if (magnitude > kInt64MaxMagnitude) {
    return false;
  }
  out = static_cast<std::int64_t>(magnitude);
  return true;
}

// Whether a truncated quotient moves one step away from zero under `rounding`, given the
// remainder and the distance from the remainder to the next multiple of the divisor.
bool rounds_away_from_zero(Rounding rounding, bool negative, UInt128 quotient, UInt128 remainder,
                           UInt128 distance_to_next) {
  if (remainder == 0) {
    return false;
  }
  switch (rounding) {
    case Rounding::toward_zero:
      return false;
    case Rounding::floor:
      return negative;
    case Rounding::ceiling:
      return !negative;
    case Rounding::half_away_from_zero:
      return remainder >= distance_to_next;
    case Rounding::half_even:
      return remainder > distance_to_next || (remainder == distance_to_next && (quotient & 1U) == 1U);
  }
  assert(false && "unknown Rounding");
  return false;
}

}  // namespace

std::string_view to_string(DecimalError error) {
  switch (error) {
    case DecimalError::empty:
      return "empty";
    case DecimalError::too_long:
      return "too_long";
    case DecimalError::malformed:
      return "malformed";
    case DecimalError::exponent_not_allowed:
      return "exponent_not_allowed";
    case DecimalError::too_many_decimals:
      return "too_many_decimals";
    case DecimalError::out_of_range:
      return "out_of_range";
  }
  assert(false && "unknown DecimalError");
  return "unknown";
}

std::string_view to_string(ArithmeticError error) {
  switch (error) {
    case ArithmeticError::overflow:
      return "overflow";
    case ArithmeticError::division_by_zero:
      return "division_by_zero";
  }
  assert(false && "unknown ArithmeticError");
  return "unknown";
}

std::string_view to_string(Rounding rounding) {
  switch (rounding) {
    case Rounding::half_even:
      return "half_even";
    case Rounding::half_away_from_zero:
      return "half_away_from_zero";
    case Rounding::toward_zero:
      return "toward_zero";
    case Rounding::floor:
      return "floor";
    case Rounding::ceiling:
      return "ceiling";
  }
  assert(false && "unknown Rounding");
  return "unknown";
}

std::int64_t power_of_ten(int exponent) {
  assert(is_valid_scale(exponent) && "power_of_ten: exponent outside [0, 18]");
  return kPowersOfTen[static_cast<std::size_t>(exponent)];
}

Result<std::int64_t, DecimalError> parse_scaled_decimal(std::string_view text, int scale) {
  assert(is_valid_scale(scale) && "parse_scaled_decimal: scale outside [0, 18]");
  if (text.empty()) {
    return fail(DecimalError::empty);
  }
  if (text.size() > kDecimalTextLengthMax) {
    return fail(DecimalError::too_long);
  }

  const bool negative = text.front() == '-';
  std::size_t position = negative ? 1 : 0;
  const std::size_t integer_begin = position;
  while (position < text.size() && is_digit(text[position])) {
    ++position;
  }
  if (position == integer_begin) {
    return fail(grammar_error_at(text, position));
  }
  const std::string_view integer_digits = text.substr(integer_begin, position - integer_begin);

  std::string_view fraction_digits;
  if (position < text.size() && text[position] == '.') {
    ++position;
    const std::size_t fraction_begin = position;
    while (position < text.size() && is_digit(text[position])) {
      ++position;
    }
    if (position == fraction_begin) {
      return fail(grammar_error_at(text, position));
    }
    fraction_digits = text.substr(fraction_begin, position - fraction_begin);
  }
  if (position != text.size()) {
    return fail(grammar_error_at(text, position));
  }

  const auto scale_digits = static_cast<std::size_t>(scale);
  if (fraction_digits.size() > scale_digits &&
      fraction_digits.find_first_not_of('0', scale_digits) != std::string_view::npos) {
    return fail(DecimalError::too_many_decimals);
  }

  std::uint64_t magnitude = 0;
  for (const char digit : integer_digits) {
    if (!append_digit(magnitude, digit)) {
      return fail(DecimalError::out_of_range);
    }
  }
  for (std::size_t index = 0; index < scale_digits; ++index) {
    const char digit = index < fraction_digits.size() ? fraction_digits[index] : '0';
    if (!append_digit(magnitude, digit)) {
      return fail(DecimalError::out_of_range);
    }
  }

  std::int64_t units = 0;
  if (!to_signed(magnitude, negative, units)) {
    return fail(DecimalError::out_of_range);
  }
  return units;  // "-0" gives magnitude 0 and therefore plain 0.
}

std::string format_scaled_decimal(std::int64_t units, int scale) {
  assert(is_valid_scale(scale) && "format_scaled_decimal: scale outside [0, 18]");
  const std::uint64_t magnitude = magnitude_of(units);
  const auto divisor = static_cast<std::uint64_t>(power_of_ten(scale));
  const std::uint64_t integer_part = magnitude / divisor;
  const std::uint64_t fraction_part = magnitude % divisor;

  std::string text;
  text.reserve(24);
  if (units < 0) {
    text.push_back('-');
  }
  text += std::to_string(integer_part);
  if (scale > 0) {
    const std::string fraction_text = std::to_string(fraction_part);
    text.push_back('.');
    text.append(static_cast<std::size_t>(scale) - fraction_text.size(), '0');
    text += fraction_text;
  }
  return text;
}

Result<std::int64_t, ArithmeticError> divide_rounded(Int128 numerator, Int128 denominator, Rounding rounding) {
  if (denominator == 0) {
    return fail(ArithmeticError::division_by_zero);
  }
  const bool negative = (numerator < 0) != (denominator < 0);
  const UInt128 numerator_magnitude = magnitude_of(numerator);
  const UInt128 denominator_magnitude = magnitude_of(denominator);
  UInt128 quotient = numerator_magnitude / denominator_magnitude;
  const UInt128 remainder = numerator_magnitude % denominator_magnitude;
  // A non-zero remainder implies a divisor of at least 2, so the quotient is below 2^127 and
  // adding one cannot wrap.
  if (rounds_away_from_zero(rounding, negative, quotient, remainder, denominator_magnitude - remainder)) {
    quotient += 1;
  }
  if (quotient > kInt64MinMagnitude) {
    return fail(ArithmeticError::overflow);
  }
  std::int64_t result = 0;
  if (!to_signed(static_cast<std::uint64_t>(quotient), negative, result)) {
    return fail(ArithmeticError::overflow);
  }
  return result;
}

Result<std::int64_t, ArithmeticError> checked_add(std::int64_t left, std::int64_t right) {
  std::int64_t result = 0;
  if (__builtin_add_overflow(left, right, &result)) {
    return fail(ArithmeticError::overflow);
  }
  return result;
}

Result<std::int64_t, ArithmeticError> checked_subtract(std::int64_t left, std::int64_t right) {
  std::int64_t result = 0;
  if (__builtin_sub_overflow(left, right, &result)) {
    return fail(ArithmeticError::overflow);
  }
  return result;
}

Result<std::int64_t, ArithmeticError> checked_multiply(std::int64_t left, std::int64_t right) {
  std::int64_t result = 0;
  if (__builtin_mul_overflow(left, right, &result)) {
    return fail(ArithmeticError::overflow);
  }
  return result;
}

Result<std::int64_t, ArithmeticError> checked_negate(std::int64_t value) {
  return checked_subtract(0, value);
}

}  // namespace cch
