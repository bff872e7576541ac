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

bool is_hour_aligned_window(UtcTimestamp start, UtcTimestamp end) {
  return start < end && start.unix_microseconds() % kMicrosecondsPerHour == 0 &&
         end.unix_microseconds() % kMicrosecondsPerHour == 0;
}

}  // namespace cch::registry
