#pragma once
// What an internal service's command handler needs from a request the api forwarded: the
// principal (from the X-Cch-* headers, see cch/access/principal.hpp) and the request id.
//
// A request without a complete, well-formed forwarded principal is refused with 401
// "missing_forwarded_principal": only the api calls these routes, and it always sends one.
//
// Thread safety: pure functions.

#include "cch/access/principal.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/http/message.hpp"

namespace cch::runtime {

struct InternalCaller {
  access::Principal principal;
  RequestId request_id;
};

Result<InternalCaller, http::Response> internal_caller(const http::Request& request);

// The prefix of every internal route: the api forwards POST /v1/x to POST /internal/v1/x.
inline constexpr std::string_view kInternalPrefix = "/internal";

}  // namespace cch::runtime
