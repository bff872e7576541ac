#include "cch/registry/products.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdio>

namespace cch::registry {
namespace {

constexpr std::array<std::string_view, 4> kFormFactors = {"sxm", "pcie", "oam", "nvl"};
// Weakest first: an offer meets a requirement when it is at the same place or later.
constexpr std::array<std::string_view, 7> kInterconnects = {
    "none", "ethernet-100g", "roce-200g", "infiniband-200g", "roce-400g", "infiniband-400g", "nvlink-switch"};
constexpr std::array<int, 8> kNodeBlocks = {1, 2, 4, 8, 16, 32, 64, 72};
constexpr std::array<PeriodKind, 5> kPeriodKinds = {PeriodKind::day, PeriodKind::week, PeriodKind::month,
                                                     PeriodKind::quarter, PeriodKind::year};

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// first character from `first`, the rest from `rest`, length in [min, max]
template <class First, class Rest>
bool matches(std::string_view text, std::size_t min, std::size_t max, First first, Rest rest) {
  if (text.size() < min || text.size() > max || !first(text.front())) return false;
  return std::all_of(text.begin() + 1, text.end(), rest);
}

template <class Container>
bool contains(const Container& values, std::string_view value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

BusinessDate date(int year, int month, int day) { return BusinessDate::from_year_month_day(year, month, day).value(); }

BusinessDate add_months(BusinessDate first_of_month, int months) {
  const int index = first_of_month.year() * 12 + (first_of_month.month() - 1) + months;
  return date(index / 12, index % 12 + 1, 1);
}

std::string two_digits(int value) {
  char text[8];
  std::snprintf(text, sizeof text, "%02d", value);
  return text;
}

// The ISO 8601 week-numbering year and week of the Monday that starts a week.
std::pair<int, int> iso_week(BusinessDate monday) {
  const BusinessDate thursday = monday.add_days(3).value();  // the week's year is its Thursday's
  const int year = thursday.year();
  const auto day_of_year = days_between(date(year, 1, 1), thursday);
  return {year, static_cast<int>(day_of_year / 7) + 1};
}

}  // namespace

std::string_view to_string(SettlementType type) { return type == SettlementType::physical ? "physical" : "cash"; }

std::string_view to_string(TradingStatus status) {
  switch (status) {
    case TradingStatus::active: return "active";
    case TradingStatus::halted: return "halted";
    case TradingStatus::delisted: return "delisted";
  }
  return "unknown";
}

std::string_view to_string(DeliveryProfile) { return "baseload_24x7"; }

std::optional<SettlementType> parse_settlement_type(std::string_view text) {
  if (text == "physical") return SettlementType::physical;
  if (text == "cash") return SettlementType::cash;
  return std::nullopt;
}

std::optional<TradingStatus> parse_trading_status(std::string_view text) {
  for (const auto status : {TradingStatus::active, TradingStatus::halted, TradingStatus::delisted}) {
    if (to_string(status) == text) return status;
  }
  return std::nullopt;
}

std::optional<DeliveryProfile> parse_delivery_profile(std::string_view text) {
  if (text == "baseload_24x7") return DeliveryProfile::baseload_24x7;
  return std::nullopt;
}

std::span<const std::string_view> form_factors() { return kFormFactors; }
std::span<const std::string_view> interconnects() { return kInterconnects; }
std::span<const int> node_block_sizes() { return kNodeBlocks; }

bool minimum_interconnect_met(std::string_view required, std::string_view offered) {
  const auto need = std::find(kInterconnects.begin(), kInterconnects.end(), required);
  const auto have = std::find(kInterconnects.begin(), kInterconnects.end(), offered);
  return need != kInterconnects.end() && have != kInterconnects.end() && have >= need;
}

std::string_view to_string(ProductRefusal refusal) {
  switch (refusal) {
    case ProductRefusal::invalid_product_code: return "invalid_product_code";
    case ProductRefusal::invalid_gpu_model: return "invalid_gpu_model";
    case ProductRefusal::invalid_form_factor: return "invalid_form_factor";
    case ProductRefusal::invalid_interconnect: return "invalid_interconnect";
    case ProductRefusal::invalid_region: return "invalid_region";
    case ProductRefusal::invalid_node_block: return "invalid_node_block";
    case ProductRefusal::cash_index_required: return "cash_index_required";
    case ProductRefusal::cash_index_not_allowed: return "cash_index_not_allowed";
    case ProductRefusal::invalid_cash_index: return "invalid_cash_index";
    case ProductRefusal::invalid_tick_size: return "invalid_tick_size";
    case ProductRefusal::invalid_listing_horizon: return "invalid_listing_horizon";
  }
  return "unknown";
}

std::optional<ProductRefusal> check_product(const ProductSpec& product) {
  const auto code_rest = [](char c) { return lower_alnum(c) || c == '-'; };
  if (!matches(product.code, 2, 63, lower_alnum, code_rest)) return ProductRefusal::invalid_product_code;
  const auto model_rest = [](char c) { return alnum(c) || c == '.' || c == '-'; };
  if (!matches(product.gpu_model, 1, 32, alnum, model_rest)) return ProductRefusal::invalid_gpu_model;
  if (!contains(kFormFactors, product.form_factor)) return ProductRefusal::invalid_form_factor;
  if (!contains(kInterconnects, product.min_interconnect)) return ProductRefusal::invalid_interconnect;
  const auto region_first = [](char c) { return c >= 'a' && c <= 'z'; };
  if (!matches(product.region, 2, 32, region_first, code_rest)) return ProductRefusal::invalid_region;
  if (std::find(kNodeBlocks.begin(), kNodeBlocks.end(), product.node_block_gpus) == kNodeBlocks.end()) {
    return ProductRefusal::invalid_node_block;
  }
  if (product.settlement == SettlementType::cash && !product.cash_index) return ProductRefusal::cash_index_required;
  if (product.settlement == SettlementType::physical && product.cash_index) {
    return ProductRefusal::cash_index_not_allowed;
  }
  const auto index_rest = [](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; };
  if (product.cash_index && !matches(*product.cash_index, 2, 64, alnum, index_rest)) {
    return ProductRefusal::invalid_cash_index;
  }
  if (product.tick_size_ticks < 1 || product.tick_size_ticks > kTickSizeTicksMax) {
    return ProductRefusal::invalid_tick_size;
  }
  if (product.listing_horizon_days < 1 || product.listing_horizon_days > kListingHorizonDaysMax) {
    return ProductRefusal::invalid_listing_horizon;
  }
  return std::nullopt;
}

std::span<const PeriodKind> all_period_kinds() { return kPeriodKinds; }

std::string_view to_string(PeriodKind kind) {
  switch (kind) {
    case PeriodKind::day: return "day";
    case PeriodKind::week: return "week";
    case PeriodKind::month: return "month";
    case PeriodKind::quarter: return "quarter";
    case PeriodKind::year: return "year";
  }
  return "unknown";
}

std::optional<PeriodKind> parse_period_kind(std::string_view text) {
  for (const PeriodKind kind : kPeriodKinds) {
    if (to_string(kind) == text) return kind;
  }
  return std::nullopt;
}

DeliveryPeriod period_containing(PeriodKind kind, BusinessDate day) {
  switch (kind) {
    case PeriodKind::day:
      return {kind, day, day.add_days(1).value(), day.format()};
    case PeriodKind::week: {
      const BusinessDate monday = day.add_days(1 - static_cast<int>(day.weekday())).value();
      const auto [year, week] = iso_week(monday);
      return {kind, monday, monday.add_days(7).value(), std::to_string(year) + "-W" + two_digits(week)};
    }
    case PeriodKind::month: {
      const BusinessDate first = date(day.year(), day.month(), 1);
      return {kind, first, add_months(first, 1), std::to_string(day.year()) + "-" + two_digits(day.month())};
    }
    case PeriodKind::quarter: {
      const int quarter = (day.month() - 1) / 3;
      const BusinessDate first = date(day.year(), quarter * 3 + 1, 1);
      return {kind, first, add_months(first, 3), std::to_string(day.year()) + "-Q" + std::to_string(quarter + 1)};
    }
    case PeriodKind::year: {
      const BusinessDate first = date(day.year(), 1, 1);
      return {kind, first, date(day.year() + 1, 1, 1), std::to_string(day.year())};
    }
  }
  assert(false && "unknown period kind");
  return {kind, day, day, {}};
}

DeliveryPeriod next_period(const DeliveryPeriod& period) { return period_containing(period.kind, period.end_day); }

std::vector<DeliveryPeriod> listed_periods(std::span<const PeriodKind> kinds, BusinessDate today,
                                           int listing_horizon_days) {
  std::vector<DeliveryPeriod> listed;
  const BusinessDate last_start = today.add_days(listing_horizon_days).value();
  for (const PeriodKind kind : kinds) {
    for (DeliveryPeriod period = next_period(period_containing(kind, today)); period.first_day <= last_start;
         period = next_period(period)) {
      listed.push_back(period);
    }
  }
  return listed;
}

bool is_hour_aligned_window(UtcTimestamp start, UtcTimestamp end) {
  constexpr std::int64_t kMicrosecondsPerHour = 3'600'000'000;
  return start < end && start.unix_microseconds() % kMicrosecondsPerHour == 0 &&
         end.unix_microseconds() % kMicrosecondsPerHour == 0;
}

}  // namespace cch::registry
