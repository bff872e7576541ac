#include "cch/registry/trades.hpp"

#include <pqxx/result>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdio>
#include <map>
#include <numeric>
#include <set>
#include <span>

#include "cch/core/quantity.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/db/row.hpp"
#include "cch/db/savepoint.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/products.hpp"
#include "clearing.hpp"

namespace cch::registry {
namespace {

constexpr std::string_view kTradeColumns =
    "trade_id, product_id, series_label, buyer_member_id, seller_member_id, "
    "(extract(epoch FROM delivery_start) * 1000000)::bigint, (extract(epoch FROM delivery_end) * 1000000)::bigint, "
    "gpus, price_ticks, gpu_hours, notional_minor, submitter_member_id, submitter_reference, counterparty_reference, "
    "state, (extract(epoch FROM submitted_at) * 1000000)::bigint, submitted_by, "
    "(extract(epoch FROM expires_at) * 1000000)::bigint, (extract(epoch FROM decided_at) * 1000000)::bigint, "
    "last_refusal, last_refused_member_id, fee_journal_id, venue_principal_id, clearing_fee_minor";

Trade trade_from(const pqxx::row& row) {
  std::optional<std::string> series;
  if (!row[2].is_null()) series = row[2].as<std::string>();
  Trade trade{.trade_id = TradeId(row[0].as<std::int64_t>()),
              .terms = TradeTerms{.product = ProductId(row[1].as<std::int64_t>()),
                                  .series_label = std::move(series),
                                  .buyer = MemberId(row[3].as<std::int64_t>()),
                                  .seller = MemberId(row[4].as<std::int64_t>()),
                                  .delivery_start = db::timestamp_of(row[5]),
                                  .delivery_end = db::timestamp_of(row[6]),
                                  .gpus = row[7].as<std::int64_t>(),
                                  .price = PricePerGpuHour{row[8].as<std::int64_t>()}},
              .gpu_hours = row[9].as<std::int64_t>(),
              .notional = Money{row[10].as<std::int64_t>(), Currency::usd()},
              .submitter = std::nullopt,
              .venue = std::nullopt,
              .submitter_reference = row[12].as<std::string>(),
              .counterparty_reference = std::nullopt,
              .state = parse_trade_state(row[14].as<std::string>()).value(),
              .submitted_at = db::timestamp_of(row[15]),
              .submitted_by = row[16].as<std::string>(),
              .expires_at = db::timestamp_of(row[17]),
              .decided_at = std::nullopt,
              .last_refusal = std::nullopt,
              .last_refused_member = std::nullopt,
              .clearing_fee = std::nullopt,
              .fee_journal = std::nullopt};
  if (!row[11].is_null()) trade.submitter = MemberId(row[11].as<std::int64_t>());
  if (!row[22].is_null()) trade.venue = row[22].as<std::int64_t>();
  if (!row[13].is_null()) trade.counterparty_reference = row[13].as<std::string>();
  if (!row[18].is_null()) trade.decided_at = db::timestamp_of(row[18]);
  if (!row[19].is_null()) trade.last_refusal = row[19].as<std::string>();
  if (!row[20].is_null()) trade.last_refused_member = MemberId(row[20].as<std::int64_t>());
  if (!row[21].is_null()) trade.fee_journal = JournalId(row[21].as<std::int64_t>());
  if (!row[23].is_null()) trade.clearing_fee = Money{row[23].as<std::int64_t>(), Currency::usd()};
  return trade;
}

constexpr std::int64_t kMicrosecondsPerHour = 3'600'000'000;

TradeError error(TradeRefusal refusal, std::string detail) { return {refusal, std::move(detail)}; }

template <class T, class E>
std::optional<T> success(Result<T, E> result) {
  if (!result) return std::nullopt;
  return std::move(*result);
}

std::string timestamp_text(UtcTimestamp at) { return at.format(); }

bool valid_reference(std::string_view reference) {
  return !reference.empty() && reference.size() <= kTradeReferenceLengthMax &&
         std::all_of(reference.begin(), reference.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

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

void append_event(pqxx::transaction_base& tx, TradeId trade, std::string_view action, const std::string& actor,
                  std::optional<MemberId> actor_member, std::optional<TradeState> from, TradeState to,
                  std::optional<std::string> reason, const std::optional<RequestId>& request_id) {
  db::exec_cached(tx,
      "INSERT INTO cch.trade_event (trade_id, event_sequence, action, actor, actor_member_id, from_state, to_state, "
      "reason, request_id) SELECT $1, COALESCE(max(event_sequence), 0) + 1, $2, $3, $4, $5, $6, $7, $8 "
      "FROM cch.trade_event WHERE trade_id = $1",
      trade.value(), std::string(action), actor,
      actor_member ? std::optional<std::int64_t>(actor_member->value()) : std::nullopt,
      from ? std::optional<std::string>(std::string(to_string(*from))) : std::nullopt, std::string(to_string(to)),
      reason, request_id ? std::optional<std::string>(request_id->value()) : std::nullopt);
}

std::optional<Trade> lock_trade(pqxx::transaction_base& tx, TradeId trade) {
  const auto rows = db::exec_cached(tx,
      "SELECT " + std::string(kTradeColumns) + " FROM cch.trade WHERE trade_id = $1 FOR UPDATE", trade.value());
  if (rows.empty()) return std::nullopt;
  return trade_from(rows[0]);
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
  assert(policy.credit != nullptr && "a registration policy needs a credit check");
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
  book.load(tx, candidates);
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
                                           checked.credit_minor, actor.name, actor.member,
                                           actor.request_id});
    cleared.push_back(i);
    cleared_trades.insert(trade.trade_id.value());
  }
  clearing::novate(tx, clearings, now);
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

// When a trade submitted now expires unaffirmed.
UtcTimestamp expiry_of(const RegistrationPolicy& policy, UtcTimestamp now) {
  const auto expires = now.add_microseconds(
      std::chrono::duration_cast<std::chrono::microseconds>(policy.affirmation_window).count());
  assert(expires && "the affirmation window is bounded by configuration");
  return *expires;
}

struct PreparedTerms {
  TradeTerms terms;  // with a series' window filled in
  GpuHours volume{0};
  Money notional = Money::zero(Currency::usd());
};

// The rules of a trade's terms that need no lock: its product, members, window, size and price.
// product: the product the terms name, if it exists; members_exist: both members exist.
Result<PreparedTerms, TradeError> prepare_terms(const TradeTerms& wanted, const Product* product,
                                                bool members_exist) {
  if (wanted.buyer == wanted.seller) {
    return fail(error(TradeRefusal::same_member_both_sides, "the buyer and the seller must be different members"));
  }
  if (product == nullptr) return fail(error(TradeRefusal::unknown_product, "no such product"));
  if (!members_exist) return fail(error(TradeRefusal::unknown_member, "no such counterparty"));

  TradeTerms terms = wanted;
  if (terms.series_label) {
    const auto period = clearing::period_of_label(*terms.series_label);
    if (!period) return fail(error(TradeRefusal::unknown_series, "not a series label: " + *terms.series_label));
    terms.delivery_start = period->start();
    terms.delivery_end = period->end();
  } else if (!is_hour_aligned_window(terms.delivery_start, terms.delivery_end)) {
    return fail(error(TradeRefusal::invalid_window, "the delivery window must be non-empty and on whole UTC hours"));
  }
  const std::int64_t hours =
      (terms.delivery_end.unix_microseconds() - terms.delivery_start.unix_microseconds()) / kMicrosecondsPerHour;
  if (hours > kTradeWindowHoursMax) {
    return fail(error(TradeRefusal::invalid_window,
                      "the delivery window must be at most " + std::to_string(kTradeWindowHoursMax) + " hours"));
  }
  if (terms.gpus < 1 || terms.gpus > kTradeGpusMax || terms.gpus % product->spec.node_block_gpus != 0) {
    return fail(error(TradeRefusal::invalid_gpus, "gpus must be 1-" + std::to_string(kTradeGpusMax) +
                                                      " and a multiple of the product's node block of " +
                                                      std::to_string(product->spec.node_block_gpus)));
  }
  if (terms.price.price_ticks <= 0 || terms.price.price_ticks > kPriceTicksMax) {
    return fail(error(TradeRefusal::invalid_price,
                      "the price must be positive and at most " + PricePerGpuHour{kPriceTicksMax}.format()));
  }
  if (!terms.price.is_multiple_of(PricePerGpuHour{product->spec.tick_size_ticks})) {
    return fail(error(TradeRefusal::price_off_tick,
                      "the price must be a multiple of the tick size " +
                          PricePerGpuHour{product->spec.tick_size_ticks}.format()));
  }
  // Within the bounds above (trades.hpp) neither can overflow.
  const auto volume = success(gpu_hours(GpuCount{terms.gpus}, hours));
  const auto value = volume ? success(notional(terms.price, *volume, Rounding::half_away_from_zero)) : std::nullopt;
  assert(volume && value && "a trade within its bounds has a volume and notional within int64");
  if (!volume || !value) return fail(error(TradeRefusal::invalid_gpus, "the trade is too large"));
  return PreparedTerms{terms, *volume, *value};
}

}  // namespace

std::string_view to_string(TradeRefusal refusal) {
  switch (refusal) {
    case TradeRefusal::unknown_product: return "unknown_product";
    case TradeRefusal::unknown_member: return "unknown_member";
    case TradeRefusal::not_a_party: return "not_a_party";
    case TradeRefusal::same_member_both_sides: return "same_member_both_sides";
    case TradeRefusal::invalid_window: return "invalid_window";
    case TradeRefusal::invalid_gpus: return "invalid_gpus";
    case TradeRefusal::invalid_price: return "invalid_price";
    case TradeRefusal::price_off_tick: return "price_off_tick";
    case TradeRefusal::unknown_series: return "unknown_series";
    case TradeRefusal::invalid_reference: return "invalid_reference";
    case TradeRefusal::reference_reused: return "reference_reused";
    case TradeRefusal::trade_not_found: return "trade_not_found";
    case TradeRefusal::trade_not_pending: return "trade_not_pending";
    case TradeRefusal::only_system_expires: return "only_system_expires";
    case TradeRefusal::not_yet_expired: return "not_yet_expired";
    case TradeRefusal::trade_expired: return "trade_expired";
    case TradeRefusal::own_submission: return "own_submission";
    case TradeRefusal::member_not_active: return "member_not_active";
    case TradeRefusal::venue_not_authorised: return "venue_not_authorised";
    case TradeRefusal::product_not_authorised: return "product_not_authorised";
    case TradeRefusal::product_not_trading: return "product_not_trading";
    case TradeRefusal::window_started: return "window_started";
    case TradeRefusal::window_beyond_horizon: return "window_beyond_horizon";
    case TradeRefusal::series_not_listed: return "series_not_listed";
    case TradeRefusal::no_reference_price: return "no_reference_price";
    case TradeRefusal::price_outside_band: return "price_outside_band";
    case TradeRefusal::position_limit_exceeded: return "position_limit_exceeded";
    case TradeRefusal::concentration_limit_exceeded: return "concentration_limit_exceeded";
    case TradeRefusal::credit_limit_exceeded: return "credit_limit_exceeded";
    case TradeRefusal::insufficient_collateral: return "insufficient_collateral";
    case TradeRefusal::counterparty_refused: return "counterparty_refused";
  }
  return "unknown";
}

std::string_view to_string(Side side) { return side == Side::buy ? "buy" : "sell"; }

Money NotionalCreditCheck::increment(pqxx::transaction_base&, MemberId, const Trade& trade, Side) const {
  // ceil(notional x rate / 10,000) in cents; notional and rate are non-negative.
  const Int128 scaled = static_cast<Int128>(trade.notional.amount_minor) * rate_bp_;
  return Money{static_cast<std::int64_t>((scaled + 9'999) / 10'000), trade.notional.currency};
}

std::vector<MonthSlice> month_slices(UtcTimestamp start, UtcTimestamp end) {
  std::vector<MonthSlice> slices;
  DeliveryPeriod month = period_containing(PeriodKind::month, BusinessDate::containing(start));
  while (month.start() < end) {
    const auto from = std::max(start, month.start());
    const auto to = std::min(end, month.end());
    if (to > from) {
      slices.push_back({month.first_day, (to.unix_microseconds() - from.unix_microseconds()) / kMicrosecondsPerHour});
    }
    month = next_period(month);
  }
  return slices;
}

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
    clearings.push_back(clearing::Clearing{&candidate.trade, true, candidate.product, &candidate.slices, {}, venue.name,
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
// under the locks run only the checks, positions and credit, and the fee journal. Anything else
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
  book.load(inside, plan.candidates);
  for (std::size_t c = 0; c < plan.candidates.size(); ++c) {
    const clearing::Checked checked = book.check(inside, policy, plan.candidates[c], now);
    if (checked.failure) {
      attempt.roll_back();
      return std::nullopt;
    }
    book.apply(plan.candidates[c], checked);
    clearings[c].credit_minor = checked.credit_minor;
  }
  // Passed: the rows stay, and so do the members' locks. The rest runs in the transaction itself:
  // the ledger knows a journal as its transaction's own by the top-level transaction id.
  attempt.release();
  clearing::apply_to_books(tx, clearings, now);
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
  assert(policy.credit != nullptr && "a registration policy needs a credit check");
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
  book.load(tx, plan.candidates);
  std::vector<std::size_t> passed;
  std::vector<std::array<std::int64_t, 2>> credit;
  for (std::size_t c = 0; c < plan.candidates.size(); ++c) {
    const clearing::Checked checked = book.check(tx, policy, plan.candidates[c], now);
    if (checked.failure) {
      plan.outcomes[plan.candidate_of[c]] = venue_refusal(checked.failure->refusal, checked.failure->detail);
      continue;
    }
    book.apply(plan.candidates[c], checked);
    passed.push_back(c);
    credit.push_back(checked.credit_minor);
  }

  // The trades that passed are written cleared, novated together; a refused trade writes nothing.
  if (!passed.empty()) {
    std::vector<clearing::Clearing> clearings = clearings_of(tx, plan, passed, venue);
    for (std::size_t k = 0; k < passed.size(); ++k) clearings[k].credit_minor = credit[k];
    clearing::novate(tx, clearings, now);
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

std::optional<Trade> find_trade(pqxx::transaction_base& tx, TradeId trade) {
  const auto rows =
      db::exec_cached(tx, "SELECT " + std::string(kTradeColumns) + " FROM cch.trade WHERE trade_id = $1", trade.value());
  if (rows.empty()) return std::nullopt;
  return trade_from(rows[0]);
}

std::vector<Trade> list_trades(pqxx::transaction_base& tx, const TradeFilter& filter, std::optional<TradeId> after,
                               std::size_t limit) {
  // Optional filters need a plan made for the values given (a custom plan drops the absent ones
  // and picks the index the present ones suit); cch-registry's connections plan generically
  // (runtime::ServiceDefinition::generic_plans), so this transaction asks for custom plans.
  tx.exec("SET LOCAL plan_cache_mode = force_custom_plan");
  const auto rows = db::exec_cached(tx,
      "SELECT " + std::string(kTradeColumns) +
          " FROM cch.trade WHERE trade_id > $1 "
          "AND ($2::bigint IS NULL OR buyer_member_id = $2 OR seller_member_id = $2) "
          "AND ($3::text IS NULL OR state = $3) AND ($4::bigint IS NULL OR product_id = $4) "
          "ORDER BY trade_id LIMIT $5",
      after ? after->value() : std::int64_t{0},
      filter.member ? std::optional<std::int64_t>(filter.member->value()) : std::nullopt,
      filter.state ? std::optional<std::string>(std::string(to_string(*filter.state))) : std::nullopt,
      filter.product ? std::optional<std::int64_t>(filter.product->value()) : std::nullopt,
      static_cast<std::int64_t>(std::clamp<std::size_t>(limit, 1, 1001)));
  std::vector<Trade> trades;
  trades.reserve(rows.size());
  for (const auto& row : rows) trades.push_back(trade_from(row));
  return trades;
}

std::vector<TradeEvent> trade_events(pqxx::transaction_base& tx, TradeId trade) {
  std::vector<TradeEvent> events;
  for (const auto& row : db::exec_cached(tx,
           "SELECT event_sequence, (extract(epoch FROM at) * 1000000)::bigint, action, actor, actor_member_id, "
           "from_state, to_state, reason, request_id FROM cch.trade_event WHERE trade_id = $1 ORDER BY event_sequence",
           trade.value())) {
    TradeEvent event{.sequence = row[0].as<int>(),
                     .at = db::timestamp_of(row[1]),
                     .action = row[2].as<std::string>(),
                     .actor = row[3].as<std::string>(),
                     .actor_member = std::nullopt,
                     .from_state = std::nullopt,
                     .to_state = row[6].as<std::string>(),
                     .reason = std::nullopt,
                     .request_id = std::nullopt};
    if (!row[4].is_null()) event.actor_member = MemberId(row[4].as<std::int64_t>());
    if (!row[5].is_null()) event.from_state = row[5].as<std::string>();
    if (!row[7].is_null()) event.reason = row[7].as<std::string>();
    if (!row[8].is_null()) event.request_id = row[8].as<std::string>();
    events.push_back(std::move(event));
  }
  return events;
}

std::vector<Position> member_positions(pqxx::transaction_base& tx, MemberId member) {
  std::vector<Position> positions;
  for (const auto& row : db::exec_cached(tx,
           "SELECT product_id, delivery_month::text, net_gpu_hours, bought_gpu_hours, sold_gpu_hours "
           "FROM cch.position WHERE member_id = $1 ORDER BY product_id, delivery_month",
           member.value())) {
    positions.push_back(Position{member, ProductId(row[0].as<std::int64_t>()),
                                 BusinessDate::parse(row[1].as<std::string>()).value(), row[2].as<std::int64_t>(),
                                 row[3].as<std::int64_t>(), row[4].as<std::int64_t>()});
  }
  return positions;
}

}  // namespace cch::registry
