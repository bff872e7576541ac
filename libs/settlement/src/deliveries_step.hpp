#pragma once
// The settlement run's deliveries step (deliveries.hpp says what it does), for runs.cpp.
#include <cstdint>
#include <map>
#include <vector>
#include <optional>
#include <string>

#include <pqxx/transaction_base>

#include "cch/core/time.hpp"
#include "cch/settlement/runs.hpp"

namespace cch::settlement::detail {

// What would stop the trades ending by `cut_off` from being settled (a missing fixing), if
// anything; reads only.
std::optional<SettleError> check_deliveries(pqxx::transaction_base& tx, UtcTimestamp cut_off,
                                            std::int32_t buy_in_penalty_bps, std::int64_t fee_ticks_per_gpu_hour);

// Settles them (locking their rows), records the figures and posts a journal per member; the step's
// counts as a JSON object, or `refused` set and nothing written.
std::string deliveries_step(pqxx::transaction_base& tx, const SettlementRun& run, std::int32_t buy_in_penalty_bps,
                            std::int64_t fee_ticks_per_gpu_hour, std::optional<SettleError>& refused);

// Each member's USD collateral account, in one statement (opening those it has none of).
std::map<std::int64_t, AccountId> collateral_accounts(pqxx::transaction_base& tx,
                                                      const std::vector<std::int64_t>& members);

// Whether a dispute of a trade the run settled was decided since (its journal moved the escrow the
// run posted: the run can no longer be reversed alone).
bool run_has_decided_disputes(pqxx::transaction_base& tx, std::int64_t run_id);

// The journals the run's deliveries step posted, by member.
std::vector<std::pair<std::int64_t, JournalId>> delivery_journals(pqxx::transaction_base& tx, std::int64_t run_id);

}  // namespace cch::settlement::detail
