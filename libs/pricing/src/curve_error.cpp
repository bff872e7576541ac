#include "cch/pricing/curve_error.hpp"

#include <ostream>

namespace cch::pricing {

std::string_view to_string(CurveRefusal reason) {
  switch (reason) {
    case CurveRefusal::no_quotes:
      return "no_quotes";
    case CurveRefusal::too_many_quotes:
      return "too_many_quotes";
    case CurveRefusal::as_of_outside_calendar_range:
      return "as_of_outside_calendar_range";
    case CurveRefusal::invalid_tenor:
      return "invalid_tenor";
    case CurveRefusal::duplicate_tenor:
      return "duplicate_tenor";
    case CurveRefusal::rate_out_of_range:
      return "rate_out_of_range";
    case CurveRefusal::bootstrap_failed:
      return "bootstrap_failed";
    case CurveRefusal::quote_not_repriced:
      return "quote_not_repriced";
    case CurveRefusal::invalid_horizon:
      return "invalid_horizon";
    case CurveRefusal::invalid_period:
      return "invalid_period";
    case CurveRefusal::period_outside_curve:
      return "period_outside_curve";
    case CurveRefusal::non_positive_price:
      return "non_positive_price";
    case CurveRefusal::price_too_large:
      return "price_too_large";
    case CurveRefusal::duplicate_period:
      return "duplicate_period";
    case CurveRefusal::inconsistent_quotes:
      return "inconsistent_quotes";
    case CurveRefusal::non_positive_curve:
      return "non_positive_curve";
    case CurveRefusal::duplicate_product:
      return "duplicate_product";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& stream, CurveRefusal reason) {
  return stream << to_string(reason);
}

}  // namespace cch::pricing
