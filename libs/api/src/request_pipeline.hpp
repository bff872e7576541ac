#pragma once
// The request pipeline's shared parts (private to libs/api): what an admitted request came to,
// its audit record, and the steps that live in their own files: object ownership
// (ownership.cpp), POSTs under an Idempotency-Key (idempotent_commands.cpp) and questions
// forwarded to the risk service (forwarded_queries.cpp). The pipeline itself, the order of
// routes.hpp, is request_pipeline.cpp.

#include "api_impl.hpp"

#include "cch/audit/request_log.hpp"

#include <pqxx/transaction_base>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace cch::api {

using Clock = std::chrono::steady_clock;

// When an admitted request began, for its audit record.
struct AuditStart {
  UtcTimestamp received_at = UtcTimestamp::now();
  Clock::time_point started = Clock::now();
};

struct Outcome {
  http::Response response;
  std::optional<access::Principal> principal;
  std::string audit_reason;    // overrides the problem's reason in the audit log
  bool audit_written = false;  // the request's audit row is written already (a command's)
};

audit::AuditRecord audit_record(const http::Request& request, std::string_view route_pattern,
                                const AuditStart& start, const Outcome& outcome);

// Whether a member principal owns the object the request's path names (Ownership); nullopt: the
// object does not exist. Facts read once are remembered in api.ownership.
std::optional<bool> member_owns(Api& api, pqxx::transaction_base& tx, Ownership ownership,
                                const http::Request& request, MemberId member);

// Runs a POST under its Idempotency-Key (routes.hpp, step 6): a command of the api itself
// (`command`) in the transaction that stores its answer, or else one forwarded to its owning
// service. Every answer's audit row is written before the answer leaves.
Outcome idempotent(Api& api, const RouteSpec& route, const http::Request& request, const access::Principal& principal,
                   CommandHandler command, const AuditStart& start);

// A question forwarded to the risk service (Executor::risk_query): the request with the principal
// and the request id, no Idempotency-Key and no command context; nothing is reserved or stored,
// and the answer is audited as a read's.
Outcome forwarded_query(Api& api, const http::Request& request, const access::Principal& principal);

}  // namespace cch::api
