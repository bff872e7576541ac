#pragma once
// The rules of a trade's terms that need no lock (private to the registry), shared by a
// member's submission and a venue's batch.

#include "cch/core/quantity.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/trades.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cch::registry {


inline TradeError error(TradeRefusal refusal, std::string detail) { return {refusal, std::move(detail)}; }

template <class T, class E>
inline std::optional<T> success(Result<T, E> result) {
  if (!result) return std::nullopt;
  return std::move(*result);
}

// 1-64 printable ASCII characters (kTradeReferenceLengthMax).
bool valid_reference(std::string_view reference);

// When a trade submitted now expires unaffirmed.
UtcTimestamp expiry_of(const RegistrationPolicy& policy, UtcTimestamp now);

struct PreparedTerms {
  TradeTerms terms;  // with a series' window filled in
  GpuHours volume{0};
  Money notional = Money::zero(Currency::usd());
};

// The rules of a trade's terms that need no lock: its product, members, window, size and price.
// product: the product the terms name, if it exists; members_exist: both members exist.
Result<PreparedTerms, TradeError> prepare_terms(const TradeTerms& wanted, const Product* product,
                                                bool members_exist);

}  // namespace cch::registry
