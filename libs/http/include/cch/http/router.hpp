#pragma once
// Router: maps (method, path) to a handler through route patterns such as
// "/v1/members/{member_id}/accounts" (literal segments and {name} parameters).
//
// Contract:
//   - add() validates the pattern and refuses a second route with the same method and shape
//     (literals and parameter positions) by throwing std::invalid_argument: routes are fixed at
//     startup, so a bad table stops the service before it listens.
//   - dispatch() matches the request's path; a literal segment beats a parameter at the first
//     position where two matching patterns differ. It fills Request::path_params (decoded) and
//     Request::route, then calls the handler. A parameter matches a decoded segment that is not
//     empty and holds no control character (has_control_character, message.hpp): such a
//     segment names no object, so no handler sees one. Unknown path: 404 "not_found". Known path, other
//     method: 405 "method_not_allowed" with an Allow header. An exception escaping a handler
//     (or a status outside 100..599) becomes 500 "internal_error"; the exception text is logged
//     with the request id and never sent to the client.
//   - Request::route and route_name() give the matched pattern (or "unmatched"), so metrics and
//     logs are labelled by a bounded set of patterns, never by raw paths.
//
//   - A route may also have a fast handler, which the server tries first on its I/O thread:
//     try_fast() matches the request like dispatch() and calls it. A fast handler answers without
//     blocking its thread, or returns false having done nothing (it would have to wait, for a
//     lock or the database, say), and the request then goes to the route's handler on a worker.
//     When it returns true it has called, or will later call from any thread, `respond` exactly
//     once; until then the request it was given stays valid. An exception from a fast handler
//     counts as false (logged): a fast handler must not throw once it has taken the request.
//
// Thread safety: add() is not thread-safe and must finish before the router is shared. After
// that, dispatch(), try_fast(), route_name() and routes() may be called concurrently from any
// thread. Handlers are called concurrently on the server's worker threads, fast handlers on its
// I/O threads; all must be thread-safe.
//
// No Beast or Asio here: handler translation units stay cheap to compile.

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cch/http/message.hpp"

namespace cch::http {

using Handler = std::function<Response(const Request&)>;
// Answers a request taken by a fast handler; call exactly once, from any thread.
using Respond = std::function<void(Response)>;
using FastHandler = std::function<bool(const Request&, const Respond& respond)>;

struct RouteInfo {
  std::string method;
  std::string pattern;
};

class Router {
 public:
  // The route label of a request that matched no pattern.
  static constexpr std::string_view unmatched_route = "unmatched";

  // Registers handler for method (an upper-case token such as "GET") and pattern. Throws
  // std::invalid_argument naming the problem if the method or pattern is malformed, the
  // handler is empty, or the route duplicates one already added.
  void add(std::string_view method, std::string pattern, Handler handler);
  // The same, with a fast handler tried first (see above); fast must not be empty.
  void add(std::string_view method, std::string pattern, Handler handler, FastHandler fast);

  // Routes the request and returns the handler's response or a problem response. Sets
  // request.path_params and request.route.
  [[nodiscard]] Response dispatch(Request& request) const;

  // Offers the request to its route's fast handler: true if that took it (it will respond), false
  // if there is none, the path matches no route, or the handler declined. Sets
  // request.path_params and request.route when a route matches.
  [[nodiscard]] bool try_fast(Request& request, const Respond& respond) const;

  // The pattern that dispatch() would label this request with: the matched pattern, the most
  // specific pattern matching the path when only the method differs, or "unmatched".
  [[nodiscard]] std::string route_name(std::string_view method, std::string_view path) const;

  // Every route, in the order added.
  [[nodiscard]] std::vector<RouteInfo> routes() const;

  // A check run before answering a request that no route takes (malformed path, 404, 405). If
  // it returns a response, that is the answer: the api service answers 401 there, so a caller
  // without credentials learns nothing, not even which paths exist. It also sees the answer the
  // router would give, to record it. Set it before the router is shared, like add().
  using UnmatchedGuard = std::function<Response(const Request&, Response would_answer)>;
  void set_unmatched_guard(UnmatchedGuard guard);

  // The answer to a handler's exception that is the environment's, not a bug (the database away:
  // 503 with a machine-readable reason, so that a client retries); nullopt leaves it a 500. The
  // runtime sets one for every service. Set it before the router is shared, like add().
  using FailureAnswer = std::function<std::optional<Response>(std::exception_ptr failure, std::string_view route)>;
  void set_failure_answer(FailureAnswer answer);

 private:
  struct Segment {
    std::string text;  // a literal, or the parameter's name
    bool is_parameter = false;
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    Handler handler;
    FastHandler fast;  // may be empty
  };
  struct Match {
    const Route* route = nullptr;       // matches path and method
    const Route* path_route = nullptr;  // most specific route matching the path only
    std::vector<std::string> allowed_methods;
  };

  [[nodiscard]] Match find(std::string_view method, const std::vector<std::string>& segments) const;

  // Sets the request's route and path parameters from the route it matched.
  static void bind(const Route& route, const std::vector<std::string>& segments, Request& request);

  [[nodiscard]] Response answer_unmatched(const Request& request, Response response) const;

  std::vector<Route> routes_;
  UnmatchedGuard unmatched_guard_;
  FailureAnswer failure_answer_;
};

}  // namespace cch::http
