#include "cch/core/money.hpp"

#include <cassert>
#include <ostream>

namespace cch {

namespace {

struct KnownCurrency {
  std::string_view code;
  int minor_digits;
};

// The currencies cch settles in. To add one, add its ISO 4217 code and minor digits here
// (for example {"EUR", 2}) and a test beside CurrencyParsesOnlyKnownCodes.
constexpr std::array kKnownCurrencies = {
    KnownCurrency{"USD", 2},
};

}  // namespace

std::string_view to_string(CurrencyError error) {
  switch (error) {
    case CurrencyError::unknown_currency:
      return "unknown_currency";
  }
  assert(false && "unknown CurrencyError");
  return "unknown";
}

std::string_view to_string(MoneyError error) {
  switch (error) {
    case MoneyError::currency_mismatch:
      return "currency_mismatch";
    case MoneyError::overflow:
      return "overflow";
  }
  assert(false && "unknown MoneyError");
  return "unknown";
}

Currency::Currency(std::string_view code, int minor_digits) : code_{}, minor_digits_(minor_digits) {
  assert(code.size() == code_.size() && "Currency: code must have three letters");
  assert(minor_digits >= 0 && minor_digits <= kDecimalScaleMax && "Currency: minor digits outside [0, 18]");
  code.copy(code_.data(), code_.size());
}

Currency Currency::usd() {
  return Currency("USD", 2);
}

Currency Currency::xts_for_tests() {
  return Currency("XTS", 3);
}

Result<Currency, CurrencyError> Currency::parse(std::string_view code) {
  for (const KnownCurrency& known : kKnownCurrencies) {
    if (known.code == code) {
      return Currency(known.code, known.minor_digits);
    }
  }
  return fail(CurrencyError::unknown_currency);
}

Result<Money, MoneyError> add(const Money& left, const Money& right) {
  if (left.currency != right.currency) {
    return fail(MoneyError::currency_mismatch);
  }
  const auto sum = checked_add(left.amount_minor, right.amount_minor);
  if (!sum) {
    return fail(MoneyError::overflow);
  }
  return Money{*sum, left.currency};
}

Result<Money, MoneyError> subtract(const Money& left, const Money& right) {
  if (left.currency != right.currency) {
    return fail(MoneyError::currency_mismatch);
  }
  const auto difference = checked_subtract(left.amount_minor, right.amount_minor);
  if (!difference) {
    return fail(MoneyError::overflow);
  }
  return Money{*difference, left.currency};
}

Result<Money, MoneyError> negate(const Money& amount) {
  const auto negated = checked_negate(amount.amount_minor);
  if (!negated) {
    return fail(MoneyError::overflow);
  }
  return Money{*negated, amount.currency};
}

Result<Money, DecimalError> parse_money(std::string_view amount_text, Currency currency) {
  const auto amount_minor = parse_scaled_decimal(amount_text, currency.minor_digits());
  if (!amount_minor) {
    return fail(amount_minor.error());
  }
  return Money{*amount_minor, currency};
}

std::string format_amount(const Money& amount) {
  return format_scaled_decimal(amount.amount_minor, amount.currency.minor_digits());
}

std::string to_string(const Money& amount) {
  std::string text = format_amount(amount);
  text.push_back(' ');
  text += amount.currency.code();
  return text;
}

std::ostream& operator<<(std::ostream& stream, const Money& amount) {
  return stream << to_string(amount);
}

std::ostream& operator<<(std::ostream& stream, const Currency& currency) {
  return stream << currency.code();
}

}  // namespace cch
