#pragma once
// Marks: every open leg valued against one curve set, stored per leg and summed per member and
// product (docs/curves.md "Marks"; tables of migration 0018).
//
// A leg is open on business date D when some of its delivery window is still to come: it ends
// after 00:00 UTC of D + 1 (the forward curves' first day). Its mark is pricing::mark_leg's:
// against the average of its product's forward curve over the undelivered part of its own window,
//   a bilateral forward (no series)  PV = side x (F - K) x GPU-hours x DF(payment date)
//   a future (a listed series)       PV = side x (F - K) x GPU-hours (settled daily)
// in cents, rounded to the nearest cent, ties away from zero (pricing::usd_to_cents). The payment
// date of a forward is kPaymentLagBusinessDays business days of the clearing calendar after the
// date its window ends. Both legs of a trade are marked, the clearinghouse's book being flat: the
// sum over all legs is zero, exactly (a buy leg's mark is its sell leg's, negated), and the run
// records that sum.
//
// A mark run is once per curve set: marking a curve set already marked answers the run stored
// (created = false); two concurrent markings of one curve set are serialised (an advisory lock),
// so the second answers the first's. The run is one transaction: the legs are read by COPY, the
// marks written by COPY, the sums per member and product and the run row inserted with them; a
// crash leaves nothing, and marking again does it all.
//
// Legs of a product without a forward curve in the set are not marked; the run counts them and
// names the products (legs_unmarked, unmarked_products). A leg the pricing library refuses
// (e.g. an amount beyond kAmountMinorMax cents) refuses the whole run with its reason.
//
// Thread safety: functions take the caller's transaction.

#include "cch/core/calendar.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/pricing/curve_set.hpp"
#include "cch/pricing/marks.hpp"

#include <pqxx/transaction_base>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cch::risk {

inline constexpr int kPaymentLagBusinessDays = pricing::kPaymentLagBusinessDays;

struct MarkRun {
  std::int64_t curve_set_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  std::int64_t legs_marked = 0;
  std::int64_t legs_unmarked = 0;
  std::vector<ProductId> unmarked_products;
  std::int64_t pv_total_minor = 0;  // zero for a flat book
  UtcTimestamp started_at{0};
  UtcTimestamp finished_at{0};
};

struct MarkRunOutcome {
  MarkRun run;
  bool created = false;
};

enum class MarkRefusal { unknown_curve_set, leg_refused };
std::string_view to_string(MarkRefusal refusal);
struct MarkError {
  MarkRefusal refusal = MarkRefusal::unknown_curve_set;
  std::string detail;
};

Result<MarkRunOutcome, MarkError> mark_open_legs(pqxx::transaction_base& tx, std::int64_t curve_set_id,
                                                 const BusinessCalendar& clearing_calendar);

// One open leg's mark, as mark_each_open_leg hands it over.
struct LegMarkValue {
  std::int64_t trade_id = 0;
  bool buy = true;
  std::int64_t member_id = 0;
  std::int64_t product_id = 0;
  bool future = false;
  UtcTimestamp delivery_start{0};  // the leg's whole delivery window (the mark covers the part after
  UtcTimestamp delivery_end{0};    // the as-of date), what a settlement run checks its prices cover
  pricing::LegMark mark;
};
struct MarkedLegs {
  std::int64_t marked = 0;
  std::map<std::int64_t, std::int64_t> unmarked;  // product id -> open legs without a forward curve
};
// Marks every leg open on the curves' as-of date (of trades cleared before `cleared_before`
// only, when given) against `curves`, calling `each` with each mark, in no particular order; the
// mark run's arithmetic, for whoever stores the marks (the mark run of a curve set, a settlement
// run). A leg the pricing library refuses refuses the whole (leg_refused); legs of products
// without a forward curve are counted, not marked.
Result<MarkedLegs, MarkError> mark_each_open_leg(pqxx::transaction_base& tx, const pricing::CurveSet& curves,
                                                 const BusinessCalendar& clearing_calendar,
                                                 std::optional<UtcTimestamp> cleared_before,
                                                 const std::function<void(const LegMarkValue&)>& each);

std::optional<MarkRun> find_mark_run(pqxx::transaction_base& tx, std::int64_t curve_set_id);
// The run of the latest business date marked (its latest curve set version marked).
std::optional<MarkRun> latest_mark_run(pqxx::transaction_base& tx);

// Per member and product: the legs marked, the net GPU-hours still to be delivered (bought less
// sold), and the sum of their marks.
struct MemberMark {
  MemberId member;
  ProductId product;
  std::int64_t legs = 0;
  std::int64_t gpu_hours = 0;
  std::int64_t pv_minor = 0;
};
// A curve set's sums, of one member or of all, by member then product.
std::vector<MemberMark> member_marks(pqxx::transaction_base& tx, std::int64_t curve_set_id,
                                     std::optional<MemberId> member);

struct LegMarkRow {
  TradeId trade;
  std::string side;  // buy or sell
  MemberId member;
  ProductId product;
  std::string kind;  // forward or future
  std::int64_t gpu_hours = 0;
  double forward_price_usd = 0;
  double discount_factor = 1;
  std::int64_t pv_minor = 0;
};
// A trade's legs' marks in a curve set.
std::vector<LegMarkRow> trade_marks(pqxx::transaction_base& tx, std::int64_t curve_set_id, TradeId trade);

}  // namespace cch::risk
