#pragma once
// The life of a bilateral trade before and at clearing, as one pure transition function that the
// registry applies inside the transaction that records the change (trades.hpp).
//
//   pending_affirmation --affirm by the counterparty, checks pass--> cleared (novated)
//   pending_affirmation --reject by the counterparty-------------> rejected
//   pending_affirmation --cancel by either party-----------------> cancelled
//   pending_affirmation --expire by the system at expiry--------> expired
// cleared, rejected, cancelled and expired are final. A matching submission from the other side
// counts as its affirmation. Pre-trade checks run only on an affirmation this function allows;
// a trade whose checks fail stays pending (the affirming member may add collateral and affirm
// again before expiry), and the refusal is recorded with the trade.
//
// Refusals (in this order of checking):
//   not_a_party              the actor is a member on neither side (the api answers 404)
//   trade_not_pending        the trade is already final
//   only_system_expires      a member asked to expire a trade
//   not_yet_expired          the system asked to expire a trade before its expiry time
//   trade_expired            affirm, reject or cancel after the expiry time (the system's sweep
//                            will mark it expired)
//   own_submission           the submitter affirms or rejects its own submission
//
// Thread safety: pure functions.

#include "cch/core/result.hpp"

#include <optional>
#include <span>
#include <string_view>

namespace cch::registry {

enum class TradeState { pending_affirmation, cleared, rejected, cancelled, expired };
enum class TradeAction { affirm, reject, cancel, expire };
// Who acts, relative to the trade: the member that submitted it, the other party, a member on
// neither side, or the clearinghouse's own sweep.
enum class Actor { submitter, counterparty, outsider, system };

enum class LifecycleRefusal {
  not_a_party,
  trade_not_pending,
  only_system_expires,
  not_yet_expired,
  trade_expired,
  own_submission,
};

std::string_view to_string(TradeState state);
std::string_view to_string(TradeAction action);
std::string_view to_string(Actor actor);
std::string_view to_string(LifecycleRefusal refusal);
std::optional<TradeState> parse_trade_state(std::string_view text);
std::span<const TradeState> all_trade_states();
std::span<const TradeAction> all_trade_actions();
std::span<const Actor> all_actors();

bool is_final(TradeState state);

// The state after `action` by `actor`, or why it is refused. past_expiry: the trade's expiry
// time has passed. An allowed affirm answers cleared: the caller then runs the pre-trade
// checks and, if they refuse, keeps the trade pending.
Result<TradeState, LifecycleRefusal> transition(TradeState state, TradeAction action, Actor actor, bool past_expiry);

}  // namespace cch::registry
