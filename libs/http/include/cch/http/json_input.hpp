#pragma once
// Strict reading of a JSON object request body: every field the caller sends must be one the
// route accepts; fields the caller may never set (ids, status, balances, owners) are refused by
// name, not ignored; each value is read with its type and limits checked.
//
// Refusals (problem+json), the first problem found wins:
//   415 unsupported_media_type, 400 malformed_json   from parse_json_body (see message.hpp;
//                           it also refuses an object that names a key twice)
//   422 body_not_object     the body is not a JSON object
//   422 field_not_settable  a field the caller may not set, e.g. "status" or "member_id"
//   422 unknown_field       a field the route does not know
//   422 missing_field       a required field is absent (or null)
//   422 invalid_field       a field has the wrong type or breaks its rule (the detail names it)
//   422 invalid_text        a string field holds a control character: U+0000..U+001F (NUL, tab,
//                           line feed, ...) or U+007F (DEL). No field of cch allows one, so text()
//                           refuses them all, for every route and every element of a batch: a
//                           text a handler gets is stored exactly as sent (PostgreSQL cannot
//                           hold a NUL, and libpq would cut the value at it).
//   422 amount_too_large    an amount beyond its maximum (positive_money): at most the
//                           caller's maximum, never more than kAmountMinorMax (money.hpp)
// The detail of a 422 names the field; the problem body also carries it as "field".
//
// Thread safety: a BodyReader is used by one handler on one thread.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cch/core/money.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/http/message.hpp"

namespace cch::http {

// A problem response for a field: 422 with reason and the field named in detail and "field".
Response field_problem(std::string_view reason, std::string_view field, std::string_view detail);

class BodyReader {
 public:
  // Parses the request body as an object whose fields are all in `accepted`. A field listed in
  // `not_settable` is refused with field_not_settable (checked before unknown_field).
  // An empty body is read as {} when allow_empty_body is true.
  static Result<BodyReader, Response> open(const Request& request, std::initializer_list<std::string_view> accepted,
                                           std::initializer_list<std::string_view> not_settable,
                                           bool allow_empty_body = false);

  // The same rules for a JSON object found inside a body (an element of a batch).
  static Result<BodyReader, Response> of(nlohmann::json object, std::initializer_list<std::string_view> accepted,
                                         std::initializer_list<std::string_view> not_settable);

  // A string field of 1..max_length bytes (UTF-8 already checked by the parser) without a
  // control character (invalid_text, has_control_character in message.hpp). Every string a
  // route stores or looks up is read here.
  std::optional<std::string> text(std::string_view field, std::size_t max_length, bool required = true);
  // An integer field (a JSON number without fraction or exponent) within [min, max].
  std::optional<std::int64_t> integer(std::string_view field, std::int64_t min, std::int64_t max,
                                      bool required = true);
  // An object id: a string of decimal digits naming a positive int64 ("42"), as ids travel.
  std::optional<std::int64_t> id(std::string_view field, bool required = true);
  // A boolean field.
  std::optional<bool> boolean(std::string_view field, bool required = true);
  // A UTC instant in ISO 8601 text ("2027-03-01T00:00:00Z"), as UtcTimestamp::parse reads it.
  std::optional<UtcTimestamp> timestamp(std::string_view field, bool required = true);
  // A date "YYYY-MM-DD", as BusinessDate::parse reads it.
  std::optional<BusinessDate> date(std::string_view field, bool required = true);
  // A string field holding a decimal (e.g. "1000.00"); returned as text for the caller to parse
  // with its own scale. Numbers are refused: exact decimals travel as strings.
  std::optional<std::string> decimal_text(std::string_view field, bool required = true);

  // A positive amount: `amount_field` a decimal string with at most the currency's decimals and
  // at most amount_minor_max minor units (amount_too_large beyond it, or beyond int64),
  // `currency_field` an ISO 4217 code cch settles in. Precondition: 0 < amount_minor_max <=
  // kAmountMinorMax.
  std::optional<Money> positive_money(std::string_view amount_field, std::string_view currency_field,
                                      std::int64_t amount_minor_max = kAmountMinorMax);

  // Records a refusal for `field` found by the caller's own rule (keeps the first one).
  void refuse(std::string_view field, std::string_view detail);

  [[nodiscard]] bool failed() const { return failure_.has_value(); }
  // The first refusal. Precondition: failed().
  [[nodiscard]] Response failure() const { return *failure_; }

  [[nodiscard]] const nlohmann::json& json() const { return body_; }

 private:
  explicit BodyReader(nlohmann::json body) : body_(std::move(body)) {}
  const nlohmann::json* find(std::string_view field, bool required);

  nlohmann::json body_;
  std::optional<Response> failure_;
};

// {"amount": "1000.00", "currency": "USD"}: exact decimals travel as strings.
nlohmann::json money_json(const Money& money);

}  // namespace cch::http
