#pragma once
// The curves of one business date, together, and their content hash.
//
// A CurveSet is what a settlement or margin run prices with: the as-of date, the discount curve
// (its nodes), one forward curve per product, the caller's names of the inputs it was built from
// (e.g. "ois:SOFR:2026-12-01:v1", "quotes:product:7:2026-12-01:v3", in the caller's order) and
// the method version (kCurveMethodVersion: which methods and parameters built it).
//
// build_curve_set builds the discount curve (discount_curve.hpp) and every product's forward
// curve (forward_curve.hpp; first day = as_of + 1, last day the product's) and refuses with the
// first failure: the discount curve's refusal as it is; duplicate_product for a product given
// twice; a product's refusal with product_id set and the detail prefixed "product <id>: ".
// Products are built in the order given; the set keys them by id.
//
// content_hash(set) is the SHA-256 (lower-case hex) of canonical_serialisation(set), a text
// that names every number exactly. Lines end in "\n"; a text field is written as its length in
// bytes, ':', and its bytes (so any text, newlines included, is unambiguous); a date as
// YYYY-MM-DD; a double as the 16 lower-case hex digits of its IEEE 754 bits (so -0.0, 0.0 and
// every last bit differ). In order:
//     cch-curve-set/1
//     as_of=YYYY-MM-DD
//     method=<length>:<text>
//     discount_nodes=<count>
//     node=YYYY-MM-DD <bits>                       one per node, in date order
//     forward_curves=<count>
//     forward=<product id> first_day=YYYY-MM-DD days=<count>   in ascending product id
//     <bits>                                       one per day, from first_day
//     inputs=<count>
//     input=<length>:<text>                        one per input, in the caller's order
// The same inputs give the same curves bit for bit (both builders are deterministic), hence the
// same hash; one tick of one quote changes it.
//
// Thread safety: build_curve_set may be called from any thread (discount_curve.hpp); a CurveSet
// is a plain value; content_hash and canonical_serialisation are pure.

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/pricing/curve_error.hpp"
#include "cch/pricing/discount_curve.hpp"
#include "cch/pricing/forward_curve.hpp"

namespace cch::pricing {

// Names the methods and their parameters; a change to either is a new version.
inline constexpr std::string_view kCurveMethodVersion =
    "cch-curves/1 discount=sofr-ois(spot=2,payment-lag=2,annual)+piecewise-discount-loglinear(act365f) "
    "forward=max-smoothness-daily(flat-ends,tension=1/900)";

struct CurveSet {
  BusinessDate as_of;
  DiscountCurve discount;
  std::map<ProductId, ForwardCurve> forwards;
  std::vector<std::string> inputs;
  std::string method_version;

  friend bool operator==(const CurveSet&, const CurveSet&) = default;
};

// One product's forward curve specification.
struct ProductQuotes {
  ProductId product_id;
  std::int64_t tick_size_ticks = 1;  // > 0 (the product's tick size, asserted)
  BusinessDate last_day;             // the curve's horizon
  std::vector<PeriodQuote> quotes;
};

Result<CurveSet, CurveError> build_curve_set(BusinessDate as_of, std::span<const OisQuote> ois_quotes,
                                             std::span<const ProductQuotes> products, std::vector<std::string> inputs);

std::string canonical_serialisation(const CurveSet& set);
std::string content_hash(const CurveSet& set);

}  // namespace cch::pricing
