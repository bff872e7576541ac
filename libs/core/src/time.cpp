#include "cch/core/time.hpp"

#include <chrono>
#include <ostream>

namespace cch {

namespace {

constexpr std::size_t kDateTextLength = 10;      // "YYYY-MM-DD"
constexpr std::size_t kDateTimeTextLength = 19;  // "YYYY-MM-DDTHH:MM:SS"
constexpr std::size_t kFractionDigitsMax = 6;    // microseconds
constexpr int kChronoYearMax = 32767;            // std::chrono::year::max()

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Whether `text` matches `pattern`, where '9' in the pattern stands for any digit and every
// other pattern character must match exactly. Sizes must be equal.
bool matches_shape(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) {
    return false;
  }
  for (std::size_t index = 0; index < text.size(); ++index) {
    const bool ok = pattern[index] == '9' ? is_digit(text[index]) : text[index] == pattern[index];
    if (!ok) {
      return false;
    }
  }
  return true;
}

// Value of `count` digits at `begin`; the caller has checked that they are digits.
int digits_value(std::string_view text, std::size_t begin, std::size_t count) {
  int value = 0;
  for (std::size_t index = begin; index < begin + count; ++index) {
    value = value * 10 + (text[index] - '0');
  }
  return value;
}

void append_padded(std::string& text, std::int64_t value, int width) {
  std::string digits = std::to_string(value);
  const auto width_size = static_cast<std::size_t>(width);
  if (digits.size() < width_size) {
    text.append(width_size - digits.size(), '0');
  }
  text += digits;
}

std::chrono::sys_days to_sys_days(std::int64_t days_since_epoch) {
  return std::chrono::sys_days{std::chrono::days{days_since_epoch}};
}

std::chrono::year_month_day to_year_month_day(std::int64_t days_since_epoch) {
  return std::chrono::year_month_day{to_sys_days(days_since_epoch)};
}

// Days since 1970-01-01 of a date, or invalid_date / out_of_range (for any BusinessDate or
// UtcTimestamp, whose dates share the range 1970-01-01..9999-12-31).
Result<std::int64_t, TimeError> days_since_epoch_of(int year, int month, int day) {
  if (year < -kChronoYearMax || year > kChronoYearMax) {
    return fail(TimeError::out_of_range);
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) {
    return fail(TimeError::invalid_date);
  }
  const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) {
    return fail(TimeError::invalid_date);
  }
  const std::int64_t days = std::chrono::sys_days{date}.time_since_epoch().count();
  if (days < BusinessDate::kDaysSinceEpochMin || days > BusinessDate::kDaysSinceEpochMax) {
    return fail(TimeError::out_of_range);
  }
  return days;
}

std::string format_date(std::int64_t days_since_epoch) {
  const std::chrono::year_month_day date = to_year_month_day(days_since_epoch);
  std::string text;
  text.reserve(kDateTextLength);
  append_padded(text, int{date.year()}, 4);
  text.push_back('-');
  append_padded(text, unsigned{date.month()}, 2);
  text.push_back('-');
  append_padded(text, unsigned{date.day()}, 2);
  return text;
}

// The offset after the seconds (and fraction) of a timestamp: nothing if it is UTC, else why not.
Result<std::int64_t, TimeError> check_utc_offset(std::string_view offset) {
  if (offset.empty()) {
    return fail(TimeError::offset_missing);
  }
  if (offset == "Z" || offset == "+00:00") {
    return std::int64_t{0};
  }
  if (matches_shape(offset, "+99:99") || matches_shape(offset, "-99:99")) {
    return fail(TimeError::offset_not_utc);
  }
  return fail(TimeError::malformed);
}

}  // namespace

std::string_view to_string(TimeError error) {
  switch (error) {
    case TimeError::empty:
      return "empty";
    case TimeError::too_long:
      return "too_long";
    case TimeError::malformed:
      return "malformed";
    case TimeError::fraction_too_long:
      return "fraction_too_long";
    case TimeError::offset_missing:
      return "offset_missing";
    case TimeError::offset_not_utc:
      return "offset_not_utc";
    case TimeError::invalid_date:
      return "invalid_date";
    case TimeError::invalid_time:
      return "invalid_time";
    case TimeError::out_of_range:
      return "out_of_range";
  }
  assert(false && "unknown TimeError");
  return "unknown";
}

std::string_view to_string(Weekday weekday) {
  switch (weekday) {
    case Weekday::monday:
      return "monday";
    case Weekday::tuesday:
      return "tuesday";
    case Weekday::wednesday:
      return "wednesday";
    case Weekday::thursday:
      return "thursday";
    case Weekday::friday:
      return "friday";
    case Weekday::saturday:
      return "saturday";
    case Weekday::sunday:
      return "sunday";
  }
  assert(false && "unknown Weekday");
  return "unknown";
}

// ---- UtcTimestamp ----

Result<UtcTimestamp, TimeError> UtcTimestamp::from_unix_microseconds(std::int64_t unix_microseconds) {
  if (unix_microseconds < kUnixMicrosecondsMin || unix_microseconds > kUnixMicrosecondsMax) {
    return fail(TimeError::out_of_range);
  }
  return UtcTimestamp(unix_microseconds);
}

UtcTimestamp UtcTimestamp::now() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return UtcTimestamp(std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count());
}

Result<UtcTimestamp, TimeError> UtcTimestamp::parse(std::string_view text) {
  if (text.empty()) {
    return fail(TimeError::empty);
  }
  if (text.size() > kTextLengthMax) {
    return fail(TimeError::too_long);
  }
  if (text.size() < kDateTimeTextLength || !matches_shape(text.substr(0, kDateTimeTextLength), "9999-99-99T99:99:99")) {
    return fail(TimeError::malformed);
  }

  std::size_t position = kDateTimeTextLength;
  std::int64_t fraction_microseconds = 0;
  if (position < text.size() && text[position] == '.') {
    ++position;
    const std::size_t fraction_begin = position;
    while (position < text.size() && is_digit(text[position])) {
      ++position;
    }
    const std::size_t fraction_digits = position - fraction_begin;
    if (fraction_digits == 0) {
      return fail(TimeError::malformed);
    }
    if (fraction_digits > kFractionDigitsMax) {
      return fail(TimeError::fraction_too_long);
    }
    fraction_microseconds = digits_value(text, fraction_begin, fraction_digits);
    for (std::size_t padding = fraction_digits; padding < kFractionDigitsMax; ++padding) {
      fraction_microseconds *= 10;
    }
  }
  const auto offset = check_utc_offset(text.substr(position));
  if (!offset) {
    return fail(offset.error());
  }

  const auto days = days_since_epoch_of(digits_value(text, 0, 4), digits_value(text, 5, 2), digits_value(text, 8, 2));
  const int hour = digits_value(text, 11, 2);
  const int minute = digits_value(text, 14, 2);
  const int second = digits_value(text, 17, 2);
  if (!days && days.error() == TimeError::invalid_date) {
    return fail(TimeError::invalid_date);
  }
  if (hour > 23 || minute > 59 || second > 59) {
    return fail(TimeError::invalid_time);
  }
  if (!days) {
    return fail(days.error());
  }
  const std::int64_t seconds_of_day = std::int64_t{hour} * 3600 + std::int64_t{minute} * 60 + second;
  return UtcTimestamp(*days * kMicrosecondsPerDay + seconds_of_day * kMicrosecondsPerSecond + fraction_microseconds);
}

std::string UtcTimestamp::format() const {
  const std::int64_t days = unix_microseconds_ / kMicrosecondsPerDay;
  const std::int64_t microseconds_of_day = unix_microseconds_ % kMicrosecondsPerDay;
  const std::int64_t seconds_of_day = microseconds_of_day / kMicrosecondsPerSecond;
  std::string text = format_date(days);
  text.push_back('T');
  append_padded(text, seconds_of_day / 3600, 2);
  text.push_back(':');
  append_padded(text, seconds_of_day / 60 % 60, 2);
  text.push_back(':');
  append_padded(text, seconds_of_day % 60, 2);
  text.push_back('.');
  append_padded(text, microseconds_of_day % kMicrosecondsPerSecond, 6);
  text.push_back('Z');
  return text;
}

Result<UtcTimestamp, TimeError> UtcTimestamp::add_microseconds(std::int64_t microseconds) const {
  std::int64_t moved = 0;
  if (__builtin_add_overflow(unix_microseconds_, microseconds, &moved)) {
    return fail(TimeError::out_of_range);
  }
  return from_unix_microseconds(moved);
}

// ---- BusinessDate ----

Result<BusinessDate, TimeError> BusinessDate::from_year_month_day(int year, int month, int day) {
  const auto days = days_since_epoch_of(year, month, day);
  if (!days) {
    return fail(days.error());
  }
  return BusinessDate(*days);
}

Result<BusinessDate, TimeError> BusinessDate::from_days_since_epoch(std::int64_t days_since_epoch) {
  if (days_since_epoch < kDaysSinceEpochMin || days_since_epoch > kDaysSinceEpochMax) {
    return fail(TimeError::out_of_range);
  }
  return BusinessDate(days_since_epoch);
}

Result<BusinessDate, TimeError> BusinessDate::parse(std::string_view text) {
  if (text.empty()) {
    return fail(TimeError::empty);
  }
  if (text.size() > kDateTextLength) {
    return fail(TimeError::too_long);
  }
  if (!matches_shape(text, "9999-99-99")) {
    return fail(TimeError::malformed);
  }
  return from_year_month_day(digits_value(text, 0, 4), digits_value(text, 5, 2), digits_value(text, 8, 2));
}

BusinessDate BusinessDate::containing(UtcTimestamp instant) {
  return BusinessDate(instant.unix_microseconds() / kMicrosecondsPerDay);
}

int BusinessDate::year() const {
  return int{to_year_month_day(days_since_epoch_).year()};
}

int BusinessDate::month() const {
  return static_cast<int>(unsigned{to_year_month_day(days_since_epoch_).month()});
}

int BusinessDate::day() const {
  return static_cast<int>(unsigned{to_year_month_day(days_since_epoch_).day()});
}

Weekday BusinessDate::weekday() const {
  const std::chrono::weekday weekday{to_sys_days(days_since_epoch_)};
  return static_cast<Weekday>(weekday.iso_encoding());
}

std::string BusinessDate::format() const {
  return format_date(days_since_epoch_);
}

Result<BusinessDate, TimeError> BusinessDate::add_days(std::int64_t days) const {
  std::int64_t moved = 0;
  if (__builtin_add_overflow(days_since_epoch_, days, &moved)) {
    return fail(TimeError::out_of_range);
  }
  return from_days_since_epoch(moved);
}

UtcTimestamp BusinessDate::start_of_day() const {
  return UtcTimestamp(days_since_epoch_ * kMicrosecondsPerDay);
}

std::int64_t days_between(BusinessDate from, BusinessDate to) {
  return to.days_since_epoch() - from.days_since_epoch();
}

std::ostream& operator<<(std::ostream& stream, const UtcTimestamp& instant) {
  return stream << instant.format();
}

std::ostream& operator<<(std::ostream& stream, const BusinessDate& date) {
  return stream << date.format();
}

}  // namespace cch
