#pragma once
// Marks: the present value of a cleared leg at the curves of one business date. Pure arithmetic.
//
// The marked part of a leg is what is still to be delivered: the hours of its delivery window
// on or after the forward curve's first day (00:00 UTC of the as-of date + 1 day). Hours before
// it were delivered (and settled) already. A leg with no hours left marks to zero: gpu_hours 0,
// pv_minor 0, forward_price_usd 0 and discount_factor 1 (nothing is priced or discounted).
// Otherwise, with
//     F = the forward curve's hour-weighted average price over the marked part (USD per GPU-hour)
//     K = the leg's price, price_ticks / 10^4 (USD per GPU-hour)
//     Q = gpus x marked hours (GPU-hours)
//     side = +1 for buy, -1 for sell (the member's side against the clearinghouse)
// the value in USD is
//     forward:  PV = side x (F - K) x Q x DF(payment_date)   (paid once, on the payment date)
//     future:   PV = side x (F - K) x Q                       (settled daily: undiscounted, DF = 1)
// and its amount in cents is std::llround(PV x 100): to the nearest cent, a tie away from zero,
// computed in double (the one rounding of a mark; a tie needs PV x 100 to be exactly n + 0.5 in
// double, which prices in ticks rarely make). The payment date is the caller's: the contract's
// settlement date of the delivery.
//
// Refusals (MarkRefusal), checked in this order: invalid_window (the delivery window not on
// whole hours or not ending after it starts), invalid_gpus (gpus outside 1..kLegGpusMax),
// invalid_price (|price_ticks| above kPriceTicksMax), beyond_curve (the window ends after the
// forward curve's last day), payment_before_as_of (a forward paid before the as-of date while
// hours are left), amount_too_large (|PV| above kAmountMinorMax cents, money.hpp).
// Preconditions (asserted): the forward curve's first day is the as-of date + 1 and the
// discount curve's as-of date is the as-of date.
//
// Cost: O(log of the discount curve's nodes), no allocation and no QuantLib per leg (the
// benchmark is tests/bench/curves_bench.cpp). A caller marking many legs of one payment date may
// cache its discount factor; discount() is cheap anyway.
//
// Thread safety: pure functions of immutable curves; safe from any thread.

#include <cstdint>
#include <string_view>

#include "cch/core/calendar.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/pricing/discount_curve.hpp"
#include "cch/pricing/forward_curve.hpp"

namespace cch::pricing {

enum class Side { buy, sell };
enum class ContractKind { forward, future };
std::string_view to_string(Side side);
std::string_view to_string(ContractKind kind);

inline constexpr std::int64_t kLegGpusMax = 1'000'000;

// A bilateral forward pays (F - K) x Q kPaymentLagBusinessDays business days of the clearing
// calendar after the UTC date of its delivery window's end instant, and never before the as-of date (a window
// ending today or earlier is paid as of today). Marks, variation margin and initial margin's
// exposures all discount to this date.
inline constexpr int kPaymentLagBusinessDays = 2;
BusinessDate forward_payment_date(UtcTimestamp delivery_end, BusinessDate as_of, const BusinessCalendar& clearing_calendar);

struct Leg {
  std::int64_t leg_id = 0;  // the caller's identifier of the leg, given back in its mark
  Side side = Side::buy;
  ContractKind kind = ContractKind::forward;
  UtcTimestamp delivery_start{0};
  UtcTimestamp delivery_end{0};  // exclusive
  std::int64_t gpus = 0;
  std::int64_t price_ticks = 0;  // K in ticks of 0.0001 USD per GPU-hour
  BusinessDate payment_date;     // forwards: when (F - K) x Q is paid; futures: not used
};

struct LegMark {
  std::int64_t leg_id = 0;
  double forward_price_usd = 0.0;  // F over the marked part (0 when nothing is left)
  double discount_factor = 1.0;    // DF(payment_date) for a forward; 1 for a future
  std::int64_t gpu_hours = 0;      // Q: gpus x marked hours
  std::int64_t pv_minor = 0;       // PV in cents

  friend bool operator==(const LegMark&, const LegMark&) = default;
};

enum class MarkRefusal {
  invalid_window,
  invalid_gpus,
  invalid_price,
  beyond_curve,
  payment_before_as_of,
  amount_too_large,
};
std::string_view to_string(MarkRefusal refusal);

// The rounding rule of every mark: USD to cents, nearest, ties away from zero. Precondition:
// |amount_usd x 100| is at most kAmountMinorMax (mark_leg refuses beyond it first).
std::int64_t usd_to_cents(double amount_usd);

Result<LegMark, MarkRefusal> mark_leg(const Leg& leg, BusinessDate as_of, const ForwardCurve& forward,
                                      const DiscountCurve& discount);

}  // namespace cch::pricing
