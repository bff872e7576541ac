#pragma once
// Prices of compute in USD per GPU-hour, exact.
//
// A PricePerGpuHour is an integer count of price ticks, where
//     1 price tick = 0.0001 USD per GPU-hour        (kPriceScale = 4 decimals)
// so "2.1450" USD per GPU-hour is 21450 ticks. Every price cch stores, receives or publishes
// uses this one scale; a product's tick size (the smallest price step it trades in, e.g.
// 0.0050) is itself a PricePerGpuHour and is checked with is_multiple_of.
// Prices are signed: a trade price is positive (products enforce that), but price
// differences, such as a mark minus a trade price, are negative as often as positive.
// Prices are quoted in USD; notional() (quantity.hpp) turns price x GPU-hours into USD Money.
// The largest price cch accepts (a trade's, a reference price) is kPriceTicksMax, 1,000.0000 USD
// per GPU-hour: several hundred times what GPU compute costs, and small enough that the notional
// of the largest trade (quantity.hpp) is far inside int64.
//
// Thread safety: a plain value and pure functions; safe from any thread.

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "cch/core/decimal.hpp"
#include "cch/core/result.hpp"

namespace cch {

// Decimals of a price in USD per GPU-hour: 1 tick = 10^-4 USD per GPU-hour.
inline constexpr int kPriceScale = 4;

// The largest price accepted anywhere: 1,000.0000 USD per GPU-hour.
inline constexpr std::int64_t kPriceTicksMax = 10'000'000;

struct PricePerGpuHour {
  std::int64_t price_ticks;

  // Decimal text in USD per GPU-hour, at most 4 significant decimals ("2.145", "2.1450",
  // "2.14500" are all 21450 ticks; "2.14501" is too_many_decimals). Grammar as
  // parse_scaled_decimal.
  static Result<PricePerGpuHour, DecimalError> parse(std::string_view text);

  // Always four decimals: "2.1450", "-0.0050", "0.0000".
  [[nodiscard]] std::string format() const;

  // Whether this price is a whole number of steps of `tick_size` (a product's tick size).
  // Precondition: tick_size.price_ticks > 0.
  [[nodiscard]] bool is_multiple_of(PricePerGpuHour tick_size) const;

  friend auto operator<=>(const PricePerGpuHour&, const PricePerGpuHour&) = default;
};

std::ostream& operator<<(std::ostream& stream, const PricePerGpuHour& price);

}  // namespace cch
