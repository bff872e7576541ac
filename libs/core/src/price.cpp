#include "cch/core/price.hpp"

#include <cassert>
#include <ostream>

namespace cch {

Result<PricePerGpuHour, DecimalError> PricePerGpuHour::parse(std::string_view text) {
  const auto price_ticks = parse_scaled_decimal(text, kPriceScale);
  if (!price_ticks) {
    return fail(price_ticks.error());
  }
  return PricePerGpuHour{*price_ticks};
}

std::string PricePerGpuHour::format() const {
  return format_scaled_decimal(price_ticks, kPriceScale);
}

bool PricePerGpuHour::is_multiple_of(PricePerGpuHour tick_size) const {
  assert(tick_size.price_ticks > 0 && "is_multiple_of: tick size must be positive");
  return price_ticks % tick_size.price_ticks == 0;
}

std::ostream& operator<<(std::ostream& stream, const PricePerGpuHour& price) {
  return stream << price.format() << " USD/GPU-hour";
}

}  // namespace cch
