// libFuzzer target: what the api reads from a caller before any handler logic: a strict JSON
// object body (BodyReader: duplicate keys, forbidden and unknown fields, typed fields, exact
// money), an API key token, and forwarded principal headers.
//
// Properties (any violation aborts):
//   - nothing crashes, trips a sanitizer or throws;
//   - every refusal of a body is a 4xx problem document with a reason (never a 5xx), and a 422
//     names the field it refuses;
//   - an accepted amount is positive, at most kAmountMinorMax, and its decimal text parses back
//     to the same money; a refused one beyond the maximum is amount_too_large;
//   - an accepted text holds no control character (U+0000..U+001F, U+007F): it is stored as sent;
//   - parse_json_body refuses every object that names one key twice;
//   - a parsed API key token prints back to exactly the text that was parsed;
//   - a parsed forwarded principal is internally consistent (a member role has a member).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cch/access/api_key.hpp"
#include "cch/access/principal.hpp"
#include "cch/http/json_input.hpp"
#include "fuzz_check.hpp"

namespace {

using cch::fuzz::check;

void check_refusal(const cch::http::Response& response) {
  check(response.status >= 400 && response.status <= 499, "a refused body is a 4xx, never a 5xx");
  const auto document = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  check(document.is_object() && document.contains("reason") && document["reason"].is_string(),
        "a refusal is a problem document with a reason");
  if (response.status == 422 && document["reason"] != "body_not_object") {
    check(document.contains("field") && document["field"].is_string(), "a 422 names its field");
  }
}

cch::http::Request json_request(std::string body) {
  cch::http::Request request;
  request.method = "POST";
  request.target = request.path = "/v1/members/1/collateral-withdrawals";
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = std::move(body);
  return request;
}

void fuzz_body(std::string body) {
  const cch::http::Request request = json_request(std::move(body));
  auto reader = cch::http::BodyReader::open(request, {"amount", "currency", "note"}, {"status", "member_id"});
  if (!reader) {
    check_refusal(reader.error());
    return;
  }
  const auto money = reader->positive_money("amount", "currency");
  const auto note = reader->text("note", 500, /*required=*/false);
  if (reader->failed()) {
    check_refusal(reader->failure());
    return;
  }
  check(money.has_value() && money->amount_minor > 0, "an accepted amount is positive");
  check(money->amount_minor <= cch::kAmountMinorMax, "an accepted amount is at most the largest amount");
  check(!note || !cch::http::has_control_character(*note), "an accepted text holds no control character");
  check(!note || *note == reader->json()["note"].get<std::string>(), "an accepted text is exactly what was sent");
  const auto again = cch::parse_money(cch::format_amount(*money), money->currency);
  check(again.has_value() && *again == *money, "an accepted amount prints and parses back unchanged");
}

void fuzz_api_key(std::string_view text) {
  const auto key = cch::access::parse_api_key(text);
  if (key) check(key->token() == text, "a parsed token prints back to itself");
}

void fuzz_forwarded(std::string_view text) {
  std::vector<std::string_view> parts;
  while (parts.size() < 4) {
    const auto newline = text.find('\n');
    if (newline == std::string_view::npos) break;
    parts.push_back(text.substr(0, newline));
    text.remove_prefix(newline + 1);
  }
  parts.push_back(text);
  while (parts.size() < 5) parts.emplace_back();
  const auto principal =
      cch::access::parse_forwarded_principal_values(parts[0], parts[1], parts[2], parts[3], parts[4]);
  if (principal) {
    check((principal->role == cch::access::Role::member) == principal->member.has_value(),
          "a member principal has a member, staff have none");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = cch::fuzz::as_text(data, size);
  fuzz_body(std::string(text));
  fuzz_api_key(text);
  fuzz_forwarded(text);
  // Duplicate keys: whatever the input, an object naming one key twice is refused.
  if (const auto parsed = cch::http::parse_json_body(json_request(std::string(text)));
      parsed && parsed->is_object() && !parsed->empty()) {
    const std::string first_key = parsed->begin().key();
    const std::string doubled = "{" + nlohmann::json(first_key).dump() + ":1," + nlohmann::json(first_key).dump() + ":2}";
    check(!cch::http::parse_json_body(json_request(doubled)).has_value(), "an object with a key twice is refused");
  }
  return 0;
}
