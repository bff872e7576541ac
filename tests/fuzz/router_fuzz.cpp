// libFuzzer target: cch::http::Router::dispatch with an arbitrary method and target.
//
// Input: the bytes up to the first ' ' are the method, the rest is the target ("GET /v1/trades").
// The router holds a small table shaped like the services' (parameters, a literal that beats a
// parameter, several methods on one path, the root); every handler answers 200.
//
// Properties (any violation aborts):
//   - a target that parse_target accepts (what the server hands to the router) is answered
//     200, 404 or 405, nothing else; a raw path that parse_target refused may also get 400;
//   - 200 comes from the handler of the pattern dispatch names in Request::route, with one
//     non-empty path parameter per {name} in that pattern, none holding a control character;
//   - 404 is labelled "unmatched"; 405 carries a non-empty Allow header and a pattern label;
//   - route_name(method, path) labels the request as dispatch did.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "cch/http/router.hpp"
#include "fuzz_check.hpp"

namespace {

using cch::fuzz::check;

struct RouteSpec {
  std::string_view method;
  std::string_view pattern;
};

constexpr std::array<RouteSpec, 10> route_specs{{
    {"GET", "/"},
    {"GET", "/health"},
    {"GET", "/v1/members/{member_id}"},
    {"GET", "/v1/members/{member_id}/accounts"},
    {"POST", "/v1/members/{member_id}/accounts"},
    {"GET", "/v1/members/self/accounts"},
    {"GET", "/v1/members/{member_id}/accounts/{account_id}"},
    {"POST", "/v1/trades"},
    {"GET", "/v1/trades/{trade_id}"},
    {"POST", "/v1/trades/{trade_id}/affirm"},
}};

std::size_t parameter_count(std::string_view pattern) {
  return static_cast<std::size_t>(std::count(pattern.begin(), pattern.end(), '{'));
}

const cch::http::Router& router() {
  static const cch::http::Router instance = [] {
    cch::http::Router table;
    for (const auto& spec : route_specs) {
      const std::string pattern(spec.pattern);
      table.add(spec.method, pattern, [pattern](const cch::http::Request& request) {
        check(request.route == pattern, "the handler called is the one of the route dispatch names");
        check(request.path_params.size() == parameter_count(pattern), "one path parameter per {name}");
        for (const auto& [name, value] : request.path_params) {
          check(!name.empty() && !value.empty(), "path parameters are named and non-empty");
          check(!cch::http::has_control_character(value), "no path parameter holds a control character");
        }
        return cch::http::text_response(200, pattern);
      });
    }
    return table;
  }();
  return instance;
}

bool is_registered_pattern(std::string_view pattern) {
  return std::any_of(route_specs.begin(), route_specs.end(),
                     [pattern](const RouteSpec& spec) { return spec.pattern == pattern; });
}

void check_response(const cch::http::Request& request, const cch::http::Response& response, bool target_parsed) {
  const unsigned status = response.status;
  const bool expected = status == 200 || status == 404 || status == 405 || (!target_parsed && status == 400);
  check(expected,
        target_parsed ? "a parsed target is answered 200, 404 or 405" : "a raw path is answered 200, 400, 404 or 405");
  if (status == 200) {
    check(is_registered_pattern(request.route) && response.body == request.route,
          "200 comes from the handler of the matched pattern");
  } else if (status == 404 || status == 400) {
    check(request.route == cch::http::Router::unmatched_route, "404 and 400 are labelled unmatched");
  } else if (status == 405) {
    const auto allow = response.header("Allow");
    check(allow.has_value() && !allow->empty(), "405 carries an Allow header");
    check(is_registered_pattern(request.route), "405 is labelled with the pattern of the path");
  }
  check(router().route_name(request.method, request.path) == request.route,
        "route_name labels the request as dispatch did");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = cch::fuzz::as_text(data, size);
  const auto space = text.find(' ');
  const std::string_view method = text.substr(0, space);
  const std::string_view target = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);

  cch::http::Request request;
  request.method = std::string(method);
  if (cch::http::parse_target(target, request)) {
    const auto response = router().dispatch(request);
    check_response(request, response, true);
  }

  // The router on its own, given the raw bytes as a path (as if the server had not checked it).
  cch::http::Request raw;
  raw.method = std::string(method);
  raw.target = std::string(target);
  raw.path = std::string(target.substr(0, target.find('?')));
  const auto response = router().dispatch(raw);
  check_response(raw, response, false);
  return 0;
}
