#pragma once
// A leg's exposure to the margin model's risk factors: per tenor bucket, the present value of
// what is still to be delivered in it, and its GPU-hours.
//
// For a leg of business date D (curves of D, first delivery day D + 1) and each bucket b
// (buckets.hpp), with [s, e) the part of the leg's delivery window inside the bucket's days:
//   hours(b)    = the hours of [s, e)
//   exposure(b) = side x gpus x hours(b) x F(s, e) x DF    (cents, rounded to the nearest, ties
//                 away from zero: pricing::usd_to_cents)
//   net GPU-hours(b) = side x gpus x hours(b)
// where side is +1 for a buy and -1 for a sell, F(s, e) the hour-weighted average of the
// product's forward curve over [s, e), DF the discount factor to the leg's payment date for a
// bilateral forward and 1 for a future (as its mark: curves.md). A scenario moving the bucket's
// level by m changes the leg's value by exposure x m: a bucket's level moves its days together.
// The delivery already done (before D + 1) has no exposure; the leg's class is its kind (a
// future is margined as a future, a forward as a forward).
//
// Every leg is rounded alone, so a member's exposure (the sum of its legs') is the same whatever
// the order its legs are added in: the registry's pre-trade check and the risk service's full
// run add the same integers.
//
// Refusals: those of pricing::mark_leg's checks that apply (invalid_window, invalid_gpus,
// beyond_curve: delivery after the curve's last day, payment_before_as_of) and amount_too_large
// (a bucket's exposure beyond kAmountMinorMax cents).
//
// Thread safety: a pure function.
#include <cstddef>

#include "cch/core/result.hpp"
#include "cch/margin/engine.hpp"
#include "cch/pricing/discount_curve.hpp"
#include "cch/pricing/forward_curve.hpp"
#include "cch/pricing/marks.hpp"

namespace cch::margin {

// The interim rule's leg (a product outside the model): notional = price x GPUs x the window's
// hours, in cents rounded half away from zero (quantity.hpp's notional); interim = ceil(notional
// x rate_bp / 10,000). Only interim_cents is set. Preconditions: a valid leg (whole hours, GPUs
// and price within pricing's bounds), 1 <= rate_bp <= 10,000.
LegExposure interim_exposure(const pricing::Leg& leg, std::int32_t rate_bp);

Result<LegExposure, pricing::MarkRefusal> leg_exposure(const pricing::Leg& leg, std::size_t product_index,
                                                       const pricing::ForwardCurve& forward,
                                                       const pricing::DiscountCurve& discount);

}  // namespace cch::margin
