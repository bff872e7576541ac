#include "cch/core/time.hpp"

#include <climits>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

// Expected values computed independently (Python's datetime) and written here as data.
constexpr std::int64_t kMarchFirst2026Days = 20513;                     // 2026-03-01
constexpr std::int64_t kMarchFirst2026Microseconds = 1772323200000000;  // 2026-03-01T00:00:00Z

cch::BusinessDate date(std::string_view text) {
  return cch::BusinessDate::parse(text).value();
}

void expect_timestamp_refused(const std::vector<std::pair<std::string, cch::TimeError>>& cases) {
  for (const auto& [text, expected_error] : cases) {
    const auto parsed = cch::UtcTimestamp::parse(text);
    ASSERT_FALSE(parsed.has_value()) << "'" << text.substr(0, 40) << "' parsed as " << parsed.value();
    EXPECT_EQ(parsed.error(), expected_error)
        << "'" << text.substr(0, 40) << "' refused as " << cch::to_string(parsed.error()) << ", expected "
        << cch::to_string(expected_error);
  }
}

}  // namespace

TEST(Time, ParsesUtcTimestampsWithZOrZeroOffset) {
  EXPECT_EQ(cch::UtcTimestamp::parse("2026-03-01T00:00:00Z").value().unix_microseconds(), kMarchFirst2026Microseconds);
  EXPECT_EQ(cch::UtcTimestamp::parse("2026-03-01T00:00:00+00:00").value().unix_microseconds(),
            kMarchFirst2026Microseconds);
  EXPECT_EQ(cch::UtcTimestamp::parse("1970-01-01T00:00:00Z").value().unix_microseconds(), 0);
  EXPECT_EQ(cch::UtcTimestamp::parse("2026-03-01T12:30:15Z").value().unix_microseconds(),
            kMarchFirst2026Microseconds + (12 * 3600 + 30 * 60 + 15) * cch::kMicrosecondsPerSecond);
  EXPECT_EQ(cch::UtcTimestamp::parse("9999-12-31T23:59:59.999999Z").value().unix_microseconds(),
            cch::UtcTimestamp::kUnixMicrosecondsMax);
}

TEST(Time, ParsesFractionsOfOneToSixDigits) {
  const std::vector<std::pair<std::string_view, std::int64_t>> cases = {
      {"2026-03-01T00:00:00.5Z", 500000},      {"2026-03-01T00:00:00.25+00:00", 250000},
      {"2026-03-01T00:00:00.123456Z", 123456}, {"2026-03-01T00:00:00.000001Z", 1},
      {"2026-03-01T00:00:00.000000Z", 0},      {"2026-03-01T00:00:00.050Z", 50000},
  };
  for (const auto& [text, expected_microseconds] : cases) {
    const auto parsed = cch::UtcTimestamp::parse(text);
    ASSERT_TRUE(parsed.has_value()) << text << ": " << cch::to_string(parsed.error());
    EXPECT_EQ(parsed.value().unix_microseconds() - kMarchFirst2026Microseconds, expected_microseconds) << text;
  }
  expect_timestamp_refused({
      {"2026-03-01T00:00:00.1234567Z", cch::TimeError::fraction_too_long},
      {"2026-03-01T00:00:00.123456789Z", cch::TimeError::fraction_too_long},
      {"2026-03-01T00:00:00.Z", cch::TimeError::malformed},
      {"2026-03-01T00:00:00,5Z", cch::TimeError::malformed},
  });
}

TEST(Time, ValidatesCalendarDatesIncludingLeapYears) {
  EXPECT_TRUE(cch::UtcTimestamp::parse("2024-02-29T12:00:00Z").has_value());
  EXPECT_TRUE(cch::UtcTimestamp::parse("2000-02-29T00:00:00Z").has_value());  // divisible by 400
  expect_timestamp_refused({
      {"2026-02-29T00:00:00Z", cch::TimeError::invalid_date},
      {"2100-02-29T00:00:00Z", cch::TimeError::invalid_date},  // divisible by 100, not by 400
      {"2026-04-31T00:00:00Z", cch::TimeError::invalid_date},
      {"2026-00-10T00:00:00Z", cch::TimeError::invalid_date},
      {"2026-13-01T00:00:00Z", cch::TimeError::invalid_date},
      {"2026-01-00T00:00:00Z", cch::TimeError::invalid_date},
      {"2026-01-32T00:00:00Z", cch::TimeError::invalid_date},
      {"2026-02-29T24:00:00Z", cch::TimeError::invalid_date},  // the date is checked first
  });
}

TEST(Time, ValidatesTimesWithoutLeapSeconds) {
  EXPECT_TRUE(cch::UtcTimestamp::parse("2026-03-01T23:59:59.999999Z").has_value());
  expect_timestamp_refused({
      {"2026-03-01T24:00:00Z", cch::TimeError::invalid_time},
      {"2026-03-01T23:60:00Z", cch::TimeError::invalid_time},
      {"2026-03-01T23:59:60Z", cch::TimeError::invalid_time},  // leap seconds do not exist here
      {"2026-03-01T99:99:99Z", cch::TimeError::invalid_time},
  });
}

TEST(Time, RefusesOffsetsOtherThanUtc) {
  expect_timestamp_refused({
      {"2026-03-01T00:00:00", cch::TimeError::offset_missing},
      {"2026-03-01T00:00:00.5", cch::TimeError::offset_missing},
      {"2026-03-01T00:00:00+01:00", cch::TimeError::offset_not_utc},
      {"2026-03-01T00:00:00-05:00", cch::TimeError::offset_not_utc},
      {"2026-03-01T00:00:00-00:00", cch::TimeError::offset_not_utc},  // RFC 3339: "offset unknown"
      {"2026-03-01T00:00:00+0000", cch::TimeError::malformed},
      {"2026-03-01T00:00:00+00", cch::TimeError::malformed},
      {"2026-03-01T00:00:00z", cch::TimeError::malformed},
      {"2026-03-01T00:00:00Z ", cch::TimeError::malformed},
      {"2026-03-01T00:00:00ZZ", cch::TimeError::malformed},
      {"2026-03-01T00:00:00 Z", cch::TimeError::malformed},
      {"2026-03-01T00:00:00UTC", cch::TimeError::malformed},
  });
}

TEST(Time, RefusesMalformedEmptyAndHugeText) {
  expect_timestamp_refused({
      {"", cch::TimeError::empty},
      {"2026-03-01T00:00:00.000000+00:00 ", cch::TimeError::too_long},
      {std::string(1U << 20U, '2'), cch::TimeError::too_long},
      {"2026-3-01T00:00:00Z", cch::TimeError::malformed},
      {"2026-03-01 00:00:00Z", cch::TimeError::malformed},
      {"2026-03-01t00:00:00Z", cch::TimeError::malformed},
      {"26-03-01T00:00:00Z", cch::TimeError::malformed},
      {" 2026-03-01T00:00:00Z", cch::TimeError::malformed},
      {"+2026-03-01T00:00:00Z", cch::TimeError::malformed},
      {"2026-03-01T00:00Z", cch::TimeError::malformed},
      {"2026-03-01", cch::TimeError::malformed},
      {"2026/03/01T00:00:00Z", cch::TimeError::malformed},
      {"2026-03-01T00:00:0aZ", cch::TimeError::malformed},
      {"1772323200", cch::TimeError::malformed},
  });
}

TEST(Time, RefusesInstantsOutsideTheValidRange) {
  expect_timestamp_refused({
      {"1969-12-31T23:59:59Z", cch::TimeError::out_of_range},
      {"0000-01-01T00:00:00Z", cch::TimeError::out_of_range},
  });
  EXPECT_EQ(cch::UtcTimestamp::from_unix_microseconds(-1).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(cch::UtcTimestamp::from_unix_microseconds(cch::UtcTimestamp::kUnixMicrosecondsMax + 1).error(),
            cch::TimeError::out_of_range);
  EXPECT_EQ(cch::UtcTimestamp::from_unix_microseconds(std::numeric_limits<std::int64_t>::max()).error(),
            cch::TimeError::out_of_range);
  EXPECT_EQ(cch::UtcTimestamp::from_unix_microseconds(12).value().unix_microseconds(), 12);
}

TEST(Time, FormatsTheFixedMicrosecondForm) {
  EXPECT_EQ(cch::UtcTimestamp(0).format(), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(cch::UtcTimestamp(kMarchFirst2026Microseconds).format(), "2026-03-01T00:00:00.000000Z");
  EXPECT_EQ(cch::UtcTimestamp(kMarchFirst2026Microseconds + 45296789012).format(), "2026-03-01T12:34:56.789012Z");
  EXPECT_EQ(cch::UtcTimestamp(cch::UtcTimestamp::kUnixMicrosecondsMax).format(), "9999-12-31T23:59:59.999999Z");
  EXPECT_EQ(cch::UtcTimestamp::parse("2024-02-29T23:59:59.5+00:00").value().format(), "2024-02-29T23:59:59.500000Z");
  std::ostringstream stream;
  stream << cch::UtcTimestamp(1);
  EXPECT_EQ(stream.str(), "1970-01-01T00:00:00.000001Z");
}

TEST(Time, RandomTimestampsRoundTripAndSortAsText) {
  std::mt19937_64 generator(1772323200);
  std::uniform_int_distribution<std::int64_t> any_instant(cch::UtcTimestamp::kUnixMicrosecondsMin,
                                                          cch::UtcTimestamp::kUnixMicrosecondsMax);
  std::string previous_text;
  cch::UtcTimestamp previous(0);
  for (int index = 0; index < 5000; ++index) {
    const cch::UtcTimestamp instant(any_instant(generator));
    const std::string text = instant.format();
    ASSERT_EQ(text.size(), 27U) << text;
    const auto parsed = cch::UtcTimestamp::parse(text);
    ASSERT_TRUE(parsed.has_value()) << text << ": " << cch::to_string(parsed.error());
    ASSERT_EQ(parsed.value(), instant) << text;
    if (index > 0) {
      EXPECT_EQ(previous < instant, previous_text < text) << previous_text << " vs " << text;
    }
    previous = instant;
    previous_text = text;
  }
}

TEST(Time, NowIsAPlausiblePresent) {
  const cch::UtcTimestamp now = cch::UtcTimestamp::now();
  EXPECT_GT(now, cch::UtcTimestamp::parse("2025-01-01T00:00:00Z").value());
  EXPECT_LT(now, cch::UtcTimestamp::parse("2100-01-01T00:00:00Z").value());
  EXPECT_LE(now, cch::UtcTimestamp::now());
}

TEST(Time, AddsMicrosecondsWithinTheRange) {
  const cch::UtcTimestamp start(kMarchFirst2026Microseconds);
  EXPECT_EQ(start.add_microseconds(cch::kMicrosecondsPerDay).value().format(), "2026-03-02T00:00:00.000000Z");
  EXPECT_EQ(start.add_microseconds(-1).value().format(), "2026-02-28T23:59:59.999999Z");
  EXPECT_EQ(cch::UtcTimestamp(0).add_microseconds(-1).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(start.add_microseconds(std::numeric_limits<std::int64_t>::max()).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(start.add_microseconds(std::numeric_limits<std::int64_t>::min()).error(), cch::TimeError::out_of_range);
}

TEST(Time, ReasonCodesAreStableSnakeCase) {
  EXPECT_EQ(cch::to_string(cch::TimeError::empty), "empty");
  EXPECT_EQ(cch::to_string(cch::TimeError::too_long), "too_long");
  EXPECT_EQ(cch::to_string(cch::TimeError::malformed), "malformed");
  EXPECT_EQ(cch::to_string(cch::TimeError::fraction_too_long), "fraction_too_long");
  EXPECT_EQ(cch::to_string(cch::TimeError::offset_missing), "offset_missing");
  EXPECT_EQ(cch::to_string(cch::TimeError::offset_not_utc), "offset_not_utc");
  EXPECT_EQ(cch::to_string(cch::TimeError::invalid_date), "invalid_date");
  EXPECT_EQ(cch::to_string(cch::TimeError::invalid_time), "invalid_time");
  EXPECT_EQ(cch::to_string(cch::TimeError::out_of_range), "out_of_range");
}

// ---- BusinessDate ----

TEST(BusinessDate, ParsesAndFormatsIsoDates) {
  const cch::BusinessDate march_first = date("2026-03-01");
  EXPECT_EQ(march_first.year(), 2026);
  EXPECT_EQ(march_first.month(), 3);
  EXPECT_EQ(march_first.day(), 1);
  EXPECT_EQ(march_first.days_since_epoch(), kMarchFirst2026Days);
  EXPECT_EQ(march_first.format(), "2026-03-01");
  EXPECT_EQ(date("1970-01-01").days_since_epoch(), 0);
  EXPECT_EQ(date("9999-12-31").days_since_epoch(), cch::BusinessDate::kDaysSinceEpochMax);
  EXPECT_EQ(date("2024-02-29").format(), "2024-02-29");
  std::ostringstream stream;
  stream << date("2026-07-03");
  EXPECT_EQ(stream.str(), "2026-07-03");
}

TEST(BusinessDate, RefusesInvalidText) {
  const std::vector<std::pair<std::string, cch::TimeError>> cases = {
      {"", cch::TimeError::empty},
      {"2026-03-01T00:00:00Z", cch::TimeError::too_long},
      {"10000-01-01", cch::TimeError::too_long},
      {std::string(1U << 20U, '1'), cch::TimeError::too_long},
      {"2026-3-1", cch::TimeError::malformed},
      {"2026/03/01", cch::TimeError::malformed},
      {"20260301", cch::TimeError::malformed},
      {" 2026-0301", cch::TimeError::malformed},
      {"2026-03-0a", cch::TimeError::malformed},
      {"-026-03-01", cch::TimeError::malformed},
      {"2026-02-29", cch::TimeError::invalid_date},
      {"2100-02-29", cch::TimeError::invalid_date},
      {"0000-00-00", cch::TimeError::invalid_date},
      {"2026-06-31", cch::TimeError::invalid_date},
      {"1969-12-31", cch::TimeError::out_of_range},
      {"0001-01-01", cch::TimeError::out_of_range},
  };
  for (const auto& [text, expected_error] : cases) {
    const auto parsed = cch::BusinessDate::parse(text);
    ASSERT_FALSE(parsed.has_value()) << "'" << text.substr(0, 40) << "'";
    EXPECT_EQ(parsed.error(), expected_error)
        << "'" << text.substr(0, 40) << "' refused as " << cch::to_string(parsed.error());
  }
}

TEST(BusinessDate, BuildsFromFieldsAndDays) {
  EXPECT_EQ(cch::BusinessDate::from_year_month_day(2026, 3, 1).value(), date("2026-03-01"));
  EXPECT_EQ(cch::BusinessDate::from_year_month_day(2024, 2, 29).value(), date("2024-02-29"));
  EXPECT_EQ(cch::BusinessDate::from_year_month_day(2026, 2, 29).error(), cch::TimeError::invalid_date);
  EXPECT_EQ(cch::BusinessDate::from_year_month_day(2026, -1, 1).error(), cch::TimeError::invalid_date);
  EXPECT_EQ(cch::BusinessDate::from_year_month_day(2026, 1, INT_MIN).error(), cch::TimeError::invalid_date);
  EXPECT_EQ(cch::BusinessDate::from_year_month_day(1969, 12, 31).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(cch::BusinessDate::from_year_month_day(10000, 1, 1).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(cch::BusinessDate::from_year_month_day(INT_MAX, 1, 1).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(cch::BusinessDate::from_year_month_day(INT_MIN, 1, 1).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(cch::BusinessDate::from_days_since_epoch(kMarchFirst2026Days).value(), date("2026-03-01"));
  EXPECT_EQ(cch::BusinessDate::from_days_since_epoch(-1).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(cch::BusinessDate::from_days_since_epoch(cch::BusinessDate::kDaysSinceEpochMax + 1).error(),
            cch::TimeError::out_of_range);
}

TEST(BusinessDate, AddsDaysAcrossMonthsYearsAndLeapDays) {
  EXPECT_EQ(date("2026-02-28").add_days(1).value(), date("2026-03-01"));
  EXPECT_EQ(date("2024-02-28").add_days(1).value(), date("2024-02-29"));
  EXPECT_EQ(date("2024-02-29").add_days(1).value(), date("2024-03-01"));
  EXPECT_EQ(date("2026-12-31").add_days(1).value(), date("2027-01-01"));
  EXPECT_EQ(date("2026-03-01").add_days(-1).value(), date("2026-02-28"));
  EXPECT_EQ(date("2026-03-01").add_days(0).value(), date("2026-03-01"));
  EXPECT_EQ(date("1970-01-01").add_days(-1).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(date("9999-12-31").add_days(1).error(), cch::TimeError::out_of_range);
  EXPECT_EQ(date("2026-03-01").add_days(std::numeric_limits<std::int64_t>::max()).error(),
            cch::TimeError::out_of_range);
  EXPECT_EQ(date("2026-03-01").add_days(std::numeric_limits<std::int64_t>::min()).error(),
            cch::TimeError::out_of_range);
}

TEST(BusinessDate, CountsDaysBetween) {
  EXPECT_EQ(cch::days_between(date("2026-03-01"), date("2026-04-01")), 31);
  EXPECT_EQ(cch::days_between(date("2026-04-01"), date("2026-03-01")), -31);
  EXPECT_EQ(cch::days_between(date("2026-03-01"), date("2026-03-01")), 0);
  EXPECT_EQ(cch::days_between(date("2024-01-01"), date("2025-01-01")), 366);
  EXPECT_EQ(cch::days_between(date("2026-01-01"), date("2027-01-01")), 365);
  EXPECT_EQ(cch::days_between(date("1970-01-01"), date("9999-12-31")), cch::BusinessDate::kDaysSinceEpochMax);
}

TEST(BusinessDate, KnowsTheWeekday) {
  EXPECT_EQ(date("1970-01-01").weekday(), cch::Weekday::thursday);
  EXPECT_EQ(date("2026-03-01").weekday(), cch::Weekday::sunday);
  EXPECT_EQ(date("2026-03-02").weekday(), cch::Weekday::monday);
  EXPECT_EQ(date("2026-07-03").weekday(), cch::Weekday::friday);
  EXPECT_EQ(date("2024-02-29").weekday(), cch::Weekday::thursday);
  EXPECT_EQ(date("9999-12-31").weekday(), cch::Weekday::friday);
  EXPECT_EQ(cch::to_string(cch::Weekday::saturday), "saturday");
  EXPECT_EQ(static_cast<int>(cch::Weekday::sunday), 7);  // ISO 8601 numbering
}

TEST(BusinessDate, StartOfDayAndTheDateOfAnInstant) {
  EXPECT_EQ(date("2026-03-01").start_of_day(), cch::UtcTimestamp::parse("2026-03-01T00:00:00Z").value());
  EXPECT_EQ(date("1970-01-01").start_of_day().unix_microseconds(), 0);
  EXPECT_EQ(date("9999-12-31").start_of_day().format(), "9999-12-31T00:00:00.000000Z");
  EXPECT_EQ(cch::BusinessDate::containing(cch::UtcTimestamp::parse("2026-03-01T23:59:59.999999Z").value()),
            date("2026-03-01"));
  EXPECT_EQ(cch::BusinessDate::containing(cch::UtcTimestamp::parse("2026-03-02T00:00:00Z").value()),
            date("2026-03-02"));
  EXPECT_EQ(cch::BusinessDate::containing(cch::UtcTimestamp(cch::UtcTimestamp::kUnixMicrosecondsMax)),
            date("9999-12-31"));
}

TEST(BusinessDate, ComparesChronologically) {
  EXPECT_LT(date("2026-02-28"), date("2026-03-01"));
  EXPECT_GT(date("2027-01-01"), date("2026-12-31"));
  EXPECT_EQ(date("2026-03-01"), date("2026-03-01"));
}

TEST(BusinessDate, EveryDateRoundTripsThroughText) {
  // Every 29th day over the whole range (29 = 4 weeks + 1, so every weekday and month comes
  // round), and every day of a leap year.
  for (std::int64_t days = 0; days <= cch::BusinessDate::kDaysSinceEpochMax; days += 29) {
    const cch::BusinessDate original = cch::BusinessDate::from_days_since_epoch(days).value();
    ASSERT_EQ(cch::BusinessDate::parse(original.format()).value(), original) << original.format();
  }
  cch::BusinessDate day = date("2024-01-01");
  for (int index = 0; index < 366; ++index) {
    ASSERT_EQ(cch::BusinessDate::parse(day.format()).value(), day);
    day = day.add_days(1).value();
  }
  EXPECT_EQ(day, date("2025-01-01"));
}
