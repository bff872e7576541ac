#include "cch/core/quantity.hpp"

#include <cassert>
#include <ostream>

namespace cch {

std::string_view to_string(QuantityError error) {
  switch (error) {
    case QuantityError::quantity_not_positive:
      return "quantity_not_positive";
  }
  assert(false && "unknown QuantityError");
  return "unknown";
}

Result<GpuCount, QuantityError> make_trade_quantity(std::int64_t gpus) {
  if (gpus <= 0) {
    return fail(QuantityError::quantity_not_positive);
  }
  return GpuCount{gpus};
}

Result<GpuHours, ArithmeticError> gpu_hours(GpuCount count, std::int64_t hours) {
  const auto product = checked_multiply(count.gpus, hours);
  if (!product) {
    return fail(product.error());
  }
  return GpuHours{*product};
}

Result<GpuHours, ArithmeticError> add(GpuHours left, GpuHours right) {
  const auto sum = checked_add(left.gpu_hours, right.gpu_hours);
  if (!sum) {
    return fail(sum.error());
  }
  return GpuHours{*sum};
}

Result<Money, ArithmeticError> notional(PricePerGpuHour price, GpuHours volume, Rounding rounding) {
  const Currency usd = Currency::usd();
  static_assert(kPriceScale >= 2, "a price tick must not be coarser than a cent");
  // |price_ticks x gpu_hours| <= 2^126, so the 128-bit product is exact.
  const Int128 notional_price_ticks = Int128{price.price_ticks} * Int128{volume.gpu_hours};
  const Int128 ticks_per_minor_unit = power_of_ten(kPriceScale - usd.minor_digits());
  const auto amount_minor = divide_rounded(notional_price_ticks, ticks_per_minor_unit, rounding);
  if (!amount_minor) {
    return fail(amount_minor.error());
  }
  return Money{*amount_minor, usd};
}

std::ostream& operator<<(std::ostream& stream, const GpuCount& count) {
  return stream << count.gpus << " GPUs";
}

std::ostream& operator<<(std::ostream& stream, const GpuHours& volume) {
  return stream << volume.gpu_hours << " GPU-hours";
}

}  // namespace cch
