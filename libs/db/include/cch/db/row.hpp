#pragma once
// Reading cch's value types from result fields. Timestamps travel as microseconds since the Unix
// epoch (`(extract(epoch FROM t) * 1000000)::bigint` in the select list), so no time zone or text
// format is involved.
//
// Thread safety: pure functions.

#include <pqxx/field>

#include <cstdint>

#include "cch/core/time.hpp"

namespace cch::db {

// Precondition: the field is not null and holds microseconds within UtcTimestamp's range (a
// timestamptz column always does).
inline UtcTimestamp timestamp_of(const pqxx::field& microseconds) {
  return UtcTimestamp::from_unix_microseconds(microseconds.as<std::int64_t>()).value();
}

}  // namespace cch::db
