#pragma once
// Margin calls: a member whose collateral is short of its initial margin is called to bring it
// up by a deadline (tables of migration 0023; docs/margin.md "Margin calls").
//
// The requirement is the member's initial margin in a margin run (margin_store's figures; the
// variation margin a member owes will add to it once the daily settlement posts it); the
// collateral is what it holds less the withdrawals it has requested (collateral.hpp's
// held - pending_withdrawals). Per member, under its row lock (every collateral movement of that
// member serialises on it):
//   - issue_margin_calls(run): for each member of the run, an open call is met when the
//     collateral now reaches its requirement; else, when the run's requirement exceeds the
//     collateral, a call for the difference is issued (amount = requirement - collateral, the
//     deadline `deadline` after now), an open call with another requirement being superseded by
//     it (an open call with the same requirement stands);
//   - meet_margin_call(member, collateral): in a deposit's transaction, with the collateral after
//     it: the open call is met when the collateral reaches its requirement;
//   - mark_overdue_margin_calls(now): issued calls past their deadline become overdue (they stay
//     open: a deposit or a run still meets them).
// Every change of state is an event with the collateral that caused it.
//
// Thread safety: functions take the caller's transaction.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/transaction_base>

#include "cch/core/ids.hpp"
#include "cch/core/money.hpp"
#include "cch/core/time.hpp"

namespace cch::settlement {

enum class CallState { issued, met, overdue, superseded };
std::string_view to_string(CallState state);
std::optional<CallState> parse_call_state(std::string_view text);

struct MarginCall {
  std::int64_t call_id = 0;
  MemberId member;
  std::int64_t run_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  Money requirement;
  Money collateral;  // when issued
  Money amount;
  UtcTimestamp issued_at{0};
  UtcTimestamp deadline{0};
  CallState state = CallState::issued;
  std::optional<UtcTimestamp> closed_at;
};

struct CallsOfRun {
  std::int32_t issued = 0;
  std::int32_t met = 0;
  std::int32_t superseded = 0;
};

inline constexpr std::chrono::minutes kCallDeadlineMax{7 * 24 * 60};

// Precondition: 0 < deadline <= kCallDeadlineMax; the run exists.
CallsOfRun issue_margin_calls(pqxx::transaction_base& tx, std::int64_t run_id, std::chrono::minutes deadline,
                              UtcTimestamp now);
// Precondition: the member's row is locked by the caller (a deposit's transaction).
std::optional<MarginCall> meet_margin_call(pqxx::transaction_base& tx, MemberId member, std::int64_t collateral_minor,
                                           std::string_view cause, UtcTimestamp now);
std::int64_t mark_overdue_margin_calls(pqxx::transaction_base& tx, UtcTimestamp now);

std::optional<MarginCall> find_margin_call(pqxx::transaction_base& tx, std::int64_t call_id);
// Newest first, strictly before `before` (a call id), of one member or all, of one state or all;
// at most `limit` (1..1000).
std::vector<MarginCall> list_margin_calls(pqxx::transaction_base& tx, std::optional<MemberId> member,
                                          std::optional<CallState> state, std::optional<std::int64_t> before,
                                          std::size_t limit);

}  // namespace cch::settlement
