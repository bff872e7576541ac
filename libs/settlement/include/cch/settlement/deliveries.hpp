#pragma once
// Delivery and expiry: what a trade pays when its delivery window is over (tables of migration
// 0026; docs/settlement.md "Delivery and expiry").
//
// A trade is settled once, by the first live settlement run whose cut-off is at or after the end of
// its delivery window (the run's step `deliveries`, after variation margin, which gives back the
// leg's last mark: what the trade pays from then on is this). Its window is cut into delivery
// days (UTC dates; a day's contract GPU-hours are the GPUs times the window's hours in it):
//   cash-settled      the buyer receives sum over days (fixing_d - K) x GPU-hours_d, the seller
//                     pays it (negative: the other way): the difference between the contract
//                     price K and the hour-weighted average of the index fixings over the window.
//                     A day without a fixing of the product's index blocks the run
//                     (index_fixings_missing, naming the index and the days).
//   physically        during the window the seller reports each day's delivered GPU-hours and the
//   settled           buyer confirms or disputes (with its own figure and a reason) through the
//                     API. At the run a day is settled on its decided figure (a risk officer's),
//                     else its confirmed report, else its report unanswered (deemed confirmed),
//                     else nothing delivered (not reported). The buyer pays K for the hours
//                     delivered. For the hours short of the contract (an outage, an SLA breach, a
//                     failure) the buyer pays nothing (pro rata) and the seller pays the buyer the
//                     buy-in: shortfall x (max(I_d - K, 0) + I_d x penalty_bps / 10^4), I_d the
//                     day's fixing of the product's buy-in index (settlement.buy_in_index; a
//                     shortfall without one blocks the run: buy_in_price_missing). A day disputed
//                     and not yet decided: the buyer pays for its own figure, and K x the
//                     disputed hours (the seller's figure less the buyer's) into its own
//                     delivery_settlement account, frozen, until a risk officer decides the
//                     delivered hours (between the two figures): then a journal pays the seller
//                     for the decided hours out of it, gives the buyer the rest back and charges
//                     the seller the buy-in of the hours decided undelivered.
// Each side pays the settlement fee (SettleRequest::delivery_fee_ticks_per_gpu_hour, setting
// settlement.delivery_fee_ticks_per_gpu_hour) on the GPU-hours settled: all of a cash-settled
// contract's, the hours delivered of a physical one (not those disputed or short).
// Amounts are rounded once per trade (per disputed day for its escrow) to the cent, ties away
// from zero. Each member's net amount of a run is one journal (key
// settlement-delivery:<run>:<member>): its collateral against the house's delivery_clearing
// account (its frozen escrow in its delivery_settlement account, its fees to fee_income).
//
// Reports, answers and decisions lock the trade's row, as the run's step does for the trades it
// settles: one happens before the other, and after the run a report or answer of the trade is
// refused (trade_settled).
//
// Thread safety: functions take the caller's transaction.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/transaction_base>

#include "cch/core/calendar.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"

namespace cch::settlement {

enum class DeliveryRefusal {
  unknown_trade,               // no such cleared trade, or the caller is not a party to it (404)
  not_physically_settled,      // reports are for physically settled products
  not_the_seller,              // only the seller reports
  not_the_buyer,               // only the buyer answers
  day_outside_window,          // the day is not a day of the trade's delivery window
  day_not_begun,               // a day is reported once it has begun
  delivered_exceeds_contract,  // more than the day's contract GPU-hours
  already_reported,
  not_reported,
  already_answered,
  invalid_dispute,             // a dispute needs the buyer's figure, below the report, and a reason
  not_disputed,                // a decision is on a disputed day
  already_decided,
  decision_out_of_range,       // the decided hours lie between the buyer's figure and the report
  invalid_reason,              // 1..500 characters
  trade_settled,               // the trade was settled by a run: reports and answers are closed
  unknown_product,
  unknown_index,               // a buy-in index must be an index a cash-settled product settles against
};
std::string_view to_string(DeliveryRefusal refusal);

struct DeliveryError {
  DeliveryRefusal refusal = DeliveryRefusal::unknown_trade;
  std::string detail;
};

// Who acts: a member (its own trades only) or staff (nullopt).
struct DeliveryActor {
  std::optional<MemberId> member;
  std::string name;  // the principal, recorded
  std::optional<std::string> request_id;
};

inline constexpr std::size_t kDeliveryReasonLengthMax = 500;

// One delivery day of a trade: what was contracted, reported, answered and decided, and how a run
// settled it.
struct DeliveryDay {
  BusinessDate day = BusinessDate::from_days_since_epoch(0).value();
  std::int64_t contract_gpu_hours = 0;
  std::optional<std::int64_t> reported_gpu_hours;
  std::optional<UtcTimestamp> reported_at;
  std::optional<std::string> answer;  // confirmed | disputed
  std::optional<std::int64_t> buyer_gpu_hours;
  std::optional<std::string> dispute_reason;
  std::optional<std::int64_t> decided_gpu_hours;
  std::optional<std::string> decision_reason;
  std::optional<std::string> decided_by;
  std::optional<JournalId> decision_journal;
  // settled by a live run
  std::optional<std::int64_t> run_id;
  std::optional<std::string> basis;  // confirmed, deemed_confirmed, decided, disputed, not_reported, cash
  std::int64_t delivered_gpu_hours = 0;
  std::int64_t disputed_gpu_hours = 0;
  std::int64_t shortfall_gpu_hours = 0;
  std::optional<std::int64_t> index_ticks;
  std::int64_t escrow_minor = 0;
};

Result<DeliveryDay, DeliveryError> report_delivery(pqxx::transaction_base& tx, TradeId trade, BusinessDate day,
                                                   std::int64_t delivered_gpu_hours, const DeliveryActor& actor,
                                                   UtcTimestamp now);
Result<DeliveryDay, DeliveryError> confirm_delivery(pqxx::transaction_base& tx, TradeId trade, BusinessDate day,
                                                    const DeliveryActor& actor);
Result<DeliveryDay, DeliveryError> dispute_delivery(pqxx::transaction_base& tx, TradeId trade, BusinessDate day,
                                                    std::int64_t buyer_gpu_hours, std::string_view reason,
                                                    const DeliveryActor& actor);
// A risk officer's decision (actor.member is nullopt). When a live run settled the trade with the
// dispute open, its journal (key settlement-dispute:<trade>:<day>) settles the escrow; `now` dates it.
Result<DeliveryDay, DeliveryError> decide_dispute(pqxx::transaction_base& tx, TradeId trade, BusinessDate day,
                                                  std::int64_t delivered_gpu_hours, std::string_view reason,
                                                  const DeliveryActor& actor, UtcTimestamp now);

// The index whose fixings price buy-ins of a physically settled product (a new version each time).
Result<std::int32_t, DeliveryError> set_buy_in_index(pqxx::transaction_base& tx, ProductId product,
                                                     std::string_view index_code, std::string_view set_by);
std::optional<std::string> buy_in_index(pqxx::transaction_base& tx, ProductId product);

// A trade's delivery days, in order (unknown_trade when it is not a cleared trade the member is a
// party to).
Result<std::vector<DeliveryDay>, DeliveryError> delivery_days(pqxx::transaction_base& tx, TradeId trade,
                                                              std::optional<MemberId> member);

// A trade as a run settled it (settlement.trade_delivery).
struct TradeDelivery {
  std::int64_t run_id = 0;
  TradeId trade = TradeId::from_value(1).value();
  ProductId product = ProductId::from_value(1).value();
  MemberId buyer = MemberId::from_value(1).value();
  MemberId seller = MemberId::from_value(1).value();
  std::string settlement;  // cash | physical
  std::int64_t price_ticks = 0;
  std::int64_t contract_gpu_hours = 0;
  std::int64_t delivered_gpu_hours = 0;
  std::int64_t disputed_gpu_hours = 0;
  std::int64_t shortfall_gpu_hours = 0;
  std::optional<std::string> index_tick_gpu_hours;  // cash: sum of hours x fixing (decimal text)
  std::int32_t buy_in_penalty_bps = 0;
  std::optional<std::string> buy_in_index;
  std::int64_t cash_settlement_minor = 0;  // the buyer's (the seller's is its negation)
  std::int64_t payment_minor = 0;          // buyer -> seller
  std::int64_t escrow_minor = 0;           // buyer -> its frozen account
  std::int64_t buy_in_minor = 0;           // seller -> buyer
  std::int64_t fee_ticks_per_gpu_hour = 0; // the settlement fee's rate
  std::int64_t fee_minor = 0;              // each side -> the house
};
// The trades a run settled, by trade id; a member's only (as buyer or seller) when given.
std::vector<TradeDelivery> trade_deliveries(pqxx::transaction_base& tx, std::int64_t run_id,
                                            std::optional<MemberId> member);

// How the trade's live run settled it, if one has.
std::optional<TradeDelivery> trade_settlement(pqxx::transaction_base& tx, TradeId trade);

struct MemberDelivery {
  MemberId member = MemberId::from_value(1).value();
  std::int32_t trades = 0;
  std::int64_t total_minor = 0;   // credited to its collateral (negative: debited), after fees
  std::int64_t escrow_minor = 0;  // moved to its frozen delivery_settlement account
  std::int64_t fees_minor = 0;    // its settlement fees (in the total)
  std::optional<JournalId> journal;
};
std::vector<MemberDelivery> member_deliveries(pqxx::transaction_base& tx, std::int64_t run_id,
                                              std::optional<MemberId> member);

// A member's net amount of a trade settlement (from its side, after its fee): what its collateral
// is credited.
std::int64_t member_amount(const TradeDelivery& delivery, MemberId member);

}  // namespace cch::settlement
