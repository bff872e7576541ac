#pragma once
// Reading cch's value types from result fields. Timestamps travel as microseconds since the Unix
// epoch (`(extract(epoch FROM t) * 1000000)::bigint` in the select list), so no time zone or text
// format is involved.
//
// Thread safety: pure functions.

#include <pqxx/field>

#include <cstdint>
#include <optional>
#include <string>

#include "cch/core/time.hpp"

namespace cch::db {

// Precondition: the field is not null and holds microseconds within UtcTimestamp's range (a
// timestamptz column always does).
inline UtcTimestamp timestamp_of(const pqxx::field& microseconds) {
  return UtcTimestamp::from_unix_microseconds(microseconds.as<std::int64_t>()).value();
}

// A nullable timestamp column (microseconds, as above): nullopt for NULL.
inline std::optional<UtcTimestamp> optional_timestamp_of(const pqxx::field& microseconds) {
  return microseconds.is_null() ? std::nullopt : std::optional<UtcTimestamp>(timestamp_of(microseconds));
}

// A nullable column: nullopt for NULL, else its value as T.
template <class T>
std::optional<T> optional_of(const pqxx::field& field) {
  return field.is_null() ? std::nullopt : std::optional<T>(field.as<T>());
}

// A nullable id column as a typed id (core/ids.hpp). Precondition: a value is positive.
template <class Id>
std::optional<Id> optional_id(const pqxx::field& field) {
  return field.is_null() ? std::nullopt : std::optional<Id>(Id(field.as<std::int64_t>()));
}

}  // namespace cch::db
