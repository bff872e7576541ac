#include "cch/risk/factor_history.hpp"

#include "cch/core/sha256.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/market/market_data.hpp"
#include "cch/pricing/curve_set.hpp"
#include "cch/pricing/forward_curve.hpp"
#include "cch/registry/catalog.hpp"
#include "cch/db/array.hpp"
#include "settlement_quotes.hpp"

#include <pqxx/result>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>

namespace cch::risk {
namespace {

FactorHistoryError refused(FactorHistoryRefusal refusal, std::string detail) { return {refusal, std::move(detail)}; }

bool by_product_then_date(const FactorDay& a, const FactorDay& b) {
  return std::tie(a.product, a.business_date, a.snapshot_id) < std::tie(b.product, b.business_date, b.snapshot_id);
}

// The levels of a forward curve of business date D, whose first day is D + 1 (offset 0).
// Precondition: the curve covers the offsets [0, kFactorHorizonDays).
FactorLevels levels_of(const pricing::ForwardCurve& curve) {
  const auto daily = curve.daily_prices();
  assert(daily.size() >= static_cast<std::size_t>(margin::kFactorHorizonDays));
  FactorLevels levels{};
  for (std::size_t b = 0; b < margin::kBucketCount; ++b) {
    const auto& bucket = margin::kTenorBuckets[b];
    double sum = 0.0;
    for (auto offset = bucket.first_day; offset < bucket.end_day; ++offset) {
      sum += daily[static_cast<std::size_t>(offset)];
    }
    levels[b] = sum / static_cast<double>(bucket.end_day - bucket.first_day);
  }
  return levels;
}

// A stored row's levels, when they are of this method: its method text and the number of levels.
std::optional<FactorLevels> stored_levels(const std::vector<double>& values) {
  if (values.size() != margin::kBucketCount) return std::nullopt;
  FactorLevels levels{};
  std::copy(values.begin(), values.end(), levels.begin());
  return levels;
}

std::optional<FactorHistoryError> method_differs(std::int64_t snapshot_id, const std::string& method,
                                                 std::size_t level_count) {
  if (method == factor_method() && level_count == margin::kBucketCount) return std::nullopt;
  return refused(FactorHistoryRefusal::method_changed,
                 "the factor levels of snapshot " + std::to_string(snapshot_id) + " were computed by method \"" +
                     method + "\" (" + std::to_string(level_count) + " levels), not by \"" + factor_method() +
                     "\"");
}

std::string describe(const market::Snapshot& snapshot, const registry::Product& product) {
  return "product " + product.spec.code + " (id " + product.product_id.to_string() + ") on " +
         snapshot.business_date.format() + ", settlement snapshot " + std::to_string(snapshot.snapshot_id) +
         " (version " + std::to_string(snapshot.version) + ")";
}

// Computes the levels of one settlement snapshot, or the curve's refusal.
Result<FactorLevels, FactorHistoryError> compute(const market::SettlementPrices& prices,
                                                 const registry::Product& product) {
  const BusinessDate date = prices.snapshot.business_date;
  const auto quotes = settlement_quotes(date, margin::kFactorHorizonDays, prices.prices);
  const auto built = pricing::build_forward_curve(date.add_days(1).value(), quotes.last_day,
                                                  product.spec.tick_size_ticks, quotes.quotes);
  if (!built) {
    return fail(refused(FactorHistoryRefusal::curve_refused,
                        describe(prices.snapshot, product) + ": the forward curve was refused: " +
                            std::string(pricing::to_string(built.error().reason)) + ": " + built.error().detail));
  }
  return levels_of(built->curve);
}

constexpr std::string_view kStoredColumns = "snapshot_id, product_id, business_date::text, levels, method";

std::vector<FactorDay> days_of(const pqxx::result& rows) {
  std::vector<FactorDay> days;
  days.reserve(rows.size());
  for (const auto& row : rows) {
    const auto snapshot_id = row[0].as<std::int64_t>();
    const auto values = db::doubles_of(row[3]);
    const auto levels = stored_levels(values);
    if (!levels) {
      // Only a row of another bucket definition can hold another number of levels; reading one
      // needs the migration that comes with such a change.
      throw std::runtime_error("risk.factor_level of snapshot " + std::to_string(snapshot_id) + " holds " +
                               std::to_string(values.size()) + " levels, not " +
                               std::to_string(margin::kBucketCount));
    }
    days.push_back({ProductId(row[1].as<std::int64_t>()), BusinessDate::parse(row[2].as<std::string>()).value(),
                    snapshot_id, *levels});
  }
  return days;
}

pqxx::result stored_rows(pqxx::transaction_base& tx, std::span<const std::int64_t> snapshot_ids) {
  return db::exec_cached(tx,
                         "SELECT " + std::string(kStoredColumns) +
                             " FROM risk.factor_level WHERE snapshot_id = ANY($1::bigint[]) "
                             "ORDER BY product_id, business_date, snapshot_id",
                         db::integer_array(snapshot_ids));
}

}  // namespace

const std::string& factor_method() {
  static const std::string method = [] {
    std::string text = std::string(kFactorMethodVersion) + " level=mean-daily buckets=";
    for (std::size_t b = 0; b < margin::kBucketCount; ++b) {
      const auto& bucket = margin::kTenorBuckets[b];
      if (b > 0) text += ',';
      text += std::string(bucket.label) + "[" + std::to_string(bucket.first_day) + "," +
              std::to_string(bucket.end_day) + ")";
    }
    return text + " horizon=" + std::to_string(margin::kFactorHorizonDays) +
           " curves=" + std::string(pricing::kCurveMethodVersion);
  }();
  return method;
}

std::string_view to_string(FactorHistoryRefusal refusal) {
  switch (refusal) {
    case FactorHistoryRefusal::unknown_product: return "unknown_product";
    case FactorHistoryRefusal::method_changed: return "method_changed";
    case FactorHistoryRefusal::curve_refused: return "curve_refused";
  }
  return "unknown";
}

Result<FactorHistoryLoad, FactorHistoryError> load_factor_history(pqxx::transaction_base& tx,
                                                                  std::span<const ProductId> products,
                                                                  BusinessDate from, BusinessDate to) {
  std::map<ProductId, registry::Product> known;
  for (const ProductId product : std::set<ProductId>(products.begin(), products.end())) {
    auto found = registry::find_product(tx, product);
    if (!found) return fail(refused(FactorHistoryRefusal::unknown_product, "no product " + product.to_string()));
    known.emplace(product, std::move(*found));
  }
  FactorHistoryLoad load;
  if (known.empty() || from > to) return load;

  // Each date's latest settlement snapshot of each product, with its levels if they are stored.
  std::vector<std::int64_t> product_ids;
  for (const auto& [product, found] : known) product_ids.push_back(product.value());
  const auto rows = db::exec_cached(
      tx,
      "SELECT s.snapshot_id, s.product_id, s.business_date::text, f.levels, f.method "
      "FROM (SELECT DISTINCT ON (product_id, business_date) snapshot_id, product_id, business_date "
      "      FROM market.snapshot WHERE kind = 'settlement' AND product_id = ANY($1::bigint[]) "
      "      AND business_date BETWEEN $2::date AND $3::date "
      "      ORDER BY product_id, business_date, version DESC) s "
      "LEFT JOIN risk.factor_level f USING (snapshot_id) ORDER BY s.product_id, s.business_date",
      db::integer_array(product_ids), from.format(), to.format());
  load.days.reserve(rows.size());
  std::map<std::int64_t, std::size_t> missing;  // snapshot id -> its place in load.days
  for (const auto& row : rows) {
    FactorDay day{ProductId(row[1].as<std::int64_t>()), BusinessDate::parse(row[2].as<std::string>()).value(),
                  row[0].as<std::int64_t>(), {}};
    if (row[3].is_null()) {
      missing.emplace(day.snapshot_id, load.days.size());
    } else {
      const auto values = db::doubles_of(row[3]);
      if (auto error = method_differs(day.snapshot_id, row[4].as<std::string>(), values.size())) {
        return fail(std::move(*error));
      }
      day.levels = *stored_levels(values);
    }
    load.days.push_back(day);
  }
  if (missing.empty()) return load;

  // The others: their prices in two statements, a curve each, then one INSERT in snapshot id
  // order (two callers inserting the same rows wait for each other in the same order).
  std::vector<std::int64_t> ids;
  for (const auto& [id, place] : missing) ids.push_back(id);
  const auto settlement = market::settlement_prices_of_snapshots(tx, ids);
  assert(settlement.size() == ids.size());
  std::vector<std::int64_t> snapshots;  // as `ids`, in the order of `settlement`
  std::vector<std::int64_t> snapshot_products;
  std::vector<std::string> dates;
  std::vector<std::string> levels;
  for (const auto& prices : settlement) {
    auto computed = compute(prices, known.at(*prices.snapshot.product));
    if (!computed) return fail(std::move(computed.error()));
    load.days[missing.at(prices.snapshot.snapshot_id)].levels = *computed;
    snapshots.push_back(prices.snapshot.snapshot_id);
    snapshot_products.push_back(prices.snapshot.product->value());
    dates.push_back(prices.snapshot.business_date.format());
    levels.push_back(db::double_array(*computed));
  }
  load.computed = static_cast<std::int64_t>(settlement.size());
  const auto inserted = db::exec_cached(
      tx,
      "INSERT INTO risk.factor_level (snapshot_id, product_id, business_date, levels, method) "
      "SELECT t.snapshot_id, t.product_id, t.business_date, t.levels::float8[], $5 "
      "FROM unnest($1::bigint[], $2::bigint[], $3::date[], $4::text[]) AS t(snapshot_id, product_id, business_date, "
      "levels) ORDER BY t.snapshot_id "
      "ON CONFLICT (snapshot_id) DO NOTHING RETURNING snapshot_id",
      db::integer_array(snapshots), db::integer_array(snapshot_products), db::text_array(dates), db::text_array(levels),
      factor_method());
  if (inserted.size() == snapshots.size()) return load;

  // A concurrent caller stored some first: answer its rows (the same method gives the same bits).
  std::set<std::int64_t> ours;
  for (const auto& row : inserted) ours.insert(row[0].as<std::int64_t>());
  std::vector<std::int64_t> theirs;
  for (const auto id : snapshots) {
    if (!ours.contains(id)) theirs.push_back(id);
  }
  for (const auto& row : stored_rows(tx, theirs)) {
    const auto snapshot_id = row[0].as<std::int64_t>();
    const auto values = db::doubles_of(row[3]);
    if (auto error = method_differs(snapshot_id, row[4].as<std::string>(), values.size())) {
      return fail(std::move(*error));
    }
    load.days[missing.at(snapshot_id)].levels = *stored_levels(values);
  }
  return load;
}

std::vector<FactorDay> factor_levels_of_snapshots(pqxx::transaction_base& tx,
                                                  std::span<const std::int64_t> snapshot_ids) {
  return days_of(stored_rows(tx, snapshot_ids));
}

std::string factor_history_hash(std::span<const FactorDay> days) {
  std::vector<FactorDay> sorted(days.begin(), days.end());
  std::sort(sorted.begin(), sorted.end(), by_product_then_date);
  std::string text;
  text.reserve(sorted.size() * (40 + 17 * margin::kBucketCount));
  char bits[20];
  for (const auto& day : sorted) {
    text += day.product.to_string() + "," + day.business_date.format() + "," + std::to_string(day.snapshot_id);
    for (const double level : day.levels) {
      std::snprintf(bits, sizeof bits, ",%016llx",
                    static_cast<unsigned long long>(std::bit_cast<std::uint64_t>(level)));  // NOLINT(runtime/int)
      text += bits;
    }
    text += '\n';
  }
  return sha256_hex(text);
}

}  // namespace cch::risk
