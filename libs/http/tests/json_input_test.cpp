// BodyReader's promises about what reaches a handler: an amount of money has a ceiling.
#include "cch/http/json_input.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace cch::http {
namespace {

Request json_request(const nlohmann::json& body) {
  Request request;
  request.method = "POST";
  request.target = request.path = "/v1/members";
  request.headers.emplace_back("Content-Type", "application/json");
  request.body = body.dump();
  return request;
}

nlohmann::json problem_of(const Response& response) { return nlohmann::json::parse(response.body); }

// What positive_money makes of `amount` USD: the amount in cents, or the refusal's reason.
std::string read_amount(const std::string& amount) {
  auto reader = BodyReader::open(json_request({{"amount", amount}, {"currency", "USD"}}), {"amount", "currency"}, {});
  EXPECT_TRUE(reader);
  const auto money = reader->positive_money("amount", "currency");
  if (reader->failed()) {
    const auto problem = problem_of(reader->failure());
    EXPECT_EQ(reader->failure().status, 422U);
    EXPECT_EQ(problem.value("field", ""), "amount");
    return "refused: " + problem.value("reason", "");
  }
  return std::to_string(money.value().amount_minor);
}

TEST(BodyReaderMoney, AnAmountBeyondTheLargestAmountIsRefusedAsAmountTooLarge) {
  EXPECT_EQ(read_amount("92233720368547758.07"), "refused: amount_too_large");  // INT64_MAX cents
  EXPECT_EQ(read_amount("92233720368547758.08"), "refused: amount_too_large");  // beyond int64
  EXPECT_EQ(read_amount("90000000000000000.00"), "refused: amount_too_large");
  EXPECT_EQ(read_amount("99999999999999999999999999999999.00"), "refused: amount_too_large");
  EXPECT_EQ(read_amount("10000000000000.01"), "refused: amount_too_large");
  EXPECT_EQ(read_amount("10000000000000.00"), "1000000000000000");  // 10^15 cents: the largest amount
  EXPECT_EQ(read_amount("0.01"), "1");
  EXPECT_EQ(read_amount("0.00"), "refused: invalid_field");
  EXPECT_EQ(read_amount("1.005"), "refused: invalid_field");
}

}  // namespace
}  // namespace cch::http
