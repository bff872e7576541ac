// Product rules and UTC-aligned delivery periods.
#include "cch/registry/products.hpp"

#include <gtest/gtest.h>

#include <array>
#include <functional>

namespace cch::registry {
namespace {

BusinessDate date(int year, int month, int day) { return BusinessDate::from_year_month_day(year, month, day).value(); }

ProductSpec h100() {
  ProductSpec product;
  product.code = "h100-sxm-us-east-phys";
  product.gpu_model = "H100";
  product.form_factor = "sxm";
  product.min_interconnect = "infiniband-400g";
  product.region = "us-east";
  product.node_block_gpus = 8;
  product.tick_size_ticks = 1;
  product.listing_horizon_days = 365;
  return product;
}

TEST(Products, AWellFormedProductPassesAndEachRuleIsReachedOnce) {
  EXPECT_EQ(check_product(h100()), std::nullopt);
  ProductSpec cash = h100();
  cash.settlement = SettlementType::cash;
  cash.cash_index = "SDH100RT";
  EXPECT_EQ(check_product(cash), std::nullopt);

  struct Case {
    std::function<void(ProductSpec&)> change;
    ProductRefusal refusal;
  };
  const std::vector<Case> cases = {
      {[](ProductSpec& p) { p.code = "H100"; }, ProductRefusal::invalid_product_code},
      {[](ProductSpec& p) { p.code = "-h100"; }, ProductRefusal::invalid_product_code},
      {[](ProductSpec& p) { p.gpu_model = ""; }, ProductRefusal::invalid_gpu_model},
      {[](ProductSpec& p) { p.gpu_model = "H100 SXM"; }, ProductRefusal::invalid_gpu_model},
      {[](ProductSpec& p) { p.form_factor = "SXM"; }, ProductRefusal::invalid_form_factor},
      {[](ProductSpec& p) { p.min_interconnect = "carrier-pigeon"; }, ProductRefusal::invalid_interconnect},
      {[](ProductSpec& p) { p.region = "US-East"; }, ProductRefusal::invalid_region},
      {[](ProductSpec& p) { p.node_block_gpus = 3; }, ProductRefusal::invalid_node_block},
      {[](ProductSpec& p) { p.settlement = SettlementType::cash; }, ProductRefusal::cash_index_required},
      {[](ProductSpec& p) { p.cash_index = "SDH100RT"; }, ProductRefusal::cash_index_not_allowed},
      {[](ProductSpec& p) {
         p.settlement = SettlementType::cash;
         p.cash_index = "bad index";
       },
       ProductRefusal::invalid_cash_index},
      {[](ProductSpec& p) { p.tick_size_ticks = 0; }, ProductRefusal::invalid_tick_size},
      {[](ProductSpec& p) { p.tick_size_ticks = kTickSizeTicksMax + 1; }, ProductRefusal::invalid_tick_size},
      {[](ProductSpec& p) { p.listing_horizon_days = 0; }, ProductRefusal::invalid_listing_horizon},
      {[](ProductSpec& p) { p.listing_horizon_days = kListingHorizonDaysMax + 1; },
       ProductRefusal::invalid_listing_horizon},
  };
  for (const auto& item : cases) {
    ProductSpec product = h100();
    item.change(product);
    EXPECT_EQ(check_product(product), item.refusal) << to_string(item.refusal);
  }
}

TEST(Products, InterconnectsAreOrderedWeakestFirst) {
  EXPECT_TRUE(minimum_interconnect_met("roce-400g", "infiniband-400g"));
  EXPECT_TRUE(minimum_interconnect_met("roce-400g", "roce-400g"));
  EXPECT_FALSE(minimum_interconnect_met("infiniband-400g", "roce-400g"));
  EXPECT_FALSE(minimum_interconnect_met("none", "unknown"));
}

TEST(DeliveryPeriods, EachKindIsUtcAlignedWithItsLabel) {
  const BusinessDate day = date(2027, 3, 17);  // a Wednesday
  const auto check = [&](PeriodKind kind, BusinessDate first, BusinessDate end, const std::string& label,
                         std::int64_t hours) {
    const DeliveryPeriod period = period_containing(kind, day);
    EXPECT_EQ(period.first_day, first) << label;
    EXPECT_EQ(period.end_day, end) << label;
    EXPECT_EQ(period.label, label);
    EXPECT_EQ(period.hours(), hours) << label;
    EXPECT_EQ(period.start().format(), first.format() + "T00:00:00.000000Z");
  };
  check(PeriodKind::day, date(2027, 3, 17), date(2027, 3, 18), "2027-03-17", 24);
  check(PeriodKind::week, date(2027, 3, 15), date(2027, 3, 22), "2027-W11", 168);
  check(PeriodKind::month, date(2027, 3, 1), date(2027, 4, 1), "2027-03", 744);
  check(PeriodKind::quarter, date(2027, 1, 1), date(2027, 4, 1), "2027-Q1", 2160);
  check(PeriodKind::year, date(2027, 1, 1), date(2028, 1, 1), "2027", 8760);
  // ISO weeks belong to the year of their Thursday: 2027-01-01 (a Friday) is in 2026-W53.
  EXPECT_EQ(period_containing(PeriodKind::week, date(2027, 1, 1)).label, "2026-W53");
  EXPECT_EQ(period_containing(PeriodKind::week, date(2024, 12, 31)).label, "2025-W01");
  EXPECT_EQ(period_containing(PeriodKind::month, date(2028, 2, 10)).hours(), 29 * 24);  // leap year
  EXPECT_EQ(next_period(period_containing(PeriodKind::quarter, date(2027, 11, 5))).label, "2028-Q1");
}

TEST(DeliveryPeriods, ListedSeriesStartAfterTodayAndWithinTheHorizon) {
  const BusinessDate today = date(2027, 3, 17);
  const std::array<PeriodKind, 2> kinds = {PeriodKind::month, PeriodKind::quarter};
  const auto listed = listed_periods(kinds, today, 120);  // starts on or before 2027-07-15
  std::vector<std::string> labels;
  for (const auto& period : listed) labels.push_back(period.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"2027-04", "2027-05", "2027-06", "2027-07", "2027-Q2", "2027-Q3"}));
  for (const auto& period : listed) EXPECT_GT(period.first_day, today);
  const std::array<PeriodKind, 1> days = {PeriodKind::day};
  EXPECT_EQ(listed_periods(days, today, 7).size(), 7u);
}

TEST(DeliveryPeriods, ForwardWindowsAreWholeUtcHours) {
  const auto at = [](const char* text) { return UtcTimestamp::parse(text).value(); };
  EXPECT_TRUE(is_hour_aligned_window(at("2027-03-01T00:00:00Z"), at("2027-04-01T00:00:00Z")));
  EXPECT_TRUE(is_hour_aligned_window(at("2027-03-01T13:00:00Z"), at("2027-03-01T14:00:00Z")));
  EXPECT_FALSE(is_hour_aligned_window(at("2027-03-01T13:30:00Z"), at("2027-03-01T14:00:00Z")));
  EXPECT_FALSE(is_hour_aligned_window(at("2027-03-01T14:00:00Z"), at("2027-03-01T14:00:00Z")));
  EXPECT_FALSE(is_hour_aligned_window(at("2027-03-02T00:00:00Z"), at("2027-03-01T00:00:00Z")));
}

}  // namespace
}  // namespace cch::registry
