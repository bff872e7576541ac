// A member's trades: submission (a matching submission affirms), affirmation alone or in a group
// through the clearing engine, rejection, cancellation and the expiry sweep.
#include "cch/registry/trades.hpp"

#include <pqxx/result>

#include <algorithm>
#include <array>
#include <cassert>
#include <map>
#include <set>
#include <span>

#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/registry/catalog.hpp"
#include "clearing.hpp"
#include "trade_rows.hpp"
#include "trade_terms.hpp"

namespace cch::registry {
namespace {

Actor actor_of(const Trade& trade, MemberId member) {
  if (!trade.submitter) return trade.has_party(member) ? Actor::counterparty : Actor::outsider;  // a venue's
  if (member == *trade.submitter) return Actor::submitter;
  if (member == trade.counterparty()) return Actor::counterparty;
  return Actor::outsider;
}

TradeRefusal refusal_of(LifecycleRefusal refusal) {
  switch (refusal) {
    case LifecycleRefusal::not_a_party: return TradeRefusal::trade_not_found;  // as if it did not exist
    case LifecycleRefusal::trade_not_pending: return TradeRefusal::trade_not_pending;
    case LifecycleRefusal::only_system_expires: return TradeRefusal::only_system_expires;
    case LifecycleRefusal::not_yet_expired: return TradeRefusal::not_yet_expired;
    case LifecycleRefusal::trade_expired: return TradeRefusal::trade_expired;
    case LifecycleRefusal::own_submission: return TradeRefusal::own_submission;
  }
  return TradeRefusal::trade_not_pending;
}

// ---- clearing through the engine (clearing.hpp) -----------------------------------------------

// A pending trade to check and novate for an actor, and what it came to.
struct ToClear {
  Trade trade;
  const TradeActor* actor = nullptr;
  std::optional<Result<Trade, TradeError>> outcome;
};

// Records a refusal on the (pending) trade and answers what the actor is told.
TradeError refuse(pqxx::transaction_base& tx, const Trade& trade, const TradeActor& actor,
                  const clearing::CheckFailure& failure) {
  const std::string reason(to_string(failure.refusal));
  db::exec_cached(tx, "UPDATE cch.trade SET last_refusal = $2, last_refused_member_id = $3 WHERE trade_id = $1",
                  trade.trade_id.value(), reason,
                  failure.member ? std::optional<std::int64_t>(failure.member->value()) : std::nullopt);
  append_event(tx, trade.trade_id, "refuse", actor.name, actor.member, trade.state, trade.state,
               reason + ": " + failure.detail, actor.request_id);
  if (failure.member && *failure.member != actor.member) {
    return error(TradeRefusal::counterparty_refused,
                 "the clearinghouse cannot clear this trade for the other member at present");
  }
  return error(failure.refusal, failure.detail);
}

// Checks the pending trades in order against one book (each as the ones before it left it) and
// novates those that pass, together; a refusal is recorded on its trade. A trade named again
// after it cleared is refused as the lifecycle refuses a cleared trade. Precondition: the
// trades' rows are locked and each passed the lifecycle as a pending trade.
void clear_in_order(pqxx::transaction_base& tx, const RegistrationPolicy& policy, std::span<ToClear> items,
                    UtcTimestamp now) {
  assert(policy.margin_models != nullptr && "a registration policy needs the margin models");
  if (items.empty()) return;
  std::map<std::int64_t, Product> products;
  std::vector<std::int64_t> members;
  for (const auto& item : items) {
    const auto id = item.trade.terms.product.value();
    if (!products.contains(id)) {
      auto product = find_product(tx, item.trade.terms.product);
      assert(product && "a trade's product exists (foreign key)");
      products.emplace(id, std::move(*product));
    }
    members.push_back(item.trade.terms.buyer.value());
    members.push_back(item.trade.terms.seller.value());
  }
  clearing::Book book = clearing::Book::lock(tx, std::move(members));
  std::vector<clearing::Candidate> candidates;
  candidates.reserve(items.size());
  for (const auto& item : items) {
    candidates.push_back({item.trade, &products.at(item.trade.terms.product.value()),
                          month_slices(item.trade.terms.delivery_start, item.trade.terms.delivery_end)});
  }
  book.load(tx, policy, candidates, now);
  std::vector<clearing::Clearing> clearings;
  std::vector<std::size_t> cleared;
  std::set<std::int64_t> cleared_trades;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const TradeActor& actor = *items[i].actor;
    const Trade& trade = candidates[i].trade;
    if (cleared_trades.contains(trade.trade_id.value())) {  // named again after it cleared in this group
      const auto next = transition(TradeState::cleared, TradeAction::affirm, actor_of(trade, actor.member),
                                   now >= trade.expires_at);
      assert(!next && "a cleared trade takes no action");
      items[i].outcome = fail(error(refusal_of(next.error()), std::string(to_string(next.error()))));
      continue;
    }
    const clearing::Checked checked = book.check(tx, policy, candidates[i], now);
    if (checked.failure) {
      items[i].outcome = fail(refuse(tx, trade, actor, *checked.failure));
      continue;
    }
    book.apply(candidates[i], checked);
    clearings.push_back(clearing::Clearing{&candidates[i].trade, false, candidates[i].product, &candidates[i].slices,
                                           actor.name, actor.member,
                                           actor.request_id});
    cleared.push_back(i);
    cleared_trades.insert(trade.trade_id.value());
  }
  clearing::novate(tx, clearings, book, now);
  for (const std::size_t i : cleared) items[i].outcome = std::move(candidates[i].trade);
}

Result<Trade, TradeError> clear(pqxx::transaction_base& tx, const RegistrationPolicy& policy, Trade trade,
                                const TradeActor& actor, UtcTimestamp now) {
  std::array<ToClear, 1> item{ToClear{std::move(trade), &actor, std::nullopt}};
  clear_in_order(tx, policy, item, now);
  return std::move(*item[0].outcome);
}


Result<Trade, TradeError> decide(pqxx::transaction_base& tx, const TradeActor& actor, TradeId id, TradeAction action,
                                 std::string_view reason, UtcTimestamp now) {
  auto trade = lock_trade(tx, id);
  if (!trade) return fail(error(TradeRefusal::trade_not_found, "no such trade"));
  const auto next = transition(trade->state, action, actor_of(*trade, actor.member), now >= trade->expires_at);
  if (!next) return fail(error(refusal_of(next.error()), std::string(to_string(next.error()))));
  db::exec_cached(tx, "UPDATE cch.trade SET state = $2, decided_at = $3::timestamptz WHERE trade_id = $1",
                 id.value(), std::string(to_string(*next)), timestamp_text(now));
  append_event(tx, id, to_string(action), actor.name, actor.member, trade->state, *next,
               reason.empty() ? std::nullopt : std::optional<std::string>(std::string(reason)), actor.request_id);
  trade->state = *next;
  trade->decided_at = now;
  return std::move(*trade);
}

}  // namespace

Result<Submitted, TradeError> submit_trade(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                           const TradeActor& actor, const TradeTerms& wanted,
                                           std::string_view reference, UtcTimestamp now) {
  if (!valid_reference(reference)) {
    return fail(error(TradeRefusal::invalid_reference, "the reference must be 1-64 printable ASCII characters"));
  }
  if (actor.member != wanted.buyer && actor.member != wanted.seller) {
    return fail(error(TradeRefusal::not_a_party, "the submitting member must be the buyer or the seller"));
  }
  const auto product = find_product(tx, wanted.product);
  const bool members_exist = db::exec_cached(tx, "SELECT count(*) FROM cch.member WHERE member_id IN ($1, $2)",
                                             wanted.buyer.value(), wanted.seller.value())[0][0]
                                 .as<int>() == 2;
  auto prepared = prepare_terms(wanted, product ? &*product : nullptr, members_exist);
  if (!prepared) return fail(std::move(prepared.error()));
  const TradeTerms& terms = prepared->terms;
  const auto& volume = prepared->volume;
  const auto& value = prepared->notional;

  // The same reference again: the first trade, if the terms are the same.
  const auto replay = [&](const pqxx::result& rows) -> std::optional<Result<Submitted, TradeError>> {
    if (rows.empty()) return std::nullopt;
    Trade earlier = trade_from(rows[0]);
    if (earlier.terms != terms) {
      return Result<Submitted, TradeError>(fail(error(
          TradeRefusal::reference_reused, "the reference " + std::string(reference) + " names a trade with other terms")));
    }
    return Result<Submitted, TradeError>(Submitted{std::move(earlier), false, false});
  };
  const auto by_reference = [&] {
    return db::exec_cached(tx, "SELECT " + std::string(kTradeColumns) +
                              " FROM cch.trade WHERE (submitter_member_id = $1 AND submitter_reference = $2) "
                              "OR (counterparty_reference = $2 AND submitter_member_id <> $1 "
                              "    AND $1 IN (buyer_member_id, seller_member_id))",
                          actor.member.value(), std::string(reference));
  };
  if (auto earlier = replay(by_reference())) return std::move(*earlier);

  const MemberId other = actor.member == terms.buyer ? terms.seller : terms.buyer;
  const std::optional<std::string> series = terms.series_label;
  // The other side's pending submission of the same terms: this one affirms it.
  const auto mirror = db::exec_cached(tx,
      "SELECT " + std::string(kTradeColumns) +
          " FROM cch.trade WHERE state = 'pending_affirmation' AND product_id = $1 AND buyer_member_id = $2 "
          "AND seller_member_id = $3 AND delivery_start = $4::timestamptz AND delivery_end = $5::timestamptz "
          "AND gpus = $6 AND price_ticks = $7 AND series_label IS NOT DISTINCT FROM $8 AND submitter_member_id = $9 "
          "AND expires_at > $10::timestamptz ORDER BY trade_id LIMIT 1 FOR UPDATE",
      terms.product.value(), terms.buyer.value(), terms.seller.value(), timestamp_text(terms.delivery_start),
      timestamp_text(terms.delivery_end), terms.gpus, terms.price.price_ticks, series, other.value(),
      timestamp_text(now));
  if (!mirror.empty()) {
    Trade trade = trade_from(mirror[0]);
    trade.counterparty_reference = std::string(reference);
    auto cleared = clear(tx, policy, std::move(trade), actor, now);
    if (!cleared) return fail(std::move(cleared.error()));
    return Submitted{std::move(*cleared), false, true};
  }

  const UtcTimestamp expires = expiry_of(policy, now);
  const auto inserted = db::exec_cached(tx,
      "INSERT INTO cch.trade (product_id, series_label, buyer_member_id, seller_member_id, delivery_start, "
      "delivery_end, gpus, price_ticks, gpu_hours, notional_minor, submitter_member_id, submitter_reference, "
      "submitted_at, submitted_by, expires_at) VALUES ($1, $2, $3, $4, $5::timestamptz, $6::timestamptz, $7, $8, $9, "
      "$10, $11, $12, $13::timestamptz, $14, $15::timestamptz) "
      "ON CONFLICT (submitter_member_id, submitter_reference) WHERE submitter_member_id IS NOT NULL DO NOTHING "
      "RETURNING " +
          std::string(kTradeColumns),
      terms.product.value(), series, terms.buyer.value(), terms.seller.value(), timestamp_text(terms.delivery_start),
      timestamp_text(terms.delivery_end), terms.gpus, terms.price.price_ticks, volume.gpu_hours,
      value.amount_minor, actor.member.value(), std::string(reference), timestamp_text(now), actor.name,
      timestamp_text(expires));
  if (inserted.empty()) {
    // A concurrent submission with this reference committed first.
    if (auto earlier = replay(by_reference())) return std::move(*earlier);
    return fail(error(TradeRefusal::reference_reused, "the reference is in use"));
  }
  Trade trade = trade_from(inserted[0]);
  append_event(tx, trade.trade_id, "submit", actor.name, actor.member, std::nullopt, TradeState::pending_affirmation,
               std::nullopt, actor.request_id);
  return Submitted{std::move(trade), true, false};
}

std::vector<Result<Trade, TradeError>> affirm_trades(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                                     std::span<const Affirmation> affirmations, UtcTimestamp now) {
  assert(affirmations.size() <= kAffirmationGroupMax && "the caller bounds a group");
  std::vector<std::optional<Result<Trade, TradeError>>> outcomes(affirmations.size());
  // Every trade of the group, locked in id order (before any member: see clearing.hpp).
  std::vector<std::int64_t> ids;
  for (const auto& affirmation : affirmations) ids.push_back(affirmation.trade.value());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::map<std::int64_t, Trade> trades;
  for (const auto& row : db::exec_cached(tx, "SELECT " + std::string(kTradeColumns) +
                                                 " FROM cch.trade WHERE trade_id = ANY($1::bigint[]) "
                                                 "ORDER BY trade_id FOR UPDATE",
                                         db::integer_array(ids))) {
    Trade trade = trade_from(row);
    trades.emplace(trade.trade_id.value(), std::move(trade));
  }
  // The lifecycle of each request against the trade as it was locked; clear_in_order then
  // decides the ones that pass, in request order.
  std::vector<std::size_t> passed;
  std::vector<ToClear> items;
  for (std::size_t i = 0; i < affirmations.size(); ++i) {
    const Affirmation& affirmation = affirmations[i];
    const auto found = trades.find(affirmation.trade.value());
    if (found == trades.end()) {
      outcomes[i] = fail(error(TradeRefusal::trade_not_found, "no such trade"));
      continue;
    }
    const Trade& trade = found->second;
    const auto next = transition(trade.state, TradeAction::affirm, actor_of(trade, affirmation.actor.member),
                                 now >= trade.expires_at);
    if (!next) {
      outcomes[i] = fail(error(refusal_of(next.error()), std::string(to_string(next.error()))));
      continue;
    }
    passed.push_back(i);
    items.push_back(ToClear{trade, &affirmation.actor, std::nullopt});
  }
  clear_in_order(tx, policy, items, now);
  for (std::size_t k = 0; k < items.size(); ++k) outcomes[passed[k]] = std::move(items[k].outcome);
  std::vector<Result<Trade, TradeError>> answers;
  answers.reserve(outcomes.size());
  for (auto& outcome : outcomes) answers.push_back(std::move(*outcome));
  return answers;
}

Result<Trade, TradeError> affirm_trade(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                       const TradeActor& actor, TradeId id, UtcTimestamp now) {
  const std::array<Affirmation, 1> one{Affirmation{actor, id}};
  return std::move(affirm_trades(tx, policy, one, now)[0]);
}

Result<Trade, TradeError> reject_trade(pqxx::transaction_base& tx, const TradeActor& actor, TradeId trade,
                                       std::string_view reason, UtcTimestamp now) {
  return decide(tx, actor, trade, TradeAction::reject, reason, now);
}

Result<Trade, TradeError> cancel_trade(pqxx::transaction_base& tx, const TradeActor& actor, TradeId trade,
                                       std::string_view reason, UtcTimestamp now) {
  return decide(tx, actor, trade, TradeAction::cancel, reason, now);
}

std::size_t expire_due_trades(pqxx::transaction_base& tx, UtcTimestamp now, std::size_t limit) {
  const auto rows = db::exec_cached(tx,
      "WITH due AS (SELECT trade_id FROM cch.trade WHERE state = 'pending_affirmation' AND expires_at <= $1::timestamptz "
      "             ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED), "
      "expired AS (UPDATE cch.trade t SET state = 'expired', decided_at = $1::timestamptz FROM due "
      "            WHERE t.trade_id = due.trade_id RETURNING t.trade_id) "
      "INSERT INTO cch.trade_event (trade_id, event_sequence, action, actor, from_state, to_state) "
      "SELECT e.trade_id, (SELECT COALESCE(max(event_sequence), 0) + 1 FROM cch.trade_event v "
      "                    WHERE v.trade_id = e.trade_id), 'expire', 'system', 'pending_affirmation', 'expired' "
      "FROM expired e RETURNING trade_id",
      timestamp_text(now), static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 10'000)));
  return rows.size();
}

}  // namespace cch::registry
