#include "cch/http/router.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cch/core/log.hpp"

namespace cch::http {
namespace {

Request request_for(std::string method, std::string_view target) {
  Request request;
  request.method = std::move(method);
  EXPECT_TRUE(parse_target(target, request)) << target;
  request.request_id = "test-request";
  return request;
}

std::string reason_of(const Response& response) {
  return nlohmann::json::parse(response.body).value("reason", "");
}

Router accounts_router() {
  Router router;
  router.add("GET", "/v1/members/{member_id}/accounts", [](const Request& request) {
    return json_response(200, {{"member", request.path_param("member_id").value_or("?")}});
  });
  router.add("POST", "/v1/members/{member_id}/accounts", [](const Request&) { return json_response(201, {}); });
  router.add("GET", "/v1/members/{member_id}/accounts/{account_id}", [](const Request& request) {
    return json_response(200, {{"member", std::string(*request.path_param("member_id"))},
                               {"account", std::string(*request.path_param("account_id"))}});
  });
  router.add("GET", "/v1/members/self/accounts", [](const Request&) { return json_response(200, {{"self", true}}); });
  router.add("GET", "/", [](const Request&) { return text_response(200, "root"); });
  return router;
}

TEST(Router, FillsPathParametersDecoded) {
  const Router router = accounts_router();
  Request request = request_for("GET", "/v1/members/m%201/accounts/a-7?x=1");
  const Response response = router.dispatch(request);
  EXPECT_EQ(response.status, 200U);
  EXPECT_EQ(response.body, R"({"account":"a-7","member":"m 1"})");
  EXPECT_EQ(request.route, "/v1/members/{member_id}/accounts/{account_id}");
  EXPECT_EQ(request.path_param("member_id"), "m 1");
}

TEST(Router, PrefersLiteralSegmentsOverParameters) {
  const Router router = accounts_router();
  Request request = request_for("GET", "/v1/members/self/accounts");
  EXPECT_EQ(router.dispatch(request).body, R"({"self":true})");
  EXPECT_EQ(request.route, "/v1/members/self/accounts");
  Request root = request_for("GET", "/");
  EXPECT_EQ(router.dispatch(root).body, "root");
}

TEST(Router, UnknownPathIs404NotFound) {
  const Router router = accounts_router();
  for (const char* target : {"/v1/members", "/v1/members/m1/accounts/", "/v1/members//accounts", "/nope"}) {
    Request request = request_for("GET", target);
    const Response response = router.dispatch(request);
    EXPECT_EQ(response.status, 404U) << target;
    EXPECT_EQ(reason_of(response), "not_found");
    EXPECT_EQ(request.route, "unmatched");
  }
}

TEST(Router, APathParameterHoldingAControlCharacterNamesNothing) {
  const Router router = accounts_router();
  for (const char* target : {"/v1/members/m%001/accounts", "/v1/members/%00/accounts", "/v1/members/m1%0A/accounts",
                             "/v1/members/m%091/accounts", "/v1/members/m%7F1/accounts", "/v1/members/m1/accounts/a%1F"}) {
    Request request = request_for("GET", target);
    const Response response = router.dispatch(request);
    EXPECT_EQ(response.status, 404U) << target;
    EXPECT_EQ(reason_of(response), "not_found") << target;
    EXPECT_EQ(request.route, "unmatched") << target;
    EXPECT_TRUE(request.path_params.empty()) << target;
    EXPECT_EQ(router.route_name("GET", request.path), "unmatched") << target;
  }
  // A space or a non-ASCII character is text like any other.
  Request spaced = request_for("GET", "/v1/members/m%20%C3%A9/accounts");
  EXPECT_EQ(router.dispatch(spaced).status, 200U);
  EXPECT_EQ(spaced.path_param("member_id"), "m \xc3\xa9");
}

TEST(Router, KnownPathWithOtherMethodIs405WithAllow) {
  const Router router = accounts_router();
  Request request = request_for("DELETE", "/v1/members/m1/accounts");
  const Response response = router.dispatch(request);
  EXPECT_EQ(response.status, 405U);
  EXPECT_EQ(reason_of(response), "method_not_allowed");
  EXPECT_EQ(response.header("Allow"), "GET, POST");
  EXPECT_EQ(request.route, "/v1/members/{member_id}/accounts");
}

TEST(Router, HandlerExceptionIs500WithoutInternals) {
  Router router;
  router.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("secret connection string"); });
  router.add("GET", "/bad-status", [](const Request&) { return text_response(42, "?"); });
  Request request = request_for("GET", "/boom");
  const Response response = router.dispatch(request);
  EXPECT_EQ(response.status, 500U);
  EXPECT_EQ(reason_of(response), "internal_error");
  EXPECT_EQ(response.body.find("secret"), std::string::npos);
  Request bad_status = request_for("GET", "/bad-status");
  EXPECT_EQ(router.dispatch(bad_status).status, 500U);
}

// The failure answer turns the environment's exceptions into their answer (a service's database
// away: 503) and leaves the others a 500; it sees the route's pattern.
TEST(Router, TheFailureAnswerAnswersTheExceptionsItKnowsAndLeavesTheRestA500) {
  struct Unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
  };
  Router router;
  router.add("GET", "/v1/things/{id}", [](const Request&) -> Response { throw Unavailable("database away"); });
  router.add("GET", "/boom", [](const Request&) -> Response { throw std::runtime_error("bug"); });
  std::string seen_route;
  router.set_failure_answer([&](std::exception_ptr failure, std::string_view route) -> std::optional<Response> {
    seen_route = route;
    try {
      std::rethrow_exception(failure);
    } catch (const Unavailable&) {
      return problem(503, "database_unavailable", "Service unavailable", "retry");
    } catch (...) {
    }
    return std::nullopt;
  });
  Request away = request_for("GET", "/v1/things/7");
  const Response answer = router.dispatch(away);
  EXPECT_EQ(answer.status, 503U);
  EXPECT_EQ(reason_of(answer), "database_unavailable");
  EXPECT_EQ(seen_route, "/v1/things/{id}");
  Request bug = request_for("GET", "/boom");
  const Response bug_answer = router.dispatch(bug);
  EXPECT_EQ(bug_answer.status, 500U);
  EXPECT_EQ(reason_of(bug_answer), "internal_error");
}

TEST(Router, HandlerRunsUnderTheRequestId) {
  Router router;
  router.add("GET", "/id", [](const Request&) { return text_response(200, std::string(log::current_request_id())); });
  Request request = request_for("GET", "/id");
  EXPECT_EQ(router.dispatch(request).body, "test-request");
}

// try_fast offers a request to its route's fast handler; anything it cannot take (no fast
// handler, no route, a refusal, an exception) is left for dispatch.
TEST(Router, OffersARequestToItsRoutesFastHandlerOnly) {
  Router router = accounts_router();
  std::vector<std::string> seen;
  router.add(
      "GET", "/v1/accounts/{account_id}", [](const Request&) { return text_response(200, "worker"); },
      [&seen](const Request& request, const Respond& respond) {
        const std::string id(request.path_param("account_id").value_or(""));
        seen.push_back(id + " " + request.route + " " + std::string(log::current_request_id()));
        if (id == "throws")
          throw std::runtime_error("bug");
        if (id == "declined")
          return false;
        respond(text_response(200, "fast " + id));
        return true;
      });
  EXPECT_THROW(router.add("GET", "/v1/other", [](const Request&) { return text_response(200, ""); }, FastHandler{}),
               std::invalid_argument);

  std::vector<std::string> answers;
  const Respond respond = [&answers](Response response) { answers.push_back(response.body); };
  Request taken = request_for("GET", "/v1/accounts/a%207");
  EXPECT_TRUE(router.try_fast(taken, respond));
  EXPECT_EQ(taken.route, "/v1/accounts/{account_id}");
  Request declined = request_for("GET", "/v1/accounts/declined");
  EXPECT_FALSE(router.try_fast(declined, respond));
  EXPECT_EQ(router.dispatch(declined).body, "worker");
  Request throws = request_for("GET", "/v1/accounts/throws");
  EXPECT_FALSE(router.try_fast(throws, respond));
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/members/m1/accounts"}, {"POST", "/v1/accounts/a1"}, {"GET", "/nope"}, {"GET", "/v1/%zz"}}) {
    Request other = request_for(method, "/");
    other.path = target;
    EXPECT_FALSE(router.try_fast(other, respond)) << method << " " << target;
  }
  EXPECT_EQ(answers, (std::vector<std::string>{"fast a 7"}));
  // The handler saw the decoded parameter and the route; the request id is the caller's to set.
  EXPECT_EQ(seen, (std::vector<std::string>{"a 7 /v1/accounts/{account_id} ", "declined /v1/accounts/{account_id} ",
                                            "throws /v1/accounts/{account_id} "}));
}

TEST(Router, ValidatesPatternsWhenAdded) {
  Router router;
  const Handler ok = [](const Request&) { return text_response(200, ""); };
  for (const char* pattern : {"", "v1/x", "/v1//x", "/v1/x/", "/v1/{}", "/v1/{Member}", "/v1/{a", "/v1/{a}/{a}",
                              "/v1/a b", "/v1/x?y", "/v1/{a}b"}) {
    EXPECT_THROW(router.add("GET", pattern, ok), std::invalid_argument) << pattern;
  }
  EXPECT_THROW(router.add("get", "/v1/x", ok), std::invalid_argument);
  EXPECT_THROW(router.add("GET", "/v1/x", Handler{}), std::invalid_argument);
  router.add("GET", "/v1/{a}/x", ok);
  EXPECT_THROW(router.add("GET", "/v1/{b}/x", ok), std::invalid_argument);  // same shape
  router.add("PUT", "/v1/{a}/x", ok);
  router.add("GET", "/v1/literal/x", ok);
}

TEST(Router, ListsRoutesAndNamesThemForMetrics) {
  const Router router = accounts_router();
  const auto routes = router.routes();
  ASSERT_EQ(routes.size(), 5U);
  EXPECT_EQ(routes[0].method, "GET");
  EXPECT_EQ(routes[0].pattern, "/v1/members/{member_id}/accounts");
  EXPECT_EQ(router.route_name("GET", "/v1/members/abc/accounts"), "/v1/members/{member_id}/accounts");
  EXPECT_EQ(router.route_name("PATCH", "/v1/members/abc/accounts"), "/v1/members/{member_id}/accounts");
  EXPECT_EQ(router.route_name("GET", "/v1/members/abc/zzz"), "unmatched");
  EXPECT_EQ(router.route_name("GET", "no-slash"), "unmatched");
}

}  // namespace
}  // namespace cch::http
