#pragma once
// Exact decimals as scaled integers, checked integer arithmetic and explicit rounding.
//
// A decimal amount is held as a signed 64-bit count of units of 10^-scale: with scale 2,
// "12.34" is 1234 units. No floating point is used anywhere, so every value that fits round-trips
// exactly between text and integer.
//
// Text grammar accepted by parse_scaled_decimal (strict, for amounts received from clients):
//     decimal  = [ "-" ] digits [ "." digits ]        digits = one or more of 0-9
// No "+", no whitespace, no leading or trailing ".", no exponent, at most 64 characters.
// Leading zeros in the integer part are accepted ("007.50"). Fractional digits beyond `scale`
// are accepted only when they are all zeros ("1.2300" at scale 2 is 123); any other extra
// digit is refused rather than rounded, because silently rounding a client's amount is a loss
// of precision. "-0" and "-0.00" are zero. Refusals are checked in this order: empty,
// too_long (so a 1 MB string costs nothing), grammar (exponent_not_allowed, malformed),
// too_many_decimals, out_of_range.
//
// Rounding (divide_rounded): the exact quotient q = numerator / denominator is rounded to an
// integer by one of the rules below. "Tie" means the discarded part is exactly one half.
//   half_even            nearest integer; ties to the even neighbour    ( 2.5 -> 2,  3.5 -> 4, -2.5 -> -2)
//   half_away_from_zero  nearest integer; ties away from zero           ( 2.5 -> 3, -2.5 -> -3)
//   toward_zero          drop the fraction                              ( 2.7 -> 2, -2.7 -> -2)
//   floor                largest integer <= q (toward minus infinity)   ( 2.7 -> 2, -2.2 -> -3)
//   ceiling              smallest integer >= q (toward plus infinity)   ( 2.2 -> 3, -2.7 -> -2)
// Exact quotients are never changed by any rule.
//
// Error channels: malformed text and arithmetic that does not fit are refusals returned as
// Result; a scale outside [0, kDecimalScaleMax] is a programmer error (assertion).
//
// Thread safety: every function here is pure (no shared state) and may be called from any thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cch/core/result.hpp"

namespace cch {

// 128-bit integers for exact intermediates (GCC extension; __extension__ keeps -Wpedantic quiet).
__extension__ using Int128 = __int128;
__extension__ using UInt128 = unsigned __int128;

// Longest decimal text parse_scaled_decimal looks at; longer text is refused as too_long.
inline constexpr std::size_t kDecimalTextLengthMax = 64;
// Largest supported scale: 10^18 is the largest power of ten that fits in an int64.
inline constexpr int kDecimalScaleMax = 18;

// Why decimal text was refused. to_string gives the stable reason code (the enumerator name).
enum class DecimalError {
  empty,                 // ""
  too_long,              // more than kDecimalTextLengthMax characters
  malformed,             // not [-]digits[.digits]: "+1", " 1", "1.", ".5", "1.2.3", "1,5", "--1"
  exponent_not_allowed,  // "1e5", "1.5E-3"
  too_many_decimals,     // a non-zero digit beyond the allowed scale: "1.005" at scale 2
  out_of_range,          // the scaled value does not fit in an int64
};
std::string_view to_string(DecimalError error);

// Why checked arithmetic was refused.
enum class ArithmeticError {
  overflow,          // the exact result does not fit in the result type
  division_by_zero,  // divide_rounded with a zero denominator
};
std::string_view to_string(ArithmeticError error);

// How divide_rounded turns an exact quotient into an integer (see the table above).
enum class Rounding { half_even, half_away_from_zero, toward_zero, floor, ceiling };
std::string_view to_string(Rounding rounding);

// 10^exponent for 0 <= exponent <= kDecimalScaleMax.
std::int64_t power_of_ten(int exponent);

// Parses `text` (grammar above) into units of 10^-scale. Precondition: 0 <= scale <= 18.
Result<std::int64_t, DecimalError> parse_scaled_decimal(std::string_view text, int scale);

// Formats units of 10^-scale with exactly `scale` decimals (no "." when scale is 0), a leading
// "-" for negative values and never "-0". Handles INT64_MIN. Precondition: 0 <= scale <= 18.
// The output always parses back to `units` at the same scale.
std::string format_scaled_decimal(std::int64_t units, int scale);

// numerator / denominator rounded by `rounding`; refused if the denominator is zero or the
// rounded quotient does not fit in an int64. Exact for every pair of 128-bit operands.
Result<std::int64_t, ArithmeticError> divide_rounded(Int128 numerator, Int128 denominator, Rounding rounding);

// Exact int64 arithmetic; refused with ArithmeticError::overflow when the result does not fit.
Result<std::int64_t, ArithmeticError> checked_add(std::int64_t left, std::int64_t right);
Result<std::int64_t, ArithmeticError> checked_subtract(std::int64_t left, std::int64_t right);
Result<std::int64_t, ArithmeticError> checked_multiply(std::int64_t left, std::int64_t right);
Result<std::int64_t, ArithmeticError> checked_negate(std::int64_t value);

}  // namespace cch
