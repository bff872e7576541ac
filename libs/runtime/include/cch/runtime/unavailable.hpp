#pragma once
// The answer to work that failed because the database was busy or away: the environment, not a
// bug. 503 with Retry-After and a machine-readable reason, so that a client retries (a command with
// the same Idempotency-Key, which makes the retry safe whatever happened):
//   database_busy            no pooled connection was free in time
//   database_unavailable     no primary could be reached, or the connection was lost and the
//                            unit of work's attempts ran out (a failover in progress)
//   commit_outcome_unknown   the connection broke while COMMIT was in flight: the command may
//                            have taken effect; the same Idempotency-Key tells which
// Anything else is nullopt: the caller answers 500 and logs it.
//
// Thread safety: a pure function of its arguments (it logs).

#include "cch/http/message.hpp"

#include <exception>
#include <optional>
#include <string_view>

namespace cch::runtime {

std::optional<http::Response> database_unavailable_answer(std::exception_ptr failure, std::string_view route);

}  // namespace cch::runtime
