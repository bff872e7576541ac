#pragma once
// Business calendars: which dates are business days, and moving by business days.
//
// A BusinessCalendar is made by name with make_calendar; the holiday rules come from QuantLib
// 1.29 (kept out of this header, see calendar.cpp). Known names (calendar_names()):
//   weekends_only             Saturdays and Sundays only (QuantLib WeekendsOnly)
//   united_states_settlement  US federal holidays (QuantLib UnitedStates::Settlement)
//   united_states_sofr        the days SOFR is published: the US government-securities
//                             market (SIFMA) with Good Friday always closed. QuantLib 1.29
//                             has no SOFR market; its UnitedStates::GovernmentBond already
//                             closes every Good Friday, so it is used as is.
//   united_states_nyse        New York Stock Exchange (QuantLib UnitedStates::NYSE)
//   united_kingdom            UK bank holidays (QuantLib UnitedKingdom::Settlement)
//   target                    TARGET2, euro payments (QuantLib TARGET)
//
// Range: a calendar answers for dates from 1970-01-01 (BusinessDate's first date) to
// 2199-12-31 (QuantLib's last date); covers(date) says whether a date is inside.
// is_business_day requires a covered date (asserted: validate untrusted dates with covers()
// first); the functions that move between dates refuse with date_outside_calendar_range when
// the start or the result is outside the range.
//
// Semantics (n is a count of business days):
//   advance(date, n > 0)     the n-th business day after date (date itself need not be one)
//   advance(date, n < 0)     the |n|-th business day before date
//   advance(date, 0)         date if it is a business day, else the next business day
//                            (QuantLib's Following adjustment, so T+0 of a holiday is valid)
//   next_business_day(date)      == advance(date, 1): the first business day after date
//   previous_business_day(date)  == advance(date, -1): the last business day before date
//   business_days_between(from, to)  the number of business days d with from <= d < to;
//                            when to < from, minus the number of business days with
//                            to <= d < from (so it is antisymmetric and 0 when from == to)
//
// Thread safety: a BusinessCalendar is immutable and may be shared by any number of threads
// (copies share one read-only QuantLib calendar; nothing in cch adds or removes holidays,
// which in QuantLib would mutate state shared by every copy of that calendar).

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "cch/core/result.hpp"
#include "cch/core/time.hpp"

namespace cch {

enum class CalendarError {
  unknown_calendar,             // make_calendar with a name not in calendar_names()
  date_outside_calendar_range,  // a start date or a result outside 1970-01-01..2199-12-31
};
std::string_view to_string(CalendarError error);

class BusinessCalendar {
 public:
  // The name it was made with, e.g. "united_states_sofr".
  [[nodiscard]] std::string_view name() const;
  // Whether the calendar answers for `date` (1970-01-01..2199-12-31).
  [[nodiscard]] bool covers(BusinessDate date) const;
  // Precondition: covers(date).
  [[nodiscard]] bool is_business_day(BusinessDate date) const;

  [[nodiscard]] Result<BusinessDate, CalendarError> advance(BusinessDate date, int business_days) const;
  [[nodiscard]] Result<BusinessDate, CalendarError> next_business_day(BusinessDate date) const;
  [[nodiscard]] Result<BusinessDate, CalendarError> previous_business_day(BusinessDate date) const;
  [[nodiscard]] Result<std::int64_t, CalendarError> business_days_between(BusinessDate from, BusinessDate to) const;

  // The first and last dates every calendar covers.
  static BusinessDate first_covered_date();
  static BusinessDate last_covered_date();

  struct Implementation;  // defined in calendar.cpp; holds the QuantLib calendar

 private:
  explicit BusinessCalendar(std::shared_ptr<const Implementation> implementation);
  friend Result<BusinessCalendar, CalendarError> make_calendar(std::string_view name);

  std::shared_ptr<const Implementation> implementation_;
};

// The calendar called `name` (one of calendar_names()); refused with unknown_calendar.
Result<BusinessCalendar, CalendarError> make_calendar(std::string_view name);

// Every name make_calendar accepts, in the order of the list above.
std::span<const std::string_view> calendar_names();

}  // namespace cch
