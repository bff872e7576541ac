#pragma once
// Compute products and their standard delivery periods: the rules, without storage (the tables
// and their statements are catalog.hpp's).
//
// A product says what is delivered: GPU model and form factor, the minimum interconnect, the
// region, the node block (GPUs per node that must be delivered together), how it settles
// (physically, or in cash against a named index), its tick size in units of 0.0001 USD per
// GPU-hour, its delivery profile (24/7 baseload), trading status and listing horizon.
// check_product answers the first rule a product breaks, in ProductRefusal order.
//
// Thread safety: pure functions and plain values.

#include "cch/core/delivery_period.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cch::registry {

enum class SettlementType { physical, cash };
enum class TradingStatus { active, halted, delisted };
enum class DeliveryProfile { baseload_24x7 };
std::string_view to_string(SettlementType type);
std::string_view to_string(TradingStatus status);
std::string_view to_string(DeliveryProfile profile);
std::optional<SettlementType> parse_settlement_type(std::string_view text);
std::optional<TradingStatus> parse_trading_status(std::string_view text);
std::optional<DeliveryProfile> parse_delivery_profile(std::string_view text);

// The accepted values of the enumerated text fields.
std::span<const std::string_view> form_factors();       // sxm, pcie, oam, nvl
std::span<const std::string_view> interconnects();      // weakest first, see minimum_interconnect_met
std::span<const int> node_block_sizes();                 // 1, 2, 4, 8, 16, 32, 64, 72

// Whether an offered interconnect is at least the required one (interconnects() is ordered).
bool minimum_interconnect_met(std::string_view required, std::string_view offered);

inline constexpr std::int64_t kTickSizeTicksMax = 10'000;  // 1.0000 USD per GPU-hour
inline constexpr int kListingHorizonDaysMax = 1096;        // three years

struct ProductSpec {
  std::string code;              // [a-z0-9][a-z0-9-]{1,62}, e.g. "h100-sxm-us-east-phys"
  std::string gpu_model;         // [A-Za-z0-9][A-Za-z0-9.-]{0,31}, e.g. "H100"
  std::string form_factor;       // one of form_factors()
  std::string min_interconnect;  // one of interconnects()
  std::string region;            // [a-z][a-z0-9-]{1,31}, e.g. "us-east"
  int node_block_gpus = 8;       // one of node_block_sizes()
  SettlementType settlement = SettlementType::physical;
  std::optional<std::string> cash_index;  // required exactly when settlement is cash
  std::int64_t tick_size_ticks = 1;       // 1..kTickSizeTicksMax, in 0.0001 USD per GPU-hour
  DeliveryProfile profile = DeliveryProfile::baseload_24x7;
  TradingStatus status = TradingStatus::active;
  int listing_horizon_days = 365;  // 1..kListingHorizonDaysMax
};

enum class ProductRefusal {
  invalid_product_code,
  invalid_gpu_model,
  invalid_form_factor,
  invalid_interconnect,
  invalid_region,
  invalid_node_block,
  cash_index_required,     // cash settlement without an index
  cash_index_not_allowed,  // physical settlement with an index
  invalid_cash_index,      // not [A-Za-z0-9][A-Za-z0-9._-]{1,63}
  invalid_tick_size,
  invalid_listing_horizon,
};
std::string_view to_string(ProductRefusal refusal);

std::optional<ProductRefusal> check_product(const ProductSpec& product);

// Delivery periods (PeriodKind, DeliveryPeriod, period_containing, parse_period_label, ...) are
// core's (cch/core/delivery_period.hpp): market data and pricing use them too.
using cch::all_period_kinds;
using cch::DeliveryPeriod;
using cch::listed_periods;
using cch::next_period;
using cch::parse_period_kind;
using cch::parse_period_label;
using cch::period_containing;
using cch::PeriodKind;

// A bilateral forward's window: non-empty and on whole UTC hours.
bool is_hour_aligned_window(UtcTimestamp start, UtcTimestamp end);

}  // namespace cch::registry
