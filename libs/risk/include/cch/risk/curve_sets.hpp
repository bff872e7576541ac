#pragma once
// Curve sets: one business date's curves (the SOFR OIS discount curve and a daily forward curve
// per product) built with libs/pricing from named market data snapshots, stored with the
// snapshots they read and a content hash, and rebuilt on demand to show they are what the stored
// inputs give (docs/curves.md; tables of migration 0018).
//
// Building the curve set of business date D (a business day of the clearing calendar, not after
// today):
//   inputs    the latest version of D's SOFR OIS quotes, or, when D is not a SOFR business day,
//             of the latest SOFR business day before it (within kOisLookbackDays); and the latest
//             version of D's settlement prices of every product that has some. A product without
//             settlement prices on D gets no forward curve (its legs are not marked; the mark run
//             names it).
//   curves    the discount curve as of D; each forward curve from D + 1 to D + kCurveHorizonDays
//             (every listed window ends within it), flat after its last quoted period.
//   versions  the first set of D is version 1; building again with the same inputs answers the
//             latest version, unchanged (created = false); after a correction of an input, the
//             next version. The outbox event "curve_set.built" {curve_set_id, business_date,
//             version, content_hash} is written with a new version, in its transaction.
// Refusals (CurveSetRefusal): not_a_business_date, business_date_in_future, no_ois_quotes,
// no_settlement_prices (no product has any on D), curve_failed (the pricing library refused:
// the detail names the product or tenor and the rule, e.g. inconsistent quotes).
//
// Verifying a curve set rebuilds it from exactly the snapshots it recorded and compares the
// content hash (and so every input and every number).
//
// Thread safety: functions take the caller's transaction; the pricing library confines
// QuantLib's global evaluation date.

#include "cch/core/calendar.hpp"
#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/pricing/curve_set.hpp"

#include <pqxx/transaction_base>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cch::risk {

inline constexpr std::int64_t kCurveHorizonDays = 1097;  // the longest listing horizon, and a day
inline constexpr int kOisLookbackDays = 7;
inline constexpr std::size_t kCurveSetPageMax = 100;

enum class CurveSetRefusal {
  not_a_business_date,
  business_date_in_future,
  no_ois_quotes,
  no_settlement_prices,
  curve_failed,
  unknown_curve_set,
};
std::string_view to_string(CurveSetRefusal refusal);

struct CurveSetError {
  CurveSetRefusal refusal = CurveSetRefusal::curve_failed;
  std::string detail;
};

// A stored curve set's record (without its curves).
struct CurveSetRecord {
  std::int64_t curve_set_id = 0;
  BusinessDate business_date = BusinessDate::from_days_since_epoch(0).value();
  int version = 1;
  std::string method_version;
  std::vector<std::string> inputs;
  std::vector<std::int64_t> input_snapshots;
  std::string content_hash;
  UtcTimestamp built_at{0};
  std::string built_by;
  std::optional<std::string> request_id;
  std::int64_t build_microseconds = 0;
  std::vector<ProductId> products;  // with a forward curve, in id order
};

struct BuiltCurveSet {
  CurveSetRecord record;
  pricing::CurveSet curves;
  bool created = false;  // false: the latest version of the date had the same content
};

struct BuildRequest {
  BusinessDate business_date;
  BusinessCalendar clearing_calendar;
  BusinessDate today;
  std::string built_by;
  std::optional<std::string> request_id;
};

Result<BuiltCurveSet, CurveSetError> build_curve_set(pqxx::transaction_base& tx, const BuildRequest& request);

std::optional<CurveSetRecord> find_curve_set(pqxx::transaction_base& tx, std::int64_t curve_set_id);
// The latest version of a date's curve set.
std::optional<CurveSetRecord> latest_curve_set(pqxx::transaction_base& tx, BusinessDate business_date);
// Curve sets newest first (by id), optionally of one date, ids below `before`; at most `limit`
// (clamped to 1..kCurveSetPageMax).
std::vector<CurveSetRecord> list_curve_sets(pqxx::transaction_base& tx, std::optional<BusinessDate> business_date,
                                            std::optional<std::int64_t> before, std::size_t limit);
// The stored curves of a curve set, as stored (no rebuild).
std::optional<pricing::CurveSet> load_curves(pqxx::transaction_base& tx, std::int64_t curve_set_id);

struct Verification {
  std::int64_t curve_set_id = 0;
  std::string stored_hash;         // recorded when it was built
  std::string rebuilt_hash;        // of the curves built again from the recorded snapshots
  std::string stored_curves_hash;  // of the curves as stored
  [[nodiscard]] bool same() const { return stored_hash == rebuilt_hash && stored_hash == stored_curves_hash; }
};
// Rebuilds the curve set from the snapshots it recorded, and hashes the curves as stored: both
// must give the recorded hash.
Result<Verification, CurveSetError> verify_curve_set(pqxx::transaction_base& tx, std::int64_t curve_set_id);

}  // namespace cch::risk
