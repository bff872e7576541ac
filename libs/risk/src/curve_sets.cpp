#include "cch/risk/curve_sets.hpp"

#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/db/row.hpp"
#include "cch/market/market_data.hpp"
#include "cch/registry/catalog.hpp"
#include "settlement_quotes.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/result>

#include <algorithm>
#include <chrono>
#include <map>

namespace cch::risk {
namespace {

constexpr std::string_view kRecordColumns =
    "c.curve_set_id, c.business_date::text, c.version, c.method_version, c.inputs, c.content_hash, "
    "(extract(epoch FROM c.built_at) * 1000000)::bigint, c.built_by, c.request_id, c.build_microseconds, "
    "ARRAY(SELECT snapshot_id FROM risk.curve_set_input i WHERE i.curve_set_id = c.curve_set_id ORDER BY 1), "
    "ARRAY(SELECT product_id FROM risk.forward_curve f WHERE f.curve_set_id = c.curve_set_id ORDER BY 1)";

std::vector<std::int64_t> integers_of(const pqxx::field& field) {
  std::vector<std::int64_t> values;
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) values.push_back(std::stoll(item.second));
  }
  return values;
}

std::vector<std::string> texts_of(const pqxx::field& field) {
  std::vector<std::string> values;
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done; item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) values.push_back(item.second);
  }
  return values;
}

CurveSetRecord record_from(const pqxx::row& row) {
  CurveSetRecord record;
  record.curve_set_id = row[0].as<std::int64_t>();
  record.business_date = BusinessDate::parse(row[1].as<std::string>()).value();
  record.version = row[2].as<int>();
  record.method_version = row[3].as<std::string>();
  record.inputs = texts_of(row[4]);
  record.content_hash = row[5].as<std::string>();
  record.built_at = db::timestamp_of(row[6]);
  record.built_by = row[7].as<std::string>();
  record.request_id = db::optional_of<std::string>(row[8]);
  record.build_microseconds = row[9].as<std::int64_t>();
  record.input_snapshots = integers_of(row[10]);
  for (const auto id : integers_of(row[11])) record.products.emplace_back(id);
  return record;
}

CurveSetError refused(CurveSetRefusal refusal, std::string detail) { return {refusal, std::move(detail)}; }

// The canonical name of an input snapshot: kind, subject, date, version and its content hash.
std::string input_name(const market::Snapshot& snapshot) {
  return std::string(market::to_string(snapshot.kind)) + ":" + snapshot.subject + ":" +
         snapshot.business_date.format() + ":v" + std::to_string(snapshot.version) + ":" + snapshot.content_hash;
}

struct Inputs {
  std::vector<pricing::OisQuote> ois;
  std::vector<pricing::ProductQuotes> products;
  std::vector<std::string> names;
  std::vector<std::int64_t> snapshots;
};

void add_ois(Inputs& inputs, const market::OisQuotes& quotes) {
  for (const auto& quote : quotes.quotes) {
    inputs.ois.push_back({quote.tenor.text(), static_cast<double>(quote.rate_e8) / 1e8});
  }
  inputs.names.push_back(input_name(quotes.snapshot));
  inputs.snapshots.push_back(quotes.snapshot.snapshot_id);
}

std::optional<CurveSetError> add_settlement(pqxx::transaction_base& tx, Inputs& inputs, BusinessDate date,
                                            const market::SettlementPrices& prices) {
  const auto product = registry::find_product(tx, *prices.snapshot.product);
  if (!product) return refused(CurveSetRefusal::curve_failed, "no product " + prices.snapshot.product->to_string());
  auto quotes = settlement_quotes(date, kCurveHorizonDays, prices.prices);
  inputs.products.push_back(
      {product->product_id, product->spec.tick_size_ticks, quotes.last_day, std::move(quotes.quotes)});
  inputs.names.push_back(input_name(prices.snapshot));
  inputs.snapshots.push_back(prices.snapshot.snapshot_id);
  return std::nullopt;
}

Result<pricing::CurveSet, CurveSetError> build(BusinessDate date, const Inputs& inputs) {
  auto built = pricing::build_curve_set(date, inputs.ois, inputs.products, inputs.names);
  if (!built) {
    // The pricing library's detail names the product or tenor already.
    return fail(refused(CurveSetRefusal::curve_failed,
                        std::string(pricing::to_string(built.error().reason)) + ": " + built.error().detail));
  }
  return std::move(*built);
}

void store_curves(pqxx::transaction_base& tx, std::int64_t id, const pricing::CurveSet& curves) {
  std::vector<std::string> dates;
  std::vector<double> factors;
  for (const auto& node : curves.discount.nodes()) {
    dates.push_back(node.date.format());
    factors.push_back(node.discount_factor);
  }
  db::exec_cached(tx,
                  "INSERT INTO risk.discount_node (curve_set_id, node_date, discount_factor) "
                  "SELECT $1, * FROM unnest($2::date[], $3::float8[])",
                  id, db::text_array(dates), db::double_array(factors));
  for (const auto& [product, curve] : curves.forwards) {
    db::exec_cached(tx,
                    "INSERT INTO risk.forward_curve (curve_set_id, product_id, first_day, daily_prices) "
                    "VALUES ($1, $2, $3::date, $4::float8[])",
                    id, product.value(), curve.first_day().format(), db::double_array(curve.daily_prices()));
  }
}

}  // namespace

std::string_view to_string(CurveSetRefusal refusal) {
  switch (refusal) {
    case CurveSetRefusal::not_a_business_date: return "not_a_business_date";
    case CurveSetRefusal::business_date_in_future: return "business_date_in_future";
    case CurveSetRefusal::no_ois_quotes: return "no_ois_quotes";
    case CurveSetRefusal::no_settlement_prices: return "no_settlement_prices";
    case CurveSetRefusal::curve_failed: return "curve_failed";
    case CurveSetRefusal::unknown_curve_set: return "unknown_curve_set";
  }
  return "unknown";
}

Result<BuiltCurveSet, CurveSetError> build_curve_set(pqxx::transaction_base& tx, const BuildRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  const BusinessDate date = request.business_date;
  if (!request.clearing_calendar.covers(date) || !request.clearing_calendar.is_business_day(date)) {
    return fail(refused(CurveSetRefusal::not_a_business_date,
                        date.format() + " is not a business day of the " +
                            std::string(request.clearing_calendar.name()) + " calendar"));
  }
  if (date > request.today) {
    return fail(refused(CurveSetRefusal::business_date_in_future, date.format() + " is after today"));
  }
  Inputs inputs;
  const auto ois = market::latest_ois_quotes(tx, date, date.add_days(-kOisLookbackDays).value());
  if (!ois) {
    return fail(refused(CurveSetRefusal::no_ois_quotes, "no SOFR OIS quotes on " + date.format() + " or in the " +
                                                            std::to_string(kOisLookbackDays) + " days before"));
  }
  add_ois(inputs, *ois);
  const auto settlement = market::settlement_prices_on(tx, date);
  if (settlement.empty()) {
    return fail(refused(CurveSetRefusal::no_settlement_prices, "no product has settlement prices on " + date.format()));
  }
  for (const auto& prices : settlement) {
    if (auto error = add_settlement(tx, inputs, date, prices)) return fail(std::move(*error));
  }
  auto curves = build(date, inputs);
  if (!curves) return fail(std::move(curves.error()));
  const std::string hash = pricing::content_hash(*curves);
  const auto build_microseconds =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();

  const auto latest = latest_curve_set(tx, date);
  if (latest && latest->content_hash == hash) return BuiltCurveSet{*latest, std::move(*curves), false};
  const int version = latest ? latest->version + 1 : 1;
  const auto id = db::exec_cached(tx,
                                  "INSERT INTO risk.curve_set (business_date, version, method_version, inputs, "
                                  "content_hash, built_by, request_id, build_microseconds) "
                                  "VALUES ($1::date, $2, $3, $4::text[], $5, $6, $7, $8) RETURNING curve_set_id",
                                  date.format(), version, curves->method_version, db::text_array(inputs.names), hash,
                                  request.built_by, request.request_id, static_cast<std::int64_t>(build_microseconds))
                      .at(0)[0]
                      .as<std::int64_t>();
  db::exec_cached(tx,
                  "INSERT INTO risk.curve_set_input (curve_set_id, snapshot_id) SELECT $1, unnest($2::bigint[])", id,
                  db::integer_array(inputs.snapshots));
  store_curves(tx, id, *curves);
  const nlohmann::json payload = {{"curve_set_id", std::to_string(id)},
                                  {"business_date", date.format()},
                                  {"version", version},
                                  {"content_hash", hash}};
  db::exec_cached(tx, "INSERT INTO cch.outbox (topic, aggregate_id, payload) VALUES ('curve_set.built', $1, $2::jsonb)",
                  id, payload.dump());
  auto record = find_curve_set(tx, id);
  return BuiltCurveSet{std::move(*record), std::move(*curves), true};
}

std::optional<CurveSetRecord> find_curve_set(pqxx::transaction_base& tx, std::int64_t curve_set_id) {
  const auto rows = db::exec_cached(
      tx, "SELECT " + std::string(kRecordColumns) + " FROM risk.curve_set c WHERE c.curve_set_id = $1", curve_set_id);
  if (rows.empty()) return std::nullopt;
  return record_from(rows[0]);
}

std::optional<CurveSetRecord> latest_curve_set(pqxx::transaction_base& tx, BusinessDate business_date) {
  const auto rows = db::exec_cached(tx,
                                    "SELECT " + std::string(kRecordColumns) +
                                        " FROM risk.curve_set c WHERE c.business_date = $1::date "
                                        "ORDER BY c.version DESC LIMIT 1",
                                    business_date.format());
  if (rows.empty()) return std::nullopt;
  return record_from(rows[0]);
}

std::vector<CurveSetRecord> list_curve_sets(pqxx::transaction_base& tx, std::optional<BusinessDate> business_date,
                                            std::optional<std::int64_t> before, std::size_t limit) {
  limit = std::clamp<std::size_t>(limit, 1, kCurveSetPageMax);
  std::optional<std::string> date;
  if (business_date) date = business_date->format();
  const auto rows = db::exec_cached(tx,
                                    "SELECT " + std::string(kRecordColumns) +
                                        " FROM risk.curve_set c WHERE ($1::date IS NULL OR c.business_date = $1::date) "
                                        "AND ($2::bigint IS NULL OR c.curve_set_id < $2) "
                                        "ORDER BY c.curve_set_id DESC LIMIT $3",
                                    date, before, static_cast<std::int64_t>(limit));
  std::vector<CurveSetRecord> records;
  for (const auto& row : rows) records.push_back(record_from(row));
  return records;
}

std::optional<pricing::CurveSet> load_curves(pqxx::transaction_base& tx, std::int64_t curve_set_id) {
  const auto record = find_curve_set(tx, curve_set_id);
  if (!record) return std::nullopt;
  std::vector<pricing::DiscountNode> nodes;
  for (const auto& row : db::exec_cached(tx,
                                         "SELECT node_date::text, discount_factor FROM risk.discount_node "
                                         "WHERE curve_set_id = $1 ORDER BY node_date",
                                         curve_set_id)) {
    nodes.push_back({BusinessDate::parse(row[0].as<std::string>()).value(), row[1].as<double>()});
  }
  std::map<ProductId, pricing::ForwardCurve> forwards;
  for (const auto& row : db::exec_cached(tx,
                                         "SELECT product_id, first_day::text, daily_prices FROM risk.forward_curve "
                                         "WHERE curve_set_id = $1 ORDER BY product_id",
                                         curve_set_id)) {
    forwards.emplace(ProductId(row[0].as<std::int64_t>()),
                     pricing::ForwardCurve(BusinessDate::parse(row[1].as<std::string>()).value(), db::doubles_of(row[2])));
  }
  return pricing::CurveSet{record->business_date, pricing::DiscountCurve(std::move(nodes)), std::move(forwards),
                           record->inputs, record->method_version};
}

market::ConsistencyCheck forward_curve_consistency() {
  return [](const market::ProductTerms& product, BusinessDate date,
            std::span<const market::PeriodPrice> prices) -> std::optional<std::string> {
    const auto quotes = settlement_quotes(date, kCurveHorizonDays, prices);
    const auto built =
        pricing::build_forward_curve(date.add_days(1).value(), quotes.last_day, product.tick_size_ticks, quotes.quotes);
    if (!built && built.error().reason == pricing::CurveRefusal::inconsistent_quotes) return built.error().detail;
    return std::nullopt;
  };
}

Result<Verification, CurveSetError> verify_curve_set(pqxx::transaction_base& tx, std::int64_t curve_set_id) {
  const auto record = find_curve_set(tx, curve_set_id);
  if (!record) return fail(refused(CurveSetRefusal::unknown_curve_set, "no curve set " + std::to_string(curve_set_id)));
  // The recorded snapshots, in the order they were read: the OIS quotes, then the products'
  // settlement prices in product id order.
  std::vector<market::Snapshot> snapshots;
  for (const auto id : record->input_snapshots) snapshots.push_back(*market::find_snapshot_by_id(tx, id));
  std::stable_sort(snapshots.begin(), snapshots.end(), [](const market::Snapshot& a, const market::Snapshot& b) {
    if ((a.kind == market::DataKind::ois) != (b.kind == market::DataKind::ois)) return a.kind == market::DataKind::ois;
    return a.product.value_or(ProductId(0)).value() < b.product.value_or(ProductId(0)).value();
  });
  Inputs inputs;
  for (const auto& snapshot : snapshots) {
    if (snapshot.kind == market::DataKind::ois) {
      add_ois(inputs, *market::ois_quotes(tx, snapshot.business_date, snapshot.version));
    } else {
      const auto prices = market::settlement_prices(tx, *snapshot.product, snapshot.business_date, snapshot.version);
      if (auto error = add_settlement(tx, inputs, record->business_date, *prices)) return fail(std::move(*error));
    }
  }
  auto curves = build(record->business_date, inputs);
  if (!curves) return fail(std::move(curves.error()));
  return Verification{curve_set_id, record->content_hash, pricing::content_hash(*curves),
                      pricing::content_hash(*load_curves(tx, curve_set_id))};
}

}  // namespace cch::risk
