#include "cch/http/router.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <stdexcept>

#include "cch/core/log.hpp"

namespace cch::http {
namespace {

constexpr std::size_t method_length_limit = 32;

bool is_method_token(std::string_view method) noexcept {
  if (method.empty() || method.size() > method_length_limit)
    return false;
  return std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool is_parameter_name(std::string_view name) noexcept {
  if (name.empty() || !(name.front() >= 'a' && name.front() <= 'z'))
    return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

bool is_literal_character(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == ':' || c == '@';
}

// Splits "/a/b%20c" into {"a", "b c"}; "/" gives no segments. nullopt on bad percent-encoding.
std::optional<std::vector<std::string>> split_path(std::string_view path) {
  std::vector<std::string> segments;
  if (path.empty() || path.front() != '/')
    return std::nullopt;
  if (path == "/")
    return segments;
  std::string_view rest = path.substr(1);
  while (true) {
    const auto slash = rest.find('/');
    auto decoded = percent_decode(rest.substr(0, slash), false);
    if (!decoded)
      return std::nullopt;
    segments.push_back(std::move(*decoded));
    if (slash == std::string_view::npos)
      break;
    rest = rest.substr(slash + 1);
  }
  return segments;
}

[[noreturn]] void refuse(std::string_view method, std::string_view pattern, std::string_view why) {
  throw std::invalid_argument("invalid route " + std::string(method) + " " + std::string(pattern) + ": " +
                              std::string(why));
}

}  // namespace

void Router::add(std::string_view method, std::string pattern, Handler handler, FastHandler fast) {
  if (!fast)
    refuse(method, pattern, "fast handler is empty");
  add(method, std::move(pattern), std::move(handler));
  routes_.back().fast = std::move(fast);
}

void Router::add(std::string_view method, std::string pattern, Handler handler) {
  if (!is_method_token(method))
    refuse(method, pattern, "method must be an upper-case token");
  if (!handler)
    refuse(method, pattern, "handler is empty");
  if (pattern.empty() || pattern.front() != '/')
    refuse(method, pattern, "pattern must start with '/'");

  Route route;
  route.method = std::string(method);
  if (pattern != "/") {
    std::string_view rest = std::string_view(pattern).substr(1);
    while (true) {
      const auto slash = rest.find('/');
      const std::string_view text = rest.substr(0, slash);
      if (text.empty())
        refuse(method, pattern, "empty segment (\"//\" or a trailing '/')");
      Segment segment;
      if (text.front() == '{') {
        if (text.size() < 3 || text.back() != '}')
          refuse(method, pattern, "unterminated parameter");
        segment.text = std::string(text.substr(1, text.size() - 2));
        segment.is_parameter = true;
        if (!is_parameter_name(segment.text)) {
          refuse(method, pattern, "parameter names are snake_case: [a-z][a-z0-9_]*");
        }
        for (const auto& earlier : route.segments) {
          if (earlier.is_parameter && earlier.text == segment.text) {
            refuse(method, pattern, "parameter named twice");
          }
        }
      } else {
        if (!std::all_of(text.begin(), text.end(), is_literal_character)) {
          refuse(method, pattern, "literal segments use only [A-Za-z0-9-._~:@]");
        }
        segment.text = std::string(text);
      }
      route.segments.push_back(std::move(segment));
      if (slash == std::string_view::npos)
        break;
      rest = rest.substr(slash + 1);
    }
  }

  for (const auto& existing : routes_) {
    if (existing.method != route.method || existing.segments.size() != route.segments.size())
      continue;
    const bool same_shape =
        std::equal(existing.segments.begin(), existing.segments.end(), route.segments.begin(),
                   [](const Segment& a, const Segment& b) {
                     return a.is_parameter == b.is_parameter && (a.is_parameter || a.text == b.text);
                   });
    if (same_shape)
      refuse(method, pattern, "duplicates " + existing.method + " " + existing.pattern);
  }

  route.pattern = std::move(pattern);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

Router::Match Router::find(std::string_view method, const std::vector<std::string>& segments) const {
  // A parameter names an object: never empty, and text by the rule of every text a caller sends
  // (has_control_character). A segment that breaks either matches no parameter.
  std::vector<bool> names_object(segments.size());
  for (std::size_t i = 0; i < segments.size(); ++i) {
    names_object[i] = !segments[i].empty() && !has_control_character(segments[i]);
  }
  const auto matches = [&segments, &names_object](const Route& route) {
    if (route.segments.size() != segments.size())
      return false;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const Segment& segment = route.segments[i];
      if (segment.is_parameter ? !names_object[i] : segment.text != segments[i])
        return false;
    }
    return true;
  };
  // True if a is more specific than b: a literal where b has a parameter, at the first difference.
  const auto more_specific = [](const Route& a, const Route& b) {
    for (std::size_t i = 0; i < a.segments.size(); ++i) {
      if (a.segments[i].is_parameter != b.segments[i].is_parameter)
        return !a.segments[i].is_parameter;
    }
    return false;
  };

  Match match;
  for (const auto& route : routes_) {
    if (!matches(route))
      continue;
    if (match.path_route == nullptr || more_specific(route, *match.path_route))
      match.path_route = &route;
    if (route.method == method) {
      if (match.route == nullptr || more_specific(route, *match.route))
        match.route = &route;
    } else {
      match.allowed_methods.push_back(route.method);
    }
  }
  std::sort(match.allowed_methods.begin(), match.allowed_methods.end());
  match.allowed_methods.erase(std::unique(match.allowed_methods.begin(), match.allowed_methods.end()),
                              match.allowed_methods.end());
  return match;
}

std::string Router::route_name(std::string_view method, std::string_view path) const {
  const auto segments = split_path(path);
  if (!segments)
    return std::string(unmatched_route);
  const Match match = find(method, *segments);
  if (match.route != nullptr)
    return match.route->pattern;
  if (match.path_route != nullptr)
    return match.path_route->pattern;
  return std::string(unmatched_route);
}

void Router::set_unmatched_guard(UnmatchedGuard guard) { unmatched_guard_ = std::move(guard); }

void Router::set_failure_answer(FailureAnswer answer) { failure_answer_ = std::move(answer); }

Response Router::answer_unmatched(const Request& request, Response response) const {
  if (!unmatched_guard_) return response;
  try {
    return unmatched_guard_(request, std::move(response));
  } catch (const std::exception& exception) {
    log::error("http_unmatched_guard_failed", {{"method", request.method}, {"what", exception.what()}});
  }
  return problem(500, "internal_error", "Internal error",
                 "the server failed to handle the request; quote the request id when reporting it");
}

Response Router::dispatch(Request& request) const {
  std::optional<log::ScopedRequestId> request_id_scope;
  if (!request.request_id.empty() && log::current_request_id() != request.request_id) {
    request_id_scope.emplace(request.request_id);
  }
  request.path_params.clear();
  const auto segments = split_path(request.path);
  if (!segments) {
    request.route = std::string(unmatched_route);
    return answer_unmatched(request,
                            problem(400, "malformed_path", "Malformed path", "the path has invalid percent-encoding"));
  }
  const Match match = find(request.method, *segments);
  if (match.route == nullptr) {
    if (match.path_route == nullptr) {
      request.route = std::string(unmatched_route);
      return answer_unmatched(request, problem(404, "not_found", "Not found", "no resource at this path"));
    }
    request.route = match.path_route->pattern;
    std::string allow;
    for (const auto& method : match.allowed_methods) {
      if (!allow.empty())
        allow += ", ";
      allow += method;
    }
    Response response = problem(405, "method_not_allowed", "Method not allowed", "this resource allows: " + allow);
    response.headers.emplace_back("Allow", std::move(allow));
    return answer_unmatched(request, std::move(response));
  }

  const Route& route = *match.route;
  bind(route, *segments, request);

  const auto internal_error = [] {
    return problem(500, "internal_error", "Internal error",
                   "the server failed to handle the request; quote the request id when reporting it");
  };
  try {
    Response response = route.handler(request);
    if (response.status < 100 || response.status > 599) {
      log::error("http_handler_bad_status", {{"route", route.pattern}, {"status", response.status}});
      return internal_error();
    }
    return response;
  } catch (const std::exception& exception) {
    if (failure_answer_) {
      if (auto answer = failure_answer_(std::current_exception(), route.pattern)) return std::move(*answer);
    }
    log::error("http_handler_failed",
               {{"route", route.pattern}, {"method", request.method}, {"what", exception.what()}});
  } catch (...) {
    log::error("http_handler_failed",
               {{"route", route.pattern}, {"method", request.method}, {"what", "non-standard exception"}});
  }
  return internal_error();
}

void Router::bind(const Route& route, const std::vector<std::string>& segments, Request& request) {
  request.route = route.pattern;
  for (std::size_t i = 0; i < route.segments.size(); ++i) {
    if (route.segments[i].is_parameter)
      request.path_params.emplace_back(route.segments[i].text, segments[i]);
  }
}

bool Router::try_fast(Request& request, const Respond& respond) const {
  request.path_params.clear();
  const auto segments = split_path(request.path);
  if (!segments)
    return false;
  const Match match = find(request.method, *segments);
  if (match.route == nullptr || !match.route->fast)
    return false;
  const Route& route = *match.route;
  bind(route, *segments, request);
  try {
    return route.fast(request, respond);
  } catch (const std::exception& exception) {
    log::error("http_fast_handler_failed",
               {{"route", route.pattern}, {"method", request.method}, {"what", exception.what()}});
  } catch (...) {
    log::error("http_fast_handler_failed",
               {{"route", route.pattern}, {"method", request.method}, {"what", "non-standard exception"}});
  }
  return false;
}

std::vector<RouteInfo> Router::routes() const {
  std::vector<RouteInfo> list;
  list.reserve(routes_.size());
  for (const auto& route : routes_)
    list.push_back({route.method, route.pattern});
  return list;
}

}  // namespace cch::http
