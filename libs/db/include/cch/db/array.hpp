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

namespace cch::db {

// '{1,-2,3}'
std::string integer_array(std::span<const std::int64_t> values);

// '{"a","b \"quoted\""}'; nullopt elements become NULL. Elements are quoted and escaped, so any
// text (commas, braces, quotes, backslashes) survives. Precondition: no element holds a NUL
// character, which PostgreSQL text cannot store and libpq would cut the literal at (asserts;
// callers refuse such text where it enters, http::BodyReader::text).
std::string text_array(std::span<const std::string> values);
std::string nullable_text_array(std::span<const std::optional<std::string>> values);

}  // namespace cch::db
