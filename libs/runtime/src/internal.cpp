#include "cch/runtime/internal.hpp"

namespace cch::runtime {

Result<InternalCaller, http::Response> internal_caller(const http::Request& request) {
  auto principal = access::parse_forwarded_principal([&request](std::string_view name) { return request.header(name); });
  if (!principal) {
    return fail(http::problem(401, "missing_forwarded_principal", "No forwarded principal",
                              std::string(access::to_string(principal.error()))));
  }
  auto request_id = RequestId::parse(request.request_id);
  if (!request_id) request_id = RequestId::generate();
  return InternalCaller{std::move(*principal), std::move(*request_id)};
}

}  // namespace cch::runtime
