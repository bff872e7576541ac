#include "cch/core/calendar.hpp"

// Specific QuantLib headers only: <ql/quantlib.hpp> does not compile under C++20 with Boost 1.74.
#include <ql/time/calendar.hpp>
#include <ql/time/calendars/target.hpp>
#include <ql/time/calendars/unitedkingdom.hpp>
#include <ql/time/calendars/unitedstates.hpp>
#include <ql/time/calendars/weekendsonly.hpp>
#include <ql/time/date.hpp>

#include <array>
#include <cassert>
#include <chrono>
#include <optional>
#include <string>

namespace cch {

struct BusinessCalendar::Implementation {
  std::string name;
  QuantLib::Calendar calendar;
};

namespace {

// Every calendar make_calendar knows. To add one, add a row here and a test of its holidays.
struct CalendarDefinition {
  std::string_view name;
  QuantLib::Calendar (*make)();
};
constexpr std::array kCalendarDefinitions = {
    CalendarDefinition{"weekends_only", []() -> QuantLib::Calendar { return QuantLib::WeekendsOnly(); }},
    CalendarDefinition{
        "united_states_settlement",
        []() -> QuantLib::Calendar { return QuantLib::UnitedStates(QuantLib::UnitedStates::Settlement); }},
    CalendarDefinition{
        "united_states_sofr",
        []() -> QuantLib::Calendar { return QuantLib::UnitedStates(QuantLib::UnitedStates::GovernmentBond); }},
    CalendarDefinition{"united_states_nyse",
                       []() -> QuantLib::Calendar { return QuantLib::UnitedStates(QuantLib::UnitedStates::NYSE); }},
    CalendarDefinition{
        "united_kingdom",
        []() -> QuantLib::Calendar { return QuantLib::UnitedKingdom(QuantLib::UnitedKingdom::Settlement); }},
    CalendarDefinition{"target", []() -> QuantLib::Calendar { return QuantLib::TARGET(); }},
};

constexpr auto kCalendarNames = [] {
  std::array<std::string_view, kCalendarDefinitions.size()> names{};
  for (std::size_t index = 0; index < names.size(); ++index) {
    names[index] = kCalendarDefinitions[index].name;
  }
  return names;
}();

// QuantLib's serial numbers are Excel's: 25569 is 1970-01-01.
constexpr std::int64_t kQuantLibSerialOfUnixEpoch = 25569;

constexpr std::int64_t kFirstCoveredDaysSinceEpoch = 0;  // 1970-01-01, BusinessDate's first date
// 2199-12-31, QuantLib's Date::maxDate().
constexpr std::int64_t kLastCoveredDaysSinceEpoch =
    std::chrono::sys_days{std::chrono::year{2199} / std::chrono::December / 31}.time_since_epoch().count();

std::optional<QuantLib::Calendar> make_quantlib_calendar(std::string_view name) {
  for (const CalendarDefinition& definition : kCalendarDefinitions) {
    if (definition.name == name) {
      return definition.make();
    }
  }
  return std::nullopt;
}

bool is_covered(std::int64_t days_since_epoch) {
  return days_since_epoch >= kFirstCoveredDaysSinceEpoch && days_since_epoch <= kLastCoveredDaysSinceEpoch;
}

QuantLib::Date to_quantlib_date(std::int64_t days_since_epoch) {
  assert(is_covered(days_since_epoch) && "date outside the calendar range");
  return QuantLib::Date(static_cast<QuantLib::Date::serial_type>(days_since_epoch + kQuantLibSerialOfUnixEpoch));
}

bool is_business_day_at(const QuantLib::Calendar& calendar, std::int64_t days_since_epoch) {
  return calendar.isBusinessDay(to_quantlib_date(days_since_epoch));
}

BusinessDate to_business_date(std::int64_t days_since_epoch) {
  // Covered days are always valid BusinessDates.
  return BusinessDate::from_days_since_epoch(days_since_epoch).value();
}

}  // namespace

std::string_view to_string(CalendarError error) {
  switch (error) {
    case CalendarError::unknown_calendar:
      return "unknown_calendar";
    case CalendarError::date_outside_calendar_range:
      return "date_outside_calendar_range";
  }
  assert(false && "unknown CalendarError");
  return "unknown";
}

BusinessCalendar::BusinessCalendar(std::shared_ptr<const Implementation> implementation)
    : implementation_(std::move(implementation)) {}

std::string_view BusinessCalendar::name() const {
  return implementation_->name;
}

bool BusinessCalendar::covers(BusinessDate date) const {
  return is_covered(date.days_since_epoch());
}

bool BusinessCalendar::is_business_day(BusinessDate date) const {
  assert(covers(date) && "is_business_day: date outside the calendar range");
  return is_business_day_at(implementation_->calendar, date.days_since_epoch());
}

Result<BusinessDate, CalendarError> BusinessCalendar::advance(BusinessDate date, int business_days) const {
  std::int64_t day = date.days_since_epoch();
  if (!is_covered(day)) {
    return fail(CalendarError::date_outside_calendar_range);
  }
  const QuantLib::Calendar& calendar = implementation_->calendar;
  if (business_days == 0) {
    // Following adjustment. Bounded: every step moves towards the end of the covered range.
    while (!is_business_day_at(calendar, day)) {
      ++day;
      if (!is_covered(day)) {
        return fail(CalendarError::date_outside_calendar_range);
      }
    }
    return to_business_date(day);
  }
  const std::int64_t step = business_days > 0 ? 1 : -1;
  std::int64_t remaining = business_days > 0 ? std::int64_t{business_days} : -std::int64_t{business_days};
  // Bounded: every step moves towards one end of the covered range.
  while (remaining > 0) {
    day += step;
    if (!is_covered(day)) {
      return fail(CalendarError::date_outside_calendar_range);
    }
    if (is_business_day_at(calendar, day)) {
      --remaining;
    }
  }
  return to_business_date(day);
}

Result<BusinessDate, CalendarError> BusinessCalendar::next_business_day(BusinessDate date) const {
  return advance(date, 1);
}

Result<BusinessDate, CalendarError> BusinessCalendar::previous_business_day(BusinessDate date) const {
  return advance(date, -1);
}

Result<std::int64_t, CalendarError> BusinessCalendar::business_days_between(BusinessDate from, BusinessDate to) const {
  if (!covers(from) || !covers(to)) {
    return fail(CalendarError::date_outside_calendar_range);
  }
  const bool reversed = to < from;
  const std::int64_t first = reversed ? to.days_since_epoch() : from.days_since_epoch();
  const std::int64_t end = reversed ? from.days_since_epoch() : to.days_since_epoch();
  std::int64_t count = 0;
  for (std::int64_t day = first; day < end; ++day) {
    if (is_business_day_at(implementation_->calendar, day)) {
      ++count;
    }
  }
  return reversed ? -count : count;
}

BusinessDate BusinessCalendar::first_covered_date() {
  return to_business_date(kFirstCoveredDaysSinceEpoch);
}

BusinessDate BusinessCalendar::last_covered_date() {
  return to_business_date(kLastCoveredDaysSinceEpoch);
}

Result<BusinessCalendar, CalendarError> make_calendar(std::string_view name) {
  std::optional<QuantLib::Calendar> calendar = make_quantlib_calendar(name);
  if (!calendar) {
    return fail(CalendarError::unknown_calendar);
  }
  return BusinessCalendar(std::make_shared<const BusinessCalendar::Implementation>(
      BusinessCalendar::Implementation{std::string(name), *calendar}));
}

std::span<const std::string_view> calendar_names() {
  return kCalendarNames;
}

}  // namespace cch
