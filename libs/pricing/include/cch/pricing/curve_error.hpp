#pragma once
// Why a curve was not built: one reason a client can switch on, and a sentence naming the input.
//
// Every curve builder of this library (discount_curve.hpp, forward_curve.hpp, curve_set.hpp)
// refuses with a CurveError: `reason` is a stable enumerator whose to_string is its snake_case
// name (the code a report or a REST client sees); `detail` is one sentence for people that names
// the offending input (the tenor, the period label, the day) and the numbers involved; it is not
// a stable format. `product_id` is set by build_curve_set when a product's forward curve failed.
//
// Thread safety: plain values and pure functions; safe from any thread.

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "cch/core/ids.hpp"

namespace cch::pricing {

enum class CurveRefusal {
  // Discount curve (SOFR OIS), in the order the builder checks them.
  no_quotes,                     // no quote at all (also: a forward curve without a period quote)
  too_many_quotes,               // more quotes than the builder's maximum
  as_of_outside_calendar_range,  // the as-of date plus the longest tenor leaves the calendar's range
  invalid_tenor,                 // a tenor outside the grammar of parse_tenor
  duplicate_tenor,               // two quotes of the same period ("1Y" and "12M" are the same)
  rate_out_of_range,             // a rate that is not finite or whose magnitude exceeds 1 (100 %)
  bootstrap_failed,              // QuantLib refused or failed to bootstrap (its message in detail)
  quote_not_repriced,            // a quote's implied rate on the built curve differs by more than 1e-10
  // Forward curve, in the order the builder checks them.
  invalid_horizon,       // last_day before first_day, or a horizon longer than the maximum
  invalid_period,        // a period whose end is not after its start
  period_outside_curve,  // a period starting before first_day or ending after last_day + 1
  non_positive_price,    // a quote of zero or less
  price_too_large,       // a quote above kPriceTicksMax (1,000.0000 USD per GPU-hour)
  duplicate_period,      // two quotes of one period, or one label used for two periods
  inconsistent_quotes,   // a dependent quote more than half a tick from what finer quotes imply
  non_positive_curve,    // the smooth curve would go to zero or below on some day
  // Curve set.
  duplicate_product,  // two forward curve specifications for one product
};
std::string_view to_string(CurveRefusal reason);
std::ostream& operator<<(std::ostream& stream, CurveRefusal reason);

struct CurveError {
  CurveRefusal reason;
  std::string detail;
  std::optional<ProductId> product_id;  // the product whose curve failed (build_curve_set only)
};

}  // namespace cch::pricing
