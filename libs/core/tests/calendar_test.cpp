#include "cch/core/calendar.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace {

cch::BusinessDate date(std::string_view text) {
  return cch::BusinessDate::parse(text).value();
}

cch::BusinessCalendar calendar(std::string_view name) {
  return cch::make_calendar(name).value();
}

// Checks each date of `holidays` is not a business day and each of `business_days` is one.
void expect_days(std::string_view calendar_name, const std::vector<std::string_view>& holidays,
                 const std::vector<std::string_view>& business_days) {
  const cch::BusinessCalendar checked = calendar(calendar_name);
  for (const std::string_view holiday : holidays) {
    EXPECT_FALSE(checked.is_business_day(date(holiday))) << calendar_name << ": " << holiday << " should be a holiday";
  }
  for (const std::string_view business_day : business_days) {
    EXPECT_TRUE(checked.is_business_day(date(business_day)))
        << calendar_name << ": " << business_day << " should be a business day";
  }
}

}  // namespace

TEST(Calendar, MakesEveryListedCalendarAndNoOther) {
  const std::vector<std::string_view> expected_names = {"weekends_only",      "united_states_settlement",
                                                        "united_states_sofr", "united_states_nyse",
                                                        "united_kingdom",     "target"};
  const auto names = cch::calendar_names();
  ASSERT_EQ(std::vector<std::string_view>(names.begin(), names.end()), expected_names);
  for (const std::string_view name : names) {
    const auto made = cch::make_calendar(name);
    ASSERT_TRUE(made.has_value()) << name;
    EXPECT_EQ(made.value().name(), name);
  }
  for (const std::string_view unknown : {"", "nyse", "UNITED_STATES_NYSE", "united_states", "target ", "TARGET"}) {
    const auto refused = cch::make_calendar(unknown);
    ASSERT_FALSE(refused.has_value()) << "'" << unknown << "'";
    EXPECT_EQ(refused.error(), cch::CalendarError::unknown_calendar);
  }
  EXPECT_EQ(cch::to_string(cch::CalendarError::unknown_calendar), "unknown_calendar");
  EXPECT_EQ(cch::to_string(cch::CalendarError::date_outside_calendar_range), "date_outside_calendar_range");
}

TEST(Calendar, WeekendsOnlyClosesSaturdaysAndSundaysAlone) {
  expect_days("weekends_only", {"2026-03-07", "2026-03-08", "2026-07-04"},
              {"2026-03-06", "2026-03-09", "2026-07-03", "2026-12-25", "2026-01-01"});
}

TEST(Calendar, UnitedStatesSofrFollowsTheGovernmentBondMarket) {
  // 2026: Independence Day (Sat 4 July) is observed on Friday 3 July; Christmas is a Friday;
  // the bond market also closes for Columbus Day and Veterans Day, unlike the NYSE. Good
  // Friday is a holiday (QuantLib 1.29 GovernmentBond; SOFR has not been published on one).
  expect_days(
      "united_states_sofr",
      {"2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2023-04-07", "2026-05-25", "2026-06-19", "2026-07-03",
       "2026-09-07", "2026-10-12", "2026-11-11", "2026-11-26", "2026-12-25", "2026-07-04", "2026-07-05"},
      {"2026-07-02", "2026-07-06", "2026-12-24", "2026-12-28", "2026-11-27", "2026-03-02"});
}

TEST(Calendar, UnitedStatesNyseClosesGoodFridayButNotColumbusOrVeteransDay) {
  expect_days("united_states_nyse",
              {"2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19", "2026-07-03",
               "2026-09-07", "2026-11-26", "2026-12-25"},
              {"2026-10-12", "2026-11-11", "2026-07-02", "2026-04-02", "2026-04-06"});
}

TEST(Calendar, UnitedStatesSettlementKeepsFederalHolidays) {
  expect_days("united_states_settlement", {"2026-07-03", "2026-11-11", "2026-10-12", "2026-12-25"},
              {"2026-04-03", "2026-07-02"});
}

TEST(Calendar, UnitedKingdomBankHolidays) {
  // 2026: Easter is 5 April; Boxing Day is a Saturday, so its substitute is Monday 28 December.
  expect_days(
      "united_kingdom",
      {"2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31", "2026-12-25", "2026-12-28"},
      {"2026-07-03", "2026-11-26", "2026-04-07", "2026-12-29"});
}

TEST(Calendar, TargetHolidays) {
  expect_days("target", {"2026-01-01", "2026-04-03", "2026-04-06", "2026-05-01", "2026-12-25"},
              {"2026-07-03", "2026-12-24", "2026-12-28", "2026-12-31", "2026-05-04"});
}

TEST(Calendar, AdvancesByBusinessDays) {
  const cch::BusinessCalendar sofr = calendar("united_states_sofr");
  // T+2 from Wednesday 1 July 2026 skips the observed Independence Day and the weekend.
  EXPECT_EQ(sofr.advance(date("2026-07-01"), 2).value(), date("2026-07-06"));
  EXPECT_EQ(sofr.advance(date("2026-07-02"), 1).value(), date("2026-07-06"));
  EXPECT_EQ(sofr.advance(date("2026-07-06"), -1).value(), date("2026-07-02"));
  EXPECT_EQ(sofr.advance(date("2026-07-06"), -2).value(), date("2026-07-01"));
  // From a holiday, counting starts from the holiday itself.
  EXPECT_EQ(sofr.advance(date("2026-07-03"), 1).value(), date("2026-07-06"));
  EXPECT_EQ(sofr.advance(date("2026-07-03"), -1).value(), date("2026-07-02"));
  // Zero business days: the date itself if it is a business day, else the following one.
  EXPECT_EQ(sofr.advance(date("2026-07-02"), 0).value(), date("2026-07-02"));
  EXPECT_EQ(sofr.advance(date("2026-07-03"), 0).value(), date("2026-07-06"));
  // A year of business days: 2026 has 261 weekdays and 12 SOFR holidays on weekdays (New Year,
  // King, Presidents, Good Friday, Memorial, Juneteenth, 3 July, Labor, Columbus, Veterans,
  // Thanksgiving, Christmas), so 249 business days.
  EXPECT_EQ(sofr.advance(date("2025-12-31"), 249).value(), date("2026-12-31"));
}

TEST(Calendar, NextAndPreviousBusinessDay) {
  const cch::BusinessCalendar sofr = calendar("united_states_sofr");
  EXPECT_EQ(sofr.next_business_day(date("2026-12-24")).value(), date("2026-12-28"));
  EXPECT_EQ(sofr.next_business_day(date("2026-03-06")).value(), date("2026-03-09"));
  EXPECT_EQ(sofr.next_business_day(date("2026-03-02")).value(), date("2026-03-03"));
  EXPECT_EQ(sofr.previous_business_day(date("2026-12-28")).value(), date("2026-12-24"));
  EXPECT_EQ(sofr.previous_business_day(date("2026-07-06")).value(), date("2026-07-02"));
  EXPECT_EQ(sofr.previous_business_day(date("2026-03-08")).value(), date("2026-03-06"));
}

TEST(Calendar, CountsBusinessDaysFromIncludedToExcluded) {
  const cch::BusinessCalendar weekends = calendar("weekends_only");
  EXPECT_EQ(weekends.business_days_between(date("2026-03-02"), date("2026-03-09")).value(), 5);
  EXPECT_EQ(weekends.business_days_between(date("2026-03-09"), date("2026-03-02")).value(), -5);
  EXPECT_EQ(weekends.business_days_between(date("2026-03-02"), date("2026-03-02")).value(), 0);
  EXPECT_EQ(weekends.business_days_between(date("2026-03-07"), date("2026-03-09")).value(), 0);  // a weekend
  EXPECT_EQ(weekends.business_days_between(date("2026-03-06"), date("2026-03-07")).value(), 1);
  // July 2026 has 23 weekdays; the SOFR calendar closes on Friday 3 July.
  const cch::BusinessCalendar sofr = calendar("united_states_sofr");
  EXPECT_EQ(sofr.business_days_between(date("2026-07-01"), date("2026-08-01")).value(), 22);
  EXPECT_EQ(weekends.business_days_between(date("2026-07-01"), date("2026-08-01")).value(), 23);
  EXPECT_EQ(sofr.business_days_between(date("2026-01-01"), date("2027-01-01")).value(), 249);
}

TEST(Calendar, AdvanceAndCountAgree) {
  // For a business day d and n != 0: business_days_between(d, advance(d, n)) == n.
  const cch::BusinessCalendar nyse = calendar("united_states_nyse");
  for (cch::BusinessDate day = date("2026-01-01"); day < date("2027-01-01"); day = day.add_days(1).value()) {
    if (!nyse.is_business_day(day)) {
      continue;
    }
    for (const int business_days : {-30, -7, -2, -1, 1, 2, 7, 30}) {
      const cch::BusinessDate moved = nyse.advance(day, business_days).value();
      ASSERT_TRUE(nyse.is_business_day(moved)) << day << " " << business_days;
      ASSERT_EQ(nyse.business_days_between(day, moved).value(), business_days) << day << " " << business_days;
    }
  }
}

TEST(Calendar, RefusesDatesOutsideTheCoveredRange) {
  const cch::BusinessCalendar weekends = calendar("weekends_only");
  EXPECT_EQ(cch::BusinessCalendar::first_covered_date(), date("1970-01-01"));
  EXPECT_EQ(cch::BusinessCalendar::last_covered_date(), date("2199-12-31"));
  EXPECT_TRUE(weekends.covers(date("2199-12-31")));
  EXPECT_FALSE(weekends.covers(date("2200-01-01")));
  EXPECT_FALSE(weekends.covers(date("9999-12-31")));
  EXPECT_TRUE(weekends.is_business_day(date("2199-12-31")));  // a Tuesday
  EXPECT_TRUE(weekends.is_business_day(date("1970-01-01")));  // a Thursday

  const auto range_error = cch::CalendarError::date_outside_calendar_range;
  EXPECT_EQ(weekends.advance(date("2199-12-31"), 1).error(), range_error);
  EXPECT_EQ(weekends.advance(date("2200-01-01"), 0).error(), range_error);
  EXPECT_EQ(weekends.advance(date("2200-01-01"), -1).error(), range_error);
  EXPECT_EQ(weekends.advance(date("1970-01-01"), -1).error(), range_error);
  EXPECT_EQ(weekends.advance(date("2026-03-02"), 2'147'483'647).error(), range_error);  // bounded, not endless
  EXPECT_EQ(weekends.advance(date("2026-03-02"), -2'147'483'647 - 1).error(), range_error);
  EXPECT_EQ(weekends.next_business_day(date("2199-12-31")).error(), range_error);
  EXPECT_EQ(weekends.previous_business_day(date("1970-01-01")).error(), range_error);
  EXPECT_EQ(weekends.business_days_between(date("2026-03-02"), date("2200-01-01")).error(), range_error);
  EXPECT_EQ(weekends.business_days_between(date("9999-12-31"), date("2026-03-02")).error(), range_error);
  EXPECT_EQ(weekends.previous_business_day(date("1970-01-02")).value(), date("1970-01-01"));
  // 2199-12-31 itself is a Tuesday, so advancing by zero stays inside.
  EXPECT_EQ(weekends.advance(date("2199-12-31"), 0).value(), date("2199-12-31"));
}

TEST(Calendar, CountsTheWholeCoveredRange) {
  // Weekdays from 1970-01-01 (included) to 2199-12-31 (excluded), counted independently
  // with Python's datetime: 60003.
  const cch::BusinessCalendar weekends = calendar("weekends_only");
  EXPECT_EQ(weekends.business_days_between(date("1970-01-01"), date("2199-12-31")).value(), 60003);
}

TEST(Calendar, CopiesShareOneImmutableCalendar) {
  const cch::BusinessCalendar original = calendar("target");
  const cch::BusinessCalendar copy = original;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(copy.name(), "target");
  EXPECT_FALSE(copy.is_business_day(date("2026-05-01")));
  EXPECT_FALSE(original.is_business_day(date("2026-05-01")));
}
