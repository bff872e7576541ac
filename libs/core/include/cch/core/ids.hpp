#pragma once
// Identifiers: one distinct type per kind of entity, so a MemberId can never be passed where
// a TradeId is expected, and request ids for tracing and idempotency.
//
// Id<Tag> wraps a positive int64 (the database's identity column). Construction from an int64
// is explicit and asserts the value is positive (a programmer error otherwise: values from the
// database are trusted); untrusted input goes through Id::parse (decimal text, as in a URL
// path) or Id::from_value (an int64 from JSON), which refuse with an IdError:
//     parse: "" empty; "12a", "-5", "+5", " 5", "1.0" malformed; "007" leading_zero;
//            "0" not_positive; more than 19 digits or above 9223372036854775807 out_of_range.
//
// RequestId is 1..64 characters of [A-Za-z0-9._-], chosen by a client (an idempotency key or
// X-Request-Id) or made by generate(): 128 random bits as 32 lower-case hex digits. A request id
// names a request in logs and the audit log; it is unique, not secret (it grants nothing), so
// generate() draws from a fast per-thread generator (xoshiro256**) that OpenSSL's CSPRNG seeds
// with 256 bits once per thread, instead of calling the CSPRNG per request (measured: 4 % of the
// api's CPU under its read benchmark). Two threads' sequences overlap with negligible probability.
//
// Thread safety: values are immutable after construction; every function may be called from
// any thread (generate() uses thread-local state).

#include <cassert>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>

#include "cch/core/result.hpp"

namespace cch {

enum class IdError {
  empty,         // ""
  malformed,     // anything but the digits 0-9 (signs, spaces, letters, dots)
  leading_zero,  // "007": one id has one spelling
  not_positive,  // "0", or a value <= 0 given to from_value
  out_of_range,  // above INT64_MAX
};
std::string_view to_string(IdError error);

// Parses the decimal text of a positive int64 under the rules above.
Result<std::int64_t, IdError> parse_id_value(std::string_view text);

template <class Tag>
class Id {
 public:
  // Precondition: value > 0.
  constexpr explicit Id(std::int64_t value) : value_(value) { assert(value > 0 && "Id must be positive"); }

  static Result<Id, IdError> parse(std::string_view text) {
    const auto value = parse_id_value(text);
    if (!value) {
      return fail(value.error());
    }
    return Id(*value);
  }

  static Result<Id, IdError> from_value(std::int64_t value) {
    if (value <= 0) {
      return fail(IdError::not_positive);
    }
    return Id(value);
  }

  [[nodiscard]] constexpr std::int64_t value() const { return value_; }
  [[nodiscard]] std::string to_string() const { return std::to_string(value_); }

  friend constexpr auto operator<=>(const Id&, const Id&) = default;

 private:
  std::int64_t value_;
};

template <class Tag>
std::ostream& operator<<(std::ostream& stream, const Id<Tag>& id) {
  return stream << id.value();
}

struct MemberIdTag;
struct ProductIdTag;
struct SeriesIdTag;
struct TradeIdTag;
struct AccountIdTag;
struct JournalIdTag;
struct SettlementRunIdTag;

using MemberId = Id<MemberIdTag>;
using ProductId = Id<ProductIdTag>;
using SeriesId = Id<SeriesIdTag>;
using TradeId = Id<TradeIdTag>;
using AccountId = Id<AccountIdTag>;
using JournalId = Id<JournalIdTag>;
using SettlementRunId = Id<SettlementRunIdTag>;

enum class RequestIdError {
  empty,              // ""
  too_long,           // more than kRequestIdLengthMax characters
  invalid_character,  // a character outside [A-Za-z0-9._-]
};
std::string_view to_string(RequestIdError error);

class RequestId {
 public:
  static constexpr std::size_t kLengthMax = 64;

  static Result<RequestId, RequestIdError> parse(std::string_view text);
  // 32 lower-case hex digits from 128 random bits. Throws std::runtime_error only if seeding a
  // thread's generator fails (the operating system's random source: an environmental failure).
  static RequestId generate();

  [[nodiscard]] const std::string& value() const { return value_; }

  friend bool operator==(const RequestId&, const RequestId&) = default;
  friend auto operator<=>(const RequestId&, const RequestId&) = default;

 private:
  explicit RequestId(std::string value) : value_(std::move(value)) {}

  std::string value_;
};

std::ostream& operator<<(std::ostream& stream, const RequestId& request_id);

}  // namespace cch

template <class Tag>
struct std::hash<cch::Id<Tag>> {
  std::size_t operator()(const cch::Id<Tag>& id) const noexcept { return std::hash<std::int64_t>{}(id.value()); }
};

template <>
struct std::hash<cch::RequestId> {
  std::size_t operator()(const cch::RequestId& request_id) const noexcept {
    return std::hash<std::string>{}(request_id.value());
  }
};
