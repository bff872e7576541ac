#pragma once
// Quantities of compute and the exact notional of a quantity at a price.
//
// GpuCount is a delivery rate: how many GPUs are delivered during every hour of a delivery
// period. As the quantity of a trade it must be positive (make_trade_quantity checks that);
// as a net position it may be zero or negative (short).
// GpuHours is volume: GPUs x hours. A month of 744 hours at 256 GPUs is 190,464 GPU-hours.
//
// notional(price, volume, rounding) is price x GPU-hours in USD cents:
//     notional_cents = round(price_ticks x gpu_hours / 100)
// because a price tick is 10^-4 USD and a cent 10^-2 USD. The product is formed in 128 bits,
// so it is exact for every pair of int64 operands; only the final division rounds, by the
// caller's explicit rule, and a result beyond int64 cents is refused as overflow.
//
// Thread safety: plain values and pure functions; safe from any thread.

#include <compare>
#include <cstdint>
#include <iosfwd>
#include <string_view>

#include "cch/core/decimal.hpp"
#include "cch/core/money.hpp"
#include "cch/core/price.hpp"
#include "cch/core/result.hpp"

namespace cch {

struct GpuCount {
  std::int64_t gpus;
  friend auto operator<=>(const GpuCount&, const GpuCount&) = default;
};

struct GpuHours {
  std::int64_t gpu_hours;
  friend auto operator<=>(const GpuHours&, const GpuHours&) = default;
};

enum class QuantityError {
  quantity_not_positive,  // a trade quantity of zero or fewer GPUs
};
std::string_view to_string(QuantityError error);

// A GpuCount usable as the quantity of a trade: refused unless gpus > 0.
Result<GpuCount, QuantityError> make_trade_quantity(std::int64_t gpus);

// count x hours, refused with overflow when it does not fit in int64.
Result<GpuHours, ArithmeticError> gpu_hours(GpuCount count, std::int64_t hours);

// Checked sum of two volumes.
Result<GpuHours, ArithmeticError> add(GpuHours left, GpuHours right);

// price x volume in USD, rounded to cents by `rounding` (see above).
Result<Money, ArithmeticError> notional(PricePerGpuHour price, GpuHours volume, Rounding rounding);

std::ostream& operator<<(std::ostream& stream, const GpuCount& count);
std::ostream& operator<<(std::ostream& stream, const GpuHours& volume);

}  // namespace cch
