#pragma once
// How the margin tables' dates, date arrays and timestamps travel to and from SQL (internal to
// libs/margin_store).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <pqxx/field>

#include "cch/core/time.hpp"
#include "cch/db/array.hpp"

namespace cch::margin::sql {

inline BusinessDate date_of(const pqxx::field& field) {
  return BusinessDate::parse(field.as<std::string>()).value();
}

// A date[] column, read as its text (the columns hold no NULL elements).
inline std::vector<BusinessDate> dates_of(const pqxx::field& field) {
  std::vector<BusinessDate> dates;
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value)
      dates.push_back(BusinessDate::parse(item.second).value());
  }
  return dates;
}

// '{"2026-01-02","2026-01-05"}'
inline std::string date_array(std::span<const BusinessDate> dates) {
  std::vector<std::string> texts;
  texts.reserve(dates.size());
  for (const BusinessDate& d : dates)
    texts.push_back(d.format());
  return db::text_array(texts);
}

// A timestamp selected as (extract(epoch FROM t) * 1000000)::bigint.
inline UtcTimestamp timestamp_of(const pqxx::field& field) {
  return UtcTimestamp::from_unix_microseconds(field.as<std::int64_t>()).value();
}

}  // namespace cch::margin::sql
