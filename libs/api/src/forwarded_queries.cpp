// Questions forwarded to the risk service (Executor::risk_query, routes.hpp): a POST for its
// body that changes nothing, so it needs no Idempotency-Key and stores no answer; it is audited
// as a read (buffered), and a failure to reach the service is answered as it comes back.
#include "request_pipeline.hpp"

#include "cch/runtime/internal.hpp"

namespace cch::api {

Outcome forwarded_query(Api& api, const http::Request& request, const access::Principal& principal) {
  http::Request forwarded;
  forwarded.method = request.method;
  forwarded.target = std::string(runtime::kInternalPrefix) + request.target;
  forwarded.path = std::string(runtime::kInternalPrefix) + request.path;
  forwarded.query_params = request.query_params;
  forwarded.body = request.body;
  forwarded.request_id = request.request_id;
  forwarded.remote_address = request.remote_address;
  if (const auto type = request.header("Content-Type")) forwarded.headers.emplace_back("Content-Type", std::string(*type));
  forwarded.headers.emplace_back("X-Request-Id", request.request_id);
  for (auto& header : access::forwarded_principal_headers(principal)) forwarded.headers.push_back(std::move(header));
  return Outcome{api.forward(Executor::risk, forwarded), principal, {}};
}

}  // namespace cch::api
