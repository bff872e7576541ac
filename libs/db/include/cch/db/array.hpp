#pragma once
// PostgreSQL array literals for query parameters: libpqxx 6.4 has no array binding, so batches
// travel as one text parameter per column ('{1,2,3}', '{"a","b"}') and unnest() in SQL turns
// them back into rows. One round trip per batch, whatever its size.
//
// Thread safety: pure functions.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/result>  // pqxx::field (pqxx 6.4: <pqxx/field> alone does not compile)

namespace cch::db {

// '{1,-2,3}'
std::string integer_array(std::span<const std::int64_t> values);

// '{"a","b \"quoted\""}'; nullopt elements become NULL. Elements are quoted and escaped, so any
// text (commas, braces, quotes, backslashes) survives. Precondition: no element holds a NUL
// character, which PostgreSQL text cannot store and libpq would cut the literal at (asserts;
// callers refuse such text where it enters, http::BodyReader::text).
std::string text_array(std::span<const std::string> values);
std::string nullable_text_array(std::span<const std::optional<std::string>> values);

// Doubles exactly: each written with 17 significant digits (which read back to the same double);
// read with strtod (PostgreSQL writes the shortest text that reads back to the stored double).
// For float8[] columns holding curve values and statistics, never money.
std::string double_array(std::span<const double> values);
std::vector<double> doubles_of(const pqxx::field& field);
// A bigint[] or integer[] column (no NULL elements).
std::vector<std::int64_t> integers_of(const pqxx::field& field);

}  // namespace cch::db
