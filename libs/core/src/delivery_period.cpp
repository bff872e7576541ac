#include "cch/core/delivery_period.hpp"

#include "cch/core/result.hpp"

#include <array>
#include <cassert>
#include <cstdio>

namespace cch {
namespace {

constexpr std::array<PeriodKind, 5> kPeriodKinds = {PeriodKind::day, PeriodKind::week, PeriodKind::month,
                                                     PeriodKind::quarter, PeriodKind::year};

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

// The value of a result, or none.
template <class T, class E>
std::optional<T> success(Result<T, E> result) {
  if (!result) return std::nullopt;
  return std::move(*result);
}

}  // namespace

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

std::optional<DeliveryPeriod> parse_period_label(std::string_view label) {
  int year = 0;
  int number = 0;
  int day = 0;
  const std::string text(label);
  std::optional<PeriodKind> kind;
  std::optional<BusinessDate> first;
  char extra = 0;
  if (text.size() == 4 && std::sscanf(text.c_str(), "%4d%c", &year, &extra) == 1) {
    kind = PeriodKind::year;
    first = success(BusinessDate::from_year_month_day(year, 1, 1));
  } else if (text.size() == 7 && text[5] == 'Q' && std::sscanf(text.c_str(), "%4d-Q%1d%c", &year, &number, &extra) == 2) {
    kind = PeriodKind::quarter;
    if (number >= 1 && number <= 4) first = success(BusinessDate::from_year_month_day(year, (number - 1) * 3 + 1, 1));
  } else if (text.size() == 8 && text[5] == 'W' && std::sscanf(text.c_str(), "%4d-W%2d%c", &year, &number, &extra) == 2) {
    kind = PeriodKind::week;
    // ISO week 1 is the week with 4 January in it.
    if (const auto fourth = success(BusinessDate::from_year_month_day(year, 1, 4)); fourth && number >= 1 && number <= 53) {
      const DeliveryPeriod week_one = period_containing(PeriodKind::week, *fourth);
      first = success(week_one.first_day.add_days(static_cast<std::int64_t>(number - 1) * 7));
    }
  } else if (text.size() == 7 && std::sscanf(text.c_str(), "%4d-%2d%c", &year, &number, &extra) == 2) {
    kind = PeriodKind::month;
    first = success(BusinessDate::from_year_month_day(year, number, 1));
  } else if (text.size() == 10 && std::sscanf(text.c_str(), "%4d-%2d-%2d%c", &year, &number, &day, &extra) == 3) {
    kind = PeriodKind::day;
    first = success(BusinessDate::from_year_month_day(year, number, day));
  }
  if (!kind || !first) return std::nullopt;
  DeliveryPeriod period = period_containing(*kind, *first);
  if (period.label != label) return std::nullopt;  // e.g. "2027-W53" in a year of 52 weeks
  return period;
}

}  // namespace cch
