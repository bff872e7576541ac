#include "ois_bootstrap.hpp"

#include <ql/handle.hpp>
#include <ql/indexes/ibor/sofr.hpp>
#include <ql/quotes/simplequote.hpp>
#include <ql/termstructures/yield/oisratehelper.hpp>
#include <ql/time/daycounters/actual365fixed.hpp>
#include <ql/time/period.hpp>

#include "quantlib_scope.hpp"

namespace cch::pricing::detail {

namespace {

QuantLib::TimeUnit to_quantlib_unit(TenorUnit unit) {
  switch (unit) {
    case TenorUnit::days:
      return QuantLib::Days;
    case TenorUnit::weeks:
      return QuantLib::Weeks;
    case TenorUnit::months:
      return QuantLib::Months;
    case TenorUnit::years:
      return QuantLib::Years;
  }
  return QuantLib::Days;
}

}  // namespace

void with_quantlib_ois_curve(BusinessDate as_of, std::span<const ParsedOisQuote> quotes,
                             const std::function<void(const QuantLibOisCurve&)>& visit) {
  // Declared first, destroyed last: every QuantLib object below is gone before the evaluation
  // date is restored.
  const EvaluationDateScope scope(as_of);

  const auto sofr = QuantLib::ext::make_shared<QuantLib::Sofr>();
  std::vector<QuantLib::ext::shared_ptr<QuantLib::RateHelper>> helpers;
  helpers.reserve(quotes.size());
  for (const ParsedOisQuote& quote : quotes) {
    const QuantLib::Handle<QuantLib::Quote> rate(QuantLib::ext::make_shared<QuantLib::SimpleQuote>(quote.rate));
    helpers.push_back(QuantLib::ext::make_shared<QuantLib::OISRateHelper>(
        kOisSettlementDays, QuantLib::Period(quote.tenor.count, to_quantlib_unit(quote.tenor.unit)), rate, sofr,
        QuantLib::Handle<QuantLib::YieldTermStructure>(), /*telescopicValueDates=*/true, kOisPaymentLagDays,
        QuantLib::Following, QuantLib::Annual, sofr->fixingCalendar()));
  }
  OisCurve curve(to_quantlib_date(as_of), helpers, QuantLib::Actual365Fixed());
  curve.enableExtrapolation();
  visit(QuantLibOisCurve{curve, helpers});
}

}  // namespace cch::pricing::detail
