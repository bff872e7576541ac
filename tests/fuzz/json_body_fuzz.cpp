// libFuzzer target: cch::http::parse_json_body on an arbitrary body sent as application/json.
//
// Properties (any violation aborts):
//   - parse_json_body neither crashes, trips a sanitizer nor throws (in a service an escaping
//     exception becomes a 500);
//   - a refusal is a 4xx problem document (status 400..499, application/problem+json, a body
//     that is JSON with the same "status" and a "reason"), never a 5xx;
//   - an accepted body is a JSON value that serialises without throwing, and the serialisation
//     is itself accepted and parses to an equal value.

#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "cch/http/message.hpp"
#include "fuzz_check.hpp"

namespace {

using cch::fuzz::check;

cch::http::Request json_request(std::string body) {
  cch::http::Request request;
  request.method = "POST";
  request.target = "/v1/trades";
  request.path = "/v1/trades";
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = std::move(body);
  return request;
}

void check_refusal(const cch::http::Response& response) {
  check(response.status >= 400 && response.status <= 499, "a refused JSON body is a 4xx, never a 5xx");
  check(response.content_type == "application/problem+json", "a refusal is a problem document");
  const auto document = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  check(document.is_object(), "the problem body is a JSON object");
  check(document.contains("status") && document["status"] == response.status, "the problem names its status");
  check(document.contains("reason") && document["reason"].is_string(), "the problem has a reason");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto request = json_request(std::string(cch::fuzz::as_text(data, size)));
  const auto parsed = cch::http::parse_json_body(request);
  if (!parsed) {
    check_refusal(parsed.error());
    return 0;
  }
  // Strict dump: the parser has already refused invalid UTF-8, so this must not throw.
  const std::string serialised = parsed->dump();
  const auto reparsed = cch::http::parse_json_body(json_request(serialised));
  check(reparsed.has_value(), "the serialisation of an accepted body is accepted");
  check(*reparsed == *parsed, "an accepted body survives serialise and parse unchanged");
  return 0;
}
