// The credit rule that serves until the margin engine: a share of the notional (trades.hpp).
#include "cch/registry/trades.hpp"

#include "cch/core/quantity.hpp"

namespace cch::registry {

Money NotionalCreditCheck::increment(pqxx::transaction_base&, MemberId, const Trade& trade, Side) const {
  // ceil(notional x rate / 10,000) in cents; notional and rate are non-negative.
  const Int128 scaled = static_cast<Int128>(trade.notional.amount_minor) * rate_bp_;
  return Money{static_cast<std::int64_t>((scaled + 9'999) / 10'000), trade.notional.currency};
}

}  // namespace cch::registry
