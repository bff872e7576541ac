#pragma once
// Bilateral trades from submission to clearing: the registry's daily traffic.
//
// A member submits a trade it agreed with another member (it is the buyer or the seller), for a
// product, a delivery window on whole UTC hours (or a listed futures series, whose period is the
// window), a number of GPUs delivered in every hour of the window and a price in USD per
// GPU-hour, with its own reference (unique per member). The other member affirms it (or rejects
// it); either side may cancel it before; it expires at expires_at if nobody did. A submission by
// the other side with the same terms counts as the affirmation (the two references then both name
// the one trade). The transitions are lifecycle.hpp's.
//
// Affirmation runs the pre-trade checks, in this order (each refusal a stable reason):
//   member_not_active, product_not_authorised   both members
//   product_not_trading                         the product is halted or delisted
//   series_not_listed                           a series is listed today
//   window_started, window_beyond_horizon       the window starts after now and ends within the
//                                               product's listing horizon
//   no_reference_price, price_outside_band      the price is within band_bp of the hour-weighted
//                                               reference price of the window's months
//   position_limit_exceeded                     per member, product and delivery month, net
//   concentration_limit_exceeded                a member's net position in a product and month
//                                               at most concentration_share_bp of open interest
//                                               (once open interest reaches the floor)
//   initial_margin_exceeds_credit_limit,        the margin check (below): the member's initial
//   insufficient_collateral                     margin with the trade's leg within its credit limit
//                                               and within its collateral held less withdrawals
//                                               requested
// Checks are serialised per member: both members' rows are locked (in id order, so never a
// deadlock) before anything is read, so concurrent trades can never jointly breach a limit.
// A refused affirmation leaves the trade pending (the member may add collateral and affirm
// again before expiry); the refusal is recorded on the trade and in its events.
//
// Novation, in the same transaction as the checks: the trade becomes cleared, two legs are
// written (the clearinghouse against the buyer and against the seller), both members' positions
// per product and delivery month change by the window's GPU-hours in each month, the members'
// margin states take the legs (cch.member_margin_state), the clearing fees are posted to the ledger and an outbox event "trade.cleared" is written
// for the risk service. The trades novated together share one fee journal (a debit per member,
// one credit to fee income; idempotency key "clearing-fee:novation:<id of the first trade>",
// cause the first trade), and each trade records its own fee per side and that journal's id.
//
// Money and rounding: notional = price x GPU-hours, rounded half away from zero to the cent
// (quantity.hpp); a side's clearing fee = fee per GPU-hour x GPU-hours, rounded the same way.
//
// Confidentiality: a refusal caused by the other member's state (its limits, collateral, status,
// authorisation) is told to the actor as counterparty_refused; the full reason is recorded.
//
// Thread safety: functions take the caller's transaction (READ COMMITTED is enough: the member
// row locks serialise what must be serialised).

#include "cch/core/calendar.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/money.hpp"
#include "cch/core/price.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/registry/lifecycle.hpp"
#include "cch/margin_store/model_cache.hpp"
#include "cch/registry/products.hpp"

#include <pqxx/transaction_base>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cch::registry {

// The largest trade. Its bounds are chosen so that nothing computed from a trade can overflow:
//   gpus          1..kTradeGpusMax (10^6), a multiple of the product's node block
//   window        1..kTradeWindowHoursMax hours (26,328: the longest listing horizon, 1,096 days,
//                 and the day in progress; a longer window could never clear)
//   price         1 tick..kPriceTicksMax (1,000.0000 USD per GPU-hour, price.hpp)
//   GPU-hours     at most 2.6 x 10^10;  in one month at most 7.44 x 10^8
//   notional      at most 2.6 x 10^15 cents (26 trillion USD); its interim requirement is at most
//                 that (interim_rate_bp <= 10,000)
//   clearing fee  at most 2.6 x 10^12 cents per side (a fee of at most 1.0000 USD per GPU-hour)
// Initial margin stays within the member's credit limit (at most kAmountMinorMax, catalog.hpp) and
// net positions within position limits (at most kPositionLimitGpuHoursMax). Gross volumes
// (bought, sold, open interest) grow with every cleared trade; int64 holds 1.2 x 10^10 of the
// largest trades in one product and month. The fees of the trades novated together are one
// ledger journal, within the ledger's bounds (ledger::kBalanceMinorMax) for any realistic fee:
// a fee income beyond 10,000,000,000,000.00 USD, or one journal's fees beyond it, would be
// refused by the ledger; novation then fails whole (clearing::FeesBeyondLedgerBound, the
// transaction rolls back, the request answers 500) rather than clear trades without their fees.
// It does not yet turn that refusal into a refusal of the trades themselves.
inline constexpr std::int64_t kTradeGpusMax = 1'000'000;
inline constexpr std::int64_t kTradeWindowHoursMax = (kListingHorizonDaysMax + 1) * 24;
inline constexpr std::size_t kTradeReferenceLengthMax = 64;

enum class TradeRefusal {
  // submission
  unknown_product,
  unknown_member,
  not_a_party,           // the submitter is neither buyer nor seller
  same_member_both_sides,
  invalid_window,        // empty, not on whole UTC hours, or longer than kTradeWindowHoursMax
  invalid_gpus,          // not 1..kTradeGpusMax, or not a multiple of the product's node block
  invalid_price,         // not 1 tick..kPriceTicksMax
  price_off_tick,
  unknown_series,        // not a series label of this product's periods
  invalid_reference,     // not 1..64 printable ASCII characters
  reference_reused,      // the reference names another trade with other terms
  // lifecycle (lifecycle.hpp)
  trade_not_found,
  trade_not_pending,
  only_system_expires,
  not_yet_expired,
  trade_expired,
  own_submission,
  // pre-trade checks
  member_not_active,
  venue_not_authorised,  // a venue's trade names a member that has not authorised that venue
  product_not_authorised,
  product_not_trading,
  window_started,
  window_beyond_horizon,
  series_not_listed,
  no_reference_price,
  price_outside_band,
  position_limit_exceeded,
  concentration_limit_exceeded,
  initial_margin_exceeds_credit_limit,
  insufficient_collateral,
  counterparty_refused,  // what the actor is told when the other member's state refused it
};
std::string_view to_string(TradeRefusal refusal);

struct TradeError {
  TradeRefusal refusal = TradeRefusal::trade_not_found;
  std::string detail;  // one sentence for people
};

enum class Side { buy, sell };
std::string_view to_string(Side side);

struct TradeTerms {
  ProductId product;
  std::optional<std::string> series_label;  // a futures series ("2027-03", "2027-Q2", ...)
  MemberId buyer;
  MemberId seller;
  UtcTimestamp delivery_start;  // for a series: its period (filled in by submit_trade)
  UtcTimestamp delivery_end;
  std::int64_t gpus = 0;
  PricePerGpuHour price{0};
  friend bool operator==(const TradeTerms&, const TradeTerms&) = default;
};

struct Trade {
  TradeId trade_id;
  TradeTerms terms;
  std::int64_t gpu_hours = 0;
  Money notional = Money::zero(Currency::usd());
  std::optional<MemberId> submitter;        // a member's submission ...
  std::optional<std::int64_t> venue;         // ... or a venue's (its principal id), registered cleared
  std::string submitter_reference;
  std::optional<std::string> counterparty_reference;
  TradeState state = TradeState::pending_affirmation;
  UtcTimestamp submitted_at;
  std::string submitted_by;
  UtcTimestamp expires_at;
  std::optional<UtcTimestamp> decided_at;
  std::optional<std::string> last_refusal;  // the full reason
  std::optional<MemberId> last_refused_member;
  // Cleared: the clearing fee each side paid, and the journal that posted it together with the
  // fees of the other trades novated at the same time (no journal when the fee is zero).
  std::optional<Money> clearing_fee;
  std::optional<JournalId> fee_journal;

  // The member that did not submit it. Precondition: a member submitted it.
  [[nodiscard]] MemberId counterparty() const { return *submitter == terms.buyer ? terms.seller : terms.buyer; }
  [[nodiscard]] bool has_party(MemberId member) const { return member == terms.buyer || member == terms.seller; }
};

// The margin check. Each member's bucketed position under the latest published margin model is
// kept in cch.member_margin_state, rebuilt from its open legs when a newer model is published, and
// changed by every leg cleared (margin_store::exposure_under: a leg's bucketed exposure, or the
// interim rule's for a product the model does not cover, or before any model). The check adds the
// candidate leg to that position and takes the member's initial margin again, exactly
// (margin::MemberMargin::with): the figure a full recompute after the trade gives, to the cent.
// A trade that raises a member's initial margin is refused when the new figure exceeds its credit
// limit (initial_margin_exceeds_credit_limit; a member without one clears nothing) or its
// collateral less withdrawals requested (insufficient_collateral); one that lowers it is always
// allowed, so a member over its limit after a market move can still reduce its risk.
// The check runs under the members' locks, which also serialise every change of their states:
// there is no moment when a state is being recomputed and a check could see half of it.
struct RegistrationPolicy {
  std::chrono::minutes affirmation_window{60};  // expires_at = submitted_at + this
  std::int64_t price_band_bp = 2'000;           // +-20 % around the reference price
  std::int64_t concentration_share_bp = 5'000;  // at most half of the open interest ...
  std::int64_t concentration_floor_gpu_hours = 1'000'000;  // ... once it is at least this
  margin::ModelCache* margin_models = nullptr;       // required: the published model and parameters
  const BusinessCalendar* clearing_calendar = nullptr;  // required: forwards' payment dates
};

// Who acts: a member's principal (name for the records) and its member.
struct TradeActor {
  MemberId member;
  std::string name;
  std::optional<RequestId> request_id;
};

struct Submitted {
  Trade trade;
  bool created = false;  // false: the reference named an earlier trade (a replay), or it matched
  bool matched = false;  // it was the other side's submission of a pending trade, now affirmed
};

// A refused check of a matching submission is returned as the error; the pending trade keeps
// the refusal, and the submitter may retry with the same reference.
Result<Submitted, TradeError> submit_trade(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                           const TradeActor& actor, const TradeTerms& terms,
                                           std::string_view reference, UtcTimestamp now);

// A refused check keeps the trade pending and records the refusal: the caller commits.
Result<Trade, TradeError> affirm_trade(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                       const TradeActor& actor, TradeId trade, UtcTimestamp now);

// Group commit: affirmations that arrived together, decided in one transaction. Each answer is
// what affirm_trade would have answered had the affirmations run one after another in this
// order: the trades are locked (in id order), then their members, and the checks run in order
// against one in-memory book that each cleared trade updates; novation is written for all of
// them at once (legs, positions, credit, fees in one ledger link, events, outbox). A trade named
// twice is decided at each request's place: once cleared, it answers trade_not_pending.
inline constexpr std::size_t kAffirmationGroupMax = 256;
struct Affirmation {
  TradeActor actor;
  TradeId trade;
};
std::vector<Result<Trade, TradeError>> affirm_trades(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                                     std::span<const Affirmation> affirmations, UtcTimestamp now);

Result<Trade, TradeError> reject_trade(pqxx::transaction_base& tx, const TradeActor& actor, TradeId trade,
                                       std::string_view reason, UtcTimestamp now);
Result<Trade, TradeError> cancel_trade(pqxx::transaction_base& tx, const TradeActor& actor, TradeId trade,
                                       std::string_view reason, UtcTimestamp now);
// Expires pending trades whose expiry is at or before now, oldest first, at most `limit`;
// answers how many. Safe to run from several processes (SKIP LOCKED).
std::size_t expire_due_trades(pqxx::transaction_base& tx, UtcTimestamp now, std::size_t limit);

// A venue's batch: trades both members agreed at the venue, registered and cleared at once (no
// affirmation), each with the pre-trade checks. Every member the batch names is locked, in id
// order, before anything the checks read, so batches never deadlock one another (VenueBatchPath
// says when the rows are written before that). Each trade is cleared or refused on its own,
// checked in batch order against the book as the trades before it left it: a refused trade
// writes nothing, the others clear, all in a fixed number of statements. A reference is unique
// per venue: sent again with the same terms it answers the first trade (replayed), with other
// terms reference_reused; used twice in one batch, the second use answers as the first.
inline constexpr std::size_t kVenueBatchTradesMax = 500;

struct VenueActor {
  std::int64_t principal_id = 0;
  std::string name;
  std::optional<RequestId> request_id;
};

struct VenueTrade {
  TradeTerms terms;
  std::string reference;
};

struct VenueOutcome {
  Result<Trade, TradeError> trade;
  bool replayed = false;
};

// How a batch was decided (the outcomes are the same either way): written_first when every
// trade was new, well formed and passed, its rows written before the members' locks were taken,
// so that batches naming the same members overlap; checked_first otherwise, the members locked
// before anything is read or written.
enum class VenueBatchPath { written_first, checked_first };

std::vector<VenueOutcome> register_venue_batch(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                                               const VenueActor& venue, const std::vector<VenueTrade>& trades,
                                               UtcTimestamp now, VenueBatchPath* path = nullptr);

std::optional<Trade> find_trade(pqxx::transaction_base& tx, TradeId trade);

// The two members of a trade (they never change); nullopt: no such trade.
struct TradeParties {
  MemberId buyer;
  MemberId seller;
};
std::optional<TradeParties> trade_parties(pqxx::transaction_base& tx, TradeId trade);

// Trades in id order strictly after `after`, at most `limit` (clamped to 1..1001: a page and one
// more), one statement. Filters: a member on either side, a state, a product.
struct TradeFilter {
  std::optional<MemberId> member;
  std::optional<TradeState> state;
  std::optional<ProductId> product;
};
std::vector<Trade> list_trades(pqxx::transaction_base& tx, const TradeFilter& filter, std::optional<TradeId> after,
                               std::size_t limit);

struct TradeEvent {
  int sequence = 0;
  UtcTimestamp at;
  std::string action;  // submit, affirm, reject, cancel, expire, refuse
  std::string actor;
  std::optional<MemberId> actor_member;
  std::optional<std::string> from_state;
  std::string to_state;
  std::optional<std::string> reason;
  std::optional<std::string> request_id;
};
std::vector<TradeEvent> trade_events(pqxx::transaction_base& tx, TradeId trade);

struct Position {
  MemberId member;
  ProductId product;
  BusinessDate delivery_month;
  std::int64_t net_gpu_hours = 0;
  std::int64_t bought_gpu_hours = 0;
  std::int64_t sold_gpu_hours = 0;
};
std::vector<Position> member_positions(pqxx::transaction_base& tx, MemberId member);

// A member's initial margin as the margin check last computed it (cch.member_margin_state), in
// USD, and the model it is under (none: the interim rule, before any model); zero and none
// before its first cleared trade.
struct MarginUsed {
  Money initial_margin;
  std::optional<std::int64_t> model_id;
};
MarginUsed margin_used(pqxx::transaction_base& tx, MemberId member);

// Members' kept margin states (cch.member_margin_state) as the margin check keeps them: each
// member's bucketed position under a model (none: the interim rule, before any model) and the
// open legs it counts; the members without one are left out. The figure a full recompute from
// the member's open legs gives, to the cent, when the model is the latest (docs/margin.md,
// "Before every trade"): what a margin run of a trade's members starts from instead of valuing
// every open leg again.
struct KeptMarginState {
  MemberId member;
  std::optional<std::int64_t> model_id;
  margin::MemberPosition position;  // [class][factor], the model's factor count
  std::int64_t legs = 0;
};
std::vector<KeptMarginState> kept_margin_states(pqxx::transaction_base& tx, std::span<const MemberId> members);
// The same, first bringing the member's state under the latest margin model: a state priced under
// another model (or under none, before the first) is rebuilt from the member's open legs and
// written, as the margin check would before its next trade. What a collateral movement checks
// against: without it, a member could take back, between a new model and its next trade,
// collateral the new model's margin needs. Locks the member's row (FOR NO KEY UPDATE, as every
// check and collateral movement of the member does; a caller holding it already keeps it).
// policy: its margin_models and clearing_calendar.
MarginUsed current_margin_used(pqxx::transaction_base& tx, const RegistrationPolicy& policy, MemberId member,
                               UtcTimestamp now);

// The hours of [start, end) in each UTC calendar month it touches, in order.
struct MonthSlice {
  BusinessDate month;  // first day
  std::int64_t hours = 0;
};
std::vector<MonthSlice> month_slices(UtcTimestamp start, UtcTimestamp end);

}  // namespace cch::registry
