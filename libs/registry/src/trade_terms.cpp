// A trade's terms: their rules, refusal codes, and the months a delivery window falls in.
#include "trade_terms.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>

#include "cch/registry/products.hpp"
#include "clearing.hpp"

namespace cch::registry {

bool valid_reference(std::string_view reference) {
  return !reference.empty() && reference.size() <= kTradeReferenceLengthMax &&
         std::all_of(reference.begin(), reference.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

UtcTimestamp expiry_of(const RegistrationPolicy& policy, UtcTimestamp now) {
  const auto expires = now.add_microseconds(
      std::chrono::duration_cast<std::chrono::microseconds>(policy.affirmation_window).count());
  assert(expires && "the affirmation window is bounded by configuration");
  return *expires;
}

Result<PreparedTerms, TradeError> prepare_terms(const TradeTerms& wanted, const Product* product,
                                                bool members_exist) {
  if (wanted.buyer == wanted.seller) {
    return fail(error(TradeRefusal::same_member_both_sides, "the buyer and the seller must be different members"));
  }
  if (product == nullptr) return fail(error(TradeRefusal::unknown_product, "no such product"));
  if (!members_exist) return fail(error(TradeRefusal::unknown_member, "no such counterparty"));

  TradeTerms terms = wanted;
  if (terms.series_label) {
    const auto period = parse_period_label(*terms.series_label);
    if (!period) return fail(error(TradeRefusal::unknown_series, "not a series label: " + *terms.series_label));
    terms.delivery_start = period->start();
    terms.delivery_end = period->end();
  } else if (!is_hour_aligned_window(terms.delivery_start, terms.delivery_end)) {
    return fail(error(TradeRefusal::invalid_window, "the delivery window must be non-empty and on whole UTC hours"));
  }
  const std::int64_t hours =
      (terms.delivery_end.unix_microseconds() - terms.delivery_start.unix_microseconds()) / kMicrosecondsPerHour;
  if (hours > kTradeWindowHoursMax) {
    return fail(error(TradeRefusal::invalid_window,
                      "the delivery window must be at most " + std::to_string(kTradeWindowHoursMax) + " hours"));
  }
  if (terms.gpus < 1 || terms.gpus > kTradeGpusMax || terms.gpus % product->spec.node_block_gpus != 0) {
    return fail(error(TradeRefusal::invalid_gpus, "gpus must be 1-" + std::to_string(kTradeGpusMax) +
                                                      " and a multiple of the product's node block of " +
                                                      std::to_string(product->spec.node_block_gpus)));
  }
  if (terms.price.price_ticks <= 0 || terms.price.price_ticks > kPriceTicksMax) {
    return fail(error(TradeRefusal::invalid_price,
                      "the price must be positive and at most " + PricePerGpuHour{kPriceTicksMax}.format()));
  }
  if (!terms.price.is_multiple_of(PricePerGpuHour{product->spec.tick_size_ticks})) {
    return fail(error(TradeRefusal::price_off_tick,
                      "the price must be a multiple of the tick size " +
                          PricePerGpuHour{product->spec.tick_size_ticks}.format()));
  }
  // Within the bounds above (trades.hpp) neither can overflow.
  const auto volume = success(gpu_hours(GpuCount{terms.gpus}, hours));
  const auto value = volume ? success(notional(terms.price, *volume, Rounding::half_away_from_zero)) : std::nullopt;
  assert(volume && value && "a trade within its bounds has a volume and notional within int64");
  if (!volume || !value) return fail(error(TradeRefusal::invalid_gpus, "the trade is too large"));
  return PreparedTerms{terms, *volume, *value};
}

std::string_view to_string(TradeRefusal refusal) {
  switch (refusal) {
    case TradeRefusal::unknown_product: return "unknown_product";
    case TradeRefusal::unknown_member: return "unknown_member";
    case TradeRefusal::not_a_party: return "not_a_party";
    case TradeRefusal::same_member_both_sides: return "same_member_both_sides";
    case TradeRefusal::invalid_window: return "invalid_window";
    case TradeRefusal::invalid_gpus: return "invalid_gpus";
    case TradeRefusal::invalid_price: return "invalid_price";
    case TradeRefusal::price_off_tick: return "price_off_tick";
    case TradeRefusal::unknown_series: return "unknown_series";
    case TradeRefusal::invalid_reference: return "invalid_reference";
    case TradeRefusal::reference_reused: return "reference_reused";
    case TradeRefusal::trade_not_found: return "trade_not_found";
    case TradeRefusal::trade_not_pending: return "trade_not_pending";
    case TradeRefusal::only_system_expires: return "only_system_expires";
    case TradeRefusal::not_yet_expired: return "not_yet_expired";
    case TradeRefusal::trade_expired: return "trade_expired";
    case TradeRefusal::own_submission: return "own_submission";
    case TradeRefusal::member_not_active: return "member_not_active";
    case TradeRefusal::venue_not_authorised: return "venue_not_authorised";
    case TradeRefusal::product_not_authorised: return "product_not_authorised";
    case TradeRefusal::product_not_trading: return "product_not_trading";
    case TradeRefusal::window_started: return "window_started";
    case TradeRefusal::window_beyond_horizon: return "window_beyond_horizon";
    case TradeRefusal::series_not_listed: return "series_not_listed";
    case TradeRefusal::no_reference_price: return "no_reference_price";
    case TradeRefusal::price_outside_band: return "price_outside_band";
    case TradeRefusal::position_limit_exceeded: return "position_limit_exceeded";
    case TradeRefusal::concentration_limit_exceeded: return "concentration_limit_exceeded";
    case TradeRefusal::initial_margin_exceeds_credit_limit: return "initial_margin_exceeds_credit_limit";
    case TradeRefusal::insufficient_collateral: return "insufficient_collateral";
    case TradeRefusal::counterparty_refused: return "counterparty_refused";
  }
  return "unknown";
}

std::string_view to_string(Side side) { return side == Side::buy ? "buy" : "sell"; }

std::vector<MonthSlice> month_slices(UtcTimestamp start, UtcTimestamp end) {
  std::vector<MonthSlice> slices;
  DeliveryPeriod month = period_containing(PeriodKind::month, BusinessDate::containing(start));
  while (month.start() < end) {
    const auto from = std::max(start, month.start());
    const auto to = std::min(end, month.end());
    if (to > from) {
      slices.push_back({month.first_day, (to.unix_microseconds() - from.unix_microseconds()) / kMicrosecondsPerHour});
    }
    month = next_period(month);
  }
  return slices;
}

}  // namespace cch::registry
