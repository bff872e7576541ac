#pragma once
// A settlement snapshot's prices as the forward curve builder's input: one PeriodQuote per
// quoted period (its label, whole UTC days [first_day, end_day), the price in ticks), and the
// curve's last day, business date D + horizon_days, or the last day of the latest quoted period
// when that is later (a period that ends after the usual horizon takes the curve with it; the
// pricing library bounds the horizon). What a curve set's forward curve, the consistency rule of
// market data entry and the factor levels are built from, so that they agree.
//
// Thread safety: a pure function.

#include "cch/core/time.hpp"
#include "cch/market/market_data.hpp"
#include "cch/pricing/forward_curve.hpp"

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace cch::risk {

struct SettlementQuotes {
  std::vector<pricing::PeriodQuote> quotes;
  BusinessDate last_day;
};

inline SettlementQuotes settlement_quotes(BusinessDate date, std::int64_t horizon_days,
                                          std::span<const market::PeriodPrice> prices) {
  SettlementQuotes result{{}, date.add_days(horizon_days).value()};
  for (const auto& price : prices) {
    result.quotes.push_back(
        {price.period.label, price.period.first_day, price.period.end_day, price.price.price_ticks});
    result.last_day = std::max(result.last_day, price.period.end_day.add_days(-1).value());
  }
  return result;
}

}  // namespace cch::risk
