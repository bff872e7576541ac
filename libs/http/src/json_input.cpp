#include "cch/http/json_input.hpp"

#include <cassert>
#include <charconv>

namespace cch::http {

Response field_problem(std::string_view reason, std::string_view field, std::string_view detail) {
  const std::string title = reason == "unknown_field"        ? "Unknown field"
                            : reason == "field_not_settable" ? "Field may not be set"
                            : reason == "missing_field"      ? "Missing field"
                            : reason == "invalid_text"       ? "Invalid text"
                            : reason == "amount_too_large"   ? "Amount too large"
                                                             : "Invalid field";
  Response response = problem(422, reason, title, std::string(field) + ": " + std::string(detail));
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  body["field"] = std::string(field);
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

Result<BodyReader, Response> BodyReader::open(const Request& request, std::initializer_list<std::string_view> accepted,
                                              std::initializer_list<std::string_view> not_settable,
                                              bool allow_empty_body) {
  if (allow_empty_body && request.body.empty()) return BodyReader(nlohmann::json::object());
  auto parsed = parse_json_body(request);
  if (!parsed) return fail(parsed.error());
  return of(std::move(*parsed), accepted, not_settable);
}

Result<BodyReader, Response> BodyReader::of(nlohmann::json object, std::initializer_list<std::string_view> accepted,
                                            std::initializer_list<std::string_view> not_settable) {
  if (!object.is_object()) {
    return fail(problem(422, "body_not_object", "Body is not an object", "the request body must be a JSON object"));
  }
  for (const auto& [key, value] : object.items()) {
    for (const std::string_view forbidden : not_settable) {
      if (key == forbidden) {
        return fail(field_problem("field_not_settable", key, "is set by the clearinghouse, not by the caller"));
      }
    }
  }
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (const std::string_view name : accepted) known = known || key == name;
    if (!known) return fail(field_problem("unknown_field", key, "is not a field of this request"));
  }
  return BodyReader(std::move(object));
}

const nlohmann::json* BodyReader::find(std::string_view field, bool required) {
  const auto it = body_.find(field);
  if (it == body_.end() || it->is_null()) {
    if (required && !failure_) failure_ = field_problem("missing_field", field, "is required");
    return nullptr;
  }
  return &*it;
}

std::optional<std::string> BodyReader::text(std::string_view field, std::size_t max_length, bool required) {
  const nlohmann::json* value = find(field, required);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) {
    refuse(field, "must be a string");
    return std::nullopt;
  }
  const auto& text = value->get_ref<const std::string&>();
  if (text.empty() || text.size() > max_length) {
    refuse(field, "must be 1 to " + std::to_string(max_length) + " bytes");
    return std::nullopt;
  }
  if (has_control_character(text)) {
    if (!failure_) {
      failure_ = field_problem("invalid_text", field,
                               "must not contain control characters (U+0000 to U+001F, U+007F)");
    }
    return std::nullopt;
  }
  return text;
}

std::optional<UtcTimestamp> BodyReader::timestamp(std::string_view field, bool required) {
  const auto text = this->text(field, 40, required);
  if (!text) return std::nullopt;
  const auto parsed = UtcTimestamp::parse(*text);
  if (!parsed) {
    refuse(field, "must be an ISO 8601 UTC time, e.g. \"2027-03-01T00:00:00Z\"");
    return std::nullopt;
  }
  return *parsed;
}

std::optional<std::int64_t> BodyReader::integer(std::string_view field, std::int64_t min, std::int64_t max,
                                                bool required) {
  const nlohmann::json* value = find(field, required);
  if (value == nullptr) return std::nullopt;
  const std::string range = " from " + std::to_string(min) + " to " + std::to_string(max);
  if (!value->is_number_integer()) {
    refuse(field, "must be an integer" + range);
    return std::nullopt;
  }
  if (value->is_number_unsigned()) {
    const auto number = value->get<std::uint64_t>();
    // nlohmann reads every non-negative number as unsigned: the minimum applies here too.
    if (max < 0 || number > static_cast<std::uint64_t>(max) ||
        (min > 0 && number < static_cast<std::uint64_t>(min))) {
      refuse(field, "must be an integer" + range);
      return std::nullopt;
    }
    return static_cast<std::int64_t>(number);
  }
  const auto number = value->get<std::int64_t>();
  if (number < min || number > max) {
    refuse(field, "must be an integer" + range);
    return std::nullopt;
  }
  return number;
}

std::optional<std::int64_t> BodyReader::id(std::string_view field, bool required) {
  const nlohmann::json* value = find(field, required);
  if (value == nullptr) return std::nullopt;
  const std::string* text = value->is_string() ? &value->get_ref<const std::string&>() : nullptr;
  std::int64_t parsed = 0;
  if (text == nullptr || text->empty() || text->size() > 19 || (*text)[0] == '0' ||
      std::from_chars(text->data(), text->data() + text->size(), parsed).ptr != text->data() + text->size() ||
      parsed <= 0) {
    refuse(field, "must be an id: a string of digits, e.g. \"42\"");
    return std::nullopt;
  }
  return parsed;
}

std::optional<bool> BodyReader::boolean(std::string_view field, bool required) {
  const nlohmann::json* value = find(field, required);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) {
    refuse(field, "must be true or false");
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<BusinessDate> BodyReader::date(std::string_view field, bool required) {
  const auto value = text(field, 10, required);
  if (!value) return std::nullopt;
  const auto parsed = BusinessDate::parse(*value);
  if (!parsed) {
    refuse(field, "must be a date YYYY-MM-DD");
    return std::nullopt;
  }
  return *parsed;
}

std::optional<std::string> BodyReader::decimal_text(std::string_view field, bool required) {
  const nlohmann::json* value = find(field, required);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) {
    refuse(field, "must be a decimal in a string, e.g. \"1000.00\" (numbers are not exact)");
    return std::nullopt;
  }
  return value->get<std::string>();
}

std::optional<Money> BodyReader::positive_money(std::string_view amount_field, std::string_view currency_field,
                                                std::int64_t amount_minor_max) {
  assert(amount_minor_max > 0 && amount_minor_max <= kAmountMinorMax && "positive_money: maximum outside 1..10^15");
  const auto amount_text = decimal_text(amount_field);
  const auto currency_text = text(currency_field, 3);
  if (!amount_text || !currency_text) return std::nullopt;
  const auto currency = Currency::parse(*currency_text);
  if (!currency) {
    refuse(currency_field, "must be a currency cch settles in (USD)");
    return std::nullopt;
  }
  const auto amount = parse_money(*amount_text, *currency);
  const bool beyond_int64 = !amount && amount.error() == DecimalError::out_of_range && amount_text->front() != '-';
  if (beyond_int64 || (amount && amount->amount_minor > amount_minor_max)) {
    if (!failure_) {
      failure_ = field_problem("amount_too_large", amount_field,
                               "must be at most " + format_amount(Money{amount_minor_max, *currency}) + " " +
                                   std::string(currency->code()));
    }
    return std::nullopt;
  }
  if (!amount || amount->amount_minor <= 0) {
    refuse(amount_field, "must be a positive decimal with at most " + std::to_string(currency->minor_digits()) +
                             " decimals, e.g. \"1000.00\"");
    return std::nullopt;
  }
  return *amount;
}

nlohmann::json money_json(const Money& money) {
  return {{"amount", format_amount(money)}, {"currency", std::string(money.currency.code())}};
}

void BodyReader::refuse(std::string_view field, std::string_view detail) {
  if (!failure_) failure_ = field_problem("invalid_field", field, detail);
}

}  // namespace cch::http
