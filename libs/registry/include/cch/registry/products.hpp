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
// Delivery periods are UTC-aligned: a day starts at 00:00 UTC, a week on Monday 00:00 UTC (ISO
// 8601 weeks), a month on its 1st, a quarter on 1 January, April, July or October, a year on 1
// January. A period is [start, end). Labels: "2027-03-01" (day), "2027-W09" (ISO week and its
// ISO year), "2027-03" (month), "2027-Q1" (quarter), "2027" (year).
//
// Thread safety: pure functions and plain values.

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

enum class PeriodKind { day, week, month, quarter, year };
std::span<const PeriodKind> all_period_kinds();
std::string_view to_string(PeriodKind kind);
std::optional<PeriodKind> parse_period_kind(std::string_view text);

struct DeliveryPeriod {
  PeriodKind kind = PeriodKind::day;
  BusinessDate first_day;  // the UTC date the period starts on
  BusinessDate end_day;    // the UTC date of its end (exclusive)
  std::string label;

  [[nodiscard]] UtcTimestamp start() const { return first_day.start_of_day(); }
  [[nodiscard]] UtcTimestamp end() const { return end_day.start_of_day(); }
  [[nodiscard]] std::int64_t hours() const { return days_between(first_day, end_day) * 24; }
  friend bool operator==(const DeliveryPeriod&, const DeliveryPeriod&) = default;
};

// The period of `kind` that contains `day`.
DeliveryPeriod period_containing(PeriodKind kind, BusinessDate day);
// The period right after `period` (same kind).
DeliveryPeriod next_period(const DeliveryPeriod& period);

// The listed series of a product on `today`: for each kind, every period that starts after
// today (strictly: the period in progress is not listed) and on or before today +
// listing_horizon_days, in kind order then start order.
std::vector<DeliveryPeriod> listed_periods(std::span<const PeriodKind> kinds, BusinessDate today,
                                           int listing_horizon_days);

// A bilateral forward's window: non-empty and on whole UTC hours.
bool is_hour_aligned_window(UtcTimestamp start, UtcTimestamp end);

}  // namespace cch::registry
