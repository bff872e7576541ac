// BodyReader's promises about what reaches a handler: a text field holds exactly what the caller
// sent or the body is refused, and an amount of money has a ceiling.
#include "cch/http/json_input.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

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

// What text() makes of `text` in the field "legal_name": the text itself, or the refusal's reason.
std::string read_legal_name(const std::string& text) {
  auto reader = BodyReader::open(json_request({{"legal_name", text}}), {"legal_name"}, {});
  EXPECT_TRUE(reader);
  const auto read = reader->text("legal_name", 200);
  if (reader->failed()) {
    const auto problem = problem_of(reader->failure());
    EXPECT_EQ(reader->failure().status, 422U);
    EXPECT_EQ(problem.value("field", ""), "legal_name");
    return "refused: " + problem.value("reason", "");
  }
  EXPECT_TRUE(read.has_value());
  return read.value_or("");
}

TEST(BodyReaderTimestamp, AnInstantIsReadAndAnythingElseIsRefusedNamingTheField) {
  const auto read = [](const nlohmann::json& value) -> std::string {
    auto reader = BodyReader::open(json_request({{"delivery_start", value}}), {"delivery_start"}, {});
    EXPECT_TRUE(reader);
    const auto got = reader->timestamp("delivery_start");
    if (reader->failed()) {
      const auto problem = problem_of(reader->failure());
      EXPECT_EQ(problem.value("field", ""), "delivery_start");
      return "refused: " + problem.value("reason", "");
    }
    return got.value().format();
  };
  EXPECT_EQ(read("2027-03-01T00:00:00Z"), "2027-03-01T00:00:00.000000Z");
  EXPECT_EQ(read("March 1st"), "refused: invalid_field");
  EXPECT_EQ(read(20270301), "refused: invalid_field");
  auto absent = BodyReader::open(json_request(nlohmann::json::object()), {"delivery_start"}, {});
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->timestamp("delivery_start", /*required=*/false).has_value());
  EXPECT_FALSE(absent->failed());
}

TEST(BodyReaderDate, ADayIsReadAndAnythingElseIsRefusedNamingTheField) {
  const auto read = [](const nlohmann::json& value) -> std::string {
    auto reader = BodyReader::open(json_request({{"business_date", value}}), {"business_date"}, {});
    EXPECT_TRUE(reader);
    const auto got = reader->date("business_date");
    if (reader->failed()) {
      const auto problem = problem_of(reader->failure());
      EXPECT_EQ(problem.value("field", ""), "business_date");
      return "refused: " + problem.value("reason", "");
    }
    return got.value().format();
  };
  EXPECT_EQ(read("2027-03-01"), "2027-03-01");
  EXPECT_EQ(read("2027-02-30"), "refused: invalid_field");
  EXPECT_EQ(read("2027-3-1"), "refused: invalid_field");
  EXPECT_EQ(read("2027-03-01T00:00:00Z"), "refused: invalid_field");
  EXPECT_EQ(read(20270301), "refused: invalid_field");
  auto absent = BodyReader::open(json_request(nlohmann::json::object()), {"business_date"}, {});
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->date("business_date", /*required=*/false).has_value());
  EXPECT_FALSE(absent->failed());
  EXPECT_FALSE(absent->date("business_date").has_value());
  ASSERT_TRUE(absent->failed());
  EXPECT_EQ(problem_of(absent->failure()).value("reason", ""), "missing_field");
}

TEST(BodyReaderInteger, ANumberBelowTheMinimumIsRefusedWhateverItsSign) {
  // nlohmann reads 0 and every positive number as unsigned: the minimum holds for them too.
  const auto read = [](const nlohmann::json& value) -> std::string {
    auto reader = BodyReader::open(json_request({{"observations", value}}), {"observations"}, {});
    EXPECT_TRUE(reader);
    const auto got = reader->integer("observations", 5, 100);
    if (reader->failed()) return "refused: " + problem_of(reader->failure()).value("reason", "");
    return std::to_string(got.value());
  };
  EXPECT_EQ(read(0), "refused: invalid_field");
  EXPECT_EQ(read(4), "refused: invalid_field");
  EXPECT_EQ(read(-7), "refused: invalid_field");
  EXPECT_EQ(read(101), "refused: invalid_field");
  EXPECT_EQ(read(5), "5");
  EXPECT_EQ(read(100), "100");
}

TEST(BodyReaderText, AControlCharacterAnywhereInATextIsRefusedAsInvalidText) {
  const std::vector<std::string> refused = {
      std::string("Evil Corp\0 (sanctioned)", 23), std::string("\0", 1), std::string("X\0Y", 3),
      std::string("trailing\0", 9), "bell\x07", "tab\there", "new\nline", "carriage\rreturn", "escape\x1b[0m",
      "unit\x1fseparator", "delete\x7f"};
  for (const auto& text : refused) {
    EXPECT_EQ(read_legal_name(text), "refused: invalid_text") << nlohmann::json(text).dump();
  }
}

TEST(BodyReaderText, TextWithoutControlCharactersIsReadExactlyAsSent) {
  const std::vector<std::string> accepted = {"Evil Corp (sanctioned)", "Zürich Rechenzentrum AG", "a b", "~!\"#$%&'()*+",
                                             "\xe2\x80\xa8 line separator is not a C0 control", "x"};
  for (const auto& text : accepted) EXPECT_EQ(read_legal_name(text), text);
}

TEST(BodyReaderText, AnElementOfABatchFollowsTheSameRule) {
  auto element = BodyReader::of({{"reference", std::string("V-1\0", 4)}}, {"reference"}, {});
  ASSERT_TRUE(element);
  EXPECT_FALSE(element->text("reference", 64).has_value());
  ASSERT_TRUE(element->failed());
  EXPECT_EQ(problem_of(element->failure()).value("reason", ""), "invalid_text");
}

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
