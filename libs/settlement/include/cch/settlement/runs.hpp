#pragma once
// Daily settlement runs: for a business date, the day's settlement prices fixed, every open leg
// marked, variation margin (with price alignment interest) computed per leg and member and
// posted to the ledger, one journal per member (tables of migration 0025; docs/settlement.md).
//
// A run is a row of settlement.run and a list of steps, each done in one transaction that also
// records the step (settlement.run_step), so that a run stopped anywhere (kill -9, a lost
// connection) resumes at the first step not recorded and ends exactly as an uninterrupted run:
//   prices            the date's latest curve set (built from the day's settlement prices and SOFR
//                     OIS quotes), the previous live run and the cut-off (the start of the next
//                     day, or the run's start if earlier) are fixed in the run row, with the
//                     overnight rate of the day's OIS quotes (the next run's interest rate). A
//                     product with open legs but no forward curve in the set blocks the run
//                     (settlement_prices_missing, naming the products); nothing is created.
//   marks             every leg open on the date, of the trades cleared before the cut-off,
//                     marked against the curve set (risk::mark_each_open_leg, on a second
//                     connection, in chunks that this one writes by COPY as they come) and stored
//                     for the run (settlement.leg_mark); per leg, its mark less the previous
//                     run's (a leg no longer open marks to zero, one new since marks from zero; the
//                     previous marks read by COPY on a third connection meanwhile),
//                     summed per member, product and kind (settlement.member_product_vm).
//   variation_margin  per member, its sums; the price alignment interest on the cumulative
//                     variation margin of its forwards; one journal per member whose total is
//                     not zero (settlement.member_vm), the member's collateral against the house's
//                     variation_margin_clearing account.
//   deliveries        the trades whose delivery window ended by the cut-off settled: cash-settled
//                     ones against the average of their index's fixings, physically settled ones
//                     for what was delivered, with buy-ins for what was not (deliveries.hpp); one
//                     journal per member (settlement.member_delivery).
//   complete          the run completed, outbox event settlement.run_completed.
//
// Price alignment interest (forwards only; futures' variation margin is settled, not
// collateral): PAI = -C x r x d / 360 in cents, C the member's cumulative forward variation
// margin after the previous run, r that run's overnight rate (rate_e8 / 10^8), d the calendar
// days from its business date to this one; computed exactly in integers and rounded to the
// nearest cent, ties away from zero. A member that has received variation margin pays interest on
// it; one that has paid receives it.
//
// Idempotent and one at a time: settle() takes a session advisory lock of the business date on
// the connection it runs on, held until it returns (a concurrent settle() of the date is refused
// settlement_run_in_progress; a process that dies lets it go with its connection). A date with a
// completed live run answers that run (created = false). At most one run per date is live (a
// partial unique index); a reversed run's date may be run again (attempt 2, 3, ...).
//
// Thread safety: settle() takes the pool (three of its connections at most: the run's, one reading
// and marking the legs, one reading the previous run's marks); the reads take the caller's
// transaction.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/transaction_base>

#include "cch/core/calendar.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/db/pool.hpp"

namespace cch::settlement {

enum class RunState { running, completed, reversed };
std::string_view to_string(RunState state);

enum class RunStep { prices, marks, variation_margin, deliveries, complete };
std::string_view to_string(RunStep step);
inline constexpr RunStep kRunSteps[] = {RunStep::prices, RunStep::marks, RunStep::variation_margin,
                                        RunStep::deliveries, RunStep::complete};

struct StepRecord {
  RunStep step = RunStep::prices;
  UtcTimestamp started_at{0};
  UtcTimestamp finished_at{0};
  std::string counts;  // JSON object text: what the step did (legs, members, journals, ...)
};

// The days of a product a run marked off its approved fallback (settlement.run_price_fallback):
// days its open legs needed that no settlement price of the date covers.
struct DayRange {
  BusinessDate first_day = BusinessDate::from_days_since_epoch(0).value();
  BusinessDate last_day = BusinessDate::from_days_since_epoch(0).value();  // inclusive
};
struct RunPriceFallback {
  ProductId product;
  std::int64_t fallback_id = 0;
  std::vector<DayRange> days;  // in order, apart
  std::int64_t day_count = 0;
  std::int64_t legs = 0;       // the open legs with such a day
};

struct SettlementRun {
  std::int64_t run_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::int32_t attempt = 1;
  RunState state = RunState::running;
  std::int64_t curve_set_id = 0;
  std::optional<std::int64_t> previous_run_id;
  std::optional<std::int64_t> previous_curve_set_id;
  std::int64_t ois_snapshot_id = 0;
  std::string overnight_tenor;       // the day's shortest OIS tenor, e.g. 1D
  std::int64_t overnight_rate_e8 = 0;
  std::int32_t interest_days = 0;    // calendar days since the previous run's date (0 without one)
  std::int64_t interest_rate_e8 = 0;  // the previous run's overnight rate (0 without one)
  UtcTimestamp cut_off{0};            // legs of trades cleared before it: the start of the next day, or
                                      // the run's start if earlier
  UtcTimestamp started_at{0};
  std::string started_by;
  std::optional<std::string> request_id;
  std::optional<UtcTimestamp> completed_at;
  std::optional<UtcTimestamp> reversed_at;
  std::optional<std::string> reversed_by;
  std::optional<std::string> reversal_reason;
  std::vector<StepRecord> steps;  // recorded, in order
  std::vector<RunPriceFallback> price_fallbacks;  // by product
};

enum class SettleRefusal {
  not_a_business_date,
  business_date_in_future,
  no_curve_set,               // the date has no curve set yet
  settlement_prices_missing,  // a product with open legs has no price in the date's curve set, or
                              // a day an open leg needs has none and no fallback is approved
  earlier_run_unfinished,     // an earlier date's live run is not complete: dates settle in order
  later_date_settled,         // a later date has a live run: dates settle in order
  settlement_run_in_progress, // another settle() of the date holds its lock
  marks_refused,              // the mark run refused a leg
  date_reversed_without_correction,  // the date's latest run was reversed and its curve set is
                                     // still the latest: correct the market data first
  unknown_run,                // reverse_run: no such run
  run_already_reversed,       // reverse_run: the run was reversed before
  invalid_reason,             // reverse_run: a reason of 1 to 500 characters is required
  index_fixings_missing,      // a cash-settled trade ending by the cut-off lacks a day's index fixing
  buy_in_price_missing,       // a delivery short of its contract lacks its product's buy-in index or fixing
  disputes_decided_since,     // reverse_run: a dispute the run settled was decided since (its journal
                              // moved the run's escrow)
  unknown_product,            // approve_price_fallback: no such product
  fallback_already_approved,  // approve_price_fallback: the product's date has one
};
std::string_view to_string(SettleRefusal refusal);

struct SettleError {
  SettleRefusal refusal = SettleRefusal::no_curve_set;
  std::string detail;
};

struct SettleRequest {
  BusinessDate business_date;
  BusinessCalendar clearing_calendar;
  UtcTimestamp now;  // the date must have begun; a run of today settles the trades cleared before now
  std::string started_by;
  std::optional<std::string> request_id;
  // Called inside each step's transaction before it commits (tests stop the process there).
  std::function<void(RunStep)> before_commit;
  // The penalty of a buy-in on a failed delivery, in basis points of the index (setting
  // settlement.buy_in_penalty_bps); recorded with each trade it applies to.
  std::int32_t buy_in_penalty_bps = 1000;
  // The settlement fee each side pays per GPU-hour settled, in price ticks (setting
  // settlement.delivery_fee_ticks_per_gpu_hour); recorded with each trade.
  std::int64_t delivery_fee_ticks_per_gpu_hour = 0;
};

struct SettleOutcome {
  SettlementRun run;
  bool created = false;  // false: the date's live run was complete already
  bool resumed = false;  // a run left unfinished was taken up again
};

// Runs (or resumes, or answers) the date's settlement. Throws on environmental failure (the
// database unreachable, a commit whose outcome is unknown); what committed stays, and settling
// the date again resumes after it.
Result<SettleOutcome, SettleError> settle(db::ConnectionPool& pool, const SettleRequest& request);

// Reverses a run: every journal it posted is reversed by a journal of kind reversal that negates
// it (key settlement-reversal:<run>:<member>, cause the journal, the reason in its memo), the run
// marked reversed with who, when and why, and outbox event settlement.run_reversed, in one
// transaction under the date's lock. Nothing of the run is edited or removed: its marks and
// figures stay, read as reversed. Only the latest date's live run may be reversed (the runs after
// a run are the changes from it: later_date_settled). The date may then be settled again (attempt
// n + 1, against the run before), once its market data are corrected and its curve set built
// again (date_reversed_without_correction otherwise).
struct ReverseRequest {
  std::int64_t run_id = 0;
  std::string reason;  // 1..500 characters
  std::string reversed_by;
  std::optional<std::string> request_id;
  UtcTimestamp now;  // the reversal journals' business date is the date containing it
};
inline constexpr std::size_t kReversalReasonLengthMax = 500;
Result<SettlementRun, SettleError> reverse_run(db::ConnectionPool& pool, const ReverseRequest& request);

// The daily schedule (setting settlement.daily_run_minute_utc): at `now`, the business date it
// settles is today's, once today is a business day and `run_minute_utc` minutes of it (UTC) have
// passed; none otherwise (-1: never).
std::optional<BusinessDate> scheduled_business_date(UtcTimestamp now, int run_minute_utc,
                                                    const BusinessCalendar& clearing_calendar);
// What the schedule does at `now`: nothing (nullopt) when no date is due or the due date's live run
// is complete; otherwise settle() of the date (a refusal, e.g. no curve set yet, is tried again
// at the next check).
std::optional<Result<SettleOutcome, SettleError>> settle_on_schedule(db::ConnectionPool& pool,
                                                                     const BusinessCalendar& clearing_calendar,
                                                                     UtcTimestamp now, int run_minute_utc,
                                                                     std::int32_t buy_in_penalty_bps,
                                                                     std::int64_t delivery_fee_ticks_per_gpu_hour);

std::optional<SettlementRun> find_run(pqxx::transaction_base& tx, std::int64_t run_id);
// Every run of the date, by attempt, without their steps.
std::vector<SettlementRun> runs_of_date(pqxx::transaction_base& tx, BusinessDate business_date);
// The date's live run (not reversed), if any.
std::optional<SettlementRun> live_run(pqxx::transaction_base& tx, BusinessDate business_date);
// Newest first (by id), ids below `before`; at most `limit` (1..1000).
std::vector<SettlementRun> list_runs(pqxx::transaction_base& tx, std::optional<std::int64_t> before,
                                     std::size_t limit);

struct MemberVariationMargin {
  MemberId member;
  std::int64_t vm_minor = 0;                   // every leg's change of mark
  std::int64_t forward_vm_minor = 0;           // of it, the forwards'
  std::int64_t cumulative_forward_vm_minor = 0;  // after this run
  std::int64_t pai_minor = 0;
  std::int64_t total_minor = 0;                // vm + pai: credited to the member's collateral
  std::optional<JournalId> journal;            // none when the total is zero
};
std::vector<MemberVariationMargin> member_variation_margin(pqxx::transaction_base& tx, std::int64_t run_id,
                                                           std::optional<MemberId> member);

// A member's figures per run, newest first (by run id), runs below `before`; at most `limit`
// (1..1000); each with its run's date and state (a reversed run's figures stay, marked so).
struct MemberRunVariationMargin {
  std::int64_t run_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  RunState state = RunState::running;
  MemberVariationMargin figures;
};
std::vector<MemberRunVariationMargin> member_variation_margin_history(pqxx::transaction_base& tx, MemberId member,
                                                                      std::optional<std::int64_t> before,
                                                                      std::size_t limit);

struct ProductVariationMargin {
  MemberId member;
  ProductId product;
  std::string kind;  // forward or future
  std::int64_t legs = 0;               // marked in the run
  std::int64_t previous_legs = 0;      // marked in the previous run
  std::int64_t pv_minor = 0;           // the run's marks
  std::int64_t previous_pv_minor = 0;  // the previous run's marks (of legs still open or ended since)
  std::int64_t vm_minor = 0;
};
std::vector<ProductVariationMargin> product_variation_margin(pqxx::transaction_base& tx, std::int64_t run_id,
                                                             std::optional<MemberId> member);

struct LegVariationMargin {
  TradeId trade;
  std::string side;
  MemberId member;
  ProductId product;
  std::string kind;
  std::int64_t pv_minor = 0;
  std::int64_t previous_pv_minor = 0;
  std::int64_t vm_minor = 0;
};
// Each leg's contribution to a member's variation margin in a run (from the run's and the previous
// run's stored marks), by trade and side, trades after `after`; at most `limit` (1..10000).
std::vector<LegVariationMargin> leg_variation_margin(pqxx::transaction_base& tx, std::int64_t run_id,
                                                     MemberId member, std::optional<std::int64_t> after_trade,
                                                     std::size_t limit);

// Settlement price fallbacks (settlement.price_fallback). A forward curve is built from the quoted
// periods of a product's settlement prices; a leg delivering on days no quoted period covers
// would be marked off the curve's interpolation between periods, or its flat end beyond the last,
// which no one fixed. The marks step therefore finds, per product, the days its open legs need
// (from the day after the business date to each window's end) that the curve set's settlement
// prices do not cover, and refuses the run (settlement_prices_missing, naming the product, the
// days and the legs; the run stays at its first step) unless the product has an approved fallback
// for the date: then the curve marks those days and the run records which approval it used, for
// which days and legs (RunPriceFallback). Either approve a fallback and start the run again (it
// resumes), or reverse the unfinished run, enter the missing prices and build the curve set again.
enum class FallbackMethod { curve };
std::string_view to_string(FallbackMethod method);
std::optional<FallbackMethod> fallback_method_of(std::string_view text);

struct PriceFallback {
  std::int64_t fallback_id = 0;
  ProductId product;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  FallbackMethod method = FallbackMethod::curve;
  std::string reason;
  std::string approved_by;
  UtcTimestamp approved_at{0};
  std::optional<std::string> request_id;
};

struct PriceFallbackRequest {
  ProductId product;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  FallbackMethod method = FallbackMethod::curve;
  std::string reason;  // 1..500 characters
  std::string approved_by;
  std::optional<std::string> request_id;
};
inline constexpr std::size_t kFallbackReasonLengthMax = 500;
// Records the approval; refusals unknown_product, invalid_reason, fallback_already_approved (one per
// product and date, never changed: a run that used it points at it).
Result<PriceFallback, SettleError> approve_price_fallback(pqxx::transaction_base& tx,
                                                          const PriceFallbackRequest& request);
// A product's approvals, newest first (by id), ids below `before`; at most `limit` (1..1000).
std::vector<PriceFallback> price_fallbacks(pqxx::transaction_base& tx, ProductId product,
                                           std::optional<std::int64_t> before, std::size_t limit);

// Price alignment interest in cents: -cumulative x rate_e8 x days / (360 x 10^8), rounded to the
// nearest cent, ties away from zero, exactly. Precondition: |cumulative| <= kAmountMinorMax,
// |rate_e8| <= 10^8, 0 <= days <= 366.
std::int64_t price_alignment_interest(std::int64_t cumulative_minor, std::int64_t rate_e8, std::int32_t days);

}  // namespace cch::settlement
