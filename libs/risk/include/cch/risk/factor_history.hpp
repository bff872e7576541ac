#pragma once
// Factor history: the levels of the margin model's risk factors on past business dates, computed
// from each date's settlement prices once and stored (table risk.factor_level, migration 0020),
// for the filtered historical simulation to take its returns from.
//
// What. The factor (product p, tenor bucket b) on business date D has the level
//     L(p, b, D) = the plain mean of the daily values of p's forward curve of D over the days
//                  [D + 1 + b.first_day, D + 1 + b.end_day)
// for each bucket b of margin::kTenorBuckets (libs/margin buckets.hpp), in bucket order. p's
// forward curve of D is pricing::build_forward_curve(D + 1, D + margin::kFactorHorizonDays, p's
// tick size, the quotes of p's settlement snapshot of D) (the horizon reaches further when a
// quoted period ends later, as a curve set's does): the curve a curve set of D builds for p, flat
// before its first quoted day and after its last. Units: USD per GPU-hour, as the curves'. Levels
// are doubles, not money: they feed scenarios.
//
// Which snapshot. One row per settlement snapshot: load_factor_history answers, for each date,
// the latest version of the product's settlement prices of that date. A correction of a date's
// prices is a new snapshot with levels of its own; the corrected version's levels stay stored,
// and factor_levels_of_snapshots still answers them (to rebuild a past scenario set from what it
// recorded). Levels are stored exactly (17 significant digits read back to the same double):
// what is read is what was computed, to the bit.
//
// Method. kFactorMethodVersion and the bucket definition and pricing::kCurveMethodVersion make
// up factor_method() (e.g. "cch-factors/1 buckets=prompt[0,7),M1[7,37),... curves=cch-curves/1
// ..."), stored with every row. A row computed by another method is not mixed into a history:
// the load refuses with method_changed (a change of method or buckets needs a migration deciding
// what becomes of the stored levels).
//
// Cost. A statement per product (its tick size), one for the range's snapshots with their stored
// levels, whatever the range; for the snapshots not stored yet, two to read their prices, a
// forward curve each (the slow part: about 0.3 ms each in a release build, 1.2 s for three years
// of five products from nothing stored, 25 ms once stored; docs/performance.md), and one INSERT
// of all their rows.
//
// Refusals (FactorHistoryError), checked in this order: unknown_product (a product id that names
// no product; detail names it), method_changed (a stored row of another method; detail names the
// snapshot and both methods), curve_refused (the pricing library refused a snapshot's curve;
// detail names the product, the date, the snapshot and version, the curve's reason and its detail).
// A refusal stores nothing. A product without any settlement snapshot in the range has no days,
// which is not a refusal.
//
// Concurrency. Rows are inserted with ON CONFLICT DO NOTHING in snapshot id order: two callers
// computing the same snapshots at once do not fail (the second waits for the first's row, then
// reads it back and answers it) and do not deadlock. Under read committed this needs no retry;
// under repeatable read or serializable a row committed by a concurrent caller after the
// snapshot was taken is a serialization failure, which db::run_transaction retries (the retry
// finds the row stored).
//
// Thread safety: functions take the caller's transaction (one thread); the pricing library's
// curve builder is pure; values are plain.

#include "cch/core/ids.hpp"
#include "cch/core/result.hpp"
#include "cch/core/time.hpp"
#include "cch/margin/buckets.hpp"

#include <pqxx/transaction_base>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cch::risk {

// The version of the factor method (the level's definition above); a change is a new version.
inline constexpr std::string_view kFactorMethodVersion = "cch-factors/1";

// kFactorMethodVersion, the buckets (label[first,end) in order) and the curves' method version.
const std::string& factor_method();

using FactorLevels = std::array<double, margin::kBucketCount>;

// The factor levels of one product on one business date, from one settlement snapshot.
struct FactorDay {
  ProductId product;
  BusinessDate business_date;
  std::int64_t snapshot_id = 0;
  FactorLevels levels{};  // USD per GPU-hour, in the order of margin::kTenorBuckets

  friend bool operator==(const FactorDay&, const FactorDay&) = default;
};

enum class FactorHistoryRefusal {
  unknown_product,
  method_changed,
  curve_refused,
};
std::string_view to_string(FactorHistoryRefusal refusal);

struct FactorHistoryError {
  FactorHistoryRefusal refusal = FactorHistoryRefusal::curve_refused;
  std::string detail;
};

struct FactorHistoryLoad {
  std::vector<FactorDay> days;  // by product id, then business date
  std::int64_t computed = 0;    // days whose levels this call computed (they were not stored when it read)
};

// For each product of `products` (each once, whatever the repeats) and each business date in
// [from, to] on which it has a settlement snapshot: the levels of the latest version, computing
// and storing, in the caller's transaction, those not stored yet. Nothing when from > to.
Result<FactorHistoryLoad, FactorHistoryError> load_factor_history(pqxx::transaction_base& tx,
                                                                  std::span<const ProductId> products,
                                                                  BusinessDate from, BusinessDate to);

// The stored levels of exactly these snapshots, whatever version (by product id, then business
// date, then snapshot id; each once). A snapshot without stored levels is left out: the caller
// compares what it asked for with what it got. Computes nothing.
std::vector<FactorDay> factor_levels_of_snapshots(pqxx::transaction_base& tx,
                                                  std::span<const std::int64_t> snapshot_ids);

// SHA-256 (lower-case hex) of the canonical text of `days`, so that a scenario set can record
// exactly which history it used: the days sorted by product id, business date and snapshot id
// (whatever their order here), one line each,
//     <product id>,<YYYY-MM-DD>,<snapshot id>,<level 1>,...,<level n>\n
// each level as the 16 lower-case hexadecimal digits of its IEEE 754 binary64 bits. Equal days
// give equal hashes; a level that differs in its last bit gives another.
std::string factor_history_hash(std::span<const FactorDay> days);

}  // namespace cch::risk
