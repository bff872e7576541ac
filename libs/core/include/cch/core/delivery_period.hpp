#pragma once
// Delivery periods of compute: the standard periods that products list, market data prices and
// curves average over.
//
// Periods are UTC-aligned: a day starts at 00:00 UTC, a week on Monday 00:00 UTC (ISO 8601
// weeks), a month on its 1st, a quarter on 1 January, April, July or October, a year on 1
// January. A period is [start, end). Labels: "2027-03-01" (day), "2027-W09" (ISO week and its
// ISO year), "2027-03" (month), "2027-Q1" (quarter), "2027" (year). A label names exactly one
// period and every period has exactly one label (parse_period_label(p.label) == p).
//
// Thread safety: pure functions and plain values.

#include "cch/core/time.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cch {

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
  [[nodiscard]] std::int64_t days() const { return days_between(first_day, end_day); }
  [[nodiscard]] std::int64_t hours() const { return days() * 24; }
  friend bool operator==(const DeliveryPeriod&, const DeliveryPeriod&) = default;
};

// The period of `kind` that contains `day`.
DeliveryPeriod period_containing(PeriodKind kind, BusinessDate day);
// The period right after `period` (same kind).
DeliveryPeriod next_period(const DeliveryPeriod& period);

// The period a label names ("2027-03", "2027-Q2", "2027-W09", "2027", "2027-03-01"); none for
// text that names no period ("2027-13", "2027-W53" in a year of 52 ISO weeks, "2027-3").
std::optional<DeliveryPeriod> parse_period_label(std::string_view label);

// The listed series of a product on `today`: for each kind, every period that starts after
// today (strictly: the period in progress is not listed) and on or before today +
// listing_horizon_days, in kind order then start order.
std::vector<DeliveryPeriod> listed_periods(std::span<const PeriodKind> kinds, BusinessDate today,
                                           int listing_horizon_days);

}  // namespace cch
