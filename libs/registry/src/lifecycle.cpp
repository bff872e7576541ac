#include "cch/registry/lifecycle.hpp"

#include <array>

namespace cch::registry {
namespace {

constexpr std::array kStates = {TradeState::pending_affirmation, TradeState::cleared, TradeState::rejected,
                                TradeState::cancelled, TradeState::expired};
constexpr std::array kActions = {TradeAction::affirm, TradeAction::reject, TradeAction::cancel, TradeAction::expire};
constexpr std::array kActors = {Actor::submitter, Actor::counterparty, Actor::outsider, Actor::system};

}  // namespace

std::string_view to_string(TradeState state) {
  switch (state) {
    case TradeState::pending_affirmation: return "pending_affirmation";
    case TradeState::cleared: return "cleared";
    case TradeState::rejected: return "rejected";
    case TradeState::cancelled: return "cancelled";
    case TradeState::expired: return "expired";
  }
  return "unknown";
}

std::string_view to_string(TradeAction action) {
  switch (action) {
    case TradeAction::affirm: return "affirm";
    case TradeAction::reject: return "reject";
    case TradeAction::cancel: return "cancel";
    case TradeAction::expire: return "expire";
  }
  return "unknown";
}

std::string_view to_string(Actor actor) {
  switch (actor) {
    case Actor::submitter: return "submitter";
    case Actor::counterparty: return "counterparty";
    case Actor::outsider: return "outsider";
    case Actor::system: return "system";
  }
  return "unknown";
}

std::string_view to_string(LifecycleRefusal refusal) {
  switch (refusal) {
    case LifecycleRefusal::not_a_party: return "not_a_party";
    case LifecycleRefusal::trade_not_pending: return "trade_not_pending";
    case LifecycleRefusal::only_system_expires: return "only_system_expires";
    case LifecycleRefusal::not_yet_expired: return "not_yet_expired";
    case LifecycleRefusal::trade_expired: return "trade_expired";
    case LifecycleRefusal::own_submission: return "own_submission";
  }
  return "unknown";
}

std::optional<TradeState> parse_trade_state(std::string_view text) {
  for (const TradeState state : kStates) {
    if (to_string(state) == text) return state;
  }
  return std::nullopt;
}

std::span<const TradeState> all_trade_states() { return kStates; }
std::span<const TradeAction> all_trade_actions() { return kActions; }
std::span<const Actor> all_actors() { return kActors; }

bool is_final(TradeState state) { return state != TradeState::pending_affirmation; }

Result<TradeState, LifecycleRefusal> transition(TradeState state, TradeAction action, Actor actor, bool past_expiry) {
  if (actor == Actor::outsider) return fail(LifecycleRefusal::not_a_party);
  if (is_final(state)) return fail(LifecycleRefusal::trade_not_pending);
  if (action == TradeAction::expire) {
    if (actor != Actor::system) return fail(LifecycleRefusal::only_system_expires);
    if (!past_expiry) return fail(LifecycleRefusal::not_yet_expired);
    return TradeState::expired;
  }
  if (actor == Actor::system) return fail(LifecycleRefusal::not_a_party);  // the sweep only expires
  if (past_expiry) return fail(LifecycleRefusal::trade_expired);
  switch (action) {
    case TradeAction::affirm:
      if (actor == Actor::submitter) return fail(LifecycleRefusal::own_submission);
      return TradeState::cleared;
    case TradeAction::reject:
      if (actor == Actor::submitter) return fail(LifecycleRefusal::own_submission);
      return TradeState::rejected;
    case TradeAction::cancel:
      return TradeState::cancelled;
    case TradeAction::expire:
      break;
  }
  return fail(LifecycleRefusal::trade_not_pending);
}

}  // namespace cch::registry
