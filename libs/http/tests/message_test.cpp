#include "cch/http/message.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cch::http {
namespace {

Request json_request(std::string body, std::string content_type = "application/json") {
  Request request;
  request.method = "POST";
  request.headers.emplace_back("content-type", std::move(content_type));
  request.body = std::move(body);
  return request;
}

TEST(Problem, IsAnRfc9457DocumentWithAStableReason) {
  const Response response = problem(409, "exceeds_credit_limit", "Credit limit exceeded", "margin 12 > limit 10");
  EXPECT_EQ(response.status, 409U);
  EXPECT_EQ(response.content_type, "application/problem+json");
  EXPECT_EQ(response.header("cache-control"), "no-store");
  const auto document = nlohmann::json::parse(response.body);
  EXPECT_EQ(document["type"], "/problems/exceeds-credit-limit");
  EXPECT_EQ(document["title"], "Credit limit exceeded");
  EXPECT_EQ(document["status"], 409);
  EXPECT_EQ(document["detail"], "margin 12 > limit 10");
  EXPECT_EQ(document["reason"], "exceeds_credit_limit");
}

TEST(Problem, OmitsAnEmptyDetailAndSurvivesInvalidUtf8) {
  EXPECT_FALSE(nlohmann::json::parse(problem(404, "not_found", "Not found").body).contains("detail"));
  const Response response = problem(400, "malformed_json", "Malformed JSON", std::string("bad \xff byte"));
  EXPECT_TRUE(nlohmann::json::accept(response.body));
}

TEST(JsonResponse, SerialisesTheDocument) {
  const Response response = json_response(201, {{"trade_id", 42}});
  EXPECT_EQ(response.status, 201U);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"trade_id":42})");
  EXPECT_EQ(text_response(200, "ok").content_type, "text/plain; charset=utf-8");
}

TEST(ParseJsonBody, AcceptsJsonAndJsonSuffixMediaTypes) {
  const auto parsed = parse_json_body(json_request(R"({"a":[1,2]})", "Application/JSON; charset=utf-8"));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed.value()["a"][1], 2);
  EXPECT_TRUE(parse_json_body(json_request("[]", "application/merge-patch+json")).has_value());
}

TEST(ParseJsonBody, RefusesOtherMediaTypesWith415) {
  for (const char* type : {"text/plain", "application/jsonx", "application/x-www-form-urlencoded"}) {
    const auto parsed = parse_json_body(json_request("{}", type));
    ASSERT_FALSE(parsed.has_value()) << type;
    EXPECT_EQ(parsed.error().status, 415U);
    EXPECT_EQ(nlohmann::json::parse(parsed.error().body)["reason"], "unsupported_media_type");
  }
  Request no_type;
  no_type.body = "{}";
  EXPECT_EQ(parse_json_body(no_type).error().status, 415U);
}

TEST(ParseJsonBody, RefusesAnObjectThatNamesAKeyTwiceAtAnyDepth) {
  for (const std::string body : {R"({"a":1,"a":2})", R"({"x":{"b":1,"c":2,"b":3}})", R"([{"k":1},{"k":2,"k":3}])"}) {
    const auto parsed = parse_json_body(json_request(body));
    ASSERT_FALSE(parsed.has_value()) << body;
    EXPECT_EQ(parsed.error().status, 400U);
  }
  // The same key in sibling objects, or at two depths, is not a duplicate.
  EXPECT_TRUE(parse_json_body(json_request(R"([{"k":1},{"k":2}])")).has_value());
  EXPECT_TRUE(parse_json_body(json_request(R"({"k":{"k":1}})")).has_value());
}

TEST(RequestPathId, ReadsAPositiveDecimalIdOrNothing) {
  Request request;
  request.path_params = {{"member_id", "42"}, {"zero", "0"}, {"padded", "007"}, {"word", "abc"}};
  EXPECT_EQ(request.path_id("member_id"), 42);
  EXPECT_EQ(request.path_id("zero"), std::nullopt);
  EXPECT_EQ(request.path_id("padded"), std::nullopt);
  EXPECT_EQ(request.path_id("word"), std::nullopt);
  EXPECT_EQ(request.path_id("absent"), std::nullopt);
}

TEST(ParseJsonBody, RefusesMalformedOrTooDeepJsonWith400) {
  for (const std::string& body : {std::string("{"), std::string("{\"a\":1} trailing"), std::string(""),
                                  std::string("\"\xff\""), std::string(65, '[') + std::string(65, ']')}) {
    const auto parsed = parse_json_body(json_request(body));
    ASSERT_FALSE(parsed.has_value()) << body;
    EXPECT_EQ(parsed.error().status, 400U);
    EXPECT_EQ(nlohmann::json::parse(parsed.error().body)["reason"], "malformed_json");
  }
  // Brackets inside strings do not count towards the nesting limit.
  EXPECT_TRUE(parse_json_body(json_request("\"" + std::string(100, '[') + "\"")).has_value());
  EXPECT_TRUE(parse_json_body(json_request(std::string(64, '[') + std::string(64, ']'))).has_value());
}

TEST(ParseTarget, SplitsPathAndDecodesQuery) {
  Request request;
  ASSERT_TRUE(parse_target("/v1/trades?member=m%201&limit=10&flag&q=a+b", request));
  EXPECT_EQ(request.path, "/v1/trades");
  EXPECT_EQ(request.query_param("member"), "m 1");
  EXPECT_EQ(request.query_param("limit"), "10");
  EXPECT_EQ(request.query_param("flag"), "");
  EXPECT_EQ(request.query_param("q"), "a b");
  EXPECT_FALSE(request.query_param("missing").has_value());
}

TEST(ParseTarget, RefusesNonOriginFormAndBadEscapes) {
  Request request;
  EXPECT_FALSE(parse_target("http://example.com/", request));
  EXPECT_FALSE(parse_target("*", request));
  EXPECT_FALSE(parse_target("/a%2", request));
  EXPECT_FALSE(parse_target("/a?b=%zz", request));
  EXPECT_FALSE(parse_target("/a b", request));
  EXPECT_TRUE(request.path.empty());
}

TEST(RequestHeader, LooksUpCaseInsensitively) {
  Request request;
  request.headers = {{"X-Request-Id", "abc"}, {"Accept", "application/json"}};
  EXPECT_EQ(request.header("x-request-id"), "abc");
  EXPECT_EQ(request.header("ACCEPT"), "application/json");
  EXPECT_FALSE(request.header("Accept-Encoding").has_value());
}

}  // namespace
}  // namespace cch::http

TEST(HttpGrammar, TokensAndSafeHeaderValues) {
  EXPECT_TRUE(cch::http::is_http_token("GET"));
  EXPECT_TRUE(cch::http::is_http_token("X-Request-Id"));
  EXPECT_FALSE(cch::http::is_http_token(""));
  EXPECT_FALSE(cch::http::is_http_token("Bad Header"));
  EXPECT_FALSE(cch::http::is_http_token("a:b"));
  EXPECT_TRUE(cch::http::is_safe_header_value("application/json; charset=utf-8"));
  EXPECT_FALSE(cch::http::is_safe_header_value("x\r\nSet-Cookie: y"));
  EXPECT_FALSE(cch::http::is_safe_header_value(std::string_view("a\0b", 3)));
}
