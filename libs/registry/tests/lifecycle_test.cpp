// The trade lifecycle as a table: state x action x actor x (before or after expiry) -> new state
// or refusal. Every combination is checked; every refusal is reached.
#include "cch/registry/lifecycle.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <variant>

namespace cch::registry {
namespace {

using Outcome = std::variant<TradeState, LifecycleRefusal>;

struct Row {
  TradeAction action;
  Actor actor;
  bool past_expiry;
  Outcome outcome;
};

// From pending_affirmation, written out in full: the specification, not derived from the code.
const std::vector<Row> kPending = {
    {TradeAction::affirm, Actor::counterparty, false, TradeState::cleared},
    {TradeAction::affirm, Actor::counterparty, true, LifecycleRefusal::trade_expired},
    {TradeAction::affirm, Actor::submitter, false, LifecycleRefusal::own_submission},
    {TradeAction::affirm, Actor::submitter, true, LifecycleRefusal::trade_expired},
    {TradeAction::affirm, Actor::outsider, false, LifecycleRefusal::not_a_party},
    {TradeAction::affirm, Actor::outsider, true, LifecycleRefusal::not_a_party},
    {TradeAction::affirm, Actor::system, false, LifecycleRefusal::not_a_party},
    {TradeAction::affirm, Actor::system, true, LifecycleRefusal::not_a_party},
    {TradeAction::reject, Actor::counterparty, false, TradeState::rejected},
    {TradeAction::reject, Actor::counterparty, true, LifecycleRefusal::trade_expired},
    {TradeAction::reject, Actor::submitter, false, LifecycleRefusal::own_submission},
    {TradeAction::reject, Actor::submitter, true, LifecycleRefusal::trade_expired},
    {TradeAction::reject, Actor::outsider, false, LifecycleRefusal::not_a_party},
    {TradeAction::reject, Actor::outsider, true, LifecycleRefusal::not_a_party},
    {TradeAction::reject, Actor::system, false, LifecycleRefusal::not_a_party},
    {TradeAction::reject, Actor::system, true, LifecycleRefusal::not_a_party},
    {TradeAction::cancel, Actor::counterparty, false, TradeState::cancelled},
    {TradeAction::cancel, Actor::counterparty, true, LifecycleRefusal::trade_expired},
    {TradeAction::cancel, Actor::submitter, false, TradeState::cancelled},
    {TradeAction::cancel, Actor::submitter, true, LifecycleRefusal::trade_expired},
    {TradeAction::cancel, Actor::outsider, false, LifecycleRefusal::not_a_party},
    {TradeAction::cancel, Actor::outsider, true, LifecycleRefusal::not_a_party},
    {TradeAction::cancel, Actor::system, false, LifecycleRefusal::not_a_party},
    {TradeAction::cancel, Actor::system, true, LifecycleRefusal::not_a_party},
    {TradeAction::expire, Actor::system, true, TradeState::expired},
    {TradeAction::expire, Actor::system, false, LifecycleRefusal::not_yet_expired},
    {TradeAction::expire, Actor::submitter, true, LifecycleRefusal::only_system_expires},
    {TradeAction::expire, Actor::submitter, false, LifecycleRefusal::only_system_expires},
    {TradeAction::expire, Actor::counterparty, true, LifecycleRefusal::only_system_expires},
    {TradeAction::expire, Actor::counterparty, false, LifecycleRefusal::only_system_expires},
    {TradeAction::expire, Actor::outsider, true, LifecycleRefusal::not_a_party},
    {TradeAction::expire, Actor::outsider, false, LifecycleRefusal::not_a_party},
};

std::string describe(const Outcome& outcome) {
  return std::holds_alternative<TradeState>(outcome) ? std::string(to_string(std::get<TradeState>(outcome)))
                                                     : "refused " + std::string(to_string(std::get<LifecycleRefusal>(outcome)));
}

Outcome run(TradeState state, TradeAction action, Actor actor, bool past_expiry) {
  const auto result = transition(state, action, actor, past_expiry);
  if (result) return *result;
  return result.error();
}

TEST(TradeLifecycle, EveryStateActionActorAndExpiryHasItsExpectedOutcome) {
  std::set<std::string> refusals_reached;
  int checked = 0;
  for (const TradeState state : all_trade_states()) {
    for (const TradeAction action : all_trade_actions()) {
      for (const Actor actor : all_actors()) {
        for (const bool past_expiry : {false, true}) {
          Outcome expected = LifecycleRefusal::trade_not_pending;
          if (state == TradeState::pending_affirmation) {
            bool found = false;
            for (const Row& row : kPending) {
              if (row.action == action && row.actor == actor && row.past_expiry == past_expiry) {
                expected = row.outcome;
                found = true;
              }
            }
            ASSERT_TRUE(found) << "the table lacks " << to_string(action) << " by " << to_string(actor);
          } else if (actor == Actor::outsider) {
            expected = LifecycleRefusal::not_a_party;  // outsiders learn nothing, not even finality
          }
          const Outcome actual = run(state, action, actor, past_expiry);
          EXPECT_EQ(describe(actual), describe(expected))
              << to_string(state) << " + " << to_string(action) << " by " << to_string(actor)
              << (past_expiry ? " after expiry" : " before expiry");
          if (std::holds_alternative<LifecycleRefusal>(actual)) {
            refusals_reached.insert(std::string(to_string(std::get<LifecycleRefusal>(actual))));
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 5 * 4 * 4 * 2);
  EXPECT_EQ(refusals_reached, (std::set<std::string>{"not_a_party", "trade_not_pending", "only_system_expires",
                                                     "not_yet_expired", "trade_expired", "own_submission"}));
}

TEST(TradeLifecycle, StatesHaveStableNames) {
  for (const TradeState state : all_trade_states()) EXPECT_EQ(parse_trade_state(to_string(state)), state);
  EXPECT_EQ(parse_trade_state("affirmed"), std::nullopt);
  EXPECT_FALSE(is_final(TradeState::pending_affirmation));
  EXPECT_TRUE(is_final(TradeState::cleared));
}

}  // namespace
}  // namespace cch::registry
