#pragma once
// Instants (UtcTimestamp) and calendar dates (BusinessDate), both in UTC, both exact integers.
//
// UtcTimestamp: microseconds since 1970-01-01T00:00:00Z, valid from 1970-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999Z. Leap seconds do not exist here (POSIX time, as PostgreSQL's
// timestamptz). Text is strict ISO 8601 / RFC 3339 in UTC:
//     parse:  YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+00:00)
//             "2026-03-01T00:00:00Z", "2026-03-01T12:30:15.25+00:00"
//             upper-case 'T' and 'Z' only; the date must exist (2024-02-29 yes, 2026-02-29
//             no); hours 00-23, minutes and seconds 00-59 (no leap second 60).
//     format: always the fixed form YYYY-MM-DDTHH:MM:SS.ffffffZ, six fraction digits and 'Z':
//             "2026-03-01T00:00:00.000000Z". One spelling per instant, the same width for
//             every instant, so formatted timestamps sort as text; parse(format(t)) == t.
// Parse refusals (TimeError), checked in this order: empty, too_long (over 32 characters),
// malformed (the shape above), fraction_too_long (7 or more fraction digits), offset_missing
// (nothing after the seconds), offset_not_utc (a well-formed offset other than +00:00, such
// as "+01:00" or "-00:00"), invalid_date, invalid_time, out_of_range (before 1970).
//
// BusinessDate: a calendar day (year, month, day) from 1970-01-01 to 9999-12-31, the date a
// settlement run or a mark belongs to. Whether it is a business day is the business
// calendar's question (calendar.hpp), not this type's. Text is "YYYY-MM-DD" exactly.
// Arithmetic that would leave the valid range is refused with out_of_range.
//
// Construction of a UtcTimestamp from an int64 outside the valid range is a programmer error
// (assertion); untrusted integers go through UtcTimestamp::from_unix_microseconds.
//
// Thread safety: plain values and pure functions (now() reads the system clock); safe from
// any thread.

#include <cassert>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "cch/core/result.hpp"

namespace cch {

enum class TimeError {
  empty,              // ""
  too_long,           // longer than any valid text
  malformed,          // not the required shape
  fraction_too_long,  // more than 6 fraction digits (nanoseconds are not kept)
  offset_missing,     // no 'Z' or '+00:00' after the time
  offset_not_utc,     // an offset other than +00:00
  invalid_date,       // a month or day that does not exist ("2026-02-29", "2026-13-01")
  invalid_time,       // hour above 23, minute or second above 59
  out_of_range,       // outside the valid range of the type
};
std::string_view to_string(TimeError error);

inline constexpr std::int64_t kMicrosecondsPerSecond = 1'000'000;
inline constexpr std::int64_t kMicrosecondsPerHour = 3'600 * kMicrosecondsPerSecond;
inline constexpr std::int64_t kMicrosecondsPerDay = 86'400 * kMicrosecondsPerSecond;

class UtcTimestamp {
 public:
  static constexpr std::int64_t kUnixMicrosecondsMin = 0;                   // 1970-01-01T00:00:00.000000Z
  static constexpr std::int64_t kUnixMicrosecondsMax = 253402300799999999;  // 9999-12-31T23:59:59.999999Z
  static constexpr std::size_t kTextLengthMax = 32;                         // "YYYY-MM-DDTHH:MM:SS.ffffff+00:00"

  // Precondition: kUnixMicrosecondsMin <= unix_microseconds <= kUnixMicrosecondsMax.
  constexpr explicit UtcTimestamp(std::int64_t unix_microseconds) : unix_microseconds_(unix_microseconds) {
    assert(unix_microseconds >= kUnixMicrosecondsMin && unix_microseconds <= kUnixMicrosecondsMax &&
           "UtcTimestamp outside 1970..9999");
  }

  static Result<UtcTimestamp, TimeError> from_unix_microseconds(std::int64_t unix_microseconds);
  // The system clock, truncated to microseconds.
  static UtcTimestamp now();
  static Result<UtcTimestamp, TimeError> parse(std::string_view text);

  [[nodiscard]] std::int64_t unix_microseconds() const { return unix_microseconds_; }
  // Fixed form "YYYY-MM-DDTHH:MM:SS.ffffffZ".
  [[nodiscard]] std::string format() const;
  // This instant moved by `microseconds` (either sign); refused if it leaves the valid range.
  [[nodiscard]] Result<UtcTimestamp, TimeError> add_microseconds(std::int64_t microseconds) const;

  friend constexpr auto operator<=>(const UtcTimestamp&, const UtcTimestamp&) = default;

 private:
  std::int64_t unix_microseconds_;
};

// ISO 8601 weekday numbers: Monday is 1, Sunday is 7.
enum class Weekday { monday = 1, tuesday, wednesday, thursday, friday, saturday, sunday };
std::string_view to_string(Weekday weekday);

class BusinessDate {
 public:
  static constexpr std::int64_t kDaysSinceEpochMin = 0;        // 1970-01-01
  static constexpr std::int64_t kDaysSinceEpochMax = 2932896;  // 9999-12-31

  // Refused with invalid_date if the day does not exist, out_of_range outside 1970..9999.
  static Result<BusinessDate, TimeError> from_year_month_day(int year, int month, int day);
  static Result<BusinessDate, TimeError> from_days_since_epoch(std::int64_t days_since_epoch);
  // Exactly "YYYY-MM-DD". Refusals: empty, too_long, malformed, invalid_date, out_of_range.
  static Result<BusinessDate, TimeError> parse(std::string_view text);
  // The UTC date on which `instant` falls.
  static BusinessDate containing(UtcTimestamp instant);

  [[nodiscard]] int year() const;
  [[nodiscard]] int month() const;  // 1..12
  [[nodiscard]] int day() const;    // 1..31
  [[nodiscard]] std::int64_t days_since_epoch() const { return days_since_epoch_; }
  [[nodiscard]] Weekday weekday() const;
  // "YYYY-MM-DD".
  [[nodiscard]] std::string format() const;
  // The date `days` later (earlier when negative); refused with out_of_range outside 1970..9999.
  [[nodiscard]] Result<BusinessDate, TimeError> add_days(std::int64_t days) const;
  // 00:00:00 UTC of this date.
  [[nodiscard]] UtcTimestamp start_of_day() const;

  friend constexpr auto operator<=>(const BusinessDate&, const BusinessDate&) = default;

 private:
  explicit BusinessDate(std::int64_t days_since_epoch) : days_since_epoch_(days_since_epoch) {}

  std::int64_t days_since_epoch_;
};

// to - from in days: days_between(2026-03-01, 2026-04-01) == 31; negative if to is earlier.
std::int64_t days_between(BusinessDate from, BusinessDate to);

std::ostream& operator<<(std::ostream& stream, const UtcTimestamp& instant);
std::ostream& operator<<(std::ostream& stream, const BusinessDate& date);

}  // namespace cch
