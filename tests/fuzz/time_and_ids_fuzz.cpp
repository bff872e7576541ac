// libFuzzer target: cch::UtcTimestamp::parse, cch::BusinessDate::parse, cch::MemberId::parse
// (Id<Tag>::parse) and cch::RequestId::parse on arbitrary bytes, and the formatting of
// arbitrary values of those types.
//
// Properties (any violation aborts):
//   - text that parses formats to a text that parses to an equal value (round trip);
//   - one spelling per value where the grammar allows only one: an accepted BusinessDate, id or
//     request id formats back to exactly the input; an accepted timestamp formats to the same
//     date and time of day (only the fraction width and the 'Z' / '+00:00' spelling may change);
//   - every value in range built from an integer (the first 8 bytes of the input) formats to a
//     text that parses back to it: timestamps (27 characters, fixed width), dates, ids.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "cch/core/ids.hpp"
#include "cch/core/time.hpp"
#include "fuzz_check.hpp"

namespace {

using cch::fuzz::check;

constexpr std::size_t kFormattedTimestampLength = 27;  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"

void check_timestamp_round_trip(cch::UtcTimestamp instant) {
  const std::string text = instant.format();
  check(text.size() == kFormattedTimestampLength, "a formatted timestamp has the fixed width");
  const auto reparsed = cch::UtcTimestamp::parse(text);
  check(reparsed.has_value() && *reparsed == instant, "UtcTimestamp::parse(format(t)) == t");
  const auto date = cch::BusinessDate::containing(instant);
  check(date.format() == text.substr(0, 10), "the timestamp's date is the date containing it");
}

void check_date_round_trip(cch::BusinessDate date) {
  const std::string text = date.format();
  const auto reparsed = cch::BusinessDate::parse(text);
  check(reparsed.has_value() && *reparsed == date, "BusinessDate::parse(format(d)) == d");
  const auto rebuilt = cch::BusinessDate::from_year_month_day(date.year(), date.month(), date.day());
  check(rebuilt.has_value() && *rebuilt == date, "year, month and day rebuild the same date");
  const auto midnight = cch::UtcTimestamp::parse(text + "T00:00:00Z");
  check(midnight.has_value() && *midnight == date.start_of_day(), "start_of_day is midnight UTC of the date");
}

void check_member_id_round_trip(cch::MemberId id) {
  const auto reparsed = cch::MemberId::parse(id.to_string());
  check(reparsed.has_value() && *reparsed == id, "MemberId::parse(to_string(id)) == id");
}

void check_text(std::string_view text) {
  if (const auto instant = cch::UtcTimestamp::parse(text)) {
    check_timestamp_round_trip(*instant);
    check(instant->format().substr(0, 19) == text.substr(0, 19), "a timestamp keeps its date and time of day");
  }
  if (const auto date = cch::BusinessDate::parse(text)) {
    check(date->format() == text, "a business date has one spelling");
    check_date_round_trip(*date);
  }
  if (const auto id = cch::MemberId::parse(text)) {
    check(id->to_string() == text, "an id has one spelling");
    check_member_id_round_trip(*id);
    const auto from_value = cch::MemberId::from_value(id->value());
    check(from_value.has_value() && *from_value == *id, "parse and from_value agree");
  }
  if (const auto request_id = cch::RequestId::parse(text)) {
    check(request_id->value() == text, "a request id is kept as sent");
    const auto reparsed = cch::RequestId::parse(request_id->value());
    check(reparsed.has_value() && *reparsed == *request_id, "RequestId::parse(value(r)) == r");
  }
}

void check_integer(std::int64_t value) {
  // The raw value, then the same bits folded into each type's range so that most inputs count.
  const auto folded = [value](std::int64_t maximum) {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(value) % (static_cast<std::uint64_t>(maximum) + 1U));
  };
  for (const std::int64_t microseconds : {value, folded(cch::UtcTimestamp::kUnixMicrosecondsMax)}) {
    const auto instant = cch::UtcTimestamp::from_unix_microseconds(microseconds);
    check(instant.has_value() == (microseconds >= cch::UtcTimestamp::kUnixMicrosecondsMin &&
                                  microseconds <= cch::UtcTimestamp::kUnixMicrosecondsMax),
          "from_unix_microseconds accepts exactly 1970..9999");
    if (instant)
      check_timestamp_round_trip(*instant);
  }
  for (const std::int64_t days : {value, folded(cch::BusinessDate::kDaysSinceEpochMax)}) {
    const auto date = cch::BusinessDate::from_days_since_epoch(days);
    check(date.has_value() ==
              (days >= cch::BusinessDate::kDaysSinceEpochMin && days <= cch::BusinessDate::kDaysSinceEpochMax),
          "from_days_since_epoch accepts exactly 1970..9999");
    if (date)
      check_date_round_trip(*date);
  }
  const auto id = cch::MemberId::from_value(value);
  check(id.has_value() == (value > 0), "from_value accepts exactly positive values");
  if (id)
    check_member_id_round_trip(*id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_text(cch::fuzz::as_text(data, size));
  if (size >= sizeof(std::int64_t)) {
    std::int64_t value = 0;
    std::memcpy(&value, data, sizeof value);
    check_integer(value);
  }
  return 0;
}
