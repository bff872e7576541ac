#include "cch/market/market_data.hpp"

#include "cch/core/sha256.hpp"
#include "cch/db/array.hpp"
#include "cch/db/prepared.hpp"
#include "cch/db/row.hpp"

#include <pqxx/result>

#include <algorithm>
#include <cassert>
#include <map>
#include <set>
#include <stdexcept>

namespace cch::market {
namespace {

constexpr std::string_view kSnapshotColumns =
    "s.snapshot_id, s.kind, s.subject, s.product_id, s.business_date::text, s.version, s.correction_reason, "
    "s.source, s.publisher, (extract(epoch FROM s.published_at) * 1000000)::bigint, "
    "(extract(epoch FROM s.entered_at) * 1000000)::bigint, s.entered_by, s.request_id, s.content_hash";
constexpr int kSnapshotColumnCount = 14;

Snapshot snapshot_from(const pqxx::row& row) {
  std::optional<ProductId> product;
  if (!row[3].is_null()) product = ProductId(row[3].as<std::int64_t>());
  return Snapshot{.snapshot_id = row[0].as<std::int64_t>(),
                  .kind = parse_data_kind(row[1].as<std::string>()).value(),
                  .subject = row[2].as<std::string>(),
                  .product = product,
                  .business_date = BusinessDate::parse(row[4].as<std::string>()).value(),
                  .version = row[5].as<int>(),
                  .provenance = Provenance{.source = row[7].as<std::string>(),
                                           .publisher = row[8].as<std::string>(),
                                           .published_at = db::timestamp_of(row[9]),
                                           .entered_by = row[11].as<std::string>(),
                                           .request_id = db::optional_of<std::string>(row[12]),
                                           .correction_reason = db::optional_of<std::string>(row[6])},
                  .entered_at = db::timestamp_of(row[10]),
                  .content_hash = row[13].as<std::string>()};
}

MarketError refused(MarketRefusal refusal, std::string detail) { return {refusal, std::move(detail)}; }

std::string select_snapshot(std::string_view where) {
  return "SELECT " + std::string(kSnapshotColumns) + " FROM market.snapshot s WHERE " + std::string(where);
}

// The snapshot of (kind, subject, date): the given version, or the latest.
std::optional<Snapshot> find_snapshot(pqxx::transaction_base& tx, DataKind kind, std::string_view subject,
                                      BusinessDate date, std::optional<int> version) {
  const auto rows = db::exec_cached(
      tx,
      select_snapshot("s.kind = $1 AND s.subject = $2 AND s.business_date = $3::date "
                      "AND ($4::integer IS NULL OR s.version = $4) ORDER BY s.version DESC LIMIT 1"),
      std::string(to_string(kind)), std::string(subject), date.format(), version);
  if (rows.empty()) return std::nullopt;
  return snapshot_from(rows[0]);
}

std::optional<MarketError> check_date(BusinessDate date, const BusinessCalendar* calendar, const MarketRules& rules) {
  if (calendar != nullptr && (!calendar->covers(date) || !calendar->is_business_day(date))) {
    return refused(MarketRefusal::not_a_business_date,
                   date.format() + " is not a business day of the " + std::string(calendar->name()) + " calendar");
  }
  if (date > rules.today) {
    return refused(MarketRefusal::business_date_in_future, date.format() + " is after today, " + rules.today.format());
  }
  return std::nullopt;
}

std::optional<MarketError> check_price(PricePerGpuHour price, std::int64_t tick_ticks, const std::string& what) {
  if (price.price_ticks <= 0) {
    return refused(MarketRefusal::non_positive_price, what + ": the price must be positive");
  }
  if (price.price_ticks > kPriceTicksMax) {
    return refused(MarketRefusal::invalid_price,
                   what + ": the price is more than " + PricePerGpuHour{kPriceTicksMax}.format() + " USD per GPU-hour");
  }
  if (!price.is_multiple_of(PricePerGpuHour{tick_ticks})) {
    return refused(MarketRefusal::price_off_tick,
                   what + ": " + price.format() + " is not a multiple of the tick " + PricePerGpuHour{tick_ticks}.format());
  }
  return std::nullopt;
}

// How a snapshot of new content is versioned: its number, or a refusal; nullopt in `repeat`
// unless the latest version holds the same content, which is then answered.
struct Versioning {
  int version = 1;
  std::optional<Snapshot> repeat;
};
Result<Versioning, MarketError> versioning(pqxx::transaction_base& tx, DataKind kind, std::string_view subject,
                                           BusinessDate date, const std::string& content_hash,
                                           const Provenance& provenance) {
  const auto latest = find_snapshot(tx, kind, subject, date, std::nullopt);
  if (latest && latest->content_hash == content_hash) return Versioning{latest->version, latest};
  if (!latest) {
    if (provenance.correction_reason) {
      return fail(refused(MarketRefusal::nothing_to_correct, "there is no " + std::string(to_string(kind)) +
                                                                 " data for " + std::string(subject) + " on " +
                                                                 date.format() + " to correct"));
    }
    return Versioning{1, std::nullopt};
  }
  if (!provenance.correction_reason) {
    return fail(refused(MarketRefusal::market_data_exists,
                        std::string(to_string(kind)) + " data for " + std::string(subject) + " on " + date.format() +
                            " exist (version " + std::to_string(latest->version) +
                            "); other data are a correction and need a correction_reason"));
  }
  if (latest->version >= kVersionsMax) {
    return fail(refused(MarketRefusal::market_data_exists, "no more than " + std::to_string(kVersionsMax) + " versions"));
  }
  return Versioning{latest->version + 1, std::nullopt};
}

// Inserts the snapshot row; none when a concurrent transaction stored that version first.
std::optional<Snapshot> insert_snapshot(pqxx::transaction_base& tx, DataKind kind, std::string_view subject,
                                        std::optional<ProductId> product, BusinessDate date, int version,
                                        const Provenance& provenance, const std::string& content_hash) {
  std::optional<std::int64_t> product_id;
  if (product) product_id = product->value();
  const auto rows = db::exec_cached(
      tx,
      "INSERT INTO market.snapshot AS s (kind, subject, product_id, business_date, version, correction_reason, source, "
      "publisher, published_at, entered_by, request_id, content_hash) "
      "VALUES ($1, $2, $3, $4::date, $5, $6, $7, $8, $9::timestamptz, $10, $11, $12) "
      "ON CONFLICT (kind, subject, business_date, version) DO NOTHING RETURNING " +
          std::string(kSnapshotColumns),
      std::string(to_string(kind)), std::string(subject), product_id, date.format(), version,
      provenance.correction_reason, provenance.source, provenance.publisher, provenance.published_at.format(),
      provenance.entered_by, provenance.request_id, content_hash);
  if (rows.empty()) return std::nullopt;
  return snapshot_from(rows[0]);
}

// Stores a snapshot whose rows `write_rows` inserts; answers the repeat or the refusal.
template <class WriteRows>
Result<Stored, MarketError> store(pqxx::transaction_base& tx, DataKind kind, std::string_view subject,
                                  std::optional<ProductId> product, BusinessDate date, const Provenance& provenance,
                                  const std::string& content_hash, WriteRows write_rows) {
  // Two attempts: a concurrent first entry of the same version makes the insert do nothing, and
  // the second look sees what it stored (READ COMMITTED: each statement sees the latest commits).
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto plan = versioning(tx, kind, subject, date, content_hash, provenance);
    if (!plan) return fail(std::move(plan.error()));
    if (plan->repeat) return Stored{std::move(*plan->repeat), false};
    auto snapshot = insert_snapshot(tx, kind, subject, product, date, plan->version, provenance, content_hash);
    if (!snapshot) continue;
    write_rows(snapshot->snapshot_id);
    return Stored{std::move(*snapshot), true};
  }
  return fail(refused(MarketRefusal::market_data_exists,
                      "another request is entering the same market data; retry"));
}

std::string hash_of(std::string_view kind, std::string_view subject, BusinessDate date,
                    const std::vector<std::string>& lines) {
  std::string canonical = "cch market data v1\n" + std::string(kind) + "\n" + std::string(subject) + "\n" +
                          date.format() + "\n";
  for (const auto& line : lines) canonical += line + "\n";
  return sha256_hex(canonical);
}

bool shorter_first(const PeriodPrice& a, const PeriodPrice& b) {
  if (a.period.first_day != b.period.first_day) return a.period.first_day < b.period.first_day;
  return a.period.days() < b.period.days();
}

}  // namespace

std::string_view to_string(DataKind kind) {
  switch (kind) {
    case DataKind::ois: return "ois";
    case DataKind::settlement: return "settlement";
    case DataKind::fixing: return "fixing";
  }
  return "unknown";
}

std::optional<DataKind> parse_data_kind(std::string_view text) {
  for (const DataKind kind : {DataKind::ois, DataKind::settlement, DataKind::fixing}) {
    if (to_string(kind) == text) return kind;
  }
  return std::nullopt;
}

std::string_view to_string(MarketRefusal refusal) {
  switch (refusal) {
    case MarketRefusal::not_a_business_date: return "not_a_business_date";
    case MarketRefusal::business_date_in_future: return "business_date_in_future";
    case MarketRefusal::too_many_quotes: return "too_many_quotes";
    case MarketRefusal::invalid_tenor: return "invalid_tenor";
    case MarketRefusal::duplicate_tenor: return "duplicate_tenor";
    case MarketRefusal::invalid_rate: return "invalid_rate";
    case MarketRefusal::missing_tenor: return "missing_tenor";
    case MarketRefusal::unknown_product: return "unknown_product";
    case MarketRefusal::unknown_period: return "unknown_period";
    case MarketRefusal::duplicate_period: return "duplicate_period";
    case MarketRefusal::period_started: return "period_started";
    case MarketRefusal::non_positive_price: return "non_positive_price";
    case MarketRefusal::invalid_price: return "invalid_price";
    case MarketRefusal::price_off_tick: return "price_off_tick";
    case MarketRefusal::inconsistent_prices: return "inconsistent_prices";
    case MarketRefusal::unknown_index: return "unknown_index";
    case MarketRefusal::market_data_exists: return "market_data_exists";
    case MarketRefusal::nothing_to_correct: return "nothing_to_correct";
    case MarketRefusal::malformed_line: return "malformed_line";
    case MarketRefusal::inconsistent_provenance: return "inconsistent_provenance";
  }
  return "unknown";
}

std::string Tenor::text() const { return std::to_string(count) + unit; }

std::pair<char, int> Tenor::canonical() const {
  switch (unit) {
    case 'D': return {'D', count};
    case 'W': return {'D', count * 7};
    case 'M': return {'M', count};
    default: return {'M', count * 12};
  }
}

int Tenor::approximate_days() const {
  const auto [kind, amount] = canonical();
  return kind == 'D' ? amount : (amount * 365 + 6) / 12;
}

std::optional<Tenor> parse_tenor(std::string_view text) {
  if (text.size() < 2 || text.size() > 4 || text.front() < '1' || text.front() > '9') return std::nullopt;
  int count = 0;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    count = count * 10 + (text[i] - '0');
  }
  const char unit = text.back();
  if (unit != 'D' && unit != 'W' && unit != 'M' && unit != 'Y') return std::nullopt;
  const Tenor tenor{count, unit};
  if (tenor.approximate_days() > 30 * 365) return std::nullopt;
  return tenor;
}

MarketRules market_rules(std::string_view clearing_calendar, std::string_view required_tenors, BusinessDate today) {
  auto clearing = make_calendar(clearing_calendar);
  auto ois = make_calendar("united_states_sofr");
  if (!clearing || !ois) throw std::invalid_argument("unknown calendar " + std::string(clearing_calendar));
  std::vector<Tenor> tenors;
  std::string_view rest = required_tenors;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const auto tenor = parse_tenor(item);
    if (!tenor) throw std::invalid_argument("market.ois_required_tenors: not a tenor: " + std::string(item));
    tenors.push_back(*tenor);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return MarketRules{std::move(*clearing), std::move(*ois), std::move(tenors), today};
}

// ---- OIS quotes ----

Result<Stored, MarketError> store_ois_quotes(pqxx::transaction_base& tx, BusinessDate date,
                                             std::vector<OisQuote> quotes, const Provenance& provenance,
                                             const MarketRules& rules) {
  if (auto error = check_date(date, &rules.ois_calendar, rules)) return fail(std::move(*error));
  if (quotes.size() > kOisQuotesMax) {
    return fail(refused(MarketRefusal::too_many_quotes,
                        "at most " + std::to_string(kOisQuotesMax) + " OIS quotes in one set"));
  }
  std::sort(quotes.begin(), quotes.end(), [](const OisQuote& a, const OisQuote& b) {
    return a.tenor.approximate_days() < b.tenor.approximate_days();
  });
  std::set<std::pair<char, int>> seen;
  for (const auto& quote : quotes) {
    if (!seen.insert(quote.tenor.canonical()).second) {
      return fail(refused(MarketRefusal::duplicate_tenor, "the tenor " + quote.tenor.text() + " is quoted twice"));
    }
    if (quote.rate_e8 < -kRateE8Max || quote.rate_e8 > kRateE8Max) {
      return fail(refused(MarketRefusal::invalid_rate, quote.tenor.text() + ": a rate is between -1 and 1"));
    }
  }
  for (const auto& required : rules.required_tenors) {
    if (!seen.contains(required.canonical())) {
      return fail(refused(MarketRefusal::missing_tenor,
                          "the tenor " + required.text() + " is required (market.ois_required_tenors)"));
    }
  }
  std::vector<std::string> lines;
  std::vector<std::string> tenors;
  std::vector<std::int64_t> rates;
  for (const auto& quote : quotes) {
    lines.push_back(quote.tenor.text() + "=" + std::to_string(quote.rate_e8));
    tenors.push_back(quote.tenor.text());
    rates.push_back(quote.rate_e8);
  }
  const std::string hash = hash_of("ois", kOisCurve, date, lines);
  return store(tx, DataKind::ois, kOisCurve, std::nullopt, date, provenance, hash, [&](std::int64_t snapshot) {
    db::exec_cached(tx,
                    "INSERT INTO market.ois_quote (snapshot_id, tenor, rate_e8) "
                    "SELECT $1, * FROM unnest($2::text[], $3::bigint[])",
                    snapshot, db::text_array(tenors), db::integer_array(rates));
  });
}

std::optional<OisQuotes> ois_quotes(pqxx::transaction_base& tx, BusinessDate date, std::optional<int> version) {
  auto snapshot = find_snapshot(tx, DataKind::ois, kOisCurve, date, version);
  if (!snapshot) return std::nullopt;
  OisQuotes result{std::move(*snapshot), {}};
  for (const auto& row : db::exec_cached(tx, "SELECT tenor, rate_e8 FROM market.ois_quote WHERE snapshot_id = $1",
                                         result.snapshot.snapshot_id)) {
    result.quotes.push_back({parse_tenor(row[0].as<std::string>()).value(), row[1].as<std::int64_t>()});
  }
  std::sort(result.quotes.begin(), result.quotes.end(), [](const OisQuote& a, const OisQuote& b) {
    return a.tenor.approximate_days() < b.tenor.approximate_days();
  });
  return result;
}

// ---- settlement prices ----

Result<Stored, MarketError> store_settlement_prices(pqxx::transaction_base& tx, const ProductTerms& product,
                                                    BusinessDate date, std::vector<PeriodPrice> prices,
                                                    const Provenance& provenance, const MarketRules& rules,
                                                    const ConsistencyCheck& check_consistency) {
  if (auto error = check_date(date, &rules.clearing_calendar, rules)) return fail(std::move(*error));
  if (prices.size() > kSettlementPricesMax) {
    return fail(refused(MarketRefusal::too_many_quotes,
                        "at most " + std::to_string(kSettlementPricesMax) + " settlement prices per product and date"));
  }
  std::sort(prices.begin(), prices.end(), shorter_first);
  std::set<std::string> seen;
  for (const auto& price : prices) {
    if (!seen.insert(price.period.label).second) {
      return fail(refused(MarketRefusal::duplicate_period, "the period " + price.period.label + " is priced twice"));
    }
    if (price.period.first_day <= date) {
      return fail(refused(MarketRefusal::period_started, "the period " + price.period.label +
                                                             " does not start after the business date " + date.format()));
    }
    if (auto error = check_price(price.price, product.tick_size_ticks, price.period.label)) {
      return fail(std::move(*error));
    }
  }
  if (check_consistency) {
    if (auto why = check_consistency(product, date, prices)) {
      return fail(refused(MarketRefusal::inconsistent_prices, std::move(*why)));
    }
  }
  std::vector<std::string> lines, labels, kinds, firsts, ends;
  std::vector<std::int64_t> ticks;
  for (const auto& price : prices) {
    lines.push_back(price.period.label + "=" + std::to_string(price.price.price_ticks));
    labels.push_back(price.period.label);
    kinds.emplace_back(to_string(price.period.kind));
    firsts.push_back(price.period.first_day.format());
    ends.push_back(price.period.end_day.format());
    ticks.push_back(price.price.price_ticks);
  }
  const std::string hash = hash_of("settlement", product.code, date, lines);
  return store(tx, DataKind::settlement, product.code, product.product, date, provenance, hash,
               [&](std::int64_t snapshot) {
                 db::exec_cached(tx,
                                 "INSERT INTO market.settlement_price (snapshot_id, period, period_kind, first_day, "
                                 "end_day, price_ticks) SELECT $1, * FROM unnest($2::text[], $3::text[], $4::date[], "
                                 "$5::date[], $6::bigint[])",
                                 snapshot, db::text_array(labels), db::text_array(kinds), db::text_array(firsts),
                                 db::text_array(ends), db::integer_array(ticks));
                 // The product's latest settlement prices move forward (never back).
                 db::exec_cached(tx,
                                 "INSERT INTO market.latest_settlement AS l (product_id, snapshot_id, business_date, "
                                 "version) SELECT product_id, snapshot_id, business_date, version FROM market.snapshot "
                                 "WHERE snapshot_id = $1 ON CONFLICT (product_id) DO UPDATE SET snapshot_id = "
                                 "excluded.snapshot_id, business_date = excluded.business_date, version = "
                                 "excluded.version WHERE (excluded.business_date, excluded.version) > "
                                 "(l.business_date, l.version)",
                                 snapshot);
               });
}

namespace {

std::vector<PeriodPrice> prices_of(pqxx::transaction_base& tx, std::int64_t snapshot) {
  std::vector<PeriodPrice> prices;
  for (const auto& row : db::exec_cached(tx,
                                         "SELECT period, price_ticks FROM market.settlement_price WHERE snapshot_id = $1",
                                         snapshot)) {
    prices.push_back({parse_period_label(row[0].as<std::string>()).value(), PricePerGpuHour{row[1].as<std::int64_t>()}});
  }
  std::sort(prices.begin(), prices.end(), shorter_first);
  return prices;
}

// Reads the prices of every snapshot of `sets`, in one statement.
void add_prices(pqxx::transaction_base& tx, std::vector<SettlementPrices>& sets) {
  std::vector<std::int64_t> ids;
  for (const auto& set : sets) ids.push_back(set.snapshot.snapshot_id);
  std::map<std::int64_t, std::vector<PeriodPrice>> by_snapshot;
  for (const auto& row : db::exec_cached(tx,
                                         "SELECT snapshot_id, period, price_ticks FROM market.settlement_price "
                                         "WHERE snapshot_id = ANY($1::bigint[])",
                                         db::integer_array(ids))) {
    by_snapshot[row[0].as<std::int64_t>()].push_back(
        {parse_period_label(row[1].as<std::string>()).value(), PricePerGpuHour{row[2].as<std::int64_t>()}});
  }
  for (auto& set : sets) {
    set.prices = std::move(by_snapshot[set.snapshot.snapshot_id]);
    std::sort(set.prices.begin(), set.prices.end(), shorter_first);
  }
}

}  // namespace

std::optional<SettlementPrices> settlement_prices(pqxx::transaction_base& tx, ProductId product, BusinessDate date,
                                                  std::optional<int> version) {
  const auto rows = db::exec_cached(
      tx,
      select_snapshot("s.kind = 'settlement' AND s.product_id = $1 AND s.business_date = $2::date "
                      "AND ($3::integer IS NULL OR s.version = $3) ORDER BY s.version DESC LIMIT 1"),
      product.value(), date.format(), version);
  if (rows.empty()) return std::nullopt;
  SettlementPrices result{snapshot_from(rows[0]), {}};
  result.prices = prices_of(tx, result.snapshot.snapshot_id);
  return result;
}

std::optional<BusinessDate> latest_settlement_date(pqxx::transaction_base& tx, ProductId product) {
  const auto rows = db::exec_cached(
      tx, "SELECT business_date::text FROM market.latest_settlement WHERE product_id = $1", product.value());
  if (rows.empty()) return std::nullopt;
  return BusinessDate::parse(rows[0][0].as<std::string>()).value();
}

std::vector<SettlementPrices> settlement_prices_on(pqxx::transaction_base& tx, BusinessDate date) {
  std::vector<SettlementPrices> result;
  const auto rows = db::exec_cached(
      tx,
      "SELECT DISTINCT ON (s.product_id) " + std::string(kSnapshotColumns) +
          " FROM market.snapshot s WHERE s.kind = 'settlement' AND s.business_date = $1::date "
          "ORDER BY s.product_id, s.version DESC",
      date.format());
  for (const auto& row : rows) result.push_back({snapshot_from(row), {}});
  add_prices(tx, result);
  return result;
}

// ---- index fixings ----

Result<Stored, MarketError> store_index_fixing(pqxx::transaction_base& tx, std::string_view index, BusinessDate date,
                                               PricePerGpuHour value, const Provenance& provenance,
                                               const MarketRules& rules, std::span<const ProductTerms> products) {
  if (auto error = check_date(date, nullptr, rules)) return fail(std::move(*error));
  std::optional<std::int64_t> tick;
  for (const auto& product : products) {
    if (product.cash_index && *product.cash_index == index) {
      tick = tick ? std::min(*tick, product.tick_size_ticks) : product.tick_size_ticks;
    }
  }
  if (!tick) {
    return fail(refused(MarketRefusal::unknown_index, "no product settles in cash against " + std::string(index)));
  }
  if (auto error = check_price(value, *tick, std::string(index))) return fail(std::move(*error));
  const std::string hash = hash_of("fixing", index, date, {std::to_string(value.price_ticks)});
  return store(tx, DataKind::fixing, index, std::nullopt, date, provenance, hash, [&](std::int64_t snapshot) {
    db::exec_cached(tx, "INSERT INTO market.index_fixing (snapshot_id, value_ticks) VALUES ($1, $2)", snapshot,
                    value.price_ticks);
  });
}

std::optional<IndexFixing> index_fixing(pqxx::transaction_base& tx, std::string_view index, BusinessDate date,
                                        std::optional<int> version) {
  auto snapshot = find_snapshot(tx, DataKind::fixing, index, date, version);
  if (!snapshot) return std::nullopt;
  const auto rows =
      db::exec_cached(tx, "SELECT value_ticks FROM market.index_fixing WHERE snapshot_id = $1", snapshot->snapshot_id);
  return IndexFixing{std::move(*snapshot), PricePerGpuHour{rows.at(0)[0].as<std::int64_t>()}};
}

std::vector<IndexFixing> index_fixings(pqxx::transaction_base& tx, std::string_view index, BusinessDate from,
                                       BusinessDate to) {
  std::vector<IndexFixing> result;
  const auto rows = db::exec_cached(
      tx,
      "SELECT DISTINCT ON (s.business_date) " + std::string(kSnapshotColumns) +
          ", f.value_ticks FROM market.snapshot s JOIN market.index_fixing f USING (snapshot_id) "
          "WHERE s.kind = 'fixing' AND s.subject = $1 AND s.business_date BETWEEN $2::date AND $3::date "
          "ORDER BY s.business_date, s.version DESC",
      std::string(index), from.format(), to.format());
  for (const auto& row : rows) {
    result.push_back({snapshot_from(row), PricePerGpuHour{row[kSnapshotColumnCount].as<std::int64_t>()}});
  }
  return result;
}

// ---- by id ----

std::optional<Snapshot> find_snapshot_by_id(pqxx::transaction_base& tx, std::int64_t snapshot_id) {
  const auto rows = db::exec_cached(tx, select_snapshot("s.snapshot_id = $1"), snapshot_id);
  if (rows.empty()) return std::nullopt;
  return snapshot_from(rows[0]);
}

std::vector<SettlementPrices> settlement_prices_of_snapshots(pqxx::transaction_base& tx,
                                                             std::span<const std::int64_t> snapshot_ids) {
  std::vector<SettlementPrices> result;
  const auto rows = db::exec_cached(
      tx, select_snapshot("s.kind = 'settlement' AND s.snapshot_id = ANY($1::bigint[]) ORDER BY s.snapshot_id"),
      db::integer_array(snapshot_ids));
  for (const auto& row : rows) result.push_back({snapshot_from(row), {}});
  add_prices(tx, result);
  return result;
}

std::optional<OisQuotes> latest_ois_quotes(pqxx::transaction_base& tx, BusinessDate on_or_before,
                                           BusinessDate not_before) {
  const auto rows = db::exec_cached(
      tx,
      "SELECT business_date::text FROM market.snapshot WHERE kind = 'ois' AND subject = $1 "
      "AND business_date BETWEEN $2::date AND $3::date ORDER BY business_date DESC LIMIT 1",
      std::string(kOisCurve), not_before.format(), on_or_before.format());
  if (rows.empty()) return std::nullopt;
  return ois_quotes(tx, BusinessDate::parse(rows[0][0].as<std::string>()).value());
}

// ---- listing ----

std::vector<Snapshot> list_snapshots(pqxx::transaction_base& tx, const SnapshotFilter& filter, std::size_t limit) {
  limit = std::clamp<std::size_t>(limit, 1, kSnapshotPageMax);
  std::optional<std::string> kind, from, to;
  if (filter.kind) kind = std::string(to_string(*filter.kind));
  if (filter.from) from = filter.from->format();
  if (filter.to) to = filter.to->format();
  const auto rows = db::exec_cached(
      tx,
      select_snapshot("($1::text IS NULL OR s.kind = $1) AND ($2::text IS NULL OR s.subject = $2) "
                      "AND ($3::date IS NULL OR s.business_date >= $3::date) "
                      "AND ($4::date IS NULL OR s.business_date <= $4::date) "
                      "AND ($5::bigint IS NULL OR s.snapshot_id < $5) ORDER BY s.snapshot_id DESC LIMIT $6"),
      kind, filter.subject, from, to, filter.before, static_cast<std::int64_t>(limit));
  std::vector<Snapshot> result;
  for (const auto& row : rows) result.push_back(snapshot_from(row));
  return result;
}

// ---- for the registry ----

std::string latest_settlement_prices_sql(int product_array_parameter) {
  const std::string parameter = "$" + std::to_string(product_array_parameter);
  return "SELECT l.product_id, (p.end_day - p.first_day)::bigint, p.first_day::text, p.price_ticks "
         "FROM market.latest_settlement l JOIN market.settlement_price p USING (snapshot_id) "
         "WHERE l.product_id = ANY(" +
         parameter + "::bigint[])";
}

}  // namespace cch::market
