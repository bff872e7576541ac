#pragma once
// A member's statement of a business date (docs/settlement.md "Statements"): what happened to it
// that day, every figure with the journal that moved it.
//   runs          every settlement run of the date, in attempt order (an original, its reversal, the
//                 run again): its state, the member's positions and marks per product and kind,
//                 its variation margin and price alignment interest, its deliveries (each trade
//                 settled, with shortfalls, buy-ins and escrow) and the journals, with the journal
//                 that reversed each when the run was reversed;
//   journals      every posting to the member's accounts in the journals dated the date (clearing
//                 fees, variation margin, deliveries, dispute decisions, deposits, withdrawals,
//                 reversals): the ledger's own lines;
//   collateral    its collateral balance at the end of the day before and of the date, which differ
//                 by exactly the date's postings to it; the frozen delivery balance;
//   margin        its initial margin in the date's latest margin run, and the calls of the date.
// Staff read every member's summary of the date (member_statement_summaries).
//
// Thread safety: functions take the caller's transaction.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "cch/core/ids.hpp"
#include "cch/core/time.hpp"
#include "cch/ledger/queries.hpp"
#include "cch/margin_store/runs.hpp"
#include "cch/settlement/deliveries.hpp"
#include "cch/settlement/margin_calls.hpp"
#include "cch/settlement/runs.hpp"

namespace cch::settlement {

// At most this many of the date's postings are listed (the statement says when there were more).
inline constexpr std::size_t kStatementPostingsMax = 10'000;

struct StatementRun {
  SettlementRun run;  // without its steps
  std::vector<ProductVariationMargin> products;  // positions and marks
  std::optional<MemberVariationMargin> variation_margin;
  std::vector<TradeDelivery> deliveries;   // trades the run settled that the member is a party to
  std::optional<MemberDelivery> delivery_total;
  // When the run was reversed: the journals reversing the member's journals of it.
  std::optional<JournalId> variation_margin_reversal;
  std::optional<JournalId> delivery_reversal;
};

struct MemberStatement {
  MemberId member = MemberId::from_value(1).value();
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::vector<StatementRun> runs;
  std::vector<ledger::MemberPostingOfDate> postings;
  bool postings_truncated = false;
  std::int64_t clearing_fees_minor = 0;  // paid: the date's clearing-fee postings, as a positive amount
  std::int64_t opening_collateral_minor = 0;  // end of the day before
  std::int64_t closing_collateral_minor = 0;  // end of the date
  std::int64_t frozen_delivery_minor = 0;     // end of the date: escrow of open disputes
  std::optional<margin::MemberMarginHistoryEntry> initial_margin;
  std::vector<MarginCall> margin_calls;  // of the date's margin runs
};

// nullopt: no such member.
std::optional<MemberStatement> member_statement(pqxx::transaction_base& tx, MemberId member,
                                                BusinessDate business_date);

// Every member's figures of the date, for staff: the live run's variation margin, interest and
// deliveries, the date's clearing fees, the collateral at the end of the date, the initial margin
// and the amount called.
struct StatementSummary {
  MemberId member = MemberId::from_value(1).value();
  std::optional<std::int64_t> live_run_id;
  std::int64_t variation_margin_minor = 0;
  std::int64_t price_alignment_interest_minor = 0;
  std::int64_t deliveries_minor = 0;
  std::int64_t escrow_minor = 0;
  std::int64_t clearing_fees_minor = 0;
  std::int64_t closing_collateral_minor = 0;
  std::optional<std::int64_t> initial_margin_minor;
  std::int64_t called_minor = 0;
};
// Members with ids above `after`, by id; at most `limit`.
std::vector<StatementSummary> member_statement_summaries(pqxx::transaction_base& tx, BusinessDate business_date,
                                                         std::optional<MemberId> after, std::size_t limit);

}  // namespace cch::settlement
