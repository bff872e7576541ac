#pragma once
// Currencies and exact amounts of money.
//
// Currency is a small value (ISO 4217 code plus the number of minor-unit digits) that can only
// be obtained for a known currency: Currency::usd(), or Currency::parse("USD"). The known
// currencies are listed in one table in money.cpp; adding EUR is one line there.
//
// Money is an integer count of the currency's minor unit (cents for USD) and its currency:
// Money{40854528, Currency::usd()} is 408,545.28 USD. No floating point anywhere.
//   - add / subtract refuse a currency mismatch and int64 overflow (MoneyError);
//   - negate refuses the one value whose negation overflows (INT64_MIN minor units);
//   - == compares amount and currency; <, <=, >, >= order amounts of one currency, and amounts
//     of different currencies are unordered (operator<=> gives partial_ordering::unordered,
//     so every ordered comparison between them is false);
//   - parse_money reads decimal text at the currency's minor digits ("12.30" USD is 1230
//     cents; "12.345" is refused as too_many_decimals), format_amount writes it back.
//
// The largest amount (kAmountMinorMax): every amount of money cch accepts as input, posts or holds
// in an account is at most 10^15 minor units in magnitude (10,000,000,000,000.00 USD): a
// collateral movement, a credit limit, a posting, an account's balance. (A trade's notional is
// computed, never held; its own bound is in registry/trades.hpp.) int64 holds 9,223 such
// amounts, so a sum of up to
// 9,223 of them (a trial balance's accounts of one kind, a member's held collateral less its
// withdrawals and credit use) cannot overflow. Callers refuse beyond it with their own reason
// (amount_too_large, balance_limit_exceeded, invalid_limit); Money itself holds any int64.
//
// Thread safety: plain values and pure functions; safe from any thread.

#include <array>
#include <compare>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "cch/core/decimal.hpp"
#include "cch/core/result.hpp"

namespace cch {

enum class CurrencyError {
  unknown_currency,  // not a code of a currency cch settles in (codes are upper case: "USD")
};
std::string_view to_string(CurrencyError error);

class Currency {
 public:
  // US dollar: 2 minor digits (cents).
  static Currency usd();
  // Only known ISO 4217 codes, exactly as written in the standard (upper case).
  static Result<Currency, CurrencyError> parse(std::string_view code);
  // "XTS", the ISO 4217 code reserved for testing, given 3 minor digits here. Tests use it for
  // currency mismatches and a scale other than 2; parse() never returns it.
  static Currency xts_for_tests();

  // Three upper-case letters, e.g. "USD".
  [[nodiscard]] std::string_view code() const { return {code_.data(), code_.size()}; }
  // Digits after the decimal point of the minor unit (2 for USD: 1 cent = 0.01 USD).
  [[nodiscard]] int minor_digits() const { return minor_digits_; }

  friend bool operator==(const Currency&, const Currency&) = default;

 private:
  Currency(std::string_view code, int minor_digits);

  std::array<char, 3> code_;
  int minor_digits_;
};

// The largest magnitude of any amount of money cch accepts or holds, in minor units (above).
inline constexpr std::int64_t kAmountMinorMax = 1'000'000'000'000'000;
static_assert(kAmountMinorMax <= INT64_MAX / 9'223, "sums of 9,223 largest amounts must fit in int64");

enum class MoneyError {
  currency_mismatch,  // an operation on amounts of two different currencies
  overflow,           // the result does not fit in int64 minor units
};
std::string_view to_string(MoneyError error);

struct Money {
  std::int64_t amount_minor;
  Currency currency;

  static Money zero(Currency currency) { return Money{0, currency}; }

  friend bool operator==(const Money&, const Money&) = default;
  // Ordered only within one currency; amounts of different currencies are unordered.
  friend std::partial_ordering operator<=>(const Money& left, const Money& right) {
    if (left.currency != right.currency) {
      return std::partial_ordering::unordered;
    }
    return left.amount_minor <=> right.amount_minor;
  }
};

Result<Money, MoneyError> add(const Money& left, const Money& right);
Result<Money, MoneyError> subtract(const Money& left, const Money& right);
Result<Money, MoneyError> negate(const Money& amount);

// Decimal text in units of the currency ("408545.28" for USD); grammar as parse_scaled_decimal.
Result<Money, DecimalError> parse_money(std::string_view amount_text, Currency currency);
// Exactly minor_digits decimals, no currency code: "408545.28", "-0.05", "0.00".
std::string format_amount(const Money& amount);
// For people and test output: "408545.28 USD".
std::string to_string(const Money& amount);
std::ostream& operator<<(std::ostream& stream, const Money& amount);
std::ostream& operator<<(std::ostream& stream, const Currency& currency);

}  // namespace cch
