#pragma once
// The SOFR OIS bootstrap in QuantLib (conventions in discount_curve.hpp). Private to
// libs/pricing; the tests use it to compare DiscountCurve with the QuantLib curve itself.

#include <functional>
#include <ql/shared_ptr.hpp>
#include <span>
#include <vector>

#include <ql/math/interpolations/loginterpolation.hpp>
#include <ql/termstructures/yield/bootstraptraits.hpp>
#include <ql/termstructures/yield/piecewiseyieldcurve.hpp>
#include <ql/termstructures/yield/ratehelpers.hpp>

#include "cch/core/time.hpp"
#include "cch/pricing/discount_curve.hpp"

namespace cch::pricing::detail {

using OisCurve = QuantLib::PiecewiseYieldCurve<QuantLib::Discount, QuantLib::LogLinear>;

inline constexpr unsigned kOisSettlementDays = 2;
inline constexpr unsigned kOisPaymentLagDays = 2;

// The QuantLib objects of one bootstrap, valid only during the call that receives them.
struct QuantLibOisCurve {
  OisCurve& curve;  // extrapolation enabled; bootstrapped lazily on first use
  std::span<const QuantLib::ext::shared_ptr<QuantLib::RateHelper>> helpers;  // one per quote, in quote order
};

// Makes the helpers and the curve for `quotes` (each tenor parsed, each rate checked) at `as_of`
// and calls `visit` with them, all inside one EvaluationDateScope (quantlib_scope.hpp), so the
// visitor may bootstrap and query freely. QuantLib's exceptions (std::exception) propagate after
// the scope has restored the evaluation date.
struct ParsedOisQuote {
  Tenor tenor;
  double rate = 0.0;
};
void with_quantlib_ois_curve(BusinessDate as_of, std::span<const ParsedOisQuote> quotes,
                             const std::function<void(const QuantLibOisCurve&)>& visit);

}  // namespace cch::pricing::detail
