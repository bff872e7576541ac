#pragma once
// The clearing engine, private to the registry: the pre-trade checks of trades.hpp evaluated in
// memory against a book loaded in a fixed number of statements, and novation written set-based.
//
// One affirmation, a group of concurrent affirmations and a venue batch all go through it, so
// their checks are one piece of code. A group is checked in order, each trade against the book
// as the trades before it left it (Book::apply), which is exactly what clearing them one after
// another would decide: group commit changes the cost, never an outcome.
//
// Cost, whatever the number of trades: Book::lock one statement, Book::load one, novate one plus
// the fee journals (ledger::post_batch, about six, and the fee accounts). The per-trade path it
// replaced ran about 32 statements per trade.
//
// Locks: Book::lock takes every member row the trades name, FOR NO KEY UPDATE in id order; every
// path that serialises on a member does the same, after locking any trade rows (in trade id
// order), so two groups never deadlock.

#include "cch/ledger/journal.hpp"
#include "cch/margin/engine.hpp"
#include "cch/margin_store/model_cache.hpp"
#include "cch/ledger/post.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/registry/products.hpp"
#include "cch/registry/trades.hpp"

#include <pqxx/transaction_base>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace cch::registry::clearing {

// A trade about to be checked: its terms (trade_id may still be unset for a venue trade not yet
// written), its product and the hours of its window in each month.
struct Candidate {
  Trade trade;
  const Product* product = nullptr;
  std::vector<MonthSlice> slices;
};

struct CheckFailure {
  TradeRefusal refusal;
  std::string detail;
  std::optional<MemberId> member;  // the member whose state refused it, if one did
};

// What the checks found: a refusal, or each side's leg as the margin check priced it (buyer
// first), which the book and novation add to the members' margin states.
struct Checked {
  std::optional<CheckFailure> failure;
  std::array<margin::LegExposure, 2> legs{};
};

// A member's margin state as a row of cch.member_margin_state.
struct MarginStateRow {
  std::int64_t member = 0;
  std::optional<std::int64_t> model_id;
  std::optional<BusinessDate> as_of;
  margin::MemberPosition position;
  std::int64_t legs = 0;
  std::int64_t initial_margin_cents = 0;
};
// Upserts the rows (one statement).
void write_margin_states(pqxx::transaction_base& tx, std::span<const MarginStateRow> rows, UtcTimestamp now);

class Book {
 public:
  // Locks the members' rows (FOR NO KEY UPDATE, in id order) and reads their statuses.
  static Book lock(pqxx::transaction_base& tx, std::vector<std::int64_t> members);
  [[nodiscard]] bool has_member(MemberId member) const { return status_.contains(member.value()); }

  // Reads what the checks of these candidates need: authorisations (of products and, for a
  // venue's trades, of the venue), reference prices, positions and open interest, position
  // limits, credit limits, collateral, the current margin model and the members' margin states
  // (rebuilding from its open legs, and writing, the state of a member priced under an older
  // model or never). Precondition: every member the candidates name was locked by lock(); the
  // candidates of one load come from one venue or none. legs_written: the candidates' rows and
  // legs are written already (a venue batch written first), so a rebuilt state leaves them out.
  void load(pqxx::transaction_base& tx, const RegistrationPolicy& policy, std::span<const Candidate> candidates,
            UtcTimestamp now, bool legs_written = false);

  // The members' margin states alone, as load reads them (rebuilding and writing a stale one);
  // the members were locked by lock().
  void load_margin_states(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                          std::span<const std::int64_t> members, UtcTimestamp now) {
    load_margin(tx, policy, members, {}, now);
  }

  // The checks, in trades.hpp's order, against the book as it stands.
  [[nodiscard]] Checked check(pqxx::transaction_base& tx, const RegistrationPolicy& policy,
                              const Candidate& candidate, UtcTimestamp now) const;
  // The candidate cleared with these legs: positions, open interest, margin states.
  void apply(const Candidate& candidate, const Checked& checked);
  // The margin states the applied trades changed, to write with novation.
  [[nodiscard]] std::vector<MarginStateRow> changed_margin_states() const;

 private:
  // The checks, one per rule (or per pair of rules decided in one pass), each nullopt when it
  // passes; check() runs them in order.
  [[nodiscard]] std::optional<CheckFailure> members_active(const Trade& trade) const;
  [[nodiscard]] std::optional<CheckFailure> venue_authorised(const Trade& trade) const;
  [[nodiscard]] std::optional<CheckFailure> product_authorised(const Trade& trade, const Product& product) const;
  [[nodiscard]] static std::optional<CheckFailure> product_trading(const Product& product);
  [[nodiscard]] static std::optional<CheckFailure> series_listed(const Trade& trade, const Product& product,
                                                                 BusinessDate today);
  [[nodiscard]] static std::optional<CheckFailure> window_not_started(const Trade& trade, UtcTimestamp now);
  [[nodiscard]] static std::optional<CheckFailure> window_within_horizon(const Trade& trade, const Product& product,
                                                                         BusinessDate today);
  // no_reference_price, price_outside_band
  [[nodiscard]] std::optional<CheckFailure> price_within_band(const RegistrationPolicy& policy,
                                                              const Candidate& candidate) const;
  // position_limit_exceeded, concentration_limit_exceeded
  [[nodiscard]] std::optional<CheckFailure> positions_within_limits(const RegistrationPolicy& policy,
                                                                    const Candidate& candidate) const;
  // initial_margin_exceeds_credit_limit, insufficient_collateral; passed: each side's leg
  [[nodiscard]] Checked margin_within_limits(const RegistrationPolicy& policy, const Trade& trade) const;
  void load_margin(pqxx::transaction_base& tx, const RegistrationPolicy& policy, std::span<const std::int64_t> members,
                   std::span<const std::int64_t> candidate_trades, UtcTimestamp now);

  using MonthKey = std::pair<std::int64_t, std::string>;                 // product, month
  using PositionKey = std::tuple<std::int64_t, std::int64_t, std::string>;  // member, product, month
  struct Credit {
    std::optional<std::int64_t> limit_minor;
    std::int64_t collateral_minor = 0;  // held less withdrawals requested
  };
  // A member's margin under the current model (or the interim rule alone, before any).
  struct MemberMarginBook {
    margin::MemberPosition position;
    std::optional<margin::MemberMargin> margin;  // with a model
    std::int64_t legs = 0;
    std::int64_t initial_margin_cents = 0;  // without a model (with one: margin->figures())
    bool changed = false;
  };
  std::map<std::int64_t, std::string> status_;
  std::set<std::pair<std::int64_t, std::int64_t>> authorised_;  // member, product
  std::set<std::pair<std::int64_t, std::int64_t>> venue_authorised_;  // member, venue principal (live)
  // A product's reference price for each day: the price of the shortest period that contains the
  // day among its latest settlement prices (market::latest_settlement_prices_sql); 0 where none.
  struct DailyReference {
    BusinessDate first_day;
    std::vector<std::int64_t> ticks;       // per day from first_day
    std::vector<std::int64_t> period_days;  // the length of the period each price is from
  };
  std::map<std::int64_t, DailyReference> reference_;  // by product
  std::map<MonthKey, std::int64_t> open_interest_;
  std::map<PositionKey, std::int64_t> net_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::int64_t> position_limit_;  // member, product
  std::map<std::int64_t, Credit> credit_;
  margin::CurrentModel current_;
  const BusinessCalendar* clearing_calendar_ = nullptr;
  std::map<std::int64_t, MemberMarginBook> margin_;
};

// A checked trade to novate, and the event that records who cleared it.
struct Clearing {
  // Written: state, decided_at, fee_journal. Its trade_id is set: a pending trade's row, or for
  // a new row (a venue's trade) an id from allocate_trade_ids.
  Trade* trade = nullptr;
  bool new_row = false;  // a venue's trade: novate inserts it cleared (no row yet)
  const Product* product = nullptr;
  const std::vector<MonthSlice>* slices = nullptr;
  std::string actor;  // recorded on its "affirm" event (a venue's new row: "register")
  std::optional<MemberId> actor_member;
  std::optional<RequestId> request_id;
};

// Ids for `count` new trade rows, in one statement.
std::vector<TradeId> allocate_trade_ids(pqxx::transaction_base& tx, std::size_t count);

// Novation in its parts, so that a venue batch can write its rows before it takes the members'
// locks (venue_batches.cpp) and only the parts that read or change what the checks read run under them:
//
//   plan_fees       each trade's clearing fee, and the journals that will post them, their ids
//                   drawn now (one journal for all the trades, per kPostingsPerJournalMax lines)
//                   and their ledger checks done now (ledger::prepare_batch)
//   write_cleared   the trades' rows (a pending row updated, a new row inserted cleared), legs,
//                   events and outbox events: one statement
//   apply_to_books  positions and the members' margin states (the book's, after its trades):
//                   two statements, under the members' locks
//   post_fees       the journals (one ledger link), under the members' locks: the fee accounts'
//                   balances are locked after the members', on every path
struct FeeJournals {
  std::vector<ledger::JournalDraft> drafts;
  std::optional<ledger::PreparedBatch> prepared;  // of drafts; none when there are none
};
FeeJournals plan_fees(pqxx::transaction_base& tx, std::span<Clearing> clearings, UtcTimestamp now);
void write_cleared(pqxx::transaction_base& tx, std::span<Clearing> clearings, UtcTimestamp now);
void apply_to_books(pqxx::transaction_base& tx, std::span<const Clearing> clearings, const Book& book,
                    UtcTimestamp now);
// The ledger refused a fee journal for its bounds (fees beyond 10^15 minor units in one journal
// or one account): the novation cannot be completed and its transaction must roll back.
class FeesBeyondLedgerBound : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
void post_fees(pqxx::transaction_base& tx, FeeJournals journals);

// All four in order, for trades decided under the members' locks (an affirmation, a group, a
// venue batch that could not write first).
void novate(pqxx::transaction_base& tx, std::span<Clearing> clearings, const Book& book, UtcTimestamp now);

}  // namespace cch::registry::clearing
