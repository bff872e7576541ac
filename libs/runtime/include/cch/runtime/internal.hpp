#pragma once
// What an internal service's command handler needs from a request the api forwarded: the
// principal (from the X-Cch-* headers, see cch/access/principal.hpp) and the request id; and the
// transaction that runs a command and records its answer with its effect (answer_command).
//
// A request without a complete, well-formed forwarded principal is refused with 401
// "missing_forwarded_principal": only the api calls these routes, and it always sends one.
//
// Thread safety: pure functions.

#include "cch/access/principal.hpp"
#include "cch/audit/command_answer.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/http/message.hpp"
#include "cch/runtime/service.hpp"

#include <utility>

namespace cch::runtime {

struct InternalCaller {
  access::Principal principal;
  RequestId request_id;
};

Result<InternalCaller, http::Response> internal_caller(const http::Request& request);

// Runs work(tx) -> http::Response in one transaction that also records the answer when the api
// forwarded the command under an Idempotency-Key (cch/audit/command_answer.hpp): the effect, the
// stored answer and the audit row commit together, so a retry under the key after any crash gets
// this answer if the effect happened, and runs afresh if it did not.
template <class Work>
http::Response answer_command(ServiceContext& context, const http::Request& request, const InternalCaller& caller,
                              Work&& work) {
  return audit::answer_in_transaction(context.pool, context.retry_policy,
                                      audit::forwarded_command(request, caller.principal), std::forward<Work>(work));
}

// The prefix of every internal route: the api forwards POST /v1/x to POST /internal/v1/x.
inline constexpr std::string_view kInternalPrefix = "/internal";

}  // namespace cch::runtime
