// A venue's batch of trades, registered and cleared at once: written first when every trade is
// new and passes, checked first otherwise (trades.hpp, VenueBatchPath).
#include "cch/registry/trades.hpp"

#include <pqxx/result>

#include <array>
#include <cassert>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/db/savepoint.hpp"
#include "cch/registry/catalog.hpp"
#include "clearing.hpp"
#include "trade_rows.hpp"
#include "trade_terms.hpp"

namespace cch::registry {
namespace {

// A venue batch's trades before the checks: the outcomes known already (refused before the
// checks, replays) and the candidates to check, in batch order.
struct BatchPlan {
  struct Repeat {
    std::size_t index;
    std::size_t candidate;  // the first use
    TradeTerms terms;
  };
  std::vector<std::optional<VenueOutcome>> outcomes;
  std::vector<clearing::Candidate> candidates;
  std::vector<std::size_t> candidate_of;  // the batch index of each candidate
  std::vector<Repeat> repeats;            // a reference used again in the batch
  [[nodiscard]] bool all_candidates() const { return candidates.size() == outcomes.size(); }
};

VenueOutcome venue_refusal(TradeRefusal refusal, std::string detail) {
  return VenueOutcome{fail(error(refusal, std::move(detail))), false};
}

VenueOutcome reference_reused(const std::string& reference) {
  return venue_refusal(TradeRefusal::reference_reused, "the reference " + reference + " names a trade with other terms");
}

// `member_known(id)`: the member exists; `earlier`: this venue's trades by the references the
// batch uses (replays).
template <class MemberKnown>
BatchPlan plan_batch(const RegistrationPolicy& policy, const VenueActor& venue, const std::vector<VenueTrade>& trades,
                     const std::map<std::int64_t, std::optional<Product>>& products, MemberKnown member_known,
                     const std::map<std::string, Trade>& earlier, UtcTimestamp now) {
  const UtcTimestamp expires = expiry_of(policy, now);
  BatchPlan plan;
  plan.outcomes.resize(trades.size());
  plan.candidates.reserve(trades.size());
  std::map<std::string, std::size_t> first_use;  // reference -> the candidate using it
  for (std::size_t i = 0; i < trades.size(); ++i) {
    const VenueTrade& wanted = trades[i];
    if (!valid_reference(wanted.reference)) {
      plan.outcomes[i] =
          venue_refusal(TradeRefusal::invalid_reference, "the reference must be 1-64 printable ASCII characters");
      continue;
    }
    const auto& product = products.at(wanted.terms.product.value());
    auto prepared = prepare_terms(wanted.terms, product ? &*product : nullptr,
                                  member_known(wanted.terms.buyer) && member_known(wanted.terms.seller));
    if (!prepared) {
      plan.outcomes[i] = VenueOutcome{fail(prepared.error()), false};
      continue;
    }
    if (const auto first = earlier.find(wanted.reference); first != earlier.end()) {
      plan.outcomes[i] = first->second.terms == prepared->terms ? VenueOutcome{first->second, true}
                                                                : reference_reused(wanted.reference);
      continue;
    }
    if (const auto first = first_use.find(wanted.reference); first != first_use.end()) {
      plan.repeats.push_back({i, first->second, prepared->terms});  // answered as the first use once it is decided
      continue;
    }
    first_use.emplace(wanted.reference, plan.candidates.size());
    // Its id is provisional until one is drawn for its row (the checks do not read it).
    Trade trade{.trade_id = TradeId(static_cast<std::int64_t>(plan.candidates.size()) + 1),
                .terms = prepared->terms,
                .gpu_hours = prepared->volume.gpu_hours,
                .notional = prepared->notional,
                .submitter = std::nullopt,
                .venue = venue.principal_id,
                .submitter_reference = wanted.reference,
                .counterparty_reference = std::nullopt,
                .state = TradeState::pending_affirmation,
                .submitted_at = now,
                .submitted_by = venue.name,
                .expires_at = expires,
                .decided_at = std::nullopt,
                .last_refusal = std::nullopt,
                .last_refused_member = std::nullopt,
                .clearing_fee = std::nullopt,
                .fee_journal = std::nullopt};
    auto slices = month_slices(trade.terms.delivery_start, trade.terms.delivery_end);
    plan.candidates.push_back({std::move(trade), &*product, std::move(slices)});
    plan.candidate_of.push_back(i);
  }
  return plan;
}

// The candidates that will be written, with ids drawn for their rows.
std::vector<clearing::Clearing> clearings_of(pqxx::transaction_base& tx, BatchPlan& plan,
                                             const std::vector<std::size_t>& passed, const VenueActor& venue) {
  const auto ids = clearing::allocate_trade_ids(tx, passed.size());
  std::vector<clearing::Clearing> clearings;
  clearings.reserve(passed.size());
  for (std::size_t k = 0; k < passed.size(); ++k) {
    clearing::Candidate& candidate = plan.candidates[passed[k]];
    candidate.trade.trade_id = ids[k];
    clearings.push_back(clearing::Clearing{&candidate.trade, true, candidate.product, &candidate.slices, venue.name,
                                           std::nullopt, venue.request_id});
  }
  return clearings;
}

std::map<std::int64_t, std::optional<Product>> batch_products(pqxx::transaction_base& tx,
                                                              const std::vector<VenueTrade>& trades) {
  std::map<std::int64_t, std::optional<Product>> products;
  for (const auto& trade : trades) products.emplace(trade.terms.product.value(), std::nullopt);
  for (auto& [id, product] : products) product = find_product(tx, ProductId(id));
  return products;
}

std::vector<std::int64_t> batch_members(const std::vector<VenueTrade>& trades) {
  std::vector<std::int64_t> members;
  for (const auto& trade : trades) {
    members.push_back(trade.terms.buyer.value());
    members.push_back(trade.terms.seller.value());
  }
  return members;
}

std::vector<VenueOutcome> answers_of(BatchPlan& plan) {
  std::vector<VenueOutcome> answers;
  answers.reserve(plan.outcomes.size());
  for (auto& outcome : plan.outcomes) answers.push_back(std::move(*outcome));
  return answers;
}

// The common case written first: every trade well formed, new and, as it turns out, passing its
// checks. The rows (trades, legs, events, outbox events: most of a batch's work) are written
// before the members' locks, so that batches naming the same members write them side by side;
// under the locks run only the checks, positions and margin states, and the fee journal. Anything else
// (a refusal, a reference used before or twice, a concurrent batch of this venue committing a
// reference first) undoes the attempt, locks and all, and answers nullopt: the batch is then
// decided checks first, exactly.
std::optional<std::vector<VenueOutcome>> register_writing_first(pqxx::transaction_base& tx,
                                                                const RegistrationPolicy& policy,
                                                                const VenueActor& venue,
                                                                const std::vector<VenueTrade>& trades,
                                                                UtcTimestamp now) {
  std::vector<std::int64_t> members = batch_members(trades);
  std::set<std::int64_t> known;  // members exist for good once they do; their status is read locked
  for (const auto& row : db::exec_cached(tx, "SELECT member_id FROM cch.member WHERE member_id = ANY($1::bigint[])",
                                         db::integer_array(members))) {
    known.insert(row[0].as<std::int64_t>());
  }
  const auto products = batch_products(tx, trades);
  BatchPlan plan = plan_batch(policy, venue, trades, products,
                              [&](MemberId member) { return known.contains(member.value()); }, {}, now);
  if (!plan.all_candidates() || !plan.repeats.empty()) return std::nullopt;

  std::vector<std::size_t> all(plan.candidates.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  db::Savepoint attempt(tx, "venue_batch_written_first");
  pqxx::transaction_base& inside = attempt.tx();
  std::vector<clearing::Clearing> clearings = clearings_of(inside, plan, all, venue);
  clearing::FeeJournals journals = clearing::plan_fees(inside, clearings, now);
  try {
    clearing::write_cleared(inside, clearings, now);
  } catch (const pqxx::unique_violation&) {  // a reference this venue used before
    attempt.roll_back();
    return std::nullopt;
  }
  clearing::Book book = clearing::Book::lock(inside, std::move(members));
  book.load(inside, policy, plan.candidates, now, true);
  for (std::size_t c = 0; c < plan.candidates.size(); ++c) {
    const clearing::Checked checked = book.check(inside, policy, plan.candidates[c], now);
    if (checked.failure) {
      attempt.roll_back();
      return std::nullopt;
    }
    book.apply(plan.candidates[c], checked);
  }
  // Passed: the rows stay, and so do the members' locks. The rest runs in the transaction itself:
  // the ledger knows a journal as its transaction's own by the top-level transaction id.
  attempt.release();
  clearing::apply_to_books(tx, clearings, book, now);
  clearing::post_fees(tx, std::move(journals));
  for (std::size_t c = 0; c < plan.candidates.size(); ++c) {
    plan.outcomes[plan.candidate_of[c]] = VenueOutcome{plan.candidates[c].trade, false};
  }
  return answers_of(plan);
}

}  // namespace

std::vector<VenueOutcome> register_venue_batch(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                               const VenueActor& venue, const std::vector<VenueTrade>& trades,
                                               UtcTimestamp now, VenueBatchPath* path) {
  assert(trades.size() <= kVenueBatchTradesMax && "the route bounds a batch");
  assert(policy.margin_models != nullptr && "a registration policy needs the margin models");
  if (trades.empty()) return {};
  if (auto written = register_writing_first(tx, policy, venue, trades, now)) {
    if (path != nullptr) *path = VenueBatchPath::written_first;
    return std::move(*written);
  }
  if (path != nullptr) *path = VenueBatchPath::checked_first;

  // Checks first. Every member of the batch, locked in id order before anything else: two
  // batches (or a batch and an affirmation) wait for one another instead of deadlocking. After
  // the locks, a concurrent batch of this venue has committed or not started, so replays below
  // are exact.
  std::vector<std::string> references;
  for (const auto& trade : trades) references.push_back(trade.reference);
  clearing::Book book = clearing::Book::lock(tx, batch_members(trades));
  const auto products = batch_products(tx, trades);
  std::map<std::string, Trade> earlier;
  for (const auto& row : db::exec_cached(tx, "SELECT " + std::string(kTradeColumns) +
                                                 " FROM cch.trade WHERE venue_principal_id = $1 "
                                                 "AND submitter_reference = ANY($2::text[])",
                                         venue.principal_id, db::text_array(references))) {
    Trade trade = trade_from(row);
    earlier.emplace(trade.submitter_reference, std::move(trade));
  }
  BatchPlan plan = plan_batch(policy, venue, trades, products,
                              [&](MemberId member) { return book.has_member(member); }, earlier, now);

  // The checks, in batch order, each against the book as the trades before it left it.
  book.load(tx, policy, plan.candidates, now);
  std::vector<std::size_t> passed;
  for (std::size_t c = 0; c < plan.candidates.size(); ++c) {
    const clearing::Checked checked = book.check(tx, policy, plan.candidates[c], now);
    if (checked.failure) {
      plan.outcomes[plan.candidate_of[c]] = venue_refusal(checked.failure->refusal, checked.failure->detail);
      continue;
    }
    book.apply(plan.candidates[c], checked);
    passed.push_back(c);
  }

  // The trades that passed are written cleared, novated together; a refused trade writes nothing.
  if (!passed.empty()) {
    std::vector<clearing::Clearing> clearings = clearings_of(tx, plan, passed, venue);
    clearing::novate(tx, clearings, book, now);
    for (const std::size_t c : passed) plan.outcomes[plan.candidate_of[c]] = VenueOutcome{plan.candidates[c].trade, false};
  }

  // A reference used twice in one batch: the same terms answer as the first use (replayed when it
  // cleared), other terms are refused.
  for (const BatchPlan::Repeat& repeat : plan.repeats) {
    const VenueOutcome& first = *plan.outcomes[plan.candidate_of[repeat.candidate]];
    plan.outcomes[repeat.index] = repeat.terms == plan.candidates[repeat.candidate].trade.terms
                                      ? VenueOutcome{first.trade, first.trade.has_value()}
                                      : reference_reused(trades[repeat.index].reference);
  }
  return answers_of(plan);
}

}  // namespace cch::registry
