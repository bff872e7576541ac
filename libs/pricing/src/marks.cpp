#include "cch/pricing/marks.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "cch/core/check.hpp"
#include "cch/core/money.hpp"
#include "cch/core/price.hpp"

namespace cch::pricing {

namespace {

constexpr double kTicksPerUsd = 10'000.0;
constexpr double kCentsPerUsd = 100.0;

}  // namespace

std::string_view to_string(Side side) {
  switch (side) {
    case Side::buy:
      return "buy";
    case Side::sell:
      return "sell";
  }
  return "unknown";
}

std::string_view to_string(ContractKind kind) {
  switch (kind) {
    case ContractKind::forward:
      return "forward";
    case ContractKind::future:
      return "future";
  }
  return "unknown";
}

std::string_view to_string(MarkRefusal refusal) {
  switch (refusal) {
    case MarkRefusal::invalid_window:
      return "invalid_window";
    case MarkRefusal::invalid_gpus:
      return "invalid_gpus";
    case MarkRefusal::invalid_price:
      return "invalid_price";
    case MarkRefusal::beyond_curve:
      return "beyond_curve";
    case MarkRefusal::payment_before_as_of:
      return "payment_before_as_of";
    case MarkRefusal::amount_too_large:
      return "amount_too_large";
  }
  return "unknown";
}

std::int64_t usd_to_cents(double amount_usd) {
  const double cents = amount_usd * kCentsPerUsd;
  CCH_CHECK(std::abs(cents) <= static_cast<double>(kAmountMinorMax), "a mark beyond the largest amount");
  return std::llround(cents);
}

BusinessDate forward_payment_date(UtcTimestamp delivery_end, BusinessDate as_of, const BusinessCalendar& clearing_calendar) {
  // The UTC date of the window's end instant (docs/curves.md, "The payment date").
  const BusinessDate end_day = BusinessDate::containing(delivery_end);
  const auto payment = clearing_calendar.advance(end_day, kPaymentLagBusinessDays);
  return std::max(payment ? *payment : end_day, as_of);
}

Result<LegMark, MarkRefusal> mark_leg(const Leg& leg, BusinessDate as_of, const ForwardCurve& forward,
                                      const DiscountCurve& discount) {
  assert(days_between(as_of, forward.first_day()) == 1 && "the forward curve starts the day after the as-of date");
  assert(discount.as_of() == as_of && "the discount curve is of the as-of date");
  const std::int64_t start_us = leg.delivery_start.unix_microseconds();
  const std::int64_t end_us = leg.delivery_end.unix_microseconds();
  if (start_us % kMicrosecondsPerHour != 0 || end_us % kMicrosecondsPerHour != 0 || end_us <= start_us) {
    return fail(MarkRefusal::invalid_window);
  }
  if (leg.gpus < 1 || leg.gpus > kLegGpusMax) {
    return fail(MarkRefusal::invalid_gpus);
  }
  if (leg.price_ticks > kPriceTicksMax || leg.price_ticks < -kPriceTicksMax) {
    return fail(MarkRefusal::invalid_price);
  }
  if (leg.delivery_end <= forward.start()) {
    return LegMark{leg.leg_id, 0.0, 1.0, 0, 0};  // delivered in full: nothing left to mark
  }
  if (leg.delivery_end > forward.end()) {
    return fail(MarkRefusal::beyond_curve);
  }
  const UtcTimestamp marked_start = std::max(leg.delivery_start, forward.start());
  const std::int64_t marked_hours = (end_us - marked_start.unix_microseconds()) / kMicrosecondsPerHour;
  const std::int64_t gpu_hours = leg.gpus * marked_hours;  // at most 10^6 x 87,840
  const double forward_price = forward.average(marked_start, leg.delivery_end);
  double discount_factor = 1.0;
  if (leg.kind == ContractKind::forward) {
    if (leg.payment_date < as_of) {
      return fail(MarkRefusal::payment_before_as_of);
    }
    discount_factor = discount.discount(leg.payment_date);
  }
  const double side = leg.side == Side::buy ? 1.0 : -1.0;
  const double contract_price = static_cast<double>(leg.price_ticks) / kTicksPerUsd;
  const double pv_usd = side * (forward_price - contract_price) * static_cast<double>(gpu_hours) * discount_factor;
  if (!(std::abs(pv_usd * kCentsPerUsd) <= static_cast<double>(kAmountMinorMax))) {
    return fail(MarkRefusal::amount_too_large);
  }
  return LegMark{leg.leg_id, forward_price, discount_factor, gpu_hours, usd_to_cents(pv_usd)};
}

}  // namespace cch::pricing
