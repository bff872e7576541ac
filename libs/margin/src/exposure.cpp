#include "cch/margin/exposure.hpp"

#include <algorithm>
#include <cmath>

#include "cch/core/check.hpp"
#include "cch/core/decimal.hpp"
#include "cch/core/money.hpp"
#include "cch/core/time.hpp"

namespace cch::margin {

LegExposure interim_exposure(const pricing::Leg& leg, std::int32_t rate_bp) {
  const std::int64_t hours = (leg.delivery_end.unix_microseconds() - leg.delivery_start.unix_microseconds()) / kMicrosecondsPerHour;
  CCH_CHECK(hours > 0 && leg.gpus > 0 && leg.price_ticks > 0 && rate_bp >= 1 && rate_bp <= 10'000, "a valid interim leg");
  // ticks are 10^-4 USD, 10^-2 cent: notional cents = price_ticks x GPU-hours / 100, half away from zero
  const Int128 ticks = static_cast<Int128>(leg.price_ticks) * hours * leg.gpus;
  const auto notional = divide_rounded(ticks, 100, Rounding::half_away_from_zero);
  CCH_CHECK(notional.has_value(), "a notional fits");
  const auto interim = divide_rounded(static_cast<Int128>(notional.value()) * rate_bp, 10'000, Rounding::ceiling);
  CCH_CHECK(interim.has_value(), "an interim requirement fits");
  LegExposure out;
  out.margin_class = leg.kind == pricing::ContractKind::future ? MarginClass::future : MarginClass::forward;
  out.interim_cents = interim.value();
  return out;
}

Result<LegExposure, pricing::MarkRefusal> leg_exposure(const pricing::Leg& leg, std::size_t product_index,
                                                       const pricing::ForwardCurve& forward,
                                                       const pricing::DiscountCurve& discount) {
  using pricing::MarkRefusal;
  const std::int64_t start_us = leg.delivery_start.unix_microseconds();
  const std::int64_t end_us = leg.delivery_end.unix_microseconds();
  if (start_us % kMicrosecondsPerHour != 0 || end_us % kMicrosecondsPerHour != 0 || end_us <= start_us) {
    return fail(MarkRefusal::invalid_window);
  }
  if (leg.gpus < 1 || leg.gpus > pricing::kLegGpusMax) return fail(MarkRefusal::invalid_gpus);
  LegExposure out;
  out.margin_class = leg.kind == pricing::ContractKind::future ? MarginClass::future : MarginClass::forward;
  out.product_index = product_index;
  if (leg.delivery_end <= forward.start()) return out;  // delivered in full
  if (leg.delivery_end > forward.end()) return fail(MarkRefusal::beyond_curve);
  double discount_factor = 1.0;
  if (leg.kind == pricing::ContractKind::forward) {
    if (leg.payment_date < discount.as_of()) return fail(MarkRefusal::payment_before_as_of);
    discount_factor = discount.discount(leg.payment_date);
  }
  const double side = leg.side == pricing::Side::buy ? 1.0 : -1.0;
  const std::int64_t sign = leg.side == pricing::Side::buy ? 1 : -1;
  const std::int64_t first_us = forward.start().unix_microseconds();
  const std::int64_t curve_end_us = forward.end().unix_microseconds();
  for (std::size_t b = 0; b < kBucketCount; ++b) {
    const std::int64_t bucket_start = first_us + kTenorBuckets[b].first_day * kMicrosecondsPerDay;
    const std::int64_t bucket_end =
        b + 1 == kBucketCount ? curve_end_us : first_us + kTenorBuckets[b].end_day * kMicrosecondsPerDay;
    const std::int64_t s = std::max({start_us, bucket_start, first_us});
    const std::int64_t e = std::min({end_us, bucket_end, curve_end_us});
    if (e <= s) continue;
    const std::int64_t hours = (e - s) / kMicrosecondsPerHour;
    const double price = forward.average(UtcTimestamp(s), UtcTimestamp(e));
    const double value_usd = side * price * static_cast<double>(hours * leg.gpus) * discount_factor;
    if (!(std::abs(value_usd * 100.0) <= static_cast<double>(kAmountMinorMax))) return fail(MarkRefusal::amount_too_large);
    out.exposure_cents[b] = pricing::usd_to_cents(value_usd);
    out.net_gpu_hours[b] = sign * hours * leg.gpus;
  }
  return out;
}

}  // namespace cch::margin
